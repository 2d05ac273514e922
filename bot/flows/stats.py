"""/stats and /export: the period and org picker, the summary, the charts and the export job.

Admins pick a period (本月, 本季度, 本年, 自定义) and an org of their subtree with stateless
buttons ``stats:<mode>:<action>:<org>[:<offset>]`` (`StatsButton`; mode ``s`` stats, ``e``
export, ``z`` the export's photos as zip files; org 0 is "everything" for a superadmin); every
press checks the scope
again. 自定义 opens a one-step
form for the typed range. A liaison's /stats compares their org's month with the month before.

/export also offers a report task's submissions (``stats:e:tasks:<org>:<offset>``): the tasks the
admin's /tasks lists (issued in their subtree or asking one of its orgs), each a
``task:export:<task>`` button, the board's own export (`bot.telegram.handlers.tasks`).

The flow returns an `Outcome`: the reply, plus charts to draw and an export to write, which the
handler does after the transaction (they are slow and need no lock on the database).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.flows import engine, task_views
from bot.flows.activity import unit_label
from bot.flows.base import (
    Button,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Label,
    Msg,
    Reply,
    said,
)
from bot.flows.callback_data import StatsButton
from bot.flows.labels import render_label
from bot.services import exports, orgs, people, tasks, when
from bot.services import stats as svc
from bot.services.activities import unit_of
from bot.services.charts import Chart
from bot.services.charts import render as render_chart
from bot.services.stats import Period, StatsError
from storage.models import Org

STATS, EXPORT, PHOTOS = "s", "e", "z"  # the photos' zip goes through the export's picker
MODES = (STATS, EXPORT, PHOTOS)
COMMANDS = {STATS: "/stats", EXPORT: "/export", PHOTOS: "/export"}
PICK_KEYS = {STATS: "stats.pick", EXPORT: "stats.pick_export", PHOTOS: "stats.pick_photos"}
WAIT_KEYS = {EXPORT: "stats.export_wait", PHOTOS: "stats.photos_wait"}
PHOTO_WORDS = ("照片", "photos", "photo")  # /export 照片 2026-01-01 至 2026-03-31
WORKBOOK, ZIP = "xlsx", "zip"
PERIOD_ACTIONS = ("month", "quarter", "year")
CHILDREN_PAGE = 8
TASKS_PAGE = 8
RANGE_FORM = "stats_range"


@dataclass(frozen=True)
class ExportJob:
    """An export the handler writes after the transaction: whose activities, which days, and
    whether the .xlsx of the activities or a zip of their photos."""

    org_id: int | None  # None: everything (a superadmin)
    period: Period
    kind: str = WORKBOOK


@dataclass
class Outcome:
    """A reply plus the slow parts the handler does afterwards."""

    reply: Reply
    charts: list[Chart] = field(default_factory=list)  # titles and labels are still `Label`s
    export: ExportJob | None = None


def _say(key: str, **params: Any) -> Outcome:
    return Outcome(Reply([Msg(key, params)]))


def _today(ctx: FlowContext) -> date:
    return when.today_in(ctx.now, ctx.tz)


# --- entry points ----------------------------------------------------------------------------


async def begin(ctx: FlowContext, mode: str, text: str = "") -> Outcome:
    """/stats or /export, optionally with a typed range ("2026-01-01 至 2026-03-31")."""
    if not people.is_registered(ctx.actor) and not ctx.superadmin:
        return _say("stats.not_registered")
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        return _say("stats.admins_only") if mode == EXPORT else await liaison_month(ctx)
    mode, text = _photos_asked(mode, text)
    org_id = _org_key(scope.org)
    if not text.strip():
        return Outcome(await picker(ctx, mode, org_id))
    try:
        period = svc.typed_period(text, _today(ctx))
    except when.WhenError as error:
        # What was wrong, and the picker: no form opens that would take the next message.
        today = _today(ctx)
        retry = Msg(
            "stats.range_retry", command=COMMANDS[mode], start=today.replace(day=1), end=today
        )
        return Outcome(await picker(ctx, mode, org_id, notices=[said(error), retry]))
    return await result(ctx, mode, org_id, period)


def _photos_asked(mode: str, text: str) -> tuple[str, str]:
    """/export 照片 [range]: the photos' zip instead of the workbook."""
    head, _, rest = text.strip().partition(" ")
    if mode == EXPORT and head.lower() in PHOTO_WORDS:
        return PHOTOS, rest
    return mode, text


