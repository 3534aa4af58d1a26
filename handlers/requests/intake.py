"""Requests in the conversation: the intake flow, "my requests" and answering a question.

The intake is a guided flow whose place and answers live in ``ctx.state`` (saved by the engine
in the message's transaction), so a resident who leaves halfway resumes where they were, even
after a restart. Order: category -> district -> consent (asked before anything personal, and
only once per resident) -> address or location -> description (photos welcome) -> photos ->
phone -> summary (confirm / edit a field / cancel). Back returns to the previous step; Cancel
and /cancel leave. The request is created in the same transaction as the confirmation, and the
engine returns the reply with its number only after the commit.

Buttons carry ``v1:rq:<command>[:<arg>]``; a button of another step is answered as out of date
and the current step is asked again. The menu's ``req_new`` (optionally with a category, from
an FAQ entry) and ``req_my`` are registered here.
"""

from __future__ import annotations

import logging
from typing import Any

from domain.messages import Button, ButtonKind, Kind, Reply
from domain.payloads import Payload, build
from domain.requests import (
    CATEGORIES,
    DISTRICTS,
    EventKind,
    InvalidPhone,
    Request,
    RequestDraft,
    RequestError,
    Status,
    StatusChange,
    find_number,
    format_number,
    normalize_phone,
    parse_number,
)
from handlers.context import Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from services import cards
from services.relay import RELAY_STEP
from services.requests import (
    ANSWER_STEP,
    MAX_DESCRIPTION,
    MIN_DESCRIPTION,
    InvalidDraft,
    NotAwaitingAnswer,
    RequestService,
)

logger = logging.getLogger(__name__)

__all__ = ["RequestsFeature"]

ACTION = cards.RESIDENT_ACTION  # "rq"

S_CATEGORY = "req.category"
S_DISTRICT = "req.district"
S_CONSENT = "req.consent"
S_ADDRESS = "req.address"
S_DESCRIPTION = "req.description"
S_PHOTOS = "req.photos"
S_PHONE = "req.phone"
S_PHONE_CONFIRM = "req.phone_confirm"
S_SUMMARY = "req.summary"
S_EDIT = "req.edit"
S_RESUME = "req.resume"
S_MY = "req.my"
S_ANSWER = ANSWER_STEP

FLOW = (S_CATEGORY, S_DISTRICT, S_CONSENT, S_ADDRESS, S_DESCRIPTION, S_PHOTOS, S_PHONE, S_SUMMARY)
INTAKE_STEPS = frozenset({*FLOW, S_PHONE_CONFIRM, S_EDIT, S_RESUME})
# Fields the summary can send the resident back to, in the order of the edit buttons.
EDITABLE = {
    "category": S_CATEGORY,
    "district": S_DISTRICT,
    "address": S_ADDRESS,
    "description": S_DESCRIPTION,
    "photos": S_PHOTOS,
    "phone": S_PHONE,
}

