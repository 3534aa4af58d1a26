"""The request intake form: a guided flow from a category to a confirmed request.

The form's place and answers live in ``ctx.state`` (saved by the engine in the message's
transaction), so a resident who leaves halfway resumes where they were, even after a restart.
Order: category -> district -> consent (asked before anything personal, and only once per
resident) -> address or location -> description (photos welcome) -> photos -> phone -> summary
(confirm / edit a field / cancel). Back returns to the previous step; Cancel and /cancel leave.
The request is created in the same transaction as the confirmation, and the engine returns the
reply with its number only after the commit.

The form's buttons carry ``v1:rq:<command>[:<arg>]`` (``handlers.requests`` hands them here);
a button of another step is answered as out of date and the current step is asked again. The
menu's ``req_new`` (optionally with a category, from an FAQ entry) is registered here; what each
step shows is in ``handlers.requests.prompts``.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import replace

from domain.messages import Button, Kind, Reply
from domain.payloads import Payload, build
from domain.requests import (
    CATEGORIES,
    DISTRICTS,
    InvalidPhone,
    RequestDraft,
    normalize_phone,
)
from handlers.context import RESUMABLE, Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from handlers.requests.common import (
    ACTION,
    EDITABLE,
    FLOW,
    INTAKE_STEPS,
    S_ADDRESS,
    S_CATEGORY,
    S_CONSENT,
    S_DESCRIPTION,
    S_DISTRICT,
    S_EDIT,
    S_PHONE,
    S_PHONE_CONFIRM,
    S_PHOTOS,
    S_RESUME,
    S_SUMMARY,
    unknown_step,
)
from handlers.requests.prompts import MAX_INTAKE_PHOTOS, answers, nav_row, prompt, summary
from services import cards
from services.request_limits import MAX_DESCRIPTION, MIN_DESCRIPTION, InvalidDraft
from services.requests import RequestService

logger = logging.getLogger(__name__)

__all__ = ["IntakeFeature"]

MIN_ADDRESS = 5
MAX_ADDRESS = 300
# Kryvyi Rih stretches about 120 km north to south; a generous box catches shared points that
# are plainly elsewhere (a resident sending their location from another city by mistake).
CITY_BOUNDS = (47.55, 48.25, 32.95, 33.85)
_DONE_WORDS = frozenset(
    {"готово", "пропустити", "далі", "ні", "немає", "нема", "done", "skip", "next", "no"}
)
_YES_WORDS = frozenset(
    {"так", "да", "yes", "ок", "ok", "окей", "згоден", "згодна", "погоджуюся", "погоджуюсь"}
    | {"згоджуюся", "согласен", "согласна", "y", "+", "авжеж", "звісно", "sure", "agree"}
)
_NO_WORDS = frozenset({"ні", "нет", "no", "не згоден", "не згодна", "не погоджуюся", "n", "-"})
_NO_PHONE_WORDS = frozenset(
    {"немає", "нема", "без телефону", "немає телефону", "пропустити", "skip", "no phone", "none"}
)
# A message at a free-text step (address, description) that is plainly a question is answered
# rather than taken as the answer: short, and ending in "?" or opening with a question word.
MAX_QUESTION = 150
_QUESTION_WORDS = frozenset(
    {"де", "як", "коли", "чому", "скільки", "що", "чи", "куди", "хто", "навіщо", "який", "яка"}
    | {"где", "как", "когда", "почему", "сколько", "что", "куда", "кто", "зачем"}
    | {"where", "how", "when", "why", "what", "who"}
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _plain(text: str) -> str:
    """Lower case, without surrounding punctuation and emoji: "Так!" -> "так"."""
    return " ".join(_WORD.findall(text.lower())) or text.strip().lower()


def is_question(text: str) -> bool:
    text = text.strip()
    if not text or len(text) > MAX_QUESTION:
        return False
    words = _WORD.findall(text.lower())
    return text.endswith("?") or (bool(words) and words[0] in _QUESTION_WORDS)


class IntakeFeature:
    """Registers ``req_new`` and the form's steps (every ``req.*`` step the other request
    features do not claim); answers the form's ``rq`` buttons through ``on_button``."""

    def __init__(self, service: RequestService) -> None:
        self.service = service
        self._registry: Registry | None = None

    def register(self, registry: Registry) -> None:
        # Kept to let a question typed halfway be answered by whoever answers idle texts.
        self._registry = registry
        registry.action("req_new", self.on_new)
        registry.step("req", self.on_step, takes_photos=True)

    # --- entry points ----------------------------------------------------------------------

    async def on_new(self, ctx: Context, payload: Payload) -> list[Reply]:
        category = payload.arg()
        if category is not None and category not in {c.value for c in CATEGORIES}:
            category = None
        # A form left halfway (for the menu, /start, "my requests", an answer...) is offered again.
        paused = ctx.paused()
        if paused is not None and paused.get("step") in INTAKE_STEPS:
            ctx.state.step = str(paused["step"])
            data = paused.get("data")
            ctx.state.data = data if isinstance(data, dict) else {}
        if ctx.state.step == S_RESUME:
            resume = ctx.state.data.pop("resume", None)
            ctx.state.step = resume if resume in INTAKE_STEPS else S_CATEGORY
        if ctx.state.step in INTAKE_STEPS and answers(ctx):
            ctx.state.data["resume"] = ctx.state.step
            ctx.state.data["resume_category"] = category
            ctx.state.step = S_RESUME
            return prompt(ctx)
        return await self.start_intake(ctx, category)

    async def start_intake(self, ctx: Context, category: str | None = None) -> list[Reply]:
        """Begin a new request (dropping any unfinished one); with a category (an FAQ entry's
        button), the category step is skipped."""
        ctx.state.data = {"d": {}, "trail": [], RESUMABLE: True}
        last_phone = await self._last_phone(ctx)
        if last_phone is not None:
            ctx.state.data["last_phone"] = last_phone
        if category in {c.value for c in CATEGORIES}:
            ctx.state.data["d"]["category"] = category
            ctx.state.data["trail"] = [S_CATEGORY]
            ctx.state.step = S_DISTRICT
        else:
            ctx.state.step = S_CATEGORY
        logger.info("resident %s started an intake", ctx.resident.id)
        return prompt(ctx)

    async def _last_phone(self, ctx: Context) -> str | None:
        """The phone of the resident's latest request, offered for the next one."""
        latest = await self.service.list_for_resident(ctx.session, ctx.resident.id, 1)
        return latest[0].phone if latest and latest[0].phone else None

    # --- buttons ---------------------------------------------------------------------------

    async def on_button(self, ctx: Context, payload: Payload) -> list[Reply]:
        command, arg = payload.arg(0), payload.arg(1)
        step = ctx.state.step
        if command == "x":
            ctx.reset(keep_paused=False)
            return [Reply(ctx.t("req_cancelled")), main_menu(ctx, with_title=False)]
        if step not in INTAKE_STEPS:
            return self._stale(ctx)
        if command == "back":
            return self._back(ctx)
        expected = {
            "cat": S_CATEGORY,
            "dist": S_DISTRICT,
            "consent": S_CONSENT,
            "photos": S_PHOTOS,
            "pc": S_PHONE_CONFIRM,
            "ok": S_SUMMARY,
            "edit": S_SUMMARY,
            "ef": S_EDIT,
            "resume": S_RESUME,
            "phone": S_PHONE,
            "q": step if step in (S_ADDRESS, S_DESCRIPTION) else None,
        }.get(command or "")
        if expected != step:
            return self._stale(ctx)
        if command == "cat":
            return self._on_category(ctx, arg)
        if command == "dist":
            return self._on_district(ctx, arg)
        if command == "consent":
            return await self._on_consent(ctx, arg)
        if command == "photos":
            return self._advance(ctx)
        if command == "pc":
            return self._on_phone_confirm(ctx, arg)
        if command == "phone":
            return self._on_phone_button(ctx, arg)
        if command == "q":
            return self._on_use_pending(ctx)
        if command == "ok":
            return await self._confirm(ctx)
        if command == "edit":
            ctx.state.step = S_EDIT
            return prompt(ctx)
        if command == "ef":
            return self._on_edit_field(ctx, arg)
        return await self._on_resume(ctx, arg)

    def _stale(self, ctx: Context) -> list[Reply]:
        if ctx.state.step in INTAKE_STEPS:
            return [Reply(ctx.t("req_stale_step")), *prompt(ctx)]
        return [Reply(ctx.t("stale_button")), main_menu(ctx)]

    # --- messages within a step ------------------------------------------------------------

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        step = ctx.state.step
        incoming = ctx.incoming
        if step not in INTAKE_STEPS:
            unknown_step(ctx)
            return None
        text = (incoming.text or "").strip() if incoming.kind is Kind.TEXT else None
        if step in (S_ADDRESS, S_DESCRIPTION):
            if text is not None and is_question(text):
                return await self._on_question(ctx, text)
            ctx.state.data.pop("pending_text", None)
        if step == S_CONSENT and text is not None:
            return await self._on_consent_text(ctx, text)
        if step == S_DISTRICT and text is not None:
            district = self._district_from_text(ctx, text)
            if district is not None:
                return self._on_district(ctx, district)
            return self._reprompt(ctx, "req_invalid_district")
        if step == S_ADDRESS:
            return self._on_address(ctx)
        if step == S_DESCRIPTION:
            return self._on_description(ctx)
        if step == S_PHOTOS:
            return self._on_photo(ctx)
        if step == S_PHONE:
            return self._on_phone(ctx)
        if step == S_PHONE_CONFIRM and text is not None:
            # Typing a number instead of answering means "use this one".
            ctx.state.data.pop("pending_phone", None)
            ctx.state.step = S_PHONE
            return self._on_phone(ctx)
        key = {
            S_CATEGORY: "req_invalid_category",
            S_CONSENT: "req_invalid_consent",
        }.get(step, "req_invalid_input")
        if incoming.kind is Kind.PHOTO and step in (S_CATEGORY, S_DISTRICT, S_CONSENT):
            key = "req_photo_later"
        return self._reprompt(ctx, key)

    def _reprompt(self, ctx: Context, key: str, **values: object) -> list[Reply]:
        return [Reply(ctx.t(key, **values)), *prompt(ctx)]

    # --- the steps -------------------------------------------------------------------------

    def _on_category(self, ctx: Context, value: str | None) -> list[Reply]:
        if value not in {c.value for c in CATEGORIES}:
            return self._reprompt(ctx, "req_invalid_category")
        answers(ctx)["category"] = value
        return self._advance(ctx)

    def _on_district(self, ctx: Context, value: str | None) -> list[Reply]:
        if value != "none" and value not in {d.value for d in DISTRICTS}:
            return self._reprompt(ctx, "req_invalid_district")
        answers(ctx)["district"] = None if value == "none" else value
        return self._advance(ctx)

    def _district_from_text(self, ctx: Context, text: str) -> str | None:
        words = text.lower().replace("район", "").strip(" .,")
        if len(words) < 4:
            return None
        for district in DISTRICTS:
            for language in ("uk", "en"):
                name = ctx.texts.get(language, f"req_district_{district.value}").lower()
                if name.startswith(words) or words.startswith(name[:6]):
                    return district.value
        return None

    async def _on_consent(self, ctx: Context, value: str | None) -> list[Reply]:
        if value == "yes":
            await ctx.session.residents.set_consent(ctx.resident.id, True, now=ctx.now)
            logger.info("resident %s consented to personal data processing", ctx.resident.id)
            return self._advance(ctx)
        if value == "no":
            await ctx.session.residents.set_consent(ctx.resident.id, False, now=ctx.now)
            logger.info("resident %s refused personal data processing", ctx.resident.id)
            ctx.reset(keep_paused=False)
            return [Reply(ctx.t("req_consent_refused")), main_menu(ctx, with_title=False)]
        return self._reprompt(ctx, "req_invalid_consent")

    async def _on_consent_text(self, ctx: Context, text: str) -> list[Reply]:
        """Так / да / yes / ок and ні / нет / no typed instead of pressing a button; anything
        else gets a short reminder with the buttons, not the whole consent text again."""
        plain = _plain(text)
        if plain in _YES_WORDS:
            return await self._on_consent(ctx, "yes")
        if plain in _NO_WORDS:
            return await self._on_consent(ctx, "no")
        question = prompt(ctx)[0]
        return [replace(question, text=ctx.t("req_consent_short"))]

    def _on_address(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        draft = answers(ctx)
        if incoming.kind is Kind.LOCATION and incoming.location is not None:
            latitude, longitude = incoming.location.latitude, incoming.location.longitude
            south, north, west, east = CITY_BOUNDS
            if not (south <= latitude <= north and west <= longitude <= east):
                return self._reprompt(ctx, "req_invalid_location_far")
            draft["latitude"], draft["longitude"] = latitude, longitude
            draft["address"] = None  # the point replaces an address typed before
            return self._advance(ctx)
        if incoming.kind is Kind.PHOTO and incoming.photo is not None:
            # Consent is given by now: the photo is kept for the request.
            photos: list[str] = draft.setdefault("photos", [])
            if len(photos) < MAX_INTAKE_PHOTOS:
                photos.append(incoming.photo.ref)
            return self._reprompt(ctx, "req_photo_kept_address")
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_input")
        return self._on_address_text(ctx, incoming.text or "")

    def _on_address_text(self, ctx: Context, typed: str) -> list[Reply]:
        draft = answers(ctx)
        text = " ".join(typed.split())
        if len(text) > MAX_ADDRESS:
            return self._reprompt(
                ctx, "req_invalid_address_long", length=len(text), max=MAX_ADDRESS
            )
        if len(text) < MIN_ADDRESS or not any(char.isalpha() for char in text):
            return self._reprompt(ctx, "req_invalid_address_short")
        draft["address"] = text
        draft["latitude"] = draft["longitude"] = None  # the address replaces an earlier point
        return self._advance(ctx)

    def _on_description(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        draft = answers(ctx)
        if incoming.kind is Kind.PHOTO and incoming.photo is not None:
            photos: list[str] = draft.setdefault("photos", [])
            if len(photos) < MAX_INTAKE_PHOTOS:
                photos.append(incoming.photo.ref)
            caption = (incoming.photo.caption or "").strip()
            if MIN_DESCRIPTION <= len(caption) <= MAX_DESCRIPTION:
                draft["description"] = caption
                return self._advance(ctx)
            added = ctx.t("req_description_photo_added", count=len(photos), max=MAX_INTAKE_PHOTOS)
            return [Reply(added, buttons=(nav_row(ctx),))]
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_input")
        return self._on_description_text(ctx, incoming.text or "")

    def _on_description_text(self, ctx: Context, typed: str) -> list[Reply]:
        draft = answers(ctx)
        text = typed.strip()
        if len(text) > MAX_DESCRIPTION:
            return self._reprompt(
                ctx, "req_invalid_description_long", length=len(text), max=MAX_DESCRIPTION
            )
        if len(text) < MIN_DESCRIPTION:
            return self._reprompt(ctx, "req_invalid_description_short", min=MIN_DESCRIPTION)
        draft["description"] = text
        return self._advance(ctx)

    def _on_photo(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        photos: list[str] = answers(ctx).setdefault("photos", [])
        if incoming.kind is Kind.PHOTO and incoming.photo is not None:
            if len(photos) >= MAX_INTAKE_PHOTOS:
                return self._reprompt(ctx, "req_photos_limit", max=MAX_INTAKE_PHOTOS)
            photos.append(incoming.photo.ref)
            added = ctx.t("req_step_photos_count", count=len(photos), max=MAX_INTAKE_PHOTOS)
            return [replace(prompt(ctx)[0], text=added)]
        if incoming.kind is Kind.TEXT and (incoming.text or "").strip().lower() in _DONE_WORDS:
            return self._advance(ctx)
        return self._reprompt(ctx, "req_invalid_photo")

    def _on_phone(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        if incoming.kind is Kind.CONTACT and incoming.contact is not None:
            shared = incoming.contact.phone.strip()
            try:
                phone = normalize_phone(shared, international=True)
            except InvalidPhone:
                # Messengers often send a foreign number without its "+".
                try:
                    phone = normalize_phone("+" + shared.lstrip("+"), international=True)
                except InvalidPhone:
                    return self._reprompt(ctx, "req_invalid_phone")
            if not incoming.contact.own:
                # Someone else's card: use it only if the resident says so.
                ctx.state.data["pending_phone"] = phone
                ctx.state.step = S_PHONE_CONFIRM
                return prompt(ctx)
            answers(ctx)["phone"] = phone
            return self._advance(ctx)
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_phone")
        if _plain(incoming.text or "") in _NO_PHONE_WORDS:
            return self._on_phone_button(ctx, "none")
        try:
            phone = normalize_phone(incoming.text or "", international=True)
        except InvalidPhone:
            return self._reprompt(ctx, "req_invalid_phone")
        answers(ctx)["phone"] = phone
        return self._advance(ctx)

    def _on_phone_button(self, ctx: Context, value: str | None) -> list[Reply]:
        """``rq:phone:last`` (the phone of the latest request) or ``rq:phone:none``."""
        last = ctx.state.data.get("last_phone")
        if value == "last" and isinstance(last, str):
            answers(ctx)["phone"] = last
            return self._advance(ctx)
        if value == "none":
            answers(ctx)["phone"] = None
            return [Reply(ctx.t("req_no_phone_note")), *self._advance(ctx)]
        return self._stale(ctx)

    # --- a question typed at a free-text step ----------------------------------------------

    async def _on_question(self, ctx: Context, text: str) -> list[Reply]:
        """Answered (by the consultations, when wired) with the form kept where it is; the
        step is asked again, with a button to take the text as the answer after all."""
        ctx.state.data["pending_text"] = text
        replies = [Reply(ctx.t("req_question_paused"))]
        idle = self._registry.idle.get(Kind.TEXT) if self._registry is not None else None
        if idle is not None:
            step, data = ctx.state.step, copy.deepcopy(ctx.state.data)
            replies.extend(await idle(ctx))
            ctx.state.step, ctx.state.data = step, data  # the form stays where it was
        else:
            replies.append(Reply(ctx.t("req_question_later")))
        question = prompt(ctx)[-1]
        key = "req_btn_use_as_address" if ctx.state.step == S_ADDRESS else "req_btn_use_as_text"
        use = (Button(ctx.t(key), build(ACTION, "q", "use")),)
        replies.append(replace(question, buttons=(use, *question.buttons)))
        return replies

    def _on_use_pending(self, ctx: Context) -> list[Reply]:
        pending = ctx.state.data.pop("pending_text", None)
        if not isinstance(pending, str):
            return self._stale(ctx)
        if ctx.state.step == S_ADDRESS:
            return self._on_address_text(ctx, pending)
        return self._on_description_text(ctx, pending)

    def _on_phone_confirm(self, ctx: Context, value: str | None) -> list[Reply]:
        pending = ctx.state.data.pop("pending_phone", None)
        ctx.state.step = S_PHONE
        if value == "yes" and isinstance(pending, str):
            answers(ctx)["phone"] = pending
            return self._advance(ctx)
        return prompt(ctx)

    def _on_edit_field(self, ctx: Context, field: str | None) -> list[Reply]:
        step = EDITABLE.get(field or "")
        if step is None:
            return self._stale(ctx)
        ctx.state.data["edit"] = True
        if field == "photos":
            answers(ctx)["photos"] = []
        ctx.state.step = step
        return prompt(ctx)

    async def _on_resume(self, ctx: Context, value: str | None) -> list[Reply]:
        resume = ctx.state.data.pop("resume", None)
        category = ctx.state.data.pop("resume_category", None)
        if value == "continue" and resume in INTAKE_STEPS:
            ctx.state.step = resume
            return prompt(ctx)
        return await self.start_intake(ctx, category if isinstance(category, str) else None)

    # --- navigation ------------------------------------------------------------------------

    def _advance(self, ctx: Context) -> list[Reply]:
        """Go to the step after the current one (back to the summary when editing a field)."""
        current = ctx.state.step
        if ctx.state.data.pop("edit", False):
            ctx.state.step = S_SUMMARY
            return prompt(ctx)
        index = FLOW.index(current) if current in FLOW else 0
        following = FLOW[min(index + 1, len(FLOW) - 1)]
        if following == S_CONSENT and ctx.resident.consent_personal_data:
            following = S_ADDRESS
        if current in FLOW and current != S_SUMMARY:
            trail: list[str] = ctx.state.data.setdefault("trail", [])
            trail.append(current)
        ctx.state.step = following
        return prompt(ctx)

    def _back(self, ctx: Context) -> list[Reply]:
        step = ctx.state.step
        if ctx.state.data.pop("edit", False) or step == S_EDIT:
            ctx.state.step = S_SUMMARY
        elif step == S_PHONE_CONFIRM:
            ctx.state.data.pop("pending_phone", None)
            ctx.state.step = S_PHONE
        elif step == S_RESUME:
            ctx.state.step = ctx.state.data.pop("resume", S_CATEGORY)
        else:
            trail: list[str] = ctx.state.data.setdefault("trail", [])
            # Consent, once given, is not asked again on the way back.
            while trail and trail[-1] == S_CONSENT and ctx.resident.consent_personal_data:
                trail.pop()
            ctx.state.step = trail.pop() if trail else S_CATEGORY
        return prompt(ctx)

    # --- confirmation ----------------------------------------------------------------------

    async def _confirm(self, ctx: Context) -> list[Reply]:
        request_draft = self._request_draft(ctx)
        if request_draft is None:
            # Something is missing (a state from an older version): ask from the start.
            return await self.start_intake(ctx)
        try:
            request = await self.service.create(ctx.session, ctx.resident, request_draft)
        except (InvalidDraft, InvalidPhone):
            logger.info("resident %s: draft refused at confirmation", ctx.resident.id)
            return [Reply(ctx.t("req_create_failed")), summary(ctx)]
        ctx.reset(keep_paused=False)
        executor = self.service.routing.executors.get(request.executor_id)
        tz = self.service.clock.tz
        text = ctx.t(
            "req_created",
            number=request.number,
            executor=executor.name if executor else request.executor_id,
            deadline=cards.format_local(request.resolve_due, tz),
        )
        if request.urgent:
            text += "\n" + ctx.t(
                "req_created_urgent", ack_due=cards.format_local(request.ack_due, tz)
            )
        rows = (
            (Button(ctx.t("req_btn_my"), build("req_my")),),
            menu_button_row(ctx),
        )
        return [Reply(text, title=ctx.t("req_created_title"), buttons=rows)]

    def _request_draft(self, ctx: Context) -> RequestDraft | None:
        data = answers(ctx)
        category = data.get("category")
        description = data.get("description")
        if category not in {c.value for c in CATEGORIES} or not isinstance(description, str):
            return None
        if not data.get("address") and data.get("latitude") is None:
            return None
        district = data.get("district")
        return RequestDraft(
            category=next(c for c in CATEGORIES if c.value == category),
            description=description,
            district=next((d for d in DISTRICTS if d.value == district), None),
            address=data.get("address"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            photos=tuple(data.get("photos") or ()),
            phone=data.get("phone"),
        )
