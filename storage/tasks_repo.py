"""Queries on report tasks, their targets, cycles and submissions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.activity_models import Activity
from storage.models import Org, Role, User
from storage.task_models import (
    Recurrence,
    ReportSubmission,
    ReportTask,
    TaskCycle,
    TaskStatus,
    TaskTarget,
)

RECIPIENT_ROLES = (Role.LIAISON, Role.INFO_OFFICER, Role.ADMIN)


async def add_task(
    *, session: AsyncSession, task: ReportTask, org_ids: Sequence[int], first: TaskCycle
) -> ReportTask:
    """Insert a task with its targets and its first cycle."""
    session.add(task)
    await session.flush()
    # A province-wide task has 10,000 targets: one core INSERT with many parameter sets
    # (compiled once, batched by SQLAlchemy) instead of as many ORM objects.
    rows = [{"task_id": task.id, "org_id": org_id} for org_id in org_ids]
    if rows:
        await session.exec(core_insert(TaskTarget.__table__), params=rows)  # type: ignore[attr-defined,call-overload]
    first.task_id = task.id  # type: ignore[assignment]
    session.add(first)
    await session.flush()
    return task


async def get_task(*, session: AsyncSession, task_id: int) -> ReportTask | None:
    """A task that was not deleted."""
    task = await session.get(ReportTask, task_id)
    return task if task is not None and task.status == TaskStatus.PUBLISHED else None


async def get_cycle(*, session: AsyncSession, cycle_id: int) -> TaskCycle | None:
    """One cycle by id."""
    return await session.get(TaskCycle, cycle_id)


async def target_ids(*, session: AsyncSession, task_id: int) -> list[int]:
    """The orgs a task asks, by id."""
    query = select(TaskTarget.org_id).where(TaskTarget.task_id == task_id)
    return sorted((await session.exec(query)).all())


async def is_target(*, session: AsyncSession, task_id: int, org_id: int) -> bool:
    """Whether a task asks this org."""
    query = select(TaskTarget.id).where(TaskTarget.task_id == task_id, TaskTarget.org_id == org_id)
    return (await session.exec(query)).first() is not None


async def cycles_of(*, session: AsyncSession, task_id: int) -> Sequence[TaskCycle]:
    """A task's cycles, oldest first."""
    query = select(TaskCycle).where(TaskCycle.task_id == task_id).order_by(col(TaskCycle.seq))
    return (await session.exec(query)).all()


async def latest_recurring_cycles(
    *, session: AsyncSession
) -> Sequence[tuple[ReportTask, TaskCycle]]:
    """Each published recurring task with its newest cycle."""
    newest = (
        select(TaskCycle.task_id, func.max(TaskCycle.seq).label("seq"))
        .group_by(col(TaskCycle.task_id))
        .subquery()
    )
    query = (
        select(ReportTask, TaskCycle)
        .join(TaskCycle, col(TaskCycle.task_id) == ReportTask.id)
        .join(newest, (newest.c.task_id == TaskCycle.task_id) & (newest.c.seq == TaskCycle.seq))
        .where(
            ReportTask.status == TaskStatus.PUBLISHED,
            ReportTask.recurrence != Recurrence.NONE,
        )
    )
    return (await session.exec(query)).all()  # type: ignore[return-value]


