"""Viber pictures kept by the bot: a picture's ``media`` URL expires, so it is downloaded when
the picture arrives and stored (``domain.media.MediaStore``); the conversation then sees a
``media:<sha256>.<ext>`` reference instead of the URL.

It happens in the webhook before the conversation runs: outside its transaction (a download
must not hold the database), while the URL is fresh, and without the conversation knowing
HTTP. Only a picture the conversation would keep is downloaded (``wanted``: the resident is in
the request form or talking to an operator); one sent outside is answered and never stored,
so nobody's photo lies on disk without a request or a conversation it belongs to. Whatever
goes wrong (a timeout, a file too big, not an image) leaves the URL as it was, with a warning:
the resident's message is never lost for its photo.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from domain.channel import DeliveryError
from domain.identity import UserRef
from domain.media import MediaRefused, MediaStore

__all__ = ["DOWNLOAD_TIMEOUT", "Downloader", "PhotoKeeper"]

logger = logging.getLogger(__name__)

# Seconds for the whole download. Viber waits for the callback's answer meanwhile and wants it
# quickly (DESIGN.md, Channels), so this is short: a photo not fetched in time keeps its URL.
DOWNLOAD_TIMEOUT = 4.0


class Downloader(Protocol):
    """``ViberClient.download``."""

    async def download(self, url: str, *, max_bytes: int, time_limit: float = ...) -> bytes: ...


class PhotoKeeper:
    """Turns a picture's URL into a kept file's reference, or gives the URL back."""

    def __init__(
        self,
        client: Downloader,
        store: MediaStore,
        *,
        wanted: Callable[[UserRef], Awaitable[bool]] | None = None,
        timeout: float = DOWNLOAD_TIMEOUT,
    ) -> None:
        self._client = client
        self._store = store
        self._wanted = wanted
        self._timeout = timeout

    async def keep(self, user: UserRef, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            return url
        if self._wanted is not None and not await self._wanted(user):
            return url
        try:
            data = await self._client.download(
                url, max_bytes=self._store.max_bytes, time_limit=self._timeout
            )
            # Hashing and an fsync of up to MEDIA_MAX_BYTES: not on the event loop.
            return await asyncio.to_thread(self._store.put, data)
        except (ValueError, DeliveryError) as error:  # MediaRefused is a ValueError
            kind = "refused" if isinstance(error, MediaRefused) else "failed"
            logger.warning("viber picture not kept (%s: %s); its URL is kept", kind, error)
            return url
        except Exception:  # a bug of ours must not cost the resident's message either
            logger.exception("viber picture not kept; its URL is kept")
            return url
