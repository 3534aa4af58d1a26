"""Consultations: free-text questions matched against the knowledge base, browsing by topic,
"was this helpful?", the nearest shelters from a shared location, and shelters by a typed street
or district.

After the shelter button, or an answer that offers it, the next text is read as an address first
(step ``shelter``); a text matched to a shelter topic that names a street or district is too. A
shared location outside the city's area is told so, with the national sources for shelters there.

For content editors (``python -m faq unanswered``) the question typed is kept with an answer
given from free text (a "not helpful" then shows what was asked), and topics offered as buttons
for an uncertain match are recorded as an offer; the buttons carry the offer's id, so pressing
one marks the offer taken. An offer none of whose buttons was ever pressed is a suggestion not
taken.

An answer in a chat (Telegram, Viber) is built for a phone screen: the entry's short answer
(what to do now) with its action buttons first, then "More details" (``faqd``: the full answer
and its sources, not a second consultation), related topics by their titles, 👍/👎 and the menu.
The console shows the full answer at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from domain.messages import Button, ButtonKind, ChannelName, Incoming, Kind, Location, Reply
from domain.payloads import Payload, build
from faq.content_model import Action, Entry
from faq.knowledge import KnowledgeBase
from faq.matcher import Decision, Matcher, Verdict
from faq.shelter_search import AddressMatch, CityArea, PlaceKind, ShelterFinder
from faq.shelters import Shelter, ShelterDirectory, map_url
from handlers.context import Context
from handlers.menu import menu_button_row
from handlers.registry import Registry
from handlers.smalltalk import smalltalk_group, smalltalk_reply
from storage.consultations import NewConsultation, NewSuggestions

PREPARED_KEY = "faq_verdict"
MAX_RELATED = 3
SHELTER_STEP = "shelter"
# How a location is shared on each channel (the console reads "loc LATITUDE LONGITUDE").
HOW_TO_SHARE = {
    ChannelName.TELEGRAM: "shelter_how_telegram",
    ChannelName.VIBER: "shelter_how_viber",
    ChannelName.CONSOLE: "shelter_how_console",
}


def count_consultation(ctx: Context, decision: Decision, source: str) -> None:
    """Count a consultation once its transaction commits: the matcher's decision (an answer
    given, topics suggested, nothing found) and where it came from (``NewConsultation.source``),
    never the question."""
    ctx.session.after_commit(partial(ctx.metrics.consultation, decision.value, source))


@dataclass(frozen=True)
class ShelterSource:
    """The shelter list, whether it is the shipped sample (then every answer says so), and the
    city's area (a shared location outside it is not answered from the list)."""

    directory: ShelterDirectory
    is_sample: bool
    area: CityArea | None = None


