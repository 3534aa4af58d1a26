"""What each step of the intake form shows: its question, its buttons, the summary.

Pure functions of the conversation state: they read the answers (``ctx.state.data["d"]``) and
never change the step; ``handlers.requests.intake`` decides which step comes next.
"""

from __future__ import annotations

from typing import Any

from domain.messages import Button, ButtonKind, Reply
from domain.payloads import build
from domain.requests import CATEGORIES, DISTRICTS
from handlers.context import Context
from handlers.menu import main_menu
from handlers.requests.common import (
    ACTION,
    EDITABLE,
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
    cut,
)
from services.request_limits import MAX_DESCRIPTION, MIN_DESCRIPTION

MAX_INTAKE_PHOTOS = 5


def answers(ctx: Context) -> dict[str, Any]:
    """The answers given so far, kept in the state under ``d``."""
    given = ctx.state.data.setdefault("d", {})
    if not isinstance(given, dict):
        given = ctx.state.data["d"] = {}
    return given


def nav_row(ctx: Context, *, back: bool = True) -> tuple[Button, ...]:
    cancel = Button(ctx.t("req_btn_cancel"), build(ACTION, "x"))
    if not back:
        return (cancel,)
    return (Button(ctx.t("req_btn_back"), build(ACTION, "back")), cancel)


def prompt(ctx: Context) -> list[Reply]:
    """The question of the current step (the main menu for a step that is not the form's)."""
    step = ctx.state.step
    t = ctx.t
    if step == S_CATEGORY:
        buttons = [
            Button(t(f"req_cat_{c.value}"), build(ACTION, "cat", c.value)) for c in CATEGORIES
        ]
        rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        # The first step has nowhere to go back to, except the summary when editing.
        rows.append(nav_row(ctx, back=bool(ctx.state.data.get("edit"))))
        return [Reply(t("req_step_category"), buttons=tuple(rows))]
    if step == S_DISTRICT:
        buttons = [
            Button(t(f"req_district_{d.value}"), build(ACTION, "dist", d.value)) for d in DISTRICTS
        ]
        buttons.append(Button(t("req_btn_district_unknown"), build(ACTION, "dist", "none")))
        rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        rows.append(nav_row(ctx))
        return [Reply(t("req_step_district"), buttons=tuple(rows))]
    if step == S_CONSENT:
        rows = [
            (
                Button(t("req_btn_consent_yes"), build(ACTION, "consent", "yes")),
                Button(t("req_btn_consent_no"), build(ACTION, "consent", "no")),
            ),
            nav_row(ctx),
        ]
        return [Reply(t("req_step_consent"), buttons=tuple(rows))]
    if step == S_ADDRESS:
        rows = [
            (Button(t("req_btn_share_location"), kind=ButtonKind.SHARE_LOCATION),),
            nav_row(ctx),
        ]
        return [Reply(t("req_step_address"), buttons=tuple(rows))]
    if step == S_DESCRIPTION:
        text = t("req_step_description", min=MIN_DESCRIPTION, max=MAX_DESCRIPTION)
        return [Reply(text, buttons=(nav_row(ctx),))]
    if step == S_PHOTOS:
        count = len(answers(ctx).get("photos") or [])
        if count:
            text = t("req_step_photos_have", count=count, max=MAX_INTAKE_PHOTOS)
            label = t("req_btn_photos_done")
        else:
            text = t("req_step_photos", max=MAX_INTAKE_PHOTOS)
            label = t("req_btn_skip")
        rows = [(Button(label, build(ACTION, "photos")),), nav_row(ctx)]
        return [Reply(text, buttons=tuple(rows))]
    if step == S_PHONE:
        rows = [(Button(t("req_btn_share_contact"), kind=ButtonKind.SHARE_CONTACT),)]
        last = ctx.state.data.get("last_phone")
        if isinstance(last, str):
            rows.insert(
                0, (Button(t("req_btn_last_phone", phone=last), build(ACTION, "phone", "last")),)
            )
        rows.append((Button(t("req_btn_no_phone"), build(ACTION, "phone", "none")),))
        rows.append(nav_row(ctx))
        return [Reply(t("req_step_phone"), buttons=tuple(rows))]
    if step == S_PHONE_CONFIRM:
        phone = str(ctx.state.data.get("pending_phone", ""))
        rows = [
            (
                Button(t("req_btn_yes"), build(ACTION, "pc", "yes")),
                Button(t("req_btn_no_other_number"), build(ACTION, "pc", "no")),
            ),
            nav_row(ctx),
        ]
        return [Reply(t("req_step_phone_confirm", phone=phone), buttons=tuple(rows))]
    if step == S_SUMMARY:
        return [summary(ctx)]
    if step == S_EDIT:
        buttons = [
            Button(t(f"req_field_{field}"), build(ACTION, "ef", field)) for field in EDITABLE
        ]
        rows = [tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
        rows.append(nav_row(ctx))
        return [Reply(t("req_step_edit"), buttons=tuple(rows))]
    if step == S_RESUME:
        category = answers(ctx).get("category")
        label = t(f"req_cat_{category}") if category else "—"
        rows = [
            (
                Button(t("req_btn_continue"), build(ACTION, "resume", "continue")),
                Button(t("req_btn_start_over"), build(ACTION, "resume", "over")),
            ),
            nav_row(ctx, back=False),
        ]
        return [Reply(t("req_resume", category=label), buttons=tuple(rows))]
    return [main_menu(ctx)]


def summary(ctx: Context) -> Reply:
    """Every answer, with Confirm, Edit and Cancel."""
    t = ctx.t
    given = answers(ctx)
    district = given.get("district")
    address = given.get("address")
    if address is None and given.get("latitude") is not None:
        address = t(
            "req_summary_location",
            latitude=f"{given['latitude']:.5f}",
            longitude=f"{given['longitude']:.5f}",
        )
    photos = len(given.get("photos") or [])
    text = t(
        "req_summary",
        category=t(f"req_cat_{given.get('category', 'other')}"),
        district=t(f"req_district_{district}") if district else t("req_district_unknown"),
        address=address or t("req_summary_no_address"),
        description=cut(str(given.get("description", "")), 1500),
        photos=photos if photos else t("req_summary_no_photos"),
        phone=given.get("phone") or "—",
    )
    rows = (
        (Button(t("req_btn_confirm"), build(ACTION, "ok")),),
        (Button(t("req_btn_edit"), build(ACTION, "edit")),),
        nav_row(ctx, back=False),
    )
    return Reply(text, title=t("req_summary_title"), buttons=rows)
