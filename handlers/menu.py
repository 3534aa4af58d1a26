"""The main menu, help, language choice, "about", /cancel and honest placeholders."""

from __future__ import annotations

from dataclasses import replace

from domain.messages import Button, Reply
from domain.payloads import Payload, build
from domain.texts import LANGUAGES
from handlers.context import RESUMABLE, Context, Handler, PayloadHandler
from handlers.registry import Registry

# Main-menu entries whose feature may not be wired yet; each answers "coming soon" until it is.
PLACEHOLDER_ACTIONS = ("consult", "req_new", "req_my", "operator", "shelter")


def main_menu(ctx: Context, *, with_title: bool = True) -> Reply:
    """The main menu as one reply; every channel shows it the same way."""
    rows: tuple[tuple[Button, ...], ...] = (
        (ctx.button("btn_consult", build("consult")), ctx.button("btn_shelter", build("shelter"))),
        (
            ctx.button("btn_new_request", build("req_new")),
            ctx.button("btn_my_requests", build("req_my")),
        ),
        (ctx.button("btn_operator", build("operator")), ctx.button("btn_about", build("about"))),
        (ctx.button("btn_language", build("lang")),),
    )
    if ctx.paused() is not None:
        # A request form left halfway: offered first (``req_new`` asks continue / start over).
        rows = ((ctx.button("req_btn_resume_draft", build("req_new")),), *rows)
    title = ctx.t("menu_title") if with_title else None
    return Reply(ctx.t("menu_prompt"), title=title, buttons=rows)


def menu_button_row(ctx: Context) -> tuple[Button, ...]:
    return (ctx.button("btn_menu", build("menu")),)


class MenuFeature:
    """Registers the always-available entries; register it after the other features."""

    def register(self, registry: Registry) -> None:
        registry.command("start", self.on_start)
        registry.command("menu", self.on_menu)
        registry.command("help", self.on_help)
        registry.command("cancel", self.on_cancel)
        registry.command("language", self.on_language)
        registry.command("lang", self.on_language)
        registry.command("about", self.on_about)
        registry.action("menu", self._payload(self.on_menu))
        registry.action("help", self._payload(self.on_help))
        registry.action("about", self._payload(self.on_about))
        registry.action("lang", self._payload(self.on_language))
        registry.action("setlang", self.on_set_language)
        registry.action("cancel", self._payload(self.on_cancel))
        for action in PLACEHOLDER_ACTIONS:
            registry.default_action(action, self.on_coming_soon)

    @staticmethod
    def _payload(handler: Handler) -> PayloadHandler:
        async def on_payload(ctx: Context, _payload: Payload) -> list[Reply]:
            return await handler(ctx)

        return on_payload

    async def on_start(self, ctx: Context) -> list[Reply]:
        ctx.reset()
        return [Reply(ctx.t("welcome")), main_menu(ctx)]

    async def on_menu(self, ctx: Context) -> list[Reply]:
        ctx.reset()
        return [main_menu(ctx)]

    async def on_help(self, ctx: Context) -> list[Reply]:
        return [Reply(ctx.t("help"), buttons=(menu_button_row(ctx),))]

    async def on_about(self, ctx: Context) -> list[Reply]:
        return [Reply(ctx.t("about"), buttons=(menu_button_row(ctx),))]

    async def on_cancel(self, ctx: Context) -> list[Reply]:
        idle = ctx.state.step == "idle"
        key = "nothing_to_cancel" if idle and ctx.paused() is None else "cancelled"
        # /cancel drops a form left halfway when it is what is cancelled (the form itself, or
        # nothing else); leaving another step (an answer, a follow-up) keeps it.
        ctx.reset(keep_paused=not idle and not ctx.state.data.get(RESUMABLE))
        return [Reply(ctx.t(key)), main_menu(ctx, with_title=False)]

    async def on_language(self, ctx: Context) -> list[Reply]:
        buttons = (
            (
                Button("🇺🇦 Українська", build("setlang", "uk")),
                Button("🇬🇧 English", build("setlang", "en")),
            ),
        )
        return [Reply(ctx.t("language_prompt"), buttons=buttons)]

    async def on_set_language(self, ctx: Context, payload: Payload) -> list[Reply]:
        language = payload.arg()
        if language not in LANGUAGES:
            return [Reply(ctx.t("stale_button")), main_menu(ctx)]
        await ctx.session.residents.set_language(ctx.resident.id, language)
        ctx.resident = replace(ctx.resident, language=language)
        return [Reply(ctx.t("language_set")), main_menu(ctx)]

    async def on_coming_soon(self, ctx: Context, _payload: Payload) -> list[Reply]:
        return [Reply(ctx.t("coming_soon"), buttons=(menu_button_row(ctx),))]