class ConsultFeature:
    """Registers consultations and the nearest-shelter search."""

    def __init__(
        self, kb: KnowledgeBase, matcher: Matcher, shelters: ShelterSource | None = None
    ) -> None:
        self.kb = kb
        self.matcher = matcher
        self.shelters = shelters
        self.finder = ShelterFinder(shelters.directory) if shelters is not None else None

    def register(self, registry: Registry) -> None:
        registry.action("consult", self.on_sections)
        registry.action("sec", self.on_section)
        registry.action("faq", self.on_entry)
        registry.action("faqd", self.on_details)
        registry.action("helpful", self.on_helpful)
        registry.action("shelter", self.on_shelter)
        registry.on_idle(Kind.TEXT, self.on_text)
        registry.on_idle(Kind.LOCATION, self.on_location)
        registry.step(SHELTER_STEP, self.on_shelter_step)

    async def prepare(self, incoming: Incoming, text: str) -> dict[str, object]:
        """Matching is done before the transaction opens, so it never holds up other writers."""
        if smalltalk_group(text) is not None:
            return {}  # small talk is answered before matching (``handlers.smalltalk``)
        return {PREPARED_KEY: await self._classify(text)}

    async def _classify(self, text: str) -> Verdict:
        """Lexical matching runs right here: it takes under a millisecond (``python -m bench
        --only faq``), and a worker thread buys no parallelism under the GIL while the hand-off
        and the GIL contention cost more than the work (measured with py-spy under webhook
        load). The optional embedding model takes tens of milliseconds: that goes to a thread.
        """
        if self.matcher.semantic:
            return await asyncio.to_thread(self.matcher.classify, text)
        return self.matcher.classify(text)

    # --- browsing -------------------------------------------------------------------------

    async def on_sections(self, ctx: Context, _payload: Payload) -> list[Reply]:
        rows = tuple(
            (Button(section.title.get(ctx.lang), build("sec", section.id)),)
            for section in self.kb.sections
        )
        return [Reply(ctx.t("consult_sections"), buttons=(*rows, menu_button_row(ctx)))]

    async def on_section(self, ctx: Context, payload: Payload) -> list[Reply]:
        section_id = payload.arg() or ""
        if section_id not in {section.id for section in self.kb.sections}:
            return [Reply(ctx.t("stale_button"), buttons=(self._topics_row(ctx),))]
        section = self.kb.section(section_id)
        rows = tuple(
            (Button(entry.title.get(ctx.lang), build("faq", entry.id)),)
            for entry in self.kb.entries_in(section_id)
        )
        text = ctx.t("consult_entries", section=section.title.get(ctx.lang))
        return [Reply(text, buttons=(*rows, self._topics_row(ctx)))]

    async def on_entry(self, ctx: Context, payload: Payload) -> list[Reply]:
        entry = self.kb.get(payload.arg() or "")
        if entry is None:
            return [Reply(ctx.t("stale_button"), buttons=(self._topics_row(ctx),))]
        offer_id = payload.arg(1)
        if offer_id is not None and offer_id.isdigit():
            # A suggestion button: the offer is taken. Someone else's or a forged offer id is
            # answered like browsing (the entry is public) and marks nothing.
            taken = await ctx.session.consultations.take_suggestion(
                int(offer_id), ctx.resident.id, entry.id, now=ctx.now
            )
            if taken is not None:
                return await self._answer(
                    ctx, entry, source="suggestion", score=None, question=taken.question
                )
        return await self._answer(ctx, entry, source="menu", score=None)

    # --- free text --------------------------------------------------------------------------

    async def on_text(self, ctx: Context) -> list[Reply]:
        text = (ctx.incoming.text or "").strip()
        group = smalltalk_group(text)
        if group is not None:
            # "дякую", "👍", "ти бот?": not an unanswered question.
            return smalltalk_reply(ctx, group)
        prepared = ctx.prepared.get(PREPARED_KEY)
        verdict: Verdict = prepared if isinstance(prepared, Verdict) else await self._classify(text)
        best = verdict.best
        by_address = await self._shelters_by_text(ctx, text, verdict)
        if by_address is not None:
            return by_address
        if verdict.decision is Decision.ANSWER and best is not None:
            entry = self.kb.get(best.entry_id)
            if entry is not None:
                return await self._answer(
                    ctx, entry, source="text", score=best.score, question=text
                )
        if verdict.decision is Decision.SUGGEST:
            offered = [
                entry
                for entry in (self.kb.get(match.entry_id) for match in verdict.matches)
                if entry is not None
            ]
            if offered:
                return await self._suggest(ctx, text, offered, best.score if best else None)
        await ctx.session.consultations.record(
            NewConsultation(
                resident_id=ctx.resident.id,
                channel=ctx.incoming.user.channel,
                topic=None,
                source="text",
                matched=False,
                score=best.score if best else None,
                question=text,
            ),
            now=ctx.now,
        )
        count_consultation(ctx, Decision.UNKNOWN, "text")
        return [
            Reply(
                ctx.t("consult_not_found"),
                buttons=(self._help_row(ctx), self._topics_row(ctx), menu_button_row(ctx)),
            )
        ]

    async def _suggest(
        self, ctx: Context, text: str, offered: list[Entry], score: float | None
    ) -> list[Reply]:
        offer_id = await ctx.session.consultations.offer_suggestions(
            NewSuggestions(
                resident_id=ctx.resident.id,
                channel=ctx.incoming.user.channel,
                question=text,
                topics=tuple(entry.id for entry in offered),
                score=score,
            ),
            now=ctx.now,
        )
        count_consultation(ctx, Decision.SUGGEST, "text")
        rows = tuple(
            (Button(entry.title.get(ctx.lang), build("faq", entry.id, offer_id)),)
            for entry in offered
        )
        return [Reply(ctx.t("consult_suggest"), buttons=(*rows, self._help_row(ctx)))]

    async def _answer(
        self,
        ctx: Context,
        entry: Entry,
        *,
        source: str,
        score: float | None,
        question: str | None = None,
    ) -> list[Reply]:
        consultation_id = await ctx.session.consultations.record(
            NewConsultation(
                resident_id=ctx.resident.id,
                channel=ctx.incoming.user.channel,
                topic=entry.id,
                source=source,
                matched=True,
                score=score,
                question=question,
            ),
            now=ctx.now,
        )
        count_consultation(ctx, Decision.ANSWER, source)
        if entry.action is Action.FIND_SHELTER and self.finder is not None:
            # The answer says "or type the address": the next text is read as one first.
            ctx.go(SHELTER_STEP)
        if ctx.incoming.user.channel is ChannelName.CONSOLE:
            # A terminal has no phone-sized screen and scrolls: the console shows the full
            # answer and its sources at once, with no "More details" button to press.
            return [self._full(ctx, entry, consultation_id)]
        parts = [entry.short.get(ctx.lang).strip(), ctx.t("consult_helpful_question")]
        rows = [
            *self._action_rows(ctx, entry),
            (Button(ctx.t("btn_details"), build("faqd", entry.id, consultation_id)),),
            *self._after_answer_rows(ctx, entry, consultation_id),
        ]
        return [Reply("\n\n".join(parts), title=entry.title.get(ctx.lang), buttons=tuple(rows))]

    async def on_details(self, ctx: Context, payload: Payload) -> list[Reply]:
        """The full answer and its sources behind a short answer's "More details" button.

        Not a second consultation: nothing is recorded or counted, and the feedback buttons
        carry the id of the consultation the short answer recorded (``set_helpful`` accepts
        only the resident's own). An entry id the content no longer has is answered plainly.
        """
        entry = self.kb.get(payload.arg() or "")
        raw_id = payload.arg(1) or ""
        if entry is None or not raw_id.isdigit():
            return [
                Reply(
                    ctx.t("consult_details_stale"),
                    buttons=(self._topics_row(ctx), menu_button_row(ctx)),
                )
            ]
        return [self._full(ctx, entry, int(raw_id))]

    def _full(self, ctx: Context, entry: Entry, consultation_id: int) -> Reply:
        """The full answer, its sources, and the same buttons as the short one but "More
        details" (the answer says "press the button under this message": the action is there)."""
        parts = [entry.answer.get(ctx.lang).strip()]
        if entry.sources:
            sources = "; ".join(f"{s.title} ({s.url})" for s in entry.sources)
            parts.append(ctx.t("consult_sources", sources=sources))
        parts.append(ctx.t("consult_helpful_question"))
        rows = (
            *self._action_rows(ctx, entry),
            *self._after_answer_rows(ctx, entry, consultation_id),
        )
        return Reply("\n\n".join(parts), title=entry.title.get(ctx.lang), buttons=rows)

    def _action_rows(self, ctx: Context, entry: Entry) -> list[tuple[Button, ...]]:
        row = self._action_row(ctx, entry)
        return [row] if row else []

    def _after_answer_rows(
        self, ctx: Context, entry: Entry, consultation_id: int
    ) -> list[tuple[Button, ...]]:
        """Related topics (their real titles, at most ``MAX_RELATED``), 👍/👎, the menu row."""
        rows: list[tuple[Button, ...]] = []
        for related_id in entry.related[:MAX_RELATED]:
            related = self.kb.get(related_id)
            if related is not None:
                rows.append((Button("➡️ " + related.title.get(ctx.lang), build("faq", related.id)),))
        rows.append(
            (
                Button(ctx.t("btn_helpful_yes"), build("helpful", consultation_id, "y")),
                Button(ctx.t("btn_helpful_no"), build("helpful", consultation_id, "n")),
            )
        )
        rows.append((*self._topics_row(ctx), *menu_button_row(ctx)))
        return rows

    def _action_row(self, ctx: Context, entry: Entry) -> tuple[Button, ...]:
        if entry.action is Action.FIND_SHELTER:
            return (Button(ctx.t("btn_find_shelter"), build("shelter")),)
        if entry.action is Action.REQUEST:
            category = entry.request_category.value if entry.request_category else "other"
            return (
                Button(ctx.t("btn_file_request"), build("req_new", category)),
                Button(ctx.t("btn_talk_operator"), build("operator")),
            )
        if entry.action is Action.OPERATOR:
            return (Button(ctx.t("btn_talk_operator"), build("operator")),)
        return ()

    def _help_row(self, ctx: Context) -> tuple[Button, ...]:
        return (
            Button(ctx.t("btn_talk_operator"), build("operator")),
            Button(ctx.t("btn_file_request"), build("req_new")),
        )

    def _topics_row(self, ctx: Context) -> tuple[Button, ...]:
        return (Button(ctx.t("btn_topics"), build("consult")),)

    # --- feedback ----------------------------------------------------------------------------

    async def on_helpful(self, ctx: Context, payload: Payload) -> list[Reply]:
        raw_id, verdict = payload.arg(0), payload.arg(1)
        if raw_id is None or not raw_id.isdigit() or verdict not in {"y", "n"}:
            return [Reply(ctx.t("stale_button"), buttons=(menu_button_row(ctx),))]
        helpful = verdict == "y"
        stored = await ctx.session.consultations.set_helpful(int(raw_id), ctx.resident.id, helpful)
        if not stored:
            # Someone else's or a forged id: the same answer as a stale button, nothing changes.
            return [Reply(ctx.t("stale_button"), buttons=(menu_button_row(ctx),))]
        if helpful:
            return [Reply(ctx.t("consult_thanks_helpful"), buttons=(menu_button_row(ctx),))]
        return [
            Reply(
                ctx.t("consult_thanks_not_helpful"),
                buttons=(self._help_row(ctx), menu_button_row(ctx)),
            )
        ]

    # --- shelters ----------------------------------------------------------------------------

    async def on_shelter(self, ctx: Context, _payload: Payload) -> list[Reply]:
        if self.finder is not None:
            ctx.go(SHELTER_STEP)
        text = ctx.t("shelter_ask_location", how=self._how(ctx))
        return [Reply(text, buttons=((self._share_button(ctx),), menu_button_row(ctx)))]

    async def on_shelter_step(self, ctx: Context) -> list[Reply] | None:
        """The message after the shelter button or answer: a location, or a typed address.

        The step lasts one message: anything else (another question, a greeting, a photo) goes
        on as if the resident were idle.
        """
        ctx.reset()
        if ctx.incoming.kind is Kind.LOCATION:
            return await self.on_location(ctx)
        text = (ctx.incoming.text or "").strip()
        prepared = ctx.prepared.get(PREPARED_KEY)
        if ctx.incoming.kind is not Kind.TEXT or not text or self.finder is None:
            return None
        if not isinstance(prepared, Verdict):
            return None  # small talk or a command: not matched, not an address
        verdict = prepared
        match = self.finder.search(text)
        if match is not None:
            return await self._shelters_found(ctx, match)
        topic = self._topic_of(verdict)
        if verdict.decision is not Decision.UNKNOWN:
            if topic is None or topic.action is not Action.FIND_SHELTER:
                return None  # another question: answered as one
            if not self.finder.looks_like_address(text):
                return None  # "де укриття" again: the shelter answer
        return await self._address_not_found(ctx)

    def _topic_of(self, verdict: Verdict | None) -> Entry | None:
        if verdict is None or verdict.best is None or verdict.decision is Decision.UNKNOWN:
            return None
        return self.kb.get(verdict.best.entry_id)

    async def _shelters_by_text(
        self, ctx: Context, text: str, verdict: Verdict
    ) -> list[Reply] | None:
        """A question about shelters that names a street or district ("укриття на вулиці
        Зразковій", "Тернівський район сховище"), or an unmatched text that is plainly an
        address ("вул. Зразкова 15", "вул. Мелешкіна 10"): the shelters there, or how to send
        a location."""
        if self.finder is None:
            return None
        topic = self._topic_of(verdict)
        if topic is not None and topic.action is Action.FIND_SHELTER:
            match = self.finder.search(text)
            if match is not None:
                return await self._shelters_found(ctx, match)
            if self.finder.looks_like_address(text):
                return await self._address_not_found(ctx)
            return None
        if verdict.decision is Decision.UNKNOWN:
            match = self.finder.search(text, need_signal=True)
            if match is not None:
                return await self._shelters_found(ctx, match)
            if self.finder.looks_like_address(text, typed=True):
                return await self._address_not_found(ctx)
        return None

    async def _record_shelter_search(self, ctx: Context, *, found: bool) -> None:
        # The address typed is not kept: it is often where the resident lives.
        await ctx.session.consultations.record(
            NewConsultation(
                resident_id=ctx.resident.id,
                channel=ctx.incoming.user.channel,
                topic="shelters",
                source="shelter",
                matched=found,
            ),
            now=ctx.now,
        )
        count_consultation(ctx, Decision.ANSWER if found else Decision.UNKNOWN, "shelter")

    async def _shelters_found(self, ctx: Context, match: AddressMatch) -> list[Reply]:
        await self._record_shelter_search(ctx, found=True)
        limit = self.finder.limit if self.finder is not None else len(match.shelters)
        shown = match.shelters[:limit]
        if match.kind is PlaceKind.STREET:
            title = ctx.t("shelter_street_title", street=match.place)
        else:
            title = ctx.t("shelter_district_title", district=match.place)
        lines = []
        if match.by_house:
            lines.append(ctx.t("shelter_by_house", house=match.house))
        lines.extend(
            self._item(ctx, "shelter_item_listed", index, shelter)
            for index, shelter in enumerate(shown, start=1)
        )
        if len(match.shelters) > len(shown):
            lines.append(ctx.t("shelter_more", count=len(match.shelters) - len(shown)))
        if self.shelters is not None and self.shelters.is_sample:
            lines.append(ctx.t("shelter_sample_note"))
        lines.append(ctx.t("shelter_location_tip", how=self._how(ctx)))
        first = shown[0]
        return [
            Reply(
                "\n\n".join(lines),
                title=title,
                buttons=((self._share_button(ctx),), menu_button_row(ctx)),
                location=Location(first.latitude, first.longitude) if match.by_house else None,
            )
        ]

    async def _address_not_found(self, ctx: Context) -> list[Reply]:
        await self._record_shelter_search(ctx, found=False)
        return [
            Reply(
                ctx.t("shelter_address_not_found", how=self._how(ctx)),
                buttons=(
                    (self._share_button(ctx),),
                    (Button(ctx.t("btn_talk_operator"), build("operator")),),
                    menu_button_row(ctx),
                ),
            )
        ]

    def _how(self, ctx: Context) -> str:
        return ctx.t(HOW_TO_SHARE.get(ctx.incoming.user.channel, "shelter_how_telegram"))

    def _share_button(self, ctx: Context) -> Button:
        return Button(ctx.t("btn_share_location"), kind=ButtonKind.SHARE_LOCATION)

    def _item(self, ctx: Context, key: str, index: int, shelter: Shelter, **more: object) -> str:
        return ctx.t(
            key,
            index=index,
            name=shelter.name,
            address=shelter.address,
            type=shelter.type,
            accessible=ctx.t("shelter_accessible") if shelter.accessible else "",
            hours=shelter.hours,
            url=map_url(shelter),
            **more,
        )

    async def on_location(self, ctx: Context) -> list[Reply]:
        location = ctx.incoming.location
        if location is None or self.shelters is None:
            return [Reply(ctx.t("shelter_none"), buttons=(menu_button_row(ctx),))]
        area = self.shelters.area
        if area is not None and not area.contains(location.latitude, location.longitude):
            await self._record_shelter_search(ctx, found=False)
            distance = self._distance(ctx, area.distance_m(location.latitude, location.longitude))
            return [
                Reply(
                    ctx.t("shelter_outside_city", distance=distance),
                    title=ctx.t("shelter_outside_title"),
                    buttons=(menu_button_row(ctx),),
                )
            ]
        nearby = self.shelters.directory.nearest(location.latitude, location.longitude, k=3)
        await self._record_shelter_search(ctx, found=bool(nearby))
        if not nearby:
            return [Reply(ctx.t("shelter_none"), buttons=(menu_button_row(ctx),))]
        lines = [
            self._item(
                ctx,
                "shelter_item",
                index,
                item.shelter,
                distance=self._distance(ctx, item.distance_m),
            )
            for index, item in enumerate(nearby, start=1)
        ]
        if self.shelters.is_sample:
            lines.append(ctx.t("shelter_sample_note"))
        first = nearby[0].shelter
        return [
            Reply(
                "\n\n".join(lines),
                title=ctx.t("shelter_nearest_title"),
                buttons=(menu_button_row(ctx),),
                location=Location(first.latitude, first.longitude),
            )
        ]

    @staticmethod
    def _distance(ctx: Context, metres: float) -> str:
        if metres < 1000:
            return ctx.t("distance_m", value=int(round(metres, -1)))
        return ctx.t("distance_km", value=f"{metres / 1000:.1f}".replace(".", ","))
