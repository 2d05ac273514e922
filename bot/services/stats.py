"""Statistics for admins and liaisons: periods, scoping, and the aggregates behind /stats.

Everything is summed in SQL (GROUP BY type and day, GROUP BY org), so a subtree of thousands of
orgs and hundreds of thousands of activities costs two scans of the (org_id, day) index; months
are folded in Python from the per-day rows, which reads the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people, when
from bot.services.activities import BY_KEY, PUSH_TYPE, unit_of
from bot.services.errors import UserError
from storage import orgs_repo, users_repo
from storage.activity_models import Activity
from storage.models import Org
from storage.task_models import ReportSubmission, ReportTask, TaskCycle, TaskTarget

TOP_ORGS = 10
PERIOD_KINDS = ("month", "quarter", "year")


class StatsError(UserError):
    """A refusal with a message key (and parameters) for the user."""


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """An inclusive range of days and how it was chosen (month, quarter, year, custom …)."""

    start: date
    end: date
    kind: str = "custom"

    def months(self) -> list[str]:
        """Every month the period touches, as ``YYYY-MM``."""
        months, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def period_of(kind: str, today: date) -> Period:
    """This month, this quarter or this year, up to today."""
    if kind not in PERIOD_KINDS:
        raise StatsError("stats.bad_period")
    return Period(*when.this_period(kind, today), kind)


def last_month(today: date) -> Period:
    """The whole calendar month before today's."""
    return Period(*when.last_period("month", today), "last_month")


def typed_period(text: str, today: date) -> Period:
    """A range typed after /stats or /export or into 自定义, as the one reader takes it
    (`bot.services.when.read_span`); its refusals are `when.WhenError`s."""
    span = when.read_span(text, today)
    return Period(span.first, span.last, "custom")


# --- scope -----------------------------------------------------------------------------------


async def org_in_scope(session: AsyncSession, scope: people.Scope, org_id: int | None) -> Org:
    """The org to report on: ``org_id`` when the scope covers it, else the scope's own org."""
    if org_id is None:
        if scope.org is None:
            raise StatsError("stats.pick_org")
        return scope.org
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None or not scope.covers(org):
        raise StatsError("stats.not_your_org")
    return org


async def export_org(
    session: AsyncSession, scope: people.Scope | None, org_id: int | None
) -> Org | None:
    """The org whose subtree an export covers, checked against the scope (again) when it is
    written: None, everything, only for a superadmin; an org gone meanwhile is refused too."""
    if scope is None:
        raise StatsError("stats.admins_only")
    if org_id is None:
        if scope.org is not None:
            raise StatsError("stats.not_your_org")
        return None
    return await org_in_scope(session, scope, org_id)


async def export_org_of(
    session: AsyncSession, telegram_id: int, superadmin: bool, org_id: int | None
) -> Org | None:
    """`export_org` for a person by Telegram id, read afresh in the export's own transaction."""
    user = await users_repo.get_user(session=session, telegram_id=telegram_id)
    scope = await people.admin_scope(session, user, superadmin)
    return await export_org(session, scope, org_id)


def in_subtree(org: Org | None) -> list[Any]:
    if org is None:  # everything (a superadmin, or the CLI with --all)
        return []
    return [col(Activity.org_id).in_(select(Org.id).where(col(Org.path).startswith(org.path)))]


def alive_between(period: Period) -> list[Any]:
    return [
        col(Activity.deleted_at).is_(None),
        col(Activity.day) >= period.start,
        col(Activity.day) <= period.end,
    ]


# --- aggregates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeTotal:
    """One activity type: records, the amount in its unit (场/期/项/篇次), participants."""

    type: str
    unit: str
    count: int
    amount: int
    participants: int


@dataclass(frozen=True)
class OrgTotal:
    """One org's activities (pushes not counted) and participants."""

    org_id: int
    name: str
    count: int
    participants: int


@dataclass(frozen=True)
class TaskRates:
    """Report cycles due in the period: expected reports, on time, late, missing."""

    cycles: int
    expected: int
    on_time: int
    late: int

    @property
    def missing(self) -> int:
        """Reports not handed in."""
        return max(self.expected - self.on_time - self.late, 0)

    @property
    def rate(self) -> float:
        """Share of expected reports handed in (late ones included), 0..1."""
        return (self.on_time + self.late) / self.expected if self.expected else 0.0


