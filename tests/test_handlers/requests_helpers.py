"""Shared pieces of the request conversation tests."""

from __future__ import annotations

from domain.clock import ManualClock
from domain.identity import UserRef
from domain.messages import Incoming, Kind, Photo, Reply
from fakes.recording import Resident
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from handlers.requests import RequestsFeature
from services.requests import RequestService
from storage.sqlite import SqliteStorage
from tests.test_services.helpers import STAFF, make_service, texts


def make_conversation(
    storage: SqliteStorage,
    clock: ManualClock,
    *,
    service: RequestService | None = None,
    staff: UserRef | None = STAFF,
) -> Conversation:
    service = service or make_service(clock, staff=staff)
    return Conversation(
        storage=storage,
        clock=clock,
        texts=texts(),
        features=[RequestsFeature(service), MenuFeature()],
    )


async def photo(resident: Resident, ref: str, caption: str | None = None) -> list[Reply]:
    return await resident.send(Incoming(resident.user, Kind.PHOTO, photo=Photo(ref, caption)))


async def file_water_request(resident: Resident) -> list[Reply]:
    """A complete intake by buttons and text, as a resident would do it (consent is asked only
    the first time)."""
    await resident.say("/start")
    await resident.press("Нова заявка")
    await resident.press("Водопостачання")
    await resident.press("Тернівський")
    if any("погоджуюся" in label for label in resident.labels):
        await resident.press("Так, погоджуюся")
    await resident.say("вул. Світлогірська, 10")
    await resident.say("Немає холодної води з самого ранку")
    await photo(resident, "photo-1")
    await resident.press("Готово")
    await resident.say("067 123 45 67")
    return await resident.press("Підтвердити")
