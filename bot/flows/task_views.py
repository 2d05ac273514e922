"""/tasks and the buttons behind it: a liaison's open tasks, an admin's tasks and status board,
reading submissions, withdrawing a task; also the announcement a new task sends.

Buttons (`TaskButton`): ``task:fill:<cycle>`` (open the report form),
``task:board:<cycle>[:<page>]``, ``task:submissions:<cycle>:<page>``,
``task:submission:<cycle>:<org>``, ``task:remind:<cycle>``, ``task:move:<cycle>``,
``task:delete:<task>`` / ``task:delete-yes:<task>`` / ``task:delete-no:<task>`` (withdraw, or
keep it), ``task:files:<cycle>[:<org>]`` (the task's or a report's files, as albums); the
handler sends the .xlsx of ``task:export:<task>``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.common import deeplinks
from bot.flows import engine
from bot.flows.base import Album, Button, FlowContext, Media, Msg, Notice, Reply, albums, said
from bot.flows.callback_data import TaskAction, TaskButton
from bot.services import groups, orgs, people, reminders
from bot.services import tasks as svc
from bot.services.reminders import in_quiet_hours
from bot.services.task_export import task_workbook
from bot.services.tasks import TaskError
from storage.models import Org
from storage.task_models import ReportSubmission, ReportTask, TaskCycle

LIST_MAX = 20  # tasks shown by /tasks
NAMES_PER_PAGE = 15  # org names per state on one page of the board
SUBS_PER_PAGE = 8
SECTION_SHOWN = 600  # characters of one section when reading a submission in chat
TITLE_SHOWN = 30
ANNOUNCE_DIRECT = 50  # recipients told within the admin's own update; more go to the ledger


def local_text(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as local 'YYYY-MM-DD HH:MM'."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _short(title: str) -> str:
    return title if len(title) <= TITLE_SHOWN else title[:TITLE_SHOWN] + "…"


def export_button(task: ReportTask) -> Button:
    """The .xlsx of a task's submissions, in the presser's scope."""
    return Button(
        Msg("task.button.export_of", title=_short(task.title)), _task("export", task.id)
    )


def _task(action: TaskAction, target: int, arg: int | None = None) -> str:
    return TaskButton(action, target, arg).pack()


def fill_button(cycle_id: int) -> Button:
    """The "填报" button that opens the report form for a cycle."""
    return Button(Msg("task.button.fill"), _task("fill", cycle_id))


# --- publishing ----------------------------------------------------------------------------


async def announce(ctx: FlowContext, task: ReportTask) -> Reply:
    """Tell the admin the task is out, and send it to everyone of the target orgs.

    A few dozen people get it at once with this reply; a bigger audience goes through the
    reminder ledger, whose sender keeps Telegram's rate and survives restarts.
    """
    cycle = (await svc.cycles_of(ctx.session, task.id))[0]  # type: ignore[arg-type]
    targets = await svc.target_ids(ctx.session, task.id)  # type: ignore[arg-type]
    # Everyone of the target orgs but the publisher: the people the form's counts counted.
    people_by_org = await svc.task_recipients(ctx.session, targets, besides=ctx.user_id)
    recipients = [(org_id, user) for org_id, users in people_by_org.items() for user in users]
    notices: list[Notice] = []
    key = "task.published"
    if len(recipients) <= ANNOUNCE_DIRECT and not in_quiet_hours(ctx.now, ctx.tz):
        reply = _announcement(ctx, task, cycle)
        notices = [Notice(u.telegram_id, people.user_locale(u), reply) for _, u in recipients]
    else:  # the sender polls the ledger; at night it waits for 08:00 like every reminder
        await reminders.queue_announcement(
            ctx.session,
            cycle=cycle,
            title=task.title,
            recipients=recipients,
            now=ctx.now,
            tz=ctx.tz,
        )
        key = "task.published_queued"
    board = Button(Msg("task.button.board"), _task("board", cycle.id))
    done = [Msg(key, title=task.title, **reach(len(targets), len(recipients)))]
    posted = await _group_notices(ctx, task, cycle)
    if posted:
        done.append(Msg("task.published_groups", count=len(posted)))
    return Reply(done, [[board]], notices=notices + posted)


async def _group_notices(ctx: FlowContext, task: ReportTask, cycle: TaskCycle) -> list[Notice]:
    """The announcement in the work groups of the asked orgs, with 填报 as a deep link.

    Groups bound within the issuer's subtree only, and not at night (their /tasks lists it).
    """
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None or in_quiet_hours(ctx.now, ctx.tz):
        return []
    asked = await groups.groups_asked(ctx.session, task.id, scope)  # type: ignore[arg-type]
    link = deeplinks.link(ctx.invite_links, deeplinks.FILL, cycle.id)
    fill = Button(Msg("task.button.fill"), url=link)
    text = _announcement(ctx, task, cycle).texts
    return [Notice(group.chat_id, group.locale, Reply(text, [[fill]])) for group in asked]


def _announcement(ctx: FlowContext, task: ReportTask, cycle: TaskCycle) -> Reply:
    text = Msg(
        "task.announcement",
        title=task.title,
        deadline=local_text(cycle.deadline, ctx.tz),
        description=f"\n{task.description}" if task.description else "",
        sections=list(task.sections),
        recurrence=Msg(f"task.recurrence.{task.recurrence}"),
    )
    buttons = [[fill_button(cycle.id)]]  # type: ignore[arg-type]
    if task.attachments:
        label = Msg("task.button.files", count=len(task.attachments))
        buttons.append([Button(label, _task("files", cycle.id))])
    return Reply([text], buttons)


# --- /tasks ----------------------------------------------------------------------------------


async def my_tasks(ctx: FlowContext) -> Reply:
    """A member's open tasks (days left, done or late), and an admin's tasks with counts."""
    if not people.is_registered(ctx.actor) and not ctx.superadmin:
        return Reply([Msg("start.not_registered")])
    await svc.ensure_cycles(ctx.session, ctx.now, ctx.tz)
    texts: list[Msg] = []
    rows: list[list[Button]] = []
    org = await _own_org(ctx)
    if org is not None:
        await _member_part(ctx, org, texts, rows)
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is not None:
        await _admin_part(ctx, scope, texts, rows)
    if not texts:
        return Reply([Msg("task.none_open")])
    return Reply(texts, rows)


async def _own_org(ctx: FlowContext) -> Org | None:
    if ctx.actor is None or ctx.actor.org_id is None:
        return None
    return await orgs.get_org(ctx.session, ctx.actor.org_id)


async def _member_part(
    ctx: FlowContext, org: Org, texts: list[Msg], rows: list[list[Button]]
) -> None:
    mine = await svc.my_cycles(ctx.session, org, ctx.now)
    if not mine:
        return
    texts.append(Msg("task.mine_header", org=org.name))
    for task, cycle, submission in mine[:LIST_MAX]:
        texts.append(member_line(ctx, task, cycle, submission))
        rows.append([open_button(task, cycle)])


def open_button(task: ReportTask, cycle: TaskCycle) -> Button:
    """The "填报：<title>" button: the report form of one of several tasks listed together."""
    return Button(Msg("task.button.open", title=_short(task.title)), _task("fill", cycle.id))


def member_line(
    ctx: FlowContext, task: ReportTask, cycle: TaskCycle, submission: ReportSubmission | None
) -> Msg:
    """One task of a member's org: title, deadline, days left (or submitted, or overdue)."""
    if submission is not None:
        state = Msg("task.state.late" if submission.late else "task.state.done")
    else:
        state = time_left(ctx, cycle)
    return Msg(
        "task.mine_line",
        title=task.title,
        deadline=local_text(cycle.deadline, ctx.tz),
        state=state,
    )


