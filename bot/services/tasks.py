"""Report tasks: publishing, cycles of recurring tasks, submissions and the status board."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.activities import PUSH_TYPE
from bot.services.errors import UserError
from bot.services.people import Scope
from storage import orgs_repo, tasks_repo
from storage.models import Org, OrgLevel, User
from storage.task_models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    SECTION_MAX,
    TITLE_MAX,
    Recurrence,
    ReportSubmission,
    ReportTask,
    TaskCycle,
    TaskStatus,
)

DEFAULT_SECTIONS = ("工作抓手", "有效措施", "实际成效", "存在问题", "下一步计划")
DEFAULT_INDICATORS = ("活动场次", "参与人次")
# Indicators filled from the org's logged activities: name → index in activity_totals().
PREFILLED = {"活动场次": 0, "参与人次": 1}
MAX_SECTIONS = 10
MAX_INDICATORS = 10
MAX_INDICATOR_VALUE = 100_000_000
MAX_ATTACHMENTS = 10
MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3}
OVERDUE_DAYS = 3


class TaskError(UserError):
    """A refusal with a message key for the user."""


# ---------------------------------------------------------------- deadlines


def add_months(moment: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The same local day and time ``months`` later (clamped to the month's last day)."""
    local = moment.astimezone(tz)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    shifted = datetime.combine(date(year, month, day), local.timetz().replace(tzinfo=None), tz)
    return shifted.astimezone(ZoneInfo("UTC"))


def first_period(
    deadline: datetime, recurrence: Recurrence, today: date, tz: ZoneInfo
) -> tuple[date, date]:
    """The reporting period of the first cycle: one step back from the deadline, or this year."""
    end = deadline.astimezone(tz).date()
    if recurrence == Recurrence.NONE:
        return min(date(today.year, 1, 1), end), end
    start = add_months(deadline, -MONTHS[recurrence], tz).astimezone(tz).date() + timedelta(1)
    return start, end


# ---------------------------------------------------------------- publishing


@dataclass
class TaskDraft:
    """What the /newtask form collected."""

    title: str
    deadline: datetime
    org_ids: list[int]
    description: str = ""
    sections: list[str] = field(default_factory=lambda: list(DEFAULT_SECTIONS))
    indicators: list[str] = field(default_factory=lambda: list(DEFAULT_INDICATORS))
    attachments: list[dict[str, Any]] = field(default_factory=list)
    recurrence: Recurrence = Recurrence.NONE


def clean_names(text: str) -> list[str]:
    """Section or indicator names from one per line (or separated by 、，,；;)."""
    names = [part.strip() for part in re.split(r"[\n、，,；;]+", text) if part.strip()]
    unique = list(dict.fromkeys(names))
    if any(len(name) > NAME_MAX for name in unique):
        raise TaskError("task.name_too_long", limit=NAME_MAX)
    return unique


def check_draft(draft: TaskDraft, now: datetime) -> None:
    """Refuse a draft that cannot be published."""
    if not draft.title.strip() or len(draft.title) > TITLE_MAX:
        raise TaskError("task.bad_title", limit=TITLE_MAX)
    if len(draft.description) > DESCRIPTION_MAX:
        raise TaskError("task.description_too_long", limit=DESCRIPTION_MAX)
    if draft.deadline <= now:
        raise TaskError("task.deadline_past")
    if not draft.org_ids:
        raise TaskError("task.no_targets")
    if not draft.sections or len(draft.sections) > MAX_SECTIONS:
        raise TaskError("task.bad_sections", limit=MAX_SECTIONS)
    if len(draft.indicators) > MAX_INDICATORS:
        raise TaskError("task.bad_indicators", limit=MAX_INDICATORS)


async def publish_task(
    session: AsyncSession,
    draft: TaskDraft,
    *,
    actor: User,
    scope: Scope | None,
    now: datetime,
    tz: ZoneInfo,
) -> ReportTask:
    """Save a task, its targets and its first cycle, after checking draft and scope."""
    check_draft(draft, now)
    if scope is None:
        raise TaskError("task.not_admin")
    paths = await tasks_repo.org_paths(session=session, org_ids=draft.org_ids)
    within = scope.org.path if scope.org is not None else "/"
    if len(paths) != len(set(draft.org_ids)) or not all(
        path.startswith(within) for path in paths.values()
    ):
        raise TaskError("task.target_outside")
    issuer = scope.org.id if scope.org is not None else actor.org_id or min(paths)  # type: ignore[union-attr]
    task = ReportTask(
        title=draft.title.strip(),
        description=draft.description,
        org_id=issuer,  # type: ignore[arg-type]
        created_by=actor.telegram_id,
        sections=draft.sections,
        indicators=draft.indicators,
        attachments=draft.attachments,
        recurrence=draft.recurrence,
        created_at=now,
        updated_at=now,
    )
    start, end = first_period(draft.deadline, draft.recurrence, now.astimezone(tz).date(), tz)
    first = TaskCycle(
        task_id=0, seq=1, period_start=start, period_end=end, deadline=draft.deadline
    )
    return await tasks_repo.add_task(
        session=session, task=task, org_ids=sorted(set(draft.org_ids)), first=first
    )