async def private_only(ctx: FlowContext) -> Outcome:
    """/stats or /export in a group: figures are for the admin's eyes, in the private chat."""
    return _say("stats.private_only")


async def on_button(ctx: FlowContext, pressed: StatsButton) -> Outcome:
    """A period, the custom range, the children of an org, an org's picker, the tasks."""
    mode, action, org_id, page = pressed.mode, pressed.action, pressed.org, pressed.page or 0
    if action in PERIOD_ACTIONS:
        period = svc.period_of(action, _today(ctx))
        return await result(ctx, mode, org_id, period)
    if action == "custom":
        return await ask_range(ctx, mode, org_id)
    if action == "children":
        return Outcome(await children(ctx, mode, org_id, page))
    if action == "tasks" and mode == EXPORT:
        return Outcome(await task_choices(ctx, org_id, page))
    return Outcome(await picker(ctx, mode, org_id, edit=True))


# --- the picker ------------------------------------------------------------------------------


def _org_key(org: Org | None) -> int:
    return org.id if org is not None and org.id is not None else 0


async def _allowed_org(ctx: FlowContext, org_id: int) -> Org | None:
    """The org behind a button, checked against the actor's scope (None: everything)."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    return await svc.export_org(ctx.session, scope, org_id or None)


def _org_label(org: Org | None) -> Label:
    return org.name if org is not None else Msg("stats.everything")


async def picker(
    ctx: FlowContext, mode: str, org_id: int, *, edit: bool = False, notices: Sequence[Msg] = ()
) -> Reply:
    """Which period (and which org) to report on; ``notices`` go before the question."""
    try:
        org = await _allowed_org(ctx, org_id)
    except StatsError as refusal:
        return Reply([said(refusal)], edit=edit)
    rows = [
        [
            Button(Msg("stats.button.month"), StatsButton(mode, "month", org_id).pack()),
            Button(Msg("stats.button.quarter"), StatsButton(mode, "quarter", org_id).pack()),
        ],
        [
            Button(Msg("stats.button.year"), StatsButton(mode, "year", org_id).pack()),
            Button(Msg("stats.button.custom"), StatsButton(mode, "custom", org_id).pack()),
        ],
    ]
    _, count = await svc.child_orgs(ctx.session, org=org, offset=0, limit=0)
    if count:
        kids = StatsButton(mode, "children", org_id, 0)
        rows.append([Button(Msg("stats.button.children", count=count), kids.pack())])
    up = await _parent_in_scope(ctx, org)
    if up is not None:
        rows.append([Button(Msg("stats.button.up"), StatsButton(mode, "pick", up).pack())])
    if mode == EXPORT and up is None:  # the admin's own level: their tasks, as /tasks lists them
        task_list = StatsButton(mode, "tasks", org_id, 0)
        rows.append([Button(Msg("stats.button.tasks"), task_list.pack())])
    rows += _export_switch(mode, org_id)
    return Reply([*notices, Msg(PICK_KEYS[mode], org=_org_label(org))], rows, edit=edit)


def _export_switch(mode: str, org_id: int) -> list[list[Button]]:
    """/export's other kind of file for the same org: the photos' zip, or the workbook."""
    if mode == EXPORT:
        photos = StatsButton(PHOTOS, "pick", org_id)
        return [[Button(Msg("stats.button.photos"), photos.pack())]]
    if mode == PHOTOS:
        workbook = StatsButton(EXPORT, "pick", org_id)
        return [[Button(Msg("stats.button.workbook"), workbook.pack())]]
    return []


async def _parent_in_scope(ctx: FlowContext, org: Org | None) -> int | None:
    if org is None:
        return None
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None or (scope.org is not None and scope.org.id == org.id):
        return None
    if org.parent_id is None:
        return 0  # a superadmin climbs from a root back to "everything"
    parent = await orgs.get_org(ctx.session, org.parent_id)
    return parent.id if parent is not None and scope.covers(parent) else None


async def children(ctx: FlowContext, mode: str, org_id: int, offset: int) -> Reply:
    """One page of the org's children; pressing one shows the picker for it."""
    try:
        org = await _allowed_org(ctx, org_id)
    except StatsError as refusal:
        return Reply([said(refusal)], edit=True)
    offset = max(offset, 0)
    kids, total = await svc.child_orgs(ctx.session, org=org, offset=offset, limit=CHILDREN_PAGE)
    rows = [[Button(kid.name, StatsButton(mode, "pick", kid.id).pack())] for kid in kids]
    nav = []
    if offset > 0:
        back = StatsButton(mode, "children", org_id, max(offset - CHILDREN_PAGE, 0))
        nav.append(Button(Msg("stats.button.prev"), back.pack()))
    if offset + CHILDREN_PAGE < total:
        ahead = StatsButton(mode, "children", org_id, offset + CHILDREN_PAGE)
        nav.append(Button(Msg("stats.button.next"), ahead.pack()))
    rows.append(nav)
    to_org = StatsButton(mode, "pick", org_id)
    rows.append([Button(Msg("stats.button.back_to", org=_org_label(org)), to_org.pack())])
    return Reply([Msg("stats.pick_child", org=_org_label(org))], rows, edit=True)