def reach(orgs: int, people: int) -> dict[str, Msg]:
    """The ``orgs`` and ``people`` of a task's reach, each number with its noun in its form."""
    return {
        "orgs": Msg("count.organisations", count=orgs),
        "people": Msg("count.people", count=people),
    }


def time_left(ctx: FlowContext, cycle: TaskCycle) -> Msg:
    """Days left until a cycle's deadline, or days overdue."""
    days = svc.days_left(cycle.deadline, ctx.now, ctx.tz)
    if ctx.now > cycle.deadline:
        return Msg("task.state.overdue", count=max(1, -days))
    return Msg("task.state.left", count=days)


async def _admin_part(
    ctx: FlowContext, scope: people.Scope, texts: list[Msg], rows: list[list[Button]]
) -> None:
    issued = await svc.tasks_within(
        ctx.session, scope.org.path if scope.org else None, limit=LIST_MAX
    )
    if not issued:
        return
    texts.append(Msg("task.admin_header"))
    for task in issued:
        cycle = (await svc.cycles_of(ctx.session, task.id))[-1]  # type: ignore[arg-type]
        status = await svc.cycle_status(ctx.session, cycle.id, scope)  # type: ignore[arg-type]
        texts.append(
            Msg(
                "task.admin_line",
                title=task.title,
                deadline=local_text(cycle.deadline, ctx.tz),
                **_counts(status),
            )
        )
        rows.append(
            [
                Button(
                    Msg("task.button.board_of", title=_short(task.title)),
                    _task("board", cycle.id),
                )
            ]
        )