async def subtree_org_ids(session: AsyncSession, scope: Scope) -> list[int]:
    """Every org of the admin's subtree (the root itself included)."""
    path = scope.org.path if scope.org is not None else None
    return await tasks_repo.org_ids_within(session=session, path=path)


async def level_org_ids(session: AsyncSession, scope: Scope, level: OrgLevel) -> list[int]:
    """The orgs of one level within the admin's subtree."""
    path = scope.org.path if scope.org is not None else None
    return await tasks_repo.org_ids_within(session=session, path=path, level=level.value)


async def levels_below(session: AsyncSession, scope: Scope) -> list[tuple[OrgLevel, int]]:
    """The levels present in the admin's subtree with their org counts, in tree order."""
    path = scope.org.path if scope.org is not None else None
    counts = await tasks_repo.level_counts(session=session, path=path)
    order = list(OrgLevel)
    found = [(OrgLevel(level), count) for level, count in counts.items()]  # plain text column
    return sorted(found, key=lambda item: order.index(item[0]))


async def count_recipients(
    session: AsyncSession, org_ids: Sequence[int], *, besides: int | None = None
) -> int:
    """How many people a task on these orgs reaches (``besides``: its publisher, who is not
    told of their own task): the people `task_recipients` gives, counted."""
    return await tasks_repo.count_recipients(session=session, org_ids=org_ids, besides=besides)


async def managed_task(session: AsyncSession, task_id: int, scope: Scope | None) -> ReportTask:
    """A published task the admin may manage (issued within their subtree)."""
    task = await tasks_repo.get_task(session=session, task_id=task_id)
    if task is None:
        raise TaskError("task.unknown")
    issuer = await orgs_repo.get_org(session=session, org_id=task.org_id)
    if scope is None or issuer is None or not scope.covers(issuer):
        raise TaskError("task.not_your_task")
    return task


async def delete_task(
    session: AsyncSession, task_id: int, scope: Scope | None, now: datetime
) -> ReportTask:
    """Withdraw a task: it leaves every list and its reminders stop."""
    task = await managed_task(session, task_id, scope)
    task.status, task.deleted_at, task.updated_at = TaskStatus.DELETED, now, now
    await session.flush()
    return task


async def move_deadline(
    session: AsyncSession, cycle_id: int, scope: Scope | None, deadline: datetime, now: datetime
) -> TaskCycle:
    """Give one cycle a new deadline (its reminders follow: they read the database)."""
    cycle = await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)
    if cycle is None:
        raise TaskError("task.unknown")
    task = await managed_task(session, cycle.task_id, scope)
    if deadline <= now:
        raise TaskError("task.deadline_past")
    cycle.deadline, task.updated_at = deadline, now
    await session.flush()
    return cycle


# ---------------------------------------------------------------- cycles


async def ensure_cycles(session: AsyncSession, now: datetime, tz: ZoneInfo | None = None) -> None:
    """Open the next cycle of every recurring task whose newest cycle's deadline has passed."""
    zone = tz or ZoneInfo("Asia/Shanghai")
    for task, cycle in await tasks_repo.latest_recurring_cycles(session=session):
        seq, deadline, end = cycle.seq, cycle.deadline, cycle.period_end
        if deadline > now:
            continue
        first = (await tasks_repo.cycles_of(session=session, task_id=task.id))[0]  # type: ignore[arg-type]
        while deadline <= now:  # a long outage may have skipped several cycles
            seq += 1
            # Counted from the first deadline, so 31 Jan → 28 Feb does not drift to the 28th.
            deadline = add_months(first.deadline, MONTHS[task.recurrence] * (seq - 1), zone)
            start, end = end + timedelta(1), deadline.astimezone(zone).date()
            await tasks_repo.insert_cycle(
                session=session,
                task_id=task.id,
                seq=seq,
                period=(start, end),
                deadline=deadline,  # type: ignore[arg-type]
            )
    await session.flush()