MAX_INTAKE_PHOTOS = 5
MIN_ADDRESS = 5
MAX_ADDRESS = 300
MY_LIMIT = 10
# Kryvyi Rih stretches about 120 km north to south; a generous box catches shared points that
# are plainly elsewhere (a resident sending their location from another city by mistake).
CITY_BOUNDS = (47.55, 48.25, 32.95, 33.85)
_DONE_WORDS = frozenset(
    {"готово", "пропустити", "далі", "ні", "немає", "нема", "done", "skip", "next", "no"}
)


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RequestsFeature:
    """Registers the intake, "my requests" and the answer step; ``start_intake`` is public for
    the consultations feature."""

    def __init__(self, service: RequestService) -> None:
        self.service = service

    def register(self, registry: Registry) -> None:
        registry.action("req_new", self.on_new)
        registry.action("req_my", self.on_my)
        registry.action(ACTION, self.on_button)
        registry.step("req", self.on_step)
        registry.intercept(self.on_number)

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
        if ctx.state.step in INTAKE_STEPS and ctx.state.step != S_RESUME and self._draft(ctx):
            ctx.state.data["resume"] = ctx.state.step
            ctx.state.data["resume_category"] = category
            ctx.state.step = S_RESUME
            return self._prompt(ctx)
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
        return self._prompt(ctx)

    async def on_number(self, ctx: Context) -> list[Reply] | None:
        """A request number typed anywhere shows that request, when it is the resident's own.

        Not while the words are for someone else (the operator relay, an answer to the
        executor's question); inside the request form only a message that is nothing but a
        number, since "1520-000123 знову тече" may be the new request's description.
        """
        step = ctx.state.step
        if ctx.incoming.kind is not Kind.TEXT or step in (S_ANSWER, RELAY_STEP):
            return None
        text = (ctx.incoming.text or "").strip()
        request_id = find_number(text, whole=step in INTAKE_STEPS)
        if request_id is None:
            return None
        request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
        if request is None:
            return [self._not_found(ctx, text)]
        if step not in INTAKE_STEPS and step != S_MY:
            ctx.state.step = S_MY
            ctx.state.data = {}
        return await self._details(ctx, request)

    async def on_my(self, ctx: Context, _payload: Payload) -> list[Reply]:
        return await self._my_list(ctx)

    # --- buttons ---------------------------------------------------------------------------

    async def on_button(self, ctx: Context, payload: Payload) -> list[Reply]:
        command, arg = payload.arg(0), payload.arg(1)
        step = ctx.state.step
        if command == "open":
            return await self._open(ctx, arg)
        if command == "ans":
            return await self._ask_answer(ctx, arg)
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
            return self._prompt(ctx)
        if command == "ef":
            return self._on_edit_field(ctx, arg)
        return await self._on_resume(ctx, arg)

    def _stale(self, ctx: Context) -> list[Reply]:
        if ctx.state.step in INTAKE_STEPS:
            return [Reply(ctx.t("req_stale_step")), *self._prompt(ctx)]
        return [Reply(ctx.t("stale_button")), main_menu(ctx)]

    # --- messages within a step ------------------------------------------------------------

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        step = ctx.state.step
        incoming = ctx.incoming
        if step == S_MY:
            return await self._my_typed(ctx)
        if step == S_ANSWER:
            return await self._answer(ctx)
        if step not in INTAKE_STEPS:
            logger.info("unknown request step %s reset", step)
            ctx.reset()
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
        return [Reply(ctx.t(key, **values)), *self._prompt(ctx)]

    # --- the steps -------------------------------------------------------------------------

    def _on_category(self, ctx: Context, value: str | None) -> list[Reply]:
        if value not in {c.value for c in CATEGORIES}:
            return self._reprompt(ctx, "req_invalid_category")
        self._draft(ctx)["category"] = value
        return self._advance(ctx)

    def _on_district(self, ctx: Context, value: str | None) -> list[Reply]:
        if value != "none" and value not in {d.value for d in DISTRICTS}:
            return self._reprompt(ctx, "req_invalid_district")
        self._draft(ctx)["district"] = None if value == "none" else value
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
        draft = self._draft(ctx)
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
        draft = self._draft(ctx)
        if incoming.kind is Kind.PHOTO and incoming.photo is not None:
            photos: list[str] = draft.setdefault("photos", [])
            if len(photos) < MAX_INTAKE_PHOTOS:
                photos.append(incoming.photo.ref)
            caption = (incoming.photo.caption or "").strip()
            if MIN_DESCRIPTION <= len(caption) <= MAX_DESCRIPTION:
                draft["description"] = caption
                return self._advance(ctx)
            return [Reply(ctx.t("req_description_photo_added")), *self._prompt(ctx)[1:]]
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
        photos: list[str] = self._draft(ctx).setdefault("photos", [])
        if incoming.kind is Kind.PHOTO and incoming.photo is not None:
            if len(photos) >= MAX_INTAKE_PHOTOS:
                return self._reprompt(ctx, "req_photos_limit", max=MAX_INTAKE_PHOTOS)
            photos.append(incoming.photo.ref)
            return self._prompt(ctx)
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
                return self._prompt(ctx)
            self._draft(ctx)["phone"] = phone
            return self._advance(ctx)
        if incoming.kind is not Kind.TEXT:
            return self._reprompt(ctx, "req_invalid_phone")
        try:
            phone = normalize_phone(incoming.text or "")
        except InvalidPhone:
            return self._reprompt(ctx, "req_invalid_phone")
        self._draft(ctx)["phone"] = phone
        return self._advance(ctx)

    def _on_phone_confirm(self, ctx: Context, value: str | None) -> list[Reply]:
        pending = ctx.state.data.pop("pending_phone", None)
        ctx.state.step = S_PHONE
        if value == "yes" and isinstance(pending, str):
            self._draft(ctx)["phone"] = pending
            return self._advance(ctx)
        return self._prompt(ctx)

    def _on_edit_field(self, ctx: Context, field: str | None) -> list[Reply]:
        step = EDITABLE.get(field or "")
        if step is None:
            return self._stale(ctx)
        ctx.state.data["edit"] = True
        if field == "photos":
            self._draft(ctx)["photos"] = []
        ctx.state.step = step
        return self._prompt(ctx)

    async def _on_resume(self, ctx: Context, value: str | None) -> list[Reply]:
        resume = ctx.state.data.pop("resume", None)
        category = ctx.state.data.pop("resume_category", None)
        if value == "continue" and resume in INTAKE_STEPS:
            ctx.state.step = resume
            return self._prompt(ctx)
        return await self.start_intake(ctx, category if isinstance(category, str) else None)

    # --- navigation ------------------------------------------------------------------------

    def _advance(self, ctx: Context) -> list[Reply]:
        """Go to the step after the current one (back to the summary when editing a field)."""
        current = ctx.state.step
        if ctx.state.data.pop("edit", False):
            ctx.state.step = S_SUMMARY
            return self._prompt(ctx)
        index = FLOW.index(current) if current in FLOW else 0
        following = FLOW[min(index + 1, len(FLOW) - 1)]
        if following == S_CONSENT and ctx.resident.consent_personal_data:
            following = S_ADDRESS
        if current in FLOW and current != S_SUMMARY:
            trail: list[str] = ctx.state.data.setdefault("trail", [])
            trail.append(current)
        ctx.state.step = following
        return self._prompt(ctx)

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
        return self._prompt(ctx)

    # --- prompts ---------------------------------------------------------------------------

    def _nav_row(self, ctx: Context, *, back: bool = True) -> tuple[Button, ...]:
        cancel = Button(ctx.t("req_btn_cancel"), build(ACTION, "x"))
        if not back:
            return (cancel,)
        return (Button(ctx.t("req_btn_back"), build(ACTION, "back")), cancel)

    def _prompt(self, ctx: Context) -> list[Reply]:
        step = ctx.state.step
        t = ctx.t
        if step == S_CATEGORY:
            buttons = [
                Button(t(f"req_cat_{c.value}"), build(ACTION, "cat", c.value)) for c in CATEGORIES
            ]
            rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
            # The first step has nowhere to go back to, except the summary when editing.
            rows.append(self._nav_row(ctx, back=bool(ctx.state.data.get("edit"))))
            return [Reply(t("req_step_category"), buttons=tuple(rows))]
        if step == S_DISTRICT:
            buttons = [
                Button(t(f"req_district_{d.value}"), build(ACTION, "dist", d.value))
                for d in DISTRICTS
            ]
            buttons.append(Button(t("req_btn_district_unknown"), build(ACTION, "dist", "none")))
            rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
            rows.append(self._nav_row(ctx))
            return [Reply(t("req_step_district"), buttons=tuple(rows))]
        if step == S_CONSENT:
            rows = [
                (
                    Button(t("req_btn_consent_yes"), build(ACTION, "consent", "yes")),
                    Button(t("req_btn_consent_no"), build(ACTION, "consent", "no")),
                ),
                self._nav_row(ctx),
            ]
            return [Reply(t("req_step_consent"), buttons=tuple(rows))]
        if step == S_ADDRESS:
            rows = [
                (Button(t("req_btn_share_location"), kind=ButtonKind.SHARE_LOCATION),),
                self._nav_row(ctx),
            ]
            return [Reply(t("req_step_address"), buttons=tuple(rows))]
        if step == S_DESCRIPTION:
            text = t("req_step_description", min=MIN_DESCRIPTION, max=MAX_DESCRIPTION)
            return [Reply(text, buttons=(self._nav_row(ctx),))]
        if step == S_PHOTOS:
            count = len(self._draft(ctx).get("photos") or [])
            if count:
                text = t("req_step_photos_count", count=count, max=MAX_INTAKE_PHOTOS)
                label = t("req_btn_photos_done")
            else:
                text = t("req_step_photos", max=MAX_INTAKE_PHOTOS)
                label = t("req_btn_skip")
            rows = [(Button(label, build(ACTION, "photos")),), self._nav_row(ctx)]
            return [Reply(text, buttons=tuple(rows))]
        if step == S_PHONE:
            rows = [
                (Button(t("req_btn_share_contact"), kind=ButtonKind.SHARE_CONTACT),),
                self._nav_row(ctx),
            ]
            return [Reply(t("req_step_phone"), buttons=tuple(rows))]
        if step == S_PHONE_CONFIRM:
            phone = str(ctx.state.data.get("pending_phone", ""))
            rows = [
                (
                    Button(t("req_btn_yes"), build(ACTION, "pc", "yes")),
                    Button(t("req_btn_no_other_number"), build(ACTION, "pc", "no")),
                ),
                self._nav_row(ctx),
            ]
            return [Reply(t("req_step_phone_confirm", phone=phone), buttons=tuple(rows))]
        if step == S_SUMMARY:
            return [self._summary(ctx)]
        if step == S_EDIT:
            buttons = [
                Button(t(f"req_field_{field}"), build(ACTION, "ef", field)) for field in EDITABLE
            ]
            rows = [tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
            rows.append(self._nav_row(ctx))
            return [Reply(t("req_step_edit"), buttons=tuple(rows))]
        if step == S_RESUME:
            category = self._draft(ctx).get("category")
            label = t(f"req_cat_{category}") if category else "—"
            rows = [
                (
                    Button(t("req_btn_continue"), build(ACTION, "resume", "continue")),
                    Button(t("req_btn_start_over"), build(ACTION, "resume", "over")),
                ),
                self._nav_row(ctx, back=False),
            ]
            return [Reply(t("req_resume", category=label), buttons=tuple(rows))]
        return [main_menu(ctx)]

    def _summary(self, ctx: Context) -> Reply:
        t = ctx.t
        draft = self._draft(ctx)
        district = draft.get("district")
        address = draft.get("address")
        if address is None and draft.get("latitude") is not None:
            address = t(
                "req_summary_location",
                latitude=f"{draft['latitude']:.5f}",
                longitude=f"{draft['longitude']:.5f}",
            )
        photos = len(draft.get("photos") or [])
        text = t(
            "req_summary",
            category=t(f"req_cat_{draft.get('category', 'other')}"),
            district=t(f"req_district_{district}") if district else t("req_district_unknown"),
            address=address or t("req_summary_no_address"),
            description=_cut(str(draft.get("description", "")), 1500),
            photos=photos if photos else t("req_summary_no_photos"),
            phone=draft.get("phone") or "—",
        )
        rows = (
            (Button(t("req_btn_confirm"), build(ACTION, "ok")),),
            (Button(t("req_btn_edit"), build(ACTION, "edit")),),
            self._nav_row(ctx, back=False),
        )
        return Reply(text, title=t("req_summary_title"), buttons=rows)

    # --- confirmation ----------------------------------------------------------------------

    async def _confirm(self, ctx: Context) -> list[Reply]:
        draft = self._request_draft(ctx)
        if draft is None:
            # Something is missing (a state from an older version): ask from the start.
            return await self.start_intake(ctx)
        try:
            request = await self.service.create(ctx.session, ctx.resident, draft)
        except (InvalidDraft, InvalidPhone):
            logger.info("resident %s: draft refused at confirmation", ctx.resident.id)
            return [Reply(ctx.t("req_create_failed")), self._summary(ctx)]
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
        data = self._draft(ctx)
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

    @staticmethod
    def _draft(ctx: Context) -> dict[str, Any]:
        draft = ctx.state.data.setdefault("d", {})
        if not isinstance(draft, dict):
            draft = ctx.state.data["d"] = {}
        return draft

    # --- my requests -----------------------------------------------------------------------

    async def _my_list(self, ctx: Context) -> list[Reply]:
        requests = await self.service.list_for_resident(ctx.session, ctx.resident.id, MY_LIMIT)
        # An intake interrupted to look at the list is kept, so "New request" can resume it.
        paused = ctx.state.data.get("paused") if ctx.state.step == S_MY else None
        if ctx.state.step in INTAKE_STEPS:
            paused = {"step": ctx.state.step, "data": ctx.state.data}
        ctx.state.step = S_MY
        ctx.state.data = {"paused": paused} if paused else {}
        if not requests:
            rows = (
                (Button(ctx.t("btn_new_request"), build("req_new")),),
                menu_button_row(ctx),
            )
            return [Reply(ctx.t("req_my_empty"), title=ctx.t("req_my_title"), buttons=rows)]
        tz = self.service.clock.tz
        lines: list[str] = []
        buttons: list[tuple[Button, ...]] = []
        for request in requests:
            status = cards.status_label(ctx.texts, ctx.lang, request.status)
            lines.append(
                ctx.t(
                    "req_my_line",
                    number=request.number,
                    category=ctx.t(f"req_cat_{request.category.value}"),
                    status=status,
                    deadline=cards.format_local(request.resolve_due, tz),
                )
                if request.is_open
                else ctx.t(
                    "req_my_line_closed",
                    number=request.number,
                    category=ctx.t(f"req_cat_{request.category.value}"),
                    status=status,
                )
            )
            buttons.append(
                (
                    Button(
                        ctx.t("req_my_button", number=request.number, status=status),
                        build(ACTION, "open", request.id),
                    ),
                )
            )
        buttons.append(menu_button_row(ctx))
        text = ctx.t("req_my_intro") + "\n\n" + "\n\n".join(lines)
        return [Reply(text, title=ctx.t("req_my_title"), buttons=tuple(buttons))]

    async def _my_typed(self, ctx: Context) -> list[Reply] | None:
        if ctx.incoming.kind is not Kind.TEXT:
            return None
        text = (ctx.incoming.text or "").strip()
        request_id = parse_number(text)
        if request_id is None:
            return None  # not a number: let the consultations answer it
        request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
        if request is None:
            return [self._not_found(ctx, text)]
        return await self._details(ctx, request)

    def _not_found(self, ctx: Context, typed: str) -> Reply:
        # The same answer whether the number does not exist or is someone else's.
        rows = ((Button(ctx.t("req_btn_my"), build("req_my")),), menu_button_row(ctx))
        return Reply(ctx.t("req_not_found", number=_cut(typed, 40)), buttons=rows)

    async def _open(self, ctx: Context, arg: str | None) -> list[Reply]:
        request_id = int(arg) if arg and arg.isdigit() else None
        request = (
            await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            if request_id
            else None
        )
        if request is None:
            return [self._not_found(ctx, arg or "")]
        if ctx.state.step not in INTAKE_STEPS:
            ctx.state.step = S_MY
            ctx.state.data = {}
        return await self._details(ctx, request)

    async def _details(self, ctx: Context, request: Request) -> list[Reply]:
        tz = self.service.clock.tz
        history = await self.service.history(ctx.session, request.id)
        executor = self.service.routing.executors.get(request.executor_id)
        address = request.address
        if address is None and request.has_location:
            address = ctx.t(
                "req_summary_location",
                latitude=f"{request.latitude:.5f}",
                longitude=f"{request.longitude:.5f}",
            )
        text = ctx.t(
            "req_details",
            category=ctx.t(f"req_cat_{request.category.value}"),
            district=cards.district_label(ctx.texts, ctx.lang, request),
            address=address or ctx.t("req_summary_no_address"),
            description=_cut(request.description or "—", 1000),
            status=cards.status_label(ctx.texts, ctx.lang, request.status),
            executor=executor.name if executor else request.executor_id,
            deadline=cards.format_local(request.resolve_due, tz),
            created=cards.format_local(request.created_at, tz),
        )
        parts = [text]
        if history:
            lines = [
                cards.history_line(
                    ctx.texts, ctx.lang, change, tz, self.service.routing, with_actor=False
                )
                for change in history
            ]
            parts.append(ctx.t("req_details_history") + "\n" + "\n".join(lines))
        rows: list[tuple[Button, ...]] = []
        if request.status is Status.NEEDS_INFO:
            question = _question(history)
            if question:
                parts.append(ctx.t("req_details_question", question=question))
            rows.append((Button(ctx.t("req_btn_answer"), build(ACTION, "ans", request.id)),))
        rows.append((Button(ctx.t("req_btn_back_to_list"), build("req_my")),))
        rows.append(menu_button_row(ctx))
        return [
            Reply(
                "\n\n".join(parts),
                title=ctx.t("req_details_title", number=request.number),
                buttons=tuple(rows),
            )
        ]

    # --- answering a question --------------------------------------------------------------

    async def _ask_answer(self, ctx: Context, arg: str | None) -> list[Reply]:
        request_id = int(arg) if arg and arg.isdigit() else None
        request = (
            await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            if request_id
            else None
        )
        if request is None:
            return [self._not_found(ctx, arg or "")]
        if request.status is not Status.NEEDS_INFO:
            status = cards.status_label(ctx.texts, ctx.lang, request.status)
            return [
                Reply(
                    ctx.t("req_answer_not_needed", status=status), buttons=(menu_button_row(ctx),)
                )
            ]
        history = await self.service.history(ctx.session, request.id)
        ctx.state.step = S_ANSWER
        ctx.state.data = {"request_id": request.id}
        prompt = ctx.t(
            "req_answer_prompt", number=request.number, question=_question(history) or "—"
        )
        # The menu's plain Cancel: "cancel the request" would wrongly suggest withdrawing it.
        return [Reply(prompt, buttons=((Button(ctx.t("btn_cancel"), build("cancel")),),))]

    async def _answer(self, ctx: Context) -> list[Reply]:
        request_id = ctx.state.data.get("request_id")
        if not isinstance(request_id, int):
            ctx.reset()
            return [main_menu(ctx)]
        if ctx.incoming.kind is not Kind.TEXT:
            return [Reply(ctx.t("req_answer_text_only"))]
        text = (ctx.incoming.text or "").strip()
        if not text:
            return [Reply(ctx.t("req_answer_empty"))]
        try:
            await self.service.answer_info(ctx.session, request_id, ctx.resident, text)
        except NotAwaitingAnswer:
            ctx.reset()
            request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            status = cards.status_label(ctx.texts, ctx.lang, request.status) if request else "—"
            return [
                Reply(
                    ctx.t("req_answer_not_needed", status=status), buttons=(menu_button_row(ctx),)
                )
            ]
        except RequestError:
            ctx.reset()
            return [self._not_found(ctx, str(request_id))]
        ctx.reset()
        number = format_number(request_id)
        rows = ((Button(ctx.t("req_btn_my"), build("req_my")),), menu_button_row(ctx))
        return [Reply(ctx.t("req_answer_sent", number=number), buttons=rows)]


def _question(history: list[StatusChange]) -> str | None:
    """The latest question asked (the note of the latest change to needs_info)."""
    for change in reversed(history):
        if change.event is EventKind.STATUS and change.to_status is Status.NEEDS_INFO:
            return str(change.note) if change.note else None
    return None