def _counts(status: svc.CycleStatus) -> dict[str, int]:
    return {
        "submitted": len(status.submitted),
        "late": len(status.late),
        "missing": len(status.missing),
    }


# --- the board -------------------------------------------------------------------------------


async def board(ctx: FlowContext, cycle_id: int, page: int = 0, *, edit: bool = False) -> Reply:
    """Which orgs submitted, late, or not yet (names paged), with the admin's actions."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        task, cycle = await svc.board_cycle(ctx.session, cycle_id, scope)
    except TaskError as error:
        return Reply([said(error)])
    status = await svc.cycle_status(ctx.session, cycle_id, scope)
    start = page * NAMES_PER_PAGE
    states = (status.submitted, status.late, status.missing)
    names = await _names(ctx, [i for ids in states for i in ids[start : start + NAMES_PER_PAGE]])
    texts = [
        Msg(
            "task.board_header",
            title=task.title,
            seq=cycle.seq,
            deadline=local_text(cycle.deadline, ctx.tz),
            **_counts(status),
        )
    ]
    for key, ids in (
        ("submitted", status.submitted),
        ("late", status.late),
        ("missing", status.missing),
    ):
        shown = [names[i] for i in ids[start : start + NAMES_PER_PAGE]]
        if shown:
            texts.append(Msg(f"task.board_{key}", names=shown))
    pages = max(len(ids) for ids in (status.submitted, status.late, status.missing)) or 1
    _, manages = await svc.viewable_task(ctx.session, task.id, scope)  # type: ignore[arg-type]
    buttons = _board_buttons(task, cycle, page, -(-pages // NAMES_PER_PAGE), manages)
    others = await _other_cycles(ctx, cycle)
    return Reply(texts, [*buttons, others] if others else buttons, edit=edit)


async def _other_cycles(ctx: FlowContext, cycle: TaskCycle) -> list[Button]:
    """The boards of the cycle before and after this one (recurring tasks)."""
    cycles = await svc.cycles_of(ctx.session, cycle.task_id)
    seqs = {c.seq: c for c in cycles}
    row = []
    for seq in (cycle.seq - 1, cycle.seq + 1):
        if seq in seqs:
            label = Msg("task.button.cycle", seq=seq)
            row.append(Button(label, _task("board", seqs[seq].id)))
    return row


def _board_buttons(
    task: ReportTask, cycle: TaskCycle, page: int, pages: int, manages: bool
) -> list[list[Button]]:
    rows = [
        [
            Button(Msg("task.button.remind"), _task("remind", cycle.id)),
            Button(Msg("task.button.read"), _task("submissions", cycle.id, 0)),
        ],
        [Button(Msg("task.button.export"), _task("export", task.id))],
    ]
    if (
        manages
    ):  # admins of a subtree the task asks see their part, but only its issuer's change it
        rows[1].append(Button(Msg("task.button.move"), _task("move", cycle.id)))
        rows.append([Button(Msg("task.button.delete"), _task("delete", task.id))])
    nav = []
    if page > 0:
        nav.append(Button(Msg("task.button.prev"), _task("board", cycle.id, page - 1)))
    if page + 1 < pages:
        nav.append(Button(Msg("task.button.next"), _task("board", cycle.id, page + 1)))
    return [nav, *rows] if nav else rows


async def _names(ctx: FlowContext, org_ids: list[int]) -> dict[int, str]:
    if not org_ids:
        return {}
    rows = await ctx.session.exec(select(Org).where(col(Org.id).in_(org_ids)))
    return {org.id: org.name for org in rows.all()}  # type: ignore[misc]


async def submissions(ctx: FlowContext, cycle_id: int, page: int) -> Reply:
    """The orgs that submitted, as buttons that open their report."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        await svc.board_cycle(ctx.session, cycle_id, scope)
    except TaskError as error:
        return Reply([said(error)])
    status = await svc.cycle_status(ctx.session, cycle_id, scope)
    done = sorted([*status.submitted, *status.late])
    if not done:
        return Reply([Msg("task.no_submissions")])
    names = await _names(ctx, done)
    chunk = done[page * SUBS_PER_PAGE : (page + 1) * SUBS_PER_PAGE]
    rows = [[Button(names[i], _task("submission", cycle_id, i))] for i in chunk]
    nav = []
    if page > 0:
        nav.append(Button(Msg("task.button.prev"), _task("submissions", cycle_id, page - 1)))
    if (page + 1) * SUBS_PER_PAGE < len(done):
        nav.append(Button(Msg("task.button.next"), _task("submissions", cycle_id, page + 1)))
    return Reply([Msg("task.subs_header", count=len(done))], [*rows, nav], edit=True)


