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

import logging

from domain.messages import Button, Kind, Reply
from domain.payloads import Payload, build
from domain.requests import (
    CATEGORIES,
    DISTRICTS,
    InvalidPhone,
    RequestDraft,
    normalize_phone,
)
from handlers.context import Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from handlers.requests.common import (
    EDITABLE,
    FLOW,
    INTAKE_STEPS,
    S_ADDRESS,
    S_CATEGORY,
    S_CONSENT,
    S_DESCRIPTION,
    S_DISTRICT,
    S_EDIT,
    S_MY,
    S_PHONE,
    S_PHONE_CONFIRM,
    S_PHOTOS,
    S_RESUME,
    S_SUMMARY,
    unknown_step,
)
from handlers.requests.prompts import MAX_INTAKE_PHOTOS, answers, prompt, summary
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


class IntakeFeature:
    """Registers ``req_new`` and the form's steps (every ``req.*`` step the other request
    features do not claim); answers the form's ``rq`` buttons through ``on_button``."""

    def __init__(self, service: RequestService) -> None:
        self.service = service

    def register(self, registry: Registry) -> None:
        registry.action("req_new", self.on_new)
        registry.step("req", self.on_step)

    # --- entry points ----------------------------------------------------------------------

    async def on_new(self, ctx: Context, payload: Payload) -> list[Reply]:
        category = payload.arg()
        if category is not None and category not in {c.value for c in CATEGORIES}:
            category = None
        paused = ctx.state.data.get("paused") if ctx.state.step == S_MY else None
        if isinstance(paused, dict) and paused.get("step") in INTAKE_STEPS:
            ctx.state.step = str(paused["step"])
            data = paused.get("data")
            ctx.state.data = data if isinstance(data, dict) else {}
        if ctx.state.step in INTAKE_STEPS and ctx.state.step != S_RESUME and answers(ctx):
            ctx.state.data["resume"] = ctx.state.step
            ctx.state.data["resume_category"] = category
            ctx.state.step = S_RESUME
            return prompt(ctx)
        return await self.start_intake(ctx, category)

    async def start_intake(self, ctx: Context, category: str | None = None) -> list[Reply]:
        """Begin a new request (dropping any unfinished one); with a category (an FAQ entry's
        button), the category step is skipped."""
        ctx.state.data = {"d": {}, "trail": []}
        if category in {c.value for c in CATEGORIES}:
            ctx.state.data["d"]["category"] = category
            ctx.state.data["trail"] = [S_CATEGORY]
            ctx.state.step = S_DISTRICT
        else:
            ctx.state.step = S_CATEGORY
        logger.info("resident %s started an intake", ctx.resident.id)
        return prompt(ctx)

    # --- buttons ---------------------------------------------------------------------------

    async def on_button(self, ctx: Context, payload: Payload) -> list[Reply]:
        command, arg = payload.arg(0), payload.arg(1)
        step = ctx.state.step
        if command == "x":
            ctx.reset()
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
            ctx.reset()
            return [Reply(ctx.t("req_consent_refused")), main_menu(ctx, with_title=False)]
        return self._reprompt(ctx, "req_invalid_consent")

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
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_input")
        text = " ".join((incoming.text or "").split())
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
            return [Reply(ctx.t("req_description_photo_added")), *prompt(ctx)[1:]]
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_input")
        text = (incoming.text or "").strip()
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
            return prompt(ctx)
        if incoming.kind is Kind.TEXT and (incoming.text or "").strip().lower() in _DONE_WORDS:
            return self._advance(ctx)
        return self._reprompt(ctx, "req_invalid_photo")

    def _on_phone(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        if incoming.kind is Kind.CONTACT and incoming.contact is not None:
            try:
                phone = normalize_phone(incoming.contact.phone)
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
        try:
            phone = normalize_phone(incoming.text or "")
        except InvalidPhone:
            return self._reprompt(ctx, "req_invalid_phone")
        answers(ctx)["phone"] = phone
        return self._advance(ctx)

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
        ctx.reset()
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