async def open_cycles(
    session: AsyncSession, now: datetime, overdue_days: int = OVERDUE_DAYS
) -> list[TaskCycle]:
    """Cycles of published tasks whose deadline + ``overdue_days`` lies after ``now``."""
    after = now - timedelta(days=overdue_days)
    return list(await tasks_repo.open_cycles(session=session, after=after))


async def pending_org_ids(session: AsyncSession, cycle_id: int) -> list[int]:
    """Targeted orgs of a cycle with no current submission."""
    return await tasks_repo.pending_org_ids(session=session, cycle_id=cycle_id)


async def cycles_awaiting(session: AsyncSession, cycle_ids: Sequence[int]) -> set[int]:
    """The cycles with at least one recipient in a targeted org that has not submitted."""
    return await tasks_repo.cycles_awaiting(session=session, cycle_ids=cycle_ids)


async def task_recipients(
    session: AsyncSession, org_ids: Sequence[int], *, besides: int | None = None
) -> dict[int, list[User]]:
    """Active registered liaisons, information officers and admins of these orgs, by org
    (``besides``: but this person)."""
    found: dict[int, list[User]] = {}
    for user in await tasks_repo.recipients(session=session, org_ids=org_ids, besides=besides):
        found.setdefault(user.org_id, []).append(user)  # type: ignore[arg-type]
    return found


# ---------------------------------------------------------------- status board


@dataclass
class CycleStatus:
    """Which targeted orgs (of a scope) submitted on time, late, or not yet."""

    submitted: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


async def cycle_status(session: AsyncSession, cycle_id: int, scope: Scope | None) -> CycleStatus:
    """The board of one cycle, restricted to the orgs in ``scope`` (None: all)."""
    cycle = await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)
    status = CycleStatus()
    if cycle is None:
        return status
    path = scope.org.path if scope is not None and scope.org is not None else None
    for org_id, late in await tasks_repo.target_states(
        session=session, task_id=cycle.task_id, cycle_id=cycle_id, path=path
    ):
        bucket = status.missing if late is None else status.late if late else status.submitted
        bucket.append(org_id)
    return status


async def board_cycle(
    session: AsyncSession, cycle_id: int, scope: Scope | None
) -> tuple[ReportTask, TaskCycle]:
    """A cycle and its task, when the admin may see its board (see `viewable_task`)."""
    cycle = await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)
    if cycle is None:
        raise TaskError("task.unknown")
    task, _ = await viewable_task(session, cycle.task_id, scope)
    return task, cycle


async def viewable_task(
    session: AsyncSession, task_id: int, scope: Scope | None
) -> tuple[ReportTask, bool]:
    """A task whose board the admin may see, and whether they may also change it.

    Its issuer's admins manage it; admins of a subtree it asks see their own orgs' part.
    """
    task = await tasks_repo.get_task(session=session, task_id=task_id)
    if task is None:
        raise TaskError("task.unknown")
    issuer = await orgs_repo.get_org(session=session, org_id=task.org_id)
    if scope is not None and issuer is not None and scope.covers(issuer):
        return task, True
    asked = scope is not None and scope.org is not None
    if asked and await tasks_repo.targets_within(
        session=session,
        task_id=task_id,
        path=scope.org.path,  # type: ignore[union-attr]
    ):
        return task, False
    raise TaskError("task.not_your_task")


# ---------------------------------------------------------------- submissions


async def fillable_cycle(
    session: AsyncSession, cycle_id: int, user: User | None
) -> tuple[ReportTask, TaskCycle]:
    """A cycle the user's org is asked to report on."""
    cycle = await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)
    task = await tasks_repo.get_task(session=session, task_id=cycle.task_id) if cycle else None
    if cycle is None or task is None:
        raise TaskError("task.unknown")
    if (
        user is None
        or user.org_id is None
        or not await tasks_repo.is_target(
            session=session,
            task_id=task.id,
            org_id=user.org_id,  # type: ignore[arg-type]
        )
    ):
        raise TaskError("task.not_targeted")
    return task, cycle