async def submission(ctx: FlowContext, cycle_id: int, org_id: int) -> Reply:
    """One org's current report in full (long sections shortened for the chat)."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    org = await orgs.get_org(ctx.session, org_id)
    try:
        task, _ = await svc.board_cycle(ctx.session, cycle_id, scope)
    except TaskError as error:
        return Reply([said(error)])
    row = await svc.current_submission(ctx.session, cycle_id, org_id)
    if row is None or org is None or scope is None or not scope.covers(org):
        return Reply([], toast=Msg("task.no_submission"))
    texts = [
        Msg(
            "task.sub_header",
            org=org.name,
            title=task.title,
            version=row.version,
            at=local_text(row.submitted_at, ctx.tz),
            late=Msg("task.state.late") if row.late else "",
        )
    ]
    for name, text in row.sections.items():
        shown = text if len(text) <= SECTION_SHOWN else text[:SECTION_SHOWN] + "…"
        texts.append(Msg("task.sub_section", name=name, text=shown or Msg("form.empty")))
    if row.indicators:
        texts.append(
            Msg("task.sub_values", values=[f"{k} {v}" for k, v in row.indicators.items()])
        )
    rows = [[Button(Msg("task.button.back_to_list"), _task("submissions", cycle_id, 0))]]
    if row.attachments:
        label = Msg("task.button.files", count=len(row.attachments))
        rows.insert(0, [Button(label, _task("files", cycle_id, org_id))])
    return Reply(texts, rows)


async def remind(ctx: FlowContext, cycle_id: int) -> Reply:
    """Remind the missing orgs of the admin's subtree now (through the reminder ledger)."""
    from bot.services import reminders

    try:
        count = await reminders.remind_missing_now(
            ctx.session, cycle_id, ctx.actor, ctx.now, tz=ctx.tz, superadmin=ctx.superadmin
        )
    except reminders.ReminderError as error:
        return Reply([], toast=said(error))
    return Reply([], toast=Msg("task.reminded", count=count))