# --- a report task's submissions ------------------------------------------------------------


async def task_choices(ctx: FlowContext, org_id: int, offset: int) -> Reply:
    """One page of the tasks the admin's board shows; each button is the board's export."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        return Reply([Msg("stats.admins_only")], edit=True)
    offset = max(offset, 0)
    path = scope.org.path if scope.org is not None else None
    found = await tasks.tasks_within(ctx.session, path, limit=TASKS_PAGE + 1, offset=offset)
    label = _org_label(scope.org)
    to_picker = StatsButton(EXPORT, "pick", org_id)
    back = [Button(Msg("stats.button.back_to", org=label), to_picker.pack())]
    if not found:
        return Reply([Msg("stats.no_tasks", org=label)], [back], edit=True)
    rows = [[task_views.export_button(task)] for task in found[:TASKS_PAGE]]
    rows.append(_task_pages(org_id, offset, more=len(found) > TASKS_PAGE))
    rows.append(back)
    return Reply([Msg("stats.pick_task", org=label)], rows, edit=True)


def _task_pages(org_id: int, offset: int, *, more: bool) -> list[Button]:
    nav = []
    if offset > 0:
        back = StatsButton(EXPORT, "tasks", org_id, max(offset - TASKS_PAGE, 0))
        nav.append(Button(Msg("stats.button.prev"), back.pack()))
    if more:
        ahead = StatsButton(EXPORT, "tasks", org_id, offset + TASKS_PAGE)
        nav.append(Button(Msg("stats.button.next"), ahead.pack()))
    return nav


# --- the custom range ------------------------------------------------------------------------


async def ask_range(ctx: FlowContext, mode: str, org_id: int) -> Outcome:
    """自定义: a one-step form for the typed range (the typed text is caught by `typed_range`)."""
    try:
        await _allowed_org(ctx, org_id)
    except StatsError as refusal:
        return _say(refusal.key, **refusal.params)
    extra = {"mode": mode, "org": org_id}
    return Outcome(await engine.start(ctx, RANGE_FORM, extra=extra))


async def typed_range(ctx: FlowContext, text: str) -> Outcome | None:
    """The range typed into the open 自定义 form; None when that form is not open."""
    form = await engine.open_form(ctx)
    if form is None or form.name != RANGE_FORM:
        return None
    try:
        period = svc.typed_period(text, _today(ctx))
    except when.WhenError as error:
        return Outcome(await engine.current_view(ctx, [said(error)]))
    await engine.end(ctx, form)
    return await result(ctx, form.extra.get("mode", STATS), int(form.extra.get("org", 0)), period)


async def _parse_range(inp: Input, ctx: FlowContext, model: FormModel) -> dict[str, str]:
    if inp.kind is not InputKind.TEXT:
        raise Invalid("when.unreadable.range", **when.examples(_today(ctx)))
    try:
        period = svc.typed_period(inp.text, _today(ctx))
    except when.WhenError as error:
        raise Invalid.of(error) from None
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


class RangeForm(FormSpec):
    """自定义: the one typed step of the picker (the handler answers the text with charts)."""

    name = RANGE_FORM
    confirm_without_summary = True  # the range is the whole form: no summary to confirm
    fields = (
        FieldSpec(
            "range", prompt="stats.ask_range", label="stats.label.range", parse=_parse_range
        ),
    )

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Only reached when the text went past the handler: the summary without charts."""
        value = model.data["range"]
        period = Period(date.fromisoformat(value["start"]), date.fromisoformat(value["end"]))
        outcome = await result(ctx, model.ctx.get("mode", STATS), model.ctx.get("org", 0), period)
        return outcome.reply


