"""Replies about requests: the staff card with its buttons, and the resident's status messages.

Everything here returns plain-text ``Reply`` values (resident text included as data; the
Telegram adapter escapes it). Button payloads are built with ``domain.payloads``:

* staff card: ``v1:st:<request id>:<status>`` for a status button (``status`` is a
  ``domain.requests.Status`` value) and ``v1:asg:<request id>`` for "Виконавець" (choose an
  executor; the staff side may answer with ``v1:asg:<request id>:<executor id>``);
* resident: ``v1:rq:ans:<request id>`` (answer a question), ``v1:rq:open:<request id>``
  (details), ``v1:req_my`` (my requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.identity import ChannelName
from domain.messages import Button, Location, Photo, Reply, photo_shown_in
from domain.payloads import build
from domain.requests import (
    TRANSITIONS,
    ActorKind,
    EventKind,
    Request,
    Status,
    StatusChange,
)
from domain.texts import Texts
from services.routing import Routing

__all__ = [
    "ASSIGN_ACTION",
    "RESIDENT_ACTION",
    "STAFF_STATUS_ACTION",
    "card_buttons",
    "category_label",
    "district_label",
    "extra_photos",
    "feedback_lines",
    "format_local",
    "history_line",
    "render_card",
    "stars",
    "status_label",
]

STAFF_STATUS_ACTION = "st"
ASSIGN_ACTION = "asg"
RESIDENT_ACTION = "rq"
MY_REQUESTS_ACTION = "req_my"

# The order of the staff buttons, two per row, with the executor button last.
_STAFF_BUTTONS: tuple[tuple[Status, str], ...] = (
    (Status.ACCEPTED, "req_card_btn_accepted"),
    (Status.IN_PROGRESS, "req_card_btn_in_progress"),
    (Status.DONE, "req_card_btn_done"),
    (Status.REJECTED, "req_card_btn_rejected"),
    (Status.NEEDS_INFO, "req_card_btn_needs_info"),
    (Status.REOPENED, "req_card_btn_reopened"),
)
_HISTORY_ON_CARD = 8  # the latest entries; a card is a summary, not an archive


def format_local(moment: datetime, tz: ZoneInfo) -> str:
    """``26.11.2026 14:00`` in city time (the Ukrainian way of writing dates)."""
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def status_label(texts: Texts, language: str, status: Status) -> str:
    return texts.get(language, f"req_status_{status.value}")


def category_label(texts: Texts, language: str, request: Request) -> str:
    return texts.get(language, f"req_cat_{request.category.value}")


def district_label(texts: Texts, language: str, request: Request) -> str:
    if request.district is None:
        return texts.get(language, "req_district_unknown")
    return texts.get(language, f"req_district_{request.district.value}")


def actor_label(texts: Texts, language: str, change: StatusChange) -> str:
    actor = change.actor
    if actor.kind is ActorKind.OPERATOR:
        return texts.get(language, "req_actor_operator", name=actor.name or actor.id)
    return texts.get(language, f"req_actor_{actor.kind.value}")


def history_line(
    texts: Texts,
    language: str,
    change: StatusChange,
    tz: ZoneInfo,
    routing: Routing | None,
    *,
    with_actor: bool = True,
) -> str:
    """One history entry in words, e.g. ``25.11.2026 14:05 — В роботі (оператор Олена)``;
    without the actor for residents (staff names are not theirs to see)."""
    when = format_local(change.at, tz)
    if change.event is EventKind.CREATED:
        what = texts.get(language, "req_event_created")
    elif change.event is EventKind.ASSIGNED:
        executor = change.note or ""
        if routing is not None and executor in routing.executors:
            executor = routing.executors[executor].name
        what = texts.get(language, "req_event_assigned", executor=executor)
    elif change.event is EventKind.ANSWER:
        what = texts.get(language, "req_event_answer", answer=change.note or "")
    elif change.event is EventKind.ESCALATED:
        what = texts.get(language, f"req_event_escalated_{change.note or 'resolve'}")
    elif change.event is EventKind.FOLLOWUP:
        # An erased resident's notes are blanked (storage.sqlite.privacy): said neutrally then.
        what = texts.get(language, f"req_event_followup_{change.note or 'erased'}")
    elif change.event is EventKind.RATING:
        rating = _rating_of(change)
        what = (
            texts.get(language, "req_event_rating", stars=stars(rating), rating=rating)
            if rating
            else texts.get(language, "req_event_rating_erased")
        )
    else:
        what = status_label(texts, language, change.to_status)
        if change.note:
            what = texts.get(language, "req_event_with_note", what=what, note=change.note)
    if not with_actor:
        return texts.get(language, "req_history_line_short", when=when, what=what)
    who = actor_label(texts, language, change)
    return texts.get(language, "req_history_line", when=when, what=what, who=who)


def stars(rating: int) -> str:
    """``★★★★☆`` for 4 of 5."""
    rating = max(0, min(5, rating))
    return "★" * rating + "☆" * (5 - rating)


def _rating_of(change: StatusChange) -> int:
    note = change.note or ""
    return int(note) if note.isdigit() else 0


def feedback_lines(texts: Texts, language: str, history: Sequence[StatusChange]) -> list[str]:
    """The resident's latest follow-up answer and rating, as card lines (none before the
    first answer): "confirmed done", or "says not done" and whether it was reopened since."""
    answer_at = None
    for index in range(len(history) - 1, -1, -1):
        if history[index].event is EventKind.FOLLOWUP:
            answer_at = index
            break
    if answer_at is None or history[answer_at].note is None:
        return []  # no answer yet, or an erased resident's
    if any(
        change.event is EventKind.STATUS and change.to_status is Status.DONE
        for change in history[answer_at + 1 :]
    ):
        return []  # done again since: the answer was about an earlier resolution
    answer = history[answer_at]
    later = history[answer_at + 1 :]
    t = texts.get
    if answer.note == "yes":
        lines = [t(language, "req_card_followup_yes")]
    else:
        outcome = t(language, f"req_card_followup_{answer.note or 'no'}")
        reopened = any(
            change.event is EventKind.STATUS and change.to_status is Status.REOPENED
            for change in later
        )
        key = "req_card_followup_reopened" if reopened else "req_card_followup_not_done"
        lines = [t(language, key, outcome=outcome)]
    ratings = [change for change in later if change.event is EventKind.RATING]
    rating = _rating_of(ratings[-1]) if ratings else 0
    if rating:
        lines.append(t(language, "req_card_rating", stars=stars(rating), rating=rating))
    return lines


def card_buttons(
    request: Request, texts: Texts, language: str = "uk"
) -> tuple[tuple[Button, ...], ...]:
    """The staff buttons for ``request``: the statuses it may move to, then "Виконавець"."""
    allowed = TRANSITIONS[request.status]
    buttons = [
        Button(texts.get(language, key), build(STAFF_STATUS_ACTION, request.id, status.value))
        for status, key in _STAFF_BUTTONS
        if status in allowed
    ]
    if request.is_open:
        buttons.append(
            Button(texts.get(language, "req_card_btn_assign"), build(ASSIGN_ACTION, request.id))
        )
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


def _sendable_photo(request: Request, ref: str, shown_in: ChannelName) -> Photo | None:
    if photo_shown_in(ref, taken_in=request.resident.channel, shown_in=shown_in):
        return Photo(ref)
    return None


def render_card(
    request: Request,
    history: Sequence[StatusChange],
    *,
    texts: Texts,
    routing: Routing,
    tz: ZoneInfo,
    language: str = "uk",
    with_buttons: bool = True,
    shown_in: ChannelName,
) -> Reply:
    """The staff card: every field as plain text, the location, the first photo (when the
    chat's channel, ``shown_in``, can show it), the resident's follow-up answer and rating,
    the buttons."""
    t = texts.get
    executor = routing.executors.get(request.executor_id)
    service_class = routing.classes.get(request.service_class)
    title_key = "req_card_title_urgent" if request.urgent else "req_card_title"
    lines = [
        t(language, "req_card_status", status=status_label(texts, language, request.status)),
        t(language, "req_card_category", category=category_label(texts, language, request)),
        t(language, "req_card_district", district=district_label(texts, language, request)),
    ]
    if request.address:
        lines.append(t(language, "req_card_address", address=request.address))
    if request.has_location:
        lines.append(
            t(
                language,
                "req_card_location",
                latitude=f"{request.latitude:.5f}",
                longitude=f"{request.longitude:.5f}",
            )
        )
    lines.append(t(language, "req_card_description", description=request.description))
    if request.photos:
        lines.append(t(language, "req_card_photos", count=len(request.photos)))
    lines.append(t(language, "req_card_phone", phone=request.phone or "—"))
    lines.append(
        t(
            language,
            "req_card_resident",
            channel=t(language, f"req_channel_{request.resident.channel.value}"),
            resident=request.resident_id,
        )
    )
    lines.append(
        t(
            language,
            "req_card_executor",
            executor=executor.name if executor else request.executor_id,
        )
    )
    lines.append(
        t(
            language,
            "req_card_deadlines",
            service_class=service_class.title if service_class else request.service_class,
            ack_due=format_local(request.ack_due, tz),
            resolve_due=format_local(request.resolve_due, tz),
        )
    )
    lines.append(t(language, "req_card_created", created=format_local(request.created_at, tz)))
    lines.extend(feedback_lines(texts, language, history))
    if history:
        lines.append(t(language, "req_card_history"))
        lines.extend(
            history_line(texts, language, change, tz, routing)
            for change in history[-_HISTORY_ON_CARD:]
        )
    photo = _sendable_photo(request, request.photos[0], shown_in) if request.photos else None
    location = (
        Location(request.latitude, request.longitude)
        if request.latitude is not None and request.longitude is not None
        else None
    )
    return Reply(
        text="\n".join(lines),
        title=t(language, title_key, number=request.number),
        buttons=card_buttons(request, texts, language) if with_buttons else (),
        location=location,
        photo=photo,
    )


def extra_photos(request: Request, *, shown_in: ChannelName) -> list[Reply]:
    """The photos after the first (which rides on the card), each as its own reply."""
    replies = []
    for index, ref in enumerate(request.photos[1:], start=2):
        photo = _sendable_photo(request, ref, shown_in)
        if photo is not None:
            caption = f"{request.number} · {index}/{len(request.photos)}"
            replies.append(Reply(text=caption, photo=photo))
    return replies