@dataclass
class Stats:
    """What /stats shows for an org subtree over a period."""

    org_id: int | None
    org_name: str
    period: Period
    by_type: list[TypeTotal] = field(default_factory=list)  # pushes excluded, biggest first
    by_month: dict[str, int] = field(default_factory=dict)  # YYYY-MM → activities, zeros kept
    top_orgs: list[OrgTotal] = field(default_factory=list)
    activities: int = 0
    participants: int = 0
    pushes: int = 0  # 篇次
    active_orgs: int = 0
    orgs: int = 0
    tasks: TaskRates | None = None

    @property
    def empty(self) -> bool:
        """Nothing was logged in the period."""
        return self.activities == 0 and self.pushes == 0


async def compute(
    session: AsyncSession, *, org: Org | None, period: Period, now: datetime, tz: ZoneInfo
) -> Stats:
    """Every figure of /stats for ``org``'s subtree (None: everything) over ``period``."""
    stats = Stats(org.id if org else None, org.name if org else "", period)
    _fold_days(stats, await _type_day_rows(session, org, period))
    await _fold_orgs(session, stats, org, period)
    stats.orgs = await _count_orgs(session, org)
    stats.tasks = await task_rates(session, org=org, period=period, now=now, tz=tz)
    return stats


async def _type_day_rows(session: AsyncSession, org: Org | None, period: Period) -> list[Any]:
    query = (
        select(
            Activity.type,
            Activity.day,
            func.count(),
            func.sum(Activity.amount),
            func.sum(func.coalesce(Activity.participants, 0)),
        )
        .where(*alive_between(period), *in_subtree(org))
        .group_by(col(Activity.type), col(Activity.day))
    )
    return list((await session.exec(query)).all())


def _fold_days(stats: Stats, rows: list[Any]) -> None:
    by_month = dict.fromkeys(stats.period.months(), 0)
    types: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for kind, day, count, amount, participants in rows:
        if kind == PUSH_TYPE:
            stats.pushes += int(amount or 0)
            continue
        totals = types[kind]
        totals[0] += count
        totals[1] += int(amount or 0)
        totals[2] += int(participants or 0)
        by_month[_month_of(day)] = by_month.get(_month_of(day), 0) + count
    stats.by_month = by_month
    stats.by_type = sorted(
        (TypeTotal(k, unit_of(k), c, a, p) for k, (c, a, p) in types.items()),
        key=lambda total: (-total.count, type_order(total.type)),
    )
    stats.activities = sum(t.count for t in stats.by_type)
    stats.participants = sum(t.participants for t in stats.by_type)


def _month_of(day: date | str) -> str:
    # SQLite hands a grouped date back as a date; be lenient with a plain string all the same.
    return day.strftime("%Y-%m") if isinstance(day, date) else str(day)[:7]


def type_order(kind: str) -> int:
    """Where a type stands in the form's list (for stable ordering of equal counts)."""
    keys = list(BY_KEY)
    return keys.index(kind) if kind in keys else len(keys)


async def _fold_orgs(session: AsyncSession, stats: Stats, org: Org | None, period: Period) -> None:
    not_push = col(Activity.type) != PUSH_TYPE
    query = (
        select(
            Activity.org_id,
            func.sum(case((not_push, 1), else_=0)),
            func.sum(case((not_push, func.coalesce(Activity.participants, 0)), else_=0)),
        )
        .where(*alive_between(period), *in_subtree(org))
        .group_by(col(Activity.org_id))
    )
    rows = [(org_id, int(n or 0), int(p or 0)) for org_id, n, p in await session.exec(query)]
    stats.active_orgs = len(rows)
    top = sorted((r for r in rows if r[1]), key=lambda r: (-r[1], r[0]))[:TOP_ORGS]
    names = await _names(session, [r[0] for r in top])
    stats.top_orgs = [OrgTotal(i, names.get(i, str(i)), n, p) for i, n, p in top]