# --- results ---------------------------------------------------------------------------------


async def result(ctx: FlowContext, mode: str, org_id: int, period: Period) -> Outcome:
    """The figures (or the export job) for an org and a period, after the scope check."""
    try:
        org = await _allowed_org(ctx, org_id)
    except StatsError as refusal:
        return _say(refusal.key, **refusal.params)
    if mode in WAIT_KEYS:
        text = Msg(WAIT_KEYS[mode], org=_org_label(org), start=period.start, end=period.end)
        kind = ZIP if mode == PHOTOS else WORKBOOK
        return Outcome(Reply([text]), export=ExportJob(org.id if org else None, period, kind))
    figures = await svc.compute(ctx.session, org=org, period=period, now=ctx.now, tz=ctx.tz)
    if figures.empty:
        return _say("stats.empty", org=_org_label(org), start=period.start, end=period.end)
    return Outcome(Reply(summary(figures, _org_label(org))), charts=charts(figures))


def _type_name(kind: str) -> Msg:
    return Msg(f"activity.type.{kind}")


def _in_units(kind: str, row: svc.TypeTotal | None, prefix: str = "") -> dict[str, Any]:
    """A type's amount in its unit (3 场, 2 期) and its participants (120 人次) as parameters,
    the same for the admin's summary and a liaison's month; no row: none that period."""
    amount, participants = (row.amount, row.participants) if row else (0, 0)
    return {
        f"{prefix}amount": amount,
        f"{prefix}unit": unit_label(unit_of(kind), amount),
        f"{prefix}participants": Msg("count.participants", count=participants),
    }


def summary(figures: svc.Stats, org: Label) -> list[Msg]:
    """The short text: totals, activities by type with units, pushes, orgs, report tasks."""
    period = figures.period
    texts = [
        Msg("stats.head", org=org, start=period.start, end=period.end),
        Msg(
            "stats.totals",
            activities=figures.activities,
            participants=figures.participants,
            pushes=figures.pushes,
            active=figures.active_orgs,
            orgs=figures.orgs,
        ),
    ]
    texts += [
        Msg("stats.type_line", type=_type_name(row.type), **_in_units(row.type, row))
        for row in figures.by_type
    ]
    reports = figures.tasks
    if reports is not None:
        texts.append(
            Msg(
                "stats.tasks",
                expected=reports.expected,
                on_time=reports.on_time,
                late=reports.late,
                missing=reports.missing,
                rate=round(100 * reports.rate),
            )
        )
    return texts


async def write_workbook(
    session: AsyncSession,
    org: Org | None,
    job: ExportJob,
    target: IO[bytes],
    locale: str,
    tz: ZoneInfo,
) -> int:
    """The .xlsx of an export job written to ``target`` (each channel sends it its own way,
    after the transaction that started it); the number of activity rows."""
    totals = await exports.write_activities(
        session,
        org=org,
        period=job.period,
        target=target,
        locale=locale,
        tz=tz,
        offload=exports.offload_to_thread,
    )
    return totals.rows


