"""The activity form (/log): type, title, date, place, org, participants, audience, summary,
photos, then a summary with an edit button per field. Also used to edit a saved activity."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot.flows.base import (
    SUMMARY,
    Button,
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Label,
    Msg,
    Options,
    Reply,
    said,
)
from bot.flows.callback_data import ActivityListButton, SameAsLastButton
from bot.flows.engine import render
from bot.flows.org_picker import place_note
from bot.flows.when_notes import note_json, notes_of
from bot.services import activities as svc
from bot.services import orgs, when
from bot.services.activities import ActivityError
from storage.activity_models import (
    PLACE_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    TYPE_OTHER_MAX,
    Activity,
)

ORG_QUERY_MAX = 50
ORG_MATCHES = 8
ORG_CHILD_BUTTONS = 5
QUICK_DAYS = ("today", "yesterday", "before_yesterday")  # 今天 / 昨天 / 前天
TITLE_SHOWN = 24  # characters of a suggested title on its button (the whole title is taken)

TYPE_CHOICES = [Choice(t.key, Msg(f"activity.type.{t.key}")) for t in svc.TYPES]
AUDIENCE_CHOICES = [Choice(a, Msg(f"activity.audience.{a}")) for a in svc.AUDIENCES]


def type_label(key: str) -> Msg:
    """The localised name of an activity type."""
    return Msg(f"activity.type.{key}")


def unit_label(key: str, amount: int) -> Msg:
    """The localised statistical unit (场/期/项/篇次) in the form ``amount`` of it takes."""
    return Msg(f"activity.unit.{key}", count=amount)


def _refuse(error: ActivityError) -> Invalid:
    return Invalid.of(error)


def _text(inp: Input) -> str:
    """The typed text of an input; a photo or a sticker gets its own hint."""
    if inp.kind is InputKind.PHOTO:
        raise Invalid("activity.photo_not_here")
    if inp.kind is not InputKind.TEXT:
        raise Invalid("activity.expect_text")
    return inp.text


def _limited(inp: Input, limit: int) -> str:
    try:
        return svc.clean_text(_text(inp), limit)
    except ActivityError as error:
        raise _refuse(error) from None


async def parse_type(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A typed type name ("讲座") instead of a button."""
    key = svc.match_type(_text(inp))
    if key is None:
        raise Invalid("activity.pick_type")
    return key


