"""The erasure contract: a resident's personal data blanked everywhere, statistics kept.

Every method runs inside the caller's transaction (``StoreSession.privacy``). What is erased and
what is kept is the policy of DESIGN.md invariant 6, decided here once for every table:

* **Erased at once**: phone, address, location, photos, description and the resident's own notes
  (answers, reopening reasons) of their *closed* requests; the text and photos of every relay
  message (both directions: an operator's answer may quote the resident); follow-up comments
  and reasons; the texts of their consultation questions (unanswered, answered, and those topic
  suggestions were offered for); the display name, the consent flag and its date; the
  conversation state; the bodies of outbox messages about them (already sent, given up, or still
  waiting; a waiting one is cancelled, except a status update of one of their requests, which
  carries no data the resident gave and which they are owed).
* **Kept until closure**: a request still open keeps what its executor needs (address, location,
  phone, description, photos, the resident's answers) and is marked ``erased_at``; when it is
  done or rejected, ``finish_closed`` erases it (the conversation calls it from a request
  observer). Erasing at once would either stop the work or leave an executor with a request
  nobody can find.
* **Kept**: the rows themselves with category, district, status, executor, dates, deadlines,
  follow-up outcomes and ratings, consultation topics and scores, relay session dates, so the
  statistics stay the same. The residents row stays too (the other rows point to it) with the
  channel identity only: status updates of open requests must reach the resident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["ERASED_BODY", "ERASED_DESCRIPTION", "ErasureReport", "PrivacyStore"]

# Markers for columns that cannot be NULL: an empty description, an outbox body of no replies.
ERASED_DESCRIPTION = ""
ERASED_BODY = "[]"


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What one erasure changed (row counts), and the open requests kept until closure."""

    requests_erased: int = 0
    kept_open: tuple[int, ...] = ()
    photos: int = 0
    history_notes: int = 0
    relay_messages: int = 0
    relay_sessions_closed: int = 0
    followups: int = 0
    consultations: int = 0
    suggestions: int = 0
    outbox_scrubbed: int = 0
    outbox_cancelled: int = 0


class PrivacyStore(Protocol):
    """Erasure of one resident's personal data across every table (see the module doc)."""

    async def open_requests(self, resident_id: int) -> list[int]:
        """Ids of the resident's requests still open (kept until closure on erasure)."""
        ...

    async def erase_resident(self, resident_id: int, *, now: datetime) -> ErasureReport:
        """Erase what the policy erases at once; mark open requests for erasure at closure."""
        ...

    async def finish_closed(self, request_id: int, *, now: datetime) -> bool:
        """Erase a request marked for erasure once it is closed (done or rejected); False when
        the request is not marked or still open (nothing changes)."""
        ...