async def ask_delete(ctx: FlowContext, task_id: int) -> Reply:
    """Ask before withdrawing a task."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        task = await svc.managed_task(ctx.session, task_id, scope)
    except TaskError as error:
        return Reply([], toast=said(error))
    yes = Button(Msg("task.button.delete_yes"), _task("delete-yes", task_id))
    no = Button(Msg("task.button.delete_no"), _task("delete-no", task_id))
    return Reply([Msg("task.delete_confirm", title=task.title)], [[yes, no]])


async def keep(ctx: FlowContext, task_id: int) -> Reply:
    """The withdrawal question answered "no": the task stays as it was, and the question says
    so in place of its buttons."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        task = await svc.managed_task(ctx.session, task_id, scope)
    except TaskError as error:
        return Reply([], toast=said(error))
    return Reply([Msg("task.delete_kept", title=task.title)], edit=True)


async def delete(ctx: FlowContext, task_id: int) -> Reply:
    """Withdraw the task: it leaves every list and its reminders stop."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        task = await svc.delete_task(ctx.session, task_id, scope, ctx.now)
    except TaskError as error:
        return Reply([], toast=said(error))
    return Reply([Msg("task.deleted", title=task.title)], edit=True)


async def move(ctx: FlowContext, cycle_id: int) -> Reply:
    """Start the one-step form that moves a cycle's deadline."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        task, cycle = await svc.board_cycle(ctx.session, cycle_id, scope)
        await svc.managed_task(ctx.session, task.id, scope)  # type: ignore[arg-type]
    except TaskError as error:
        return Reply([said(error)])
    extra = {"cycle_id": cycle_id, "title": task.title, "old": local_text(cycle.deadline, ctx.tz)}
    return await engine.start(ctx, "task_move", extra=extra)


async def files(ctx: FlowContext, cycle_id: int, org_id: int | None = None) -> Reply:
    """The task's own files (for its members and board viewers), or one org's report files,
    as albums: photos together, documents together, ten at most in each."""
    if org_id is not None:
        found, caption, refusal = await _report_files(ctx, cycle_id, org_id)
    else:
        found, caption, refusal = await _task_files(ctx, cycle_id)
    if refusal is not None:
        return Reply([], toast=refusal)
    media = [Media(_kind(item), item["file_id"]) for item in found if item.get("file_id")]
    return Reply([], albums=albums(media, caption))


def _kind(item: dict) -> str:
    return "photo" if item.get("kind") == "photo" else "document"


async def _task_files(ctx: FlowContext, cycle_id: int) -> tuple[list[dict], Msg, Msg | None]:
    try:
        task, _ = await svc.fillable_cycle(ctx.session, cycle_id, ctx.actor)
    except TaskError as refusal:
        scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
        try:
            task, _ = await svc.board_cycle(ctx.session, cycle_id, scope)
        except TaskError:
            return [], Msg(""), said(refusal)
    return list(task.attachments), Msg("task.files_caption", title=task.title), None


async def _report_files(
    ctx: FlowContext, cycle_id: int, org_id: int
) -> tuple[list[dict], Msg, Msg | None]:
    """The files of an org's current report, for an admin whose board shows that org."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    org = await orgs.get_org(ctx.session, org_id)
    try:
        task, _ = await svc.board_cycle(ctx.session, cycle_id, scope)
    except TaskError as error:
        return [], Msg(""), said(error)
    row = await svc.current_submission(ctx.session, cycle_id, org_id)
    if row is None or org is None or scope is None or not scope.covers(org):
        return [], Msg(""), Msg("task.no_submission")
    caption = Msg("task.report_files_caption", org=org.name, title=task.title)
    return list(row.attachments), caption, None


async def export(ctx: FlowContext, task_id: int) -> Reply:
    """The task's submissions as an .xlsx document to send (each channel uploads it), or why
    not (a toast)."""
    data, toast = await export_workbook(ctx, task_id)
    if data is None:
        return Reply([], toast=toast)
    document = Media.made("document", data, f"task-{task_id}.xlsx")
    return Reply([], toast=toast, albums=[Album((document,))])


async def export_workbook(ctx: FlowContext, task_id: int) -> tuple[bytes | None, Msg | None]:
    """The task's submissions as .xlsx within the admin's subtree, or why not (a toast)."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        await svc.viewable_task(ctx.session, task_id, scope)
    except TaskError as error:
        return None, said(error)
    return await task_workbook(ctx.session, task_id, scope, ctx.tz, ctx.locale), None  # type: ignore[arg-type]