async def prefill_indicators(
    session: AsyncSession, task: ReportTask, cycle: TaskCycle, org_id: int
) -> dict[str, int]:
    """Indicators counted from the org's activities in the cycle's period (others 0)."""
    totals = await tasks_repo.activity_totals(
        session=session,
        org_id=org_id,
        first=cycle.period_start,
        last=cycle.period_end,
        exclude_type=PUSH_TYPE,
    )
    return {name: totals[PREFILLED[name]] if name in PREFILLED else 0 for name in task.indicators}


def check_section(text: str) -> str:
    """A section's text, refused over the length limit."""
    if len(text) > SECTION_MAX:
        raise TaskError("task.section_too_long", limit=SECTION_MAX, length=len(text))
    return text


def parse_indicator(text: str) -> int:
    """A non-negative whole number (digits or Chinese numerals)."""
    from bot.services.activities import ActivityError, parse_participants

    try:
        value = parse_participants(text)
    except ActivityError:
        raise TaskError("task.bad_indicator") from None
    if value > MAX_INDICATOR_VALUE:
        raise TaskError("task.bad_indicator")
    return value


async def submit_report(
    session: AsyncSession,
    *,
    cycle_id: int,
    user: User | None,
    sections: dict[str, str],
    indicators: dict[str, int],
    attachments: list[dict[str, Any]],
    now: datetime,
) -> ReportSubmission:
    """Save an org's report; a resubmission supersedes the current one and keeps it."""
    task, cycle = await fillable_cycle(session, cycle_id, user)
    for text in sections.values():
        check_section(text)
    if not any(text.strip() for text in sections.values()):
        raise TaskError("task.empty_report")
    org_id = user.org_id  # type: ignore[union-attr]
    current = await tasks_repo.current_submission(
        session=session, cycle_id=cycle_id, org_id=org_id
    )  # type: ignore[arg-type]
    version = 1
    if current is not None:
        current.superseded_at, version = now, current.version + 1
        await session.flush()  # the partial unique index allows one current row
    row = ReportSubmission(
        cycle_id=cycle_id,
        org_id=org_id,
        submitted_by=user.telegram_id,
        submitted_at=now,  # type: ignore[union-attr,arg-type]
        late=now > cycle.deadline,
        version=version,
        attachments=attachments[:MAX_ATTACHMENTS],
        sections={name: sections.get(name, "") for name in task.sections},
        indicators={name: int(indicators.get(name, 0)) for name in task.indicators},
    )
    session.add(row)
    await session.flush()
    return row


async def my_cycles(
    session: AsyncSession,
    org: Org,
    now: datetime,
    keep: Callable[[ReportTask], bool] | None = None,
) -> list[tuple[ReportTask, TaskCycle, ReportSubmission | None]]:
    """An org's open cycles (up to the overdue window) with its current submission.

    ``keep``: only the cycles of the tasks it accepts (their submissions are not read).
    """
    after = now - timedelta(days=OVERDUE_DAYS)
    rows = await tasks_repo.org_cycles(session=session, org_id=org.id, after=after)  # type: ignore[arg-type]
    if keep is not None:
        rows = [(task, cycle) for task, cycle in rows if keep(task)]
    return [
        (
            task,
            cycle,
            await tasks_repo.current_submission(session=session, cycle_id=cycle.id, org_id=org.id),
        )  # type: ignore[arg-type]
        for task, cycle in rows
    ]


def days_left(deadline: datetime, now: datetime, tz: ZoneInfo) -> int:
    """Calendar days from today to the deadline day (negative: overdue)."""
    return (deadline.astimezone(tz).date() - now.astimezone(tz).date()).days


# --- reading tasks (what flows ask; they reach storage through here) --------------------------


async def cycles_of(session: AsyncSession, task_id: int) -> Sequence[TaskCycle]:
    """A task's cycles, oldest first."""
    return await tasks_repo.cycles_of(session=session, task_id=task_id)


async def target_ids(session: AsyncSession, task_id: int) -> list[int]:
    """The orgs a task asks, by id."""
    return await tasks_repo.target_ids(session=session, task_id=task_id)


async def tasks_within(
    session: AsyncSession, path: str | None, *, limit: int, offset: int = 0
) -> Sequence[ReportTask]:
    """Published tasks issued in a subtree or asking one of its orgs (``path`` None: all)."""
    return await tasks_repo.tasks_within(session=session, path=path, limit=limit, offset=offset)


async def current_submission(
    session: AsyncSession, cycle_id: int, org_id: int
) -> ReportSubmission | None:
    """An org's current submission for a cycle."""
    return await tasks_repo.current_submission(session=session, cycle_id=cycle_id, org_id=org_id)
