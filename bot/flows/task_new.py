"""/newtask: the form an admin fills to publish a report task (报送任务).

Steps: title → description → deadline → recurrence → target (subtree | level | orgs) →
level | orgs → sections → indicators → attachments → check (counts of orgs and people) →
summary. Confirming publishes the task to every target org.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows import engine
from bot.flows.base import (
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
    Reply,
    said,
)
from bot.flows.labels import zone_label
from bot.flows.org_picker import OrgPicker, org_name, show_reach
from bot.flows.task_views import reach
from bot.flows.when_notes import note_json, notes_of
from bot.services import people, when
from bot.services import tasks as svc
from bot.services.tasks import TaskDraft, TaskError
from storage.models import OrgLevel
from storage.task_models import DESCRIPTION_MAX, TITLE_MAX, Recurrence

EXCERPT = 60
QUICK_DEADLINES = ("一周后", "两周后", "月底")
DEFAULT, NONE = "default", "none"  # choice values (lists would not do as choice values)


async def _scope(ctx: FlowContext) -> people.Scope:
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        raise Invalid("task.not_admin")
    return scope


async def begin(ctx: FlowContext) -> Reply:
    """``/newtask``: admins get the form, everyone else a refusal."""
    if await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin) is None:
        return Reply([Msg("task.not_admin")])
    return await engine.start(ctx, NewTaskForm.name)


def _refuse(error: TaskError) -> Invalid:
    return Invalid.of(error)


def _typed(inp: Input) -> str:
    if inp.kind is not InputKind.TEXT or not inp.text.strip():
        raise Invalid("form.expect_text")
    return inp.text.strip()


async def parse_title(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The task's title, one line."""
    title = " ".join(_typed(inp).split())
    if len(title) > TITLE_MAX:
        raise Invalid("task.bad_title", limit=TITLE_MAX)
    return title