async def insert_cycle(
    *,
    session: AsyncSession,
    task_id: int,
    seq: int,
    period: tuple[date, date],
    deadline: datetime,
) -> None:
    """Add a cycle unless another process already did (the (task, seq) key decides)."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(TaskCycle)
        .values(
            task_id=task_id,
            seq=seq,
            period_start=period[0],
            period_end=period[1],
            deadline=deadline,
        )
        .on_conflict_do_nothing(index_elements=["task_id", "seq"])
    )
    await session.exec(statement)  # type: ignore[call-overload]


async def open_cycles(*, session: AsyncSession, after: datetime) -> Sequence[TaskCycle]:
    """Cycles of published tasks whose deadline lies after ``after``, soonest first."""
    query = (
        select(TaskCycle)
        .join(ReportTask, col(ReportTask.id) == TaskCycle.task_id)
        .where(ReportTask.status == TaskStatus.PUBLISHED, col(TaskCycle.deadline) > after)
        .order_by(col(TaskCycle.deadline), col(TaskCycle.id))
    )
    return (await session.exec(query)).all()


async def org_cycles(
    *, session: AsyncSession, org_id: int, after: datetime
) -> Sequence[tuple[ReportTask, TaskCycle]]:
    """Open cycles of the published tasks that ask one org."""
    query = (
        select(ReportTask, TaskCycle)
        .join(TaskTarget, col(TaskTarget.task_id) == ReportTask.id)
        .join(TaskCycle, col(TaskCycle.task_id) == ReportTask.id)
        .where(
            TaskTarget.org_id == org_id,
            ReportTask.status == TaskStatus.PUBLISHED,
            col(TaskCycle.deadline) > after,
        )
        .order_by(col(TaskCycle.deadline), col(TaskCycle.id))
    )
    return (await session.exec(query)).all()  # type: ignore[return-value]


async def tasks_within(
    *, session: AsyncSession, path: str | None, limit: int, offset: int = 0
) -> Sequence[ReportTask]:
    """Published tasks issued in a subtree or asking one of its orgs (``path`` None: all)."""
    query = select(ReportTask).where(ReportTask.status == TaskStatus.PUBLISHED)
    if path is not None:
        issuer = select(Org.id).where(col(Org.path).startswith(path))
        asked = (
            select(TaskTarget.task_id)
            .join(Org, col(Org.id) == TaskTarget.org_id)
            .where(col(Org.path).startswith(path))
        )
        query = query.where(col(ReportTask.org_id).in_(issuer) | col(ReportTask.id).in_(asked))
    query = query.order_by(col(ReportTask.id).desc()).offset(offset).limit(limit)
    return (await session.exec(query)).all()


async def targets_within(*, session: AsyncSession, task_id: int, path: str) -> bool:
    """Whether a task asks at least one org of a subtree."""
    query = (
        select(TaskTarget.id)
        .join(Org, col(Org.id) == TaskTarget.org_id)
        .where(TaskTarget.task_id == task_id, col(Org.path).startswith(path))
        .limit(1)
    )
    return (await session.exec(query)).first() is not None


async def target_states(
    *, session: AsyncSession, task_id: int, cycle_id: int, path: str | None
) -> list[tuple[int, bool | None]]:
    """(org id, late flag of its current submission or None) per target, in one query."""
    current = (
        select(ReportSubmission.org_id, ReportSubmission.late)
        .where(
            ReportSubmission.cycle_id == cycle_id, col(ReportSubmission.superseded_at).is_(None)
        )
        .subquery()
    )
    query = (
        select(TaskTarget.org_id, current.c.late)
        .outerjoin(current, current.c.org_id == TaskTarget.org_id)
        .where(TaskTarget.task_id == task_id)
    )
    if path is not None:
        query = query.join(Org, col(Org.id) == TaskTarget.org_id).where(
            col(Org.path).startswith(path)
        )
    rows = (await session.exec(query.order_by(col(TaskTarget.org_id)))).all()
    return [(int(org_id), None if late is None else bool(late)) for org_id, late in rows]


async def current_submissions(
    *, session: AsyncSession, cycle_id: int
) -> Sequence[ReportSubmission]:
    """The current (not superseded) submissions of a cycle."""
    query = select(ReportSubmission).where(
        ReportSubmission.cycle_id == cycle_id, col(ReportSubmission.superseded_at).is_(None)
    )
    return (await session.exec(query.order_by(col(ReportSubmission.org_id)))).all()


async def submission_figures(
    *, session: AsyncSession, cycle_id: int
) -> dict[int, tuple[bool, dict[str, Any]]]:
    """org id → (late, indicators) of the cycle's current submissions, without their texts."""
    query = select(
        ReportSubmission.org_id, ReportSubmission.late, ReportSubmission.indicators
    ).where(ReportSubmission.cycle_id == cycle_id, col(ReportSubmission.superseded_at).is_(None))
    rows = (await session.exec(query)).all()
    return {int(org_id): (bool(late), dict(values or {})) for org_id, late, values in rows}


async def current_submission(
    *, session: AsyncSession, cycle_id: int, org_id: int
) -> ReportSubmission | None:
    """An org's current submission for a cycle."""
    query = select(ReportSubmission).where(
        ReportSubmission.cycle_id == cycle_id,
        ReportSubmission.org_id == org_id,
        col(ReportSubmission.superseded_at).is_(None),
    )
    return (await session.exec(query)).first()


async def submission_history(
    *, session: AsyncSession, cycle_id: int, org_id: int
) -> Sequence[ReportSubmission]:
    """Every version an org submitted for a cycle, newest first."""
    query = select(ReportSubmission).where(
        ReportSubmission.cycle_id == cycle_id, ReportSubmission.org_id == org_id
    )
    return (await session.exec(query.order_by(col(ReportSubmission.version).desc()))).all()