def draw_chart(chart: Chart, locale: str) -> bytes:
    """The chart as a PNG, its titles and labels in ``locale`` (slow: call it in a thread)."""
    return render_chart(localized(chart, locale))


def localized(chart: Chart, locale: str) -> Chart:
    """The chart with its titles and labels in ``locale``, as it is drawn."""

    def text(label: object) -> str:
        return render_label(locale, label, markup=False) if label else ""  # type: ignore[arg-type]

    return dataclasses.replace(
        chart,
        title=text(chart.title),
        labels=[text(label) for label in chart.labels],
        y_label=text(chart.y_label),
        legend=(text(chart.legend[0]), text(chart.legend[1])),
    )


def charts(figures: svc.Stats) -> list[Chart]:
    """By type (bar), by month (line, over several months), top orgs (horizontal bars).

    Only pushes in the period: no chart at all (the text says how many), never an empty one.
    """
    if not figures.activities:
        return []
    activities = Msg("stats.chart.activities")
    types = figures.by_type
    drawn = [
        Chart(
            "bar",
            Msg("stats.chart.by_type"),
            [_type_name(row.type) for row in types],
            [row.count for row in types],
            activities,
        )
    ]
    months = figures.by_month
    if len(months) > 1:
        by_month = Msg("stats.chart.by_month")
        drawn.append(Chart("line", by_month, list(months), list(months.values()), activities))
    top = figures.top_orgs
    title = Msg("stats.chart.top_orgs", count=len(top))
    drawn.append(Chart("barh", title, [r.name for r in top], [r.count for r in top], activities))
    return drawn


# --- a liaison's month -----------------------------------------------------------------------


async def liaison_month(ctx: FlowContext) -> Outcome:
    """This month against last month, for the liaison's own org."""
    actor = ctx.actor
    org = await orgs.get_org(ctx.session, actor.org_id) if actor else None
    if org is None or org.id is None:
        return _say("stats.not_registered")
    today = _today(ctx)
    now = await svc.own_org_month(ctx.session, org_id=org.id, period=svc.period_of("month", today))
    before = await svc.own_org_month(ctx.session, org_id=org.id, period=svc.last_month(today))
    if now.activities == now.pushes == before.activities == before.pushes == 0:
        return _say("stats.month_empty", org=org.name)
    kinds = sorted(set(now.by_type) | set(before.by_type), key=svc.type_order)
    chart = _month_chart(now, before, kinds)
    return Outcome(Reply(_month_texts(org.name, now, before, kinds)), charts=chart)


def _month_texts(
    org: str, now: svc.MonthFigures, before: svc.MonthFigures, kinds: list[str]
) -> list[Msg]:
    head = Msg("stats.month_head", org=org, start=now.period.start, end=now.period.end)
    totals = Msg(
        "stats.month_totals",
        activities=now.activities,
        last_activities=before.activities,
        participants=now.participants,
        last_participants=before.participants,
        pushes=now.pushes,
        last_pushes=before.pushes,
    )
    lines = [
        Msg(
            "stats.month_type_line",
            type=_type_name(kind),
            **_in_units(kind, now.by_type.get(kind)),
            **_in_units(kind, before.by_type.get(kind), "last_"),
        )
        for kind in kinds
    ]
    return [head, totals, *lines]


def _month_chart(now: svc.MonthFigures, before: svc.MonthFigures, kinds: list[str]) -> list[Chart]:
    if not kinds:  # only pushes: the text says it all
        return []
    chart = Chart(
        "pair",
        Msg("stats.chart.month_vs_last"),
        [_type_name(kind) for kind in kinds],
        [_records(now, kind) for kind in kinds],
        Msg("stats.chart.activities"),
        second=[_records(before, kind) for kind in kinds],
        legend=(Msg("stats.chart.this_month"), Msg("stats.chart.last_month")),
    )
    return [chart]


def _records(figures: svc.MonthFigures, kind: str) -> int:
    row = figures.by_type.get(kind)
    return row.count if row else 0