async def parse_description(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """What the task asks for, in the admin's words."""
    text = _typed(inp)
    if len(text) > DESCRIPTION_MAX:
        raise Invalid("task.description_too_long", limit=DESCRIPTION_MAX)
    return text


async def parse_deadline(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A deadline as the one reader takes it (12月9日, 下周三 18:00, 2026-12-09 18:00, 月底;
    a day alone means 18:00 local), in UTC."""
    try:
        moment = when.read_moment(_typed(inp), ctx.now, ctx.tz, when.DEADLINE)
    except when.WhenError as error:
        raise Invalid.of(error) from None
    model.ctx["time_defaulted"] = not moment.time_given
    model.ctx["deadline_notes"] = [note_json(note) for note in moment.notes]
    return moment.at.isoformat()


async def deadline_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Quick picks: a week, two weeks, the month's end (18:00 local)."""
    choices = []
    for word in QUICK_DEADLINES:
        try:
            value = when.read_moment(word, ctx.now, ctx.tz, when.DEADLINE).at.isoformat()
        except when.WhenError:  # the month's end at 18:00 may have passed already
            continue
        choices.append(Choice(value, Msg(f"task.quick.{QUICK_DEADLINES.index(word)}")))
    return choices


async def target_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The whole subtree (with counts), one level of it, or picked orgs."""
    scope = await _scope(ctx)
    ids = await svc.subtree_org_ids(ctx.session, scope)
    people_count = await svc.count_recipients(ctx.session, ids, besides=ctx.user_id)
    # Labels are kept as JSON in the form state (a nested Msg included).
    whole = (
        Msg("task.target.subtree", org=scope.org.name, **reach(len(ids), people_count))
        if scope.org
        else Msg("task.target.everything", **reach(len(ids), people_count))
    )
    return [
        Choice("subtree", whole),
        Choice("level", Msg("task.target.level")),
        Choice("orgs", Msg("task.target.orgs")),
    ]


async def level_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The levels present in the admin's subtree, with their org counts."""
    scope = await _scope(ctx)
    return [
        Choice(level.value, Msg(f"task.level.{level.value}", orgs=count))
        for level, count in await svc.levels_below(ctx.session, scope)
    ]


ORGS = OrgPicker(_scope, "task.no_org_match")


async def parse_names(inp: Input, ctx: FlowContext, model: FormModel) -> list[str]:
    """Section or indicator names, one per line or separated by 、"""
    try:
        names = svc.clean_names(_typed(inp))
    except TaskError as error:
        raise _refuse(error) from None
    limit = svc.MAX_SECTIONS if model.state == "sections" else svc.MAX_INDICATORS
    if not names or len(names) > limit:
        raise Invalid("task.bad_names", limit=limit)
    return names


async def parse_attachment(inp: Input, ctx: FlowContext, model: FormModel) -> dict[str, Any]:
    """The notice itself: a document or a photo, kept as its Telegram file id."""
    if inp.kind not in (InputKind.PHOTO, InputKind.DOCUMENT) or not inp.file_id:
        raise Invalid("task.bad_attachment")
    return {"file_id": inp.file_id, "kind": inp.kind.value, "name": inp.text[:100]}


async def check_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Count the chosen orgs and the people they reach (shown before publishing)."""
    ids = await target_org_ids(ctx, model.data)
    model.ctx["org_ids"] = ids
    # The people the announcement goes to: the publisher is not told of their own task.
    model.ctx["people"] = await svc.count_recipients(ctx.session, ids, besides=ctx.user_id)
    everyone = await svc.count_recipients(ctx.session, ids)
    model.ctx["not_you"] = everyone != model.ctx["people"]  # the publisher is one of them
    return [Choice("ok", Msg("task.button.looks_right"))]


async def target_org_ids(ctx: FlowContext, data: dict[str, Any]) -> list[int]:
    """The org ids the answers target, within the admin's subtree."""
    scope = await _scope(ctx)
    kind = data.get("target")
    if kind == "subtree":
        return await svc.subtree_org_ids(ctx.session, scope)
    if kind == "level" and data.get("level"):
        return await svc.level_org_ids(ctx.session, scope, OrgLevel(data["level"]))
    return sorted(int(v) for v in data.get("orgs") or [])


def _excerpt(value: Any, model: FormModel) -> Label:
    text = str(value or "")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


def deadline_label(value: Any, model: FormModel | None, tz: str | None = None) -> Label:
    """A deadline as local 'YYYY-MM-DD HH:MM' (the form remembers the zone it was typed in)."""
    if not value:
        return Msg("form.empty")
    zone = tz or (model.ctx.get("tz") if model else None) or "Asia/Shanghai"
    return datetime.fromisoformat(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def names_of(data: dict[str, Any], step: str) -> list[str]:
    """The section or indicator names an answer stands for (the defaults, none, or typed)."""
    value = data.get(step)
    if value == DEFAULT:
        return list(svc.DEFAULT_SECTIONS if step == "sections" else svc.DEFAULT_INDICATORS)
    return [] if value in (None, NONE) else list(value)


def _section_names(value: Any, model: FormModel) -> Label:
    return _listed(names_of({"sections": value}, "sections"))


def _indicator_names(value: Any, model: FormModel) -> Label:
    return _listed(names_of({"indicators": value}, "indicators"))


def _listed(names: list[str]) -> Label:
    return Msg("form.list", items=names) if names else Msg("task.none")


def _attachments(value: Any, model: FormModel) -> Label:
    return Msg("task.attachment_count", count=len(value or []))


def _not_you(model: FormModel) -> Msg | str:
    """Said after the count when the publisher is in a target org: they are not told."""
    return Msg("task.reach_not_you") if model.ctx.get("not_you") else ""


RECURRENCE_CHOICES = [Choice(r.value, Msg(f"task.recurrence.{r.value}")) for r in Recurrence]


class NewTaskForm(FormSpec):
    """The /newtask form."""

    name = "task_new"
    summary_key = "task.new_summary"
    fields = (
        FieldSpec(
            "title",
            prompt="task.ask_title",
            label="task.label.title",
            parse=parse_title,
            params={"limit": TITLE_MAX},
        ),
        FieldSpec(
            "description",
            prompt="task.ask_description",
            label="task.label.description",
            parse=parse_description,
            optional=True,
            display=_excerpt,
        ),
        FieldSpec(
            "deadline",
            prompt="task.ask_deadline",
            label="task.label.deadline",
            parse=parse_deadline,
            choices=deadline_choices,
            display=deadline_label,
            columns=3,
        ),
        FieldSpec(
            "recurrence",
            prompt="task.ask_recurrence",
            label="task.label.recurrence",
            choices=RECURRENCE_CHOICES,
            columns=3,
        ),
        *ORGS.reach_steps("task", "target", target_choices, level_choices),
        FieldSpec(
            "sections",
            prompt="task.ask_sections",
            label="task.label.sections",
            parse=parse_names,
            display=_section_names,
            columns=1,
            choices=[Choice(DEFAULT, Msg("task.use_defaults"))],
            params={"defaults": "、".join(svc.DEFAULT_SECTIONS)},
        ),
        FieldSpec(
            "indicators",
            prompt="task.ask_indicators",
            label="task.label.indicators",
            parse=parse_names,
            display=_indicator_names,
            columns=1,
            choices=[
                Choice(DEFAULT, Msg("task.use_defaults")),
                Choice(NONE, Msg("task.no_indicators")),
            ],
            params={"defaults": "、".join(svc.DEFAULT_INDICATORS)},
        ),
        FieldSpec(
            "attachments",
            prompt="task.ask_attachments",
            label="task.label.attachments",
            parse=parse_attachment,
            optional=True,
            collect=svc.MAX_ATTACHMENTS,
            stay_when_full=True,
            display=_attachments,
        ),
        FieldSpec(
            "check",
            prompt="task.ask_check",
            label="task.label.check",
            choices=check_choices,
            typed_yes_no={True: "ok"},
            in_summary=False,
            revisit=True,  # passed on every way to the summary, so its counts are fresh
            columns=1,
        ),
    )

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """The time zone deadlines are read in; counts for the check step."""
        model.ctx["tz"] = ctx.tz.key
        if spec.name != "check":
            return {"tz": zone_label(ctx.tz)}
        counts = reach(len(model.ctx.get("org_ids", [])), model.ctx.get("people", 0))
        return {**counts, "not_you": _not_you(model)}

    async def prepare_summary(self, ctx: FlowContext, model: FormModel) -> None:
        """The target's line names the level or the orgs picked, with the counts of the check
        step (read on the way to the summary)."""
        counts = reach(len(model.ctx.get("org_ids", [])), model.ctx.get("people", 0))
        data = model.data
        if data.get("target") == "level" and data.get("level"):
            level = Msg(f"broadcast.level.{data['level']}")
            show_reach(model, Msg("task.reach.level", level=level, **counts))
        elif data.get("target") == "orgs":
            names = [org_name(model, org_id) for org_id in data.get("orgs") or []]
            show_reach(model, Msg("task.reach.orgs", names=names, **counts))
        else:
            scope = await _scope(ctx)
            whole = (
                Msg("task.target.subtree", org=scope.org.name, **counts)
                if scope.org
                else Msg("task.target.everything", **counts)
            )
            show_reach(model, whole)

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """Who receives it, and the 18:00 rule when no time was typed."""
        counts = reach(len(model.ctx.get("org_ids", [])), model.ctx.get("people", 0))
        lines = [Msg("task.reach", **counts, not_you=_not_you(model))]
        if model.ctx.get("time_defaulted"):
            lines.append(Msg("task.time_defaulted"))
        return lines + notes_of(model.ctx.get("deadline_notes"))

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Publish the task; the handler then sends it to the people of the target orgs."""
        data = model.data
        draft = TaskDraft(
            title=data["title"],
            description=data.get("description") or "",
            deadline=datetime.fromisoformat(data["deadline"]),
            org_ids=await target_org_ids(ctx, data),
            sections=names_of(data, "sections"),
            indicators=names_of(data, "indicators"),
            attachments=list(data.get("attachments") or []),
            recurrence=Recurrence(data.get("recurrence") or Recurrence.NONE),
        )
        try:
            scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
            task = await svc.publish_task(
                ctx.session,
                draft,
                actor=ctx.actor,
                scope=scope,
                now=ctx.now,
                tz=ctx.tz,  # type: ignore[arg-type]
            )
        except TaskError as error:
            return Reply([said(error)])
        from bot.flows.task_views import announce

        return await announce(ctx, task)


class MoveDeadlineForm(FormSpec):
    """A one-step form: a new deadline for one cycle of a task."""

    name = "task_move"
    summary_key = "task.move_summary"
    fields = (
        FieldSpec(
            "deadline",
            prompt="task.ask_new_deadline",
            label="task.label.deadline",
            parse=parse_deadline,
            choices=deadline_choices,
            display=deadline_label,
            columns=3,
        ),
    )

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """The task and its current deadline."""
        model.ctx["tz"] = ctx.tz.key
        return {"title": model.ctx.get("title", ""), "old": model.ctx.get("old", "")}

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """The task whose deadline moves."""
        moving = Msg("task.move_of", title=model.ctx.get("title", ""), old=model.ctx.get("old"))
        return [moving, *notes_of(model.ctx.get("deadline_notes"))]

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Move the deadline; reminders follow because they read the database."""
        scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
        moment = datetime.fromisoformat(model.data["deadline"])
        try:
            await svc.move_deadline(ctx.session, model.ctx["cycle_id"], scope, moment, ctx.now)
        except TaskError as error:
            return Reply([said(error)])
        shown = deadline_label(model.data["deadline"], model)
        return Reply([Msg("task.moved", title=model.ctx.get("title", ""), deadline=shown)])