async def pending_org_ids(*, session: AsyncSession, cycle_id: int) -> list[int]:
    """Targeted orgs of a cycle's task that have no current submission."""
    cycle = await session.get(TaskCycle, cycle_id)
    if cycle is None:
        return []
    done = select(ReportSubmission.org_id).where(
        ReportSubmission.cycle_id == cycle_id, col(ReportSubmission.superseded_at).is_(None)
    )
    query = select(TaskTarget.org_id).where(
        TaskTarget.task_id == cycle.task_id, col(TaskTarget.org_id).not_in(done)
    )
    return sorted((await session.exec(query.order_by(col(TaskTarget.org_id)))).all())


def _recipient_filter(org_ids: Sequence[int], besides: int | None = None) -> tuple:
    found = (col(User.org_id).in_(list(org_ids)), *_reachable())
    return found if besides is None else (*found, col(User.telegram_id) != besides)


def _reachable() -> tuple:
    return (
        col(User.role).in_(RECIPIENT_ROLES),
        col(User.active).is_(True),
        col(User.blocked_bot).is_(False),
        col(User.registered_at).is_not(None),
    )


async def cycles_awaiting(*, session: AsyncSession, cycle_ids: Sequence[int]) -> set[int]:
    """Which of these cycles have someone to remind: a recipient in a targeted org that has
    not submitted. One query however many cycles, so cycles nobody can be reminded of
    (empty orgs, everything submitted) cost the per-minute dispatch next to nothing, and a
    person who joins such an org is found at the next minute."""
    if not cycle_ids:
        return set()
    person = select(User.id).where(col(User.org_id) == TaskTarget.org_id, *_reachable())
    # Correlated to both outer queries: left to itself, SQLAlchemy would correlate only the
    # nearest one and join task_cycle afresh, counting another cycle's submission.
    submitted = (
        select(ReportSubmission.id)
        .where(
            col(ReportSubmission.cycle_id) == TaskCycle.id,
            col(ReportSubmission.org_id) == TaskTarget.org_id,
            col(ReportSubmission.superseded_at).is_(None),
        )
        .correlate(TaskCycle, TaskTarget)
    )
    waiting = select(TaskTarget.id).where(
        col(TaskTarget.task_id) == TaskCycle.task_id, person.exists(), ~submitted.exists()
    )
    query = select(TaskCycle.id).where(col(TaskCycle.id).in_(list(cycle_ids)), waiting.exists())
    return {int(i) for i in (await session.exec(query)).all()}


async def recipients(
    *, session: AsyncSession, org_ids: Sequence[int], besides: int | None = None
) -> Sequence[User]:
    """Active registered liaisons, information officers and admins of these orgs (but the
    person ``besides``)."""
    query = select(User).where(*_recipient_filter(org_ids, besides))
    return (await session.exec(query.order_by(col(User.org_id), col(User.id)))).all()


async def count_recipients(
    *, session: AsyncSession, org_ids: Sequence[int], besides: int | None = None
) -> int:
    """How many people `recipients` would return."""
    query = select(func.count()).select_from(User).where(*_recipient_filter(org_ids, besides))
    return int((await session.exec(query)).one())


async def org_ids_within(
    *, session: AsyncSession, path: str | None, level: str | None = None
) -> list[int]:
    """Ids of a subtree's orgs (``path`` None: all), optionally of one level, in tree order."""
    query = select(Org.id)
    if path is not None:
        query = query.where(col(Org.path).startswith(path))
    if level is not None:
        query = query.where(Org.level == level)
    return [int(i) for i in (await session.exec(query.order_by(col(Org.path)))).all()]


async def level_counts(*, session: AsyncSession, path: str | None) -> dict[str, int]:
    """How many orgs of each level a subtree has (``path`` None: all)."""
    query = select(Org.level, func.count()).group_by(col(Org.level))
    if path is not None:
        query = query.where(col(Org.path).startswith(path))
    return {str(level): int(n) for level, n in (await session.exec(query)).all()}


async def org_paths(*, session: AsyncSession, org_ids: Sequence[int]) -> dict[int, str]:
    """id → materialised path of the orgs with these ids (unknown ids are left out)."""
    query = select(Org.id, Org.path).where(col(Org.id).in_(list(set(org_ids))))
    return {int(org_id): str(path) for org_id, path in (await session.exec(query)).all()}


async def activity_totals(
    *, session: AsyncSession, org_id: int, first: date, last: date, exclude_type: str
) -> tuple[int, int]:
    """(sum of amounts, sum of participants) of an org's activities between two days."""
    query = select(
        func.coalesce(func.sum(Activity.amount), 0),
        func.coalesce(func.sum(Activity.participants), 0),
    ).where(
        Activity.org_id == org_id,
        Activity.type != exclude_type,
        col(Activity.deleted_at).is_(None),
        col(Activity.day) >= first,
        col(Activity.day) <= last,
    )
    amount, people = (await session.exec(query)).one()
    return int(amount), int(people)