async def _names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.exec(select(Org.id, Org.name).where(col(Org.id).in_(ids)))
    return {org_id: name for org_id, name in rows}


async def _count_orgs(session: AsyncSession, org: Org | None) -> int:
    query = select(func.count()).select_from(Org)
    if org is not None:
        query = query.where(col(Org.path).startswith(org.path))
    return int((await session.exec(query)).one())


# --- report tasks ----------------------------------------------------------------------------


async def task_rates(
    session: AsyncSession, *, org: Org | None, period: Period, now: datetime, tz: ZoneInfo
) -> TaskRates | None:
    """Report cycles whose deadline fell in the period (and has passed); None without any.

    Each (cycle, target org in the subtree) expects one report; the current submission (not
    superseded) decides on time or late, and no submission is missing.
    """
    since = datetime.combine(period.start, time.min, tz)
    until = min(datetime.combine(period.end + timedelta(days=1), time.min, tz), now)
    due = (
        select(col(TaskCycle.id).label("cycle_id"), col(TaskTarget.org_id).label("org_id"))
        .join(TaskTarget, col(TaskTarget.task_id) == col(TaskCycle.task_id))
        .join(ReportTask, col(ReportTask.id) == col(TaskCycle.task_id))
        .where(
            col(TaskCycle.deadline) >= since,
            col(TaskCycle.deadline) < until,
            col(ReportTask.deleted_at).is_(None),
        )
    )
    if org is not None:
        due = due.join(Org, col(Org.id) == col(TaskTarget.org_id)).where(
            col(Org.path).startswith(org.path)
        )
    rows = due.subquery()
    current = (
        (col(ReportSubmission.cycle_id) == rows.c.cycle_id)
        & (col(ReportSubmission.org_id) == rows.c.org_id)
        & col(ReportSubmission.superseded_at).is_(None)
    )
    late = col(ReportSubmission.late)
    query = select(
        func.count(func.distinct(rows.c.cycle_id)),
        func.count(),
        func.sum(case((late.is_(False), 1), else_=0)),
        func.sum(case((late.is_(True), 1), else_=0)),
    ).select_from(rows.outerjoin(ReportSubmission, current))
    cycles, expected, on_time, late_count = (await session.exec(query)).one()
    if not expected:
        return None
    return TaskRates(int(cycles), int(expected), int(on_time or 0), int(late_count or 0))


# --- a liaison's month -----------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    """One org's own figures for one period: records by type, participants, pushes."""

    period: Period
    by_type: dict[str, TypeTotal]  # records, amount in the type's unit, participants
    activities: int
    participants: int
    pushes: int


async def own_org_month(session: AsyncSession, *, org_id: int, period: Period) -> MonthFigures:
    """The org's own activities (not its subtree's) in a period."""
    query = (
        select(
            Activity.type,
            func.count(),
            func.sum(Activity.amount),
            func.sum(func.coalesce(Activity.participants, 0)),
        )
        .where(*alive_between(period), Activity.org_id == org_id)
        .group_by(col(Activity.type))
    )
    by_type: dict[str, TypeTotal] = {}
    pushes = 0
    for kind, count, amount, people_count in await session.exec(query):
        if kind == PUSH_TYPE:
            pushes += int(amount or 0)
            continue
        by_type[kind] = TypeTotal(
            kind, unit_of(kind), int(count), int(amount or 0), int(people_count or 0)
        )
    totals = by_type.values()
    return MonthFigures(
        period,
        by_type,
        sum(t.count for t in totals),
        sum(t.participants for t in totals),
        pushes,
    )


async def child_orgs(
    session: AsyncSession, *, org: Org | None, offset: int, limit: int
) -> tuple[list[Org], int]:
    """One page of an org's direct children (the roots for None), and how many there are."""
    where = Org.parent_id == org.id if org is not None else col(Org.parent_id).is_(None)
    total = int((await session.exec(select(func.count()).select_from(Org).where(where))).one())
    if limit <= 0 or not total:
        return [], total
    query = select(Org).where(where).order_by(col(Org.name), col(Org.id))
    return list((await session.exec(query.offset(offset).limit(limit))).all()), total
