"""The Viber adapter's own errors; delivery failures subclass the channel-neutral family."""

from __future__ import annotations

from domain.channel import PermanentFailure, RecipientBlocked

__all__ = ["ViberApiError", "ViberCallbackError", "ViberError", "ViberRecipientBlocked"]


class ViberError(Exception):
    """Root of the errors that only the Viber adapter raises."""


class ViberCallbackError(ViberError, ValueError):
    """A callback body is not JSON or not shaped like a Viber callback (answered with 400)."""


class ViberApiError(PermanentFailure):
    """Viber refused a call for good: a non-zero ``status``, or an HTTP 4xx other than 429.

    ``status`` is ``None`` when the refusal was an HTTP status rather than a Viber one.
    """

    def __init__(
        self, endpoint: str, status: int | None, status_name: str, status_message: str
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.status_name = status_name
        self.status_message = status_message
        super().__init__(f"viber {endpoint}: status {status} {status_name}: {status_message}")


class ViberRecipientBlocked(RecipientBlocked):
    """The receiver is not subscribed (status 6) or has no Viber account (status 5)."""

    def __init__(self, endpoint: str, status: int, status_name: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.status_name = status_name
        super().__init__(f"viber {endpoint}: status {status} {status_name}")