async def parse_type_other(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The user's own words for an "other" activity."""
    return _limited(inp, TYPE_OTHER_MAX)


async def parse_title(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The activity's title."""
    return _limited(inp, TITLE_MAX)


async def parse_place(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """Where it took place."""
    return _limited(inp, PLACE_MAX)


async def parse_summary(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A short account of the activity."""
    return _limited(inp, SUMMARY_MAX)


async def parse_day(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A typed date as the one reader takes it (not after today, not before 2000), ISO."""
    try:
        read = when.read_day(_text(inp), when.today_in(ctx.now, ctx.tz), when.ACTIVITY_DAY)
    except when.WhenError as error:
        raise Invalid.of(error) from None
    model.ctx["day_notes"] = [note_json(note) for note in read.notes]
    return read.day.isoformat()


async def parse_amount(inp: Input, ctx: FlowContext, model: FormModel) -> int:
    """How many 场/期/项 the record counts (asked only when a report said more than one)."""
    try:
        return svc.parse_amount(_text(inp))
    except ActivityError as error:
        raise _refuse(error) from None


async def title_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The title the quick log read from the report, to take with one press."""
    hint = model.ctx.get("title_hint")
    if not hint:
        return []
    shown = hint if len(hint) <= TITLE_SHOWN else hint[:TITLE_SHOWN] + "…"
    return [Choice(hint, Msg("activity.use_title", title=shown))]


def _show_title(value: Any, model: FormModel) -> Label:
    return str(value) if value else Msg("form.empty")


async def parse_participants(inp: Input, ctx: FlowContext, model: FormModel) -> int:
    """A head count as people say it (约200人, 五六十个居民); a rough one leaves a note for
    the summary saying which number was taken."""
    if inp.kind is InputKind.STICKER:
        raise Invalid("activity.sticker_not_number")
    try:
        count = svc.read_head_count(_text(inp))
    except ActivityError as error:
        raise _refuse(error) from None
    note = COUNT_NOTES.get(count.rough)
    said = inp.text.strip()
    model.ctx["people_notes"] = [Msg(note, said=said, count=count.value).to_json()] if note else []
    return count.value


# What the summary says of a rough head count: the number it was taken as.
COUNT_NOTES = {svc.Rough.ABOUT: "activity.count_about", svc.Rough.RANGE: "activity.count_lower"}


async def parse_photo(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """One photo's Telegram file id; at most nine."""
    if inp.kind is InputKind.DOCUMENT:
        raise Invalid("activity.photo_as_file")
    if inp.kind is not InputKind.PHOTO or not inp.file_id:
        raise Invalid("activity.expect_photo")
    if len(model.data.get("photos") or []) >= svc.MAX_PHOTOS:
        raise Invalid("activity.too_many_photos", limit=svc.MAX_PHOTOS)
    return inp.file_id


async def search_org(inp: Input, ctx: FlowContext, model: FormModel) -> Options:
    """Part of an org's name → matching orgs of the user's subtree as buttons."""
    text = _text(inp).strip()
    if not text or len(text) > ORG_QUERY_MAX:
        raise Invalid("activity.bad_org_query", limit=ORG_QUERY_MAX)
    within = None if ctx.superadmin else await svc.own_org(ctx.session, ctx.actor)
    if within is None and not ctx.superadmin:
        raise Invalid("activity.org_not_yours")
    found = await orgs.find_orgs(ctx.session, text, within=within, limit=ORG_MATCHES)
    if not found.orgs:
        raise Invalid("activity.no_org_match", text=text)
    notice = place_note(found) or Msg("activity.pick_org")
    return Options([Choice(org.id, org.name) for org in found.orgs], notice)


async def day_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """今天 / 昨天 / 前天 with their dates."""
    today = when.today_in(ctx.now, ctx.tz)
    return [
        Choice(day.isoformat(), Msg(f"activity.day.{name}", date=_short(day)))
        for name, day in ((n, today - timedelta(days=i)) for i, n in enumerate(QUICK_DAYS))
    ]


def _short(day: date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


async def org_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The user's own org first, then its direct children; others are found by typing."""
    own = await svc.own_org(ctx.session, ctx.actor)
    if own is None or own.id is None:
        return []
    kids = await orgs.children(ctx.session, own.id)
    return [Choice(org.id, org.name) for org in [own, *kids[:ORG_CHILD_BUTTONS]]]


def _show_day(value: Any, model: FormModel) -> Label:
    return str(value) if value else Msg("form.empty")


def _show_people(value: Any, model: FormModel) -> Label:
    return Msg("activity.people", count=value) if value else Msg("form.empty")


def _show_photos(value: Any, model: FormModel) -> Label:
    return Msg("activity.photo_count", count=len(value or []))


def _is_other(data: dict[str, Any]) -> bool:
    return data.get("type") == svc.OTHER_TYPE


class ActivityForm(FormSpec):
    """Logging one activity, or editing a saved one (``ctx["activity_id"]``)."""

    name = "activity"
    summary_key = "activity.summary"
    fields = (
        FieldSpec(
            "type",
            "activity.ask_type",
            "activity.label.type",
            parse=parse_type,
            choices=TYPE_CHOICES,
        ),
        FieldSpec(
            "type_other",
            "activity.ask_type_other",
            "activity.label.type_other",
            parse=parse_type_other,
            when=_is_other,
            help="activity.help.type_other",
            params={"limit": TYPE_OTHER_MAX},
        ),
        FieldSpec(
            "title",
            "activity.ask_title",
            "activity.label.title",
            parse=parse_title,
            choices=title_choices,
            help="activity.help.title",
            params={"limit": TITLE_MAX},
            columns=1,
            display=_show_title,  # the title itself, not the button's 用“…” that took it
        ),
        FieldSpec(
            "day",
            "activity.ask_day",
            "activity.label.day",
            parse=parse_day,
            choices=day_choices,
            display=_show_day,
            columns=3,
        ),
        FieldSpec(
            "place",
            "activity.ask_place",
            "activity.label.place",
            parse=parse_place,
            help="activity.help.place",
            params={"limit": PLACE_MAX},
        ),
        FieldSpec(
            "org_id",
            "activity.ask_org",
            "activity.label.org",
            parse=search_org,
            choices=org_choices,
            columns=1,
        ),
        FieldSpec(
            "participants",
            "activity.ask_participants",
            "activity.label.participants",
            parse=parse_participants,
            display=_show_people,
            help="activity.help.participants",
        ),
        FieldSpec(
            "amount",  # only a report that said 3场 or 两期 fills it; the summary offers a change
            "activity.ask_amount",
            "activity.label.amount",
            parse=parse_amount,
            when=lambda data: "amount" in data,
            params={"limit": svc.MAX_AMOUNT},
        ),
        FieldSpec(
            "audience",
            "activity.ask_audience",
            "activity.label.audience",
            choices=AUDIENCE_CHOICES,
            multi=True,
        ),
        FieldSpec(
            "brief",  # not "summary": that is the engine's name for the review step
            "activity.ask_summary",
            "activity.label.summary",
            parse=parse_summary,
            optional=True,
            help="activity.help.summary",
            params={"limit": SUMMARY_MAX},
        ),
        FieldSpec(
            "photos",
            "activity.ask_photos",
            "activity.label.photos",
            parse=parse_photo,
            optional=True,
            collect=svc.MAX_PHOTOS,
            stay_when_full=True,
            display=_show_photos,
        ),
    )

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """The statistical unit the record counts in, whether a saved record is edited, what
        the date reader guessed, and the reports still to log after this one."""
        amount = model.data.get("amount") or 1
        unit = Msg(
            "activity.summary_unit",
            amount=amount,
            unit=unit_label(svc.unit_of(model.data["type"]), amount),
        )
        lines = [Msg("activity.editing")] if model.ctx.get("activity_id") else []
        lines += [unit, *notes_of(model.ctx.get("day_notes"))]
        lines += notes_of(model.ctx.get("people_notes"))
        if queued := model.ctx.get("queue"):
            lines.append(Msg("activity.queue_after", count=len(queued)))
        return lines

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Store the activity (or its changes) and offer the next steps."""
        if ctx.actor is None:
            raise RuntimeError("logging needs the user's row")
        fields = svc.ActivityFields.from_form(model.data)
        try:
            activity = await self._save(ctx, model, fields)
        except ActivityError as error:
            # The org left the user's subtree, or the edit window closed, since the answers
            # were given: stay on the summary with the hint, the answers kept.
            self.machine().set_state(SUMMARY, model)
            return await render(self, ctx, model, [said(error)])
        key = "activity.updated" if model.ctx.get("activity_id") else "activity.saved"
        text = Msg(
            key,
            title=activity.title,
            day=activity.day.isoformat(),
            amount=activity.amount,
            unit=unit_label(activity.unit, activity.amount),
        )
        if model.ctx.get("queue"):
            return await self._next_in_queue(ctx, model, text)
        # Where the record can be seen and changed again: /mylogs, for the edit window's days.
        where = Msg("activity.saved_where", days=svc.EDIT_WINDOW.days)
        return Reply([text, where], [next_buttons()])

    async def _next_in_queue(self, ctx: FlowContext, model: FormModel, saved: Msg) -> Reply:
        """A message that reported several activities: the next one, as the quick log read it,
        in the same form (its organising org kept)."""
        item, *rest = model.ctx["queue"]
        total = model.ctx.get("queue_total") or len(rest) + 2
        org = {"org_id": model.data["org_id"]} if "org_id" in model.data else {}
        org_label = model.ctx.get("labels", {}).get("org_id")
        model.data = {**org, **item["data"]}
        model.ctx = {
            "queue": rest,
            "queue_total": total,
            "title_hint": item.get("title_hint"),
            "labels": {"org_id": org_label} if org_label else {},
        }
        model.fill_missing, model.editing = True, False
        await model.trigger("advance")  # from done: the next record's first missing step
        number = Msg("activity.queue_next", number=total - len(rest), total=total)
        # Queued notices were stored with Msg.to_json: nested labels must be read back.
        notices = [Msg.from_json(n) for n in item.get("notices", [])]
        return await render(self, ctx, model, [saved, number, *notices])

    async def _save(
        self, ctx: FlowContext, model: FormModel, fields: svc.ActivityFields
    ) -> Activity:
        activity_id = model.ctx.get("activity_id")
        common = {"actor": ctx.actor, "fields": fields, "now": ctx.now}
        if activity_id:
            return await svc.update_activity(
                ctx.session, activity_id=int(activity_id), superadmin=ctx.superadmin, **common
            )
        return await svc.create_activity(ctx.session, superadmin=ctx.superadmin, **common)


def next_buttons() -> list[Button]:
    """After saving: log another like it, or see the list."""
    return [
        Button(Msg("activity.button.same_again"), SameAsLastButton().pack()),
        Button(Msg("activity.button.mylogs"), ActivityListButton("mine", 0).pack()),
    ]
