"""A task's submissions as an Excel workbook: 汇总 first, then a sheet per cycle with a row per
target org. Rows stream through the project's SpreadsheetML writer (bot/services/xlsx_stream.py),
so 10,000 orgs take a fraction of openpyxl's time and flat memory."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import DEFAULT_LOCALE, t
from bot.services import xlsx_stream
from bot.services.orgs import PATH_SEPARATOR
from bot.services.people import Scope
from storage import tasks_repo
from storage.models import Org
from storage.task_models import ReportSubmission, ReportTask, TaskCycle

FIXED_COLUMNS = ("org", "org_path", "state", "submitted_at", "late")
SUMMARY_COLUMNS = ("cycle", "deadline", "expected", "on_time", "late", "missing")
STATES = ("submitted", "late", "missing")
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
CELL_MAX = xlsx_stream.CELL_MAX
ORG_WIDTHS = (24, 40, 10, 17, 9)


class ExportError(ValueError):
    """The task to export does not exist."""


class Words:
    """The workbook's headers and labels in one language."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.fixed = [t(locale, f"task_export.col.{name}") for name in FIXED_COLUMNS]
        self.summary = [t(locale, f"task_export.summary_col.{name}") for name in SUMMARY_COLUMNS]
        self.states = {state: t(locale, f"task_export.state.{state}") for state in STATES}
        self.yes, self.no = t(locale, "task_export.yes"), t(locale, "task_export.no")

    def sheet(self, cycle: TaskCycle, cycles: int) -> str:
        """A cycle's sheet name: 报送情况 for a one-off task, 第N期 for each of several."""
        if cycles == 1:
            return t(self.locale, "task_export.sheet.single")
        return t(self.locale, "task_export.sheet.cycle", seq=cycle.seq)


async def task_workbook(
    session: AsyncSession,
    task_id: int,
    scope: Scope | None,
    tz: ZoneInfo = DEFAULT_TZ,
    locale: str = DEFAULT_LOCALE,
) -> bytes:
    """The .xlsx bytes: 汇总 (a row per cycle), then a sheet per cycle (a row per org in scope).

    Headers, sheet names and states are in ``locale``; the task's own section and indicator
    names are its issuer's words and stay as they are.
    """
    task = await session.get(ReportTask, task_id)  # a withdrawn task can still be exported
    if task is None:
        raise ExportError(f"no task {task_id}")
    orgs = await _target_orgs(session, task_id, scope)
    cycles = list(await tasks_repo.cycles_of(session=session, task_id=task_id))
    out = io.BytesIO()
    book = xlsx_stream.Workbook(out)
    try:
        await _fill(session, book, task, orgs, cycles, tz, Words(locale))
        book.close()
    except BaseException:
        book.abort()
        raise
    return out.getvalue()


async def _fill(
    session: AsyncSession,
    book: xlsx_stream.Workbook,
    task: ReportTask,
    orgs: list[Org],
    cycles: list[TaskCycle],
    tz: ZoneInfo,
    words: Words,
) -> None:
    summary = book.sheet(t(words.locale, "task_export.sheet.summary"), (8, 17, 8, 10, 10, 8))
    summary.header([*words.summary, *task.indicators])
    for cycle in cycles:  # the totals come first, so they are counted in a light pass
        figures = await tasks_repo.submission_figures(session=session, cycle_id=cycle.id)  # type: ignore[arg-type]
        summary.rows([_summary_row(task, cycle, orgs, figures, tz)])
    paths = await _paths(session, orgs)
    for cycle in cycles:
        sheet = book.sheet(words.sheet(cycle, len(cycles)), ORG_WIDTHS)
        sheet.header([*words.fixed, *task.sections, *task.indicators])
        current = await tasks_repo.current_submissions(session=session, cycle_id=cycle.id)  # type: ignore[arg-type]
        by_org = {row.org_id: row for row in current}
        sheet.rows(_org_rows(task, orgs, paths, by_org, tz, words))


async def _target_orgs(session: AsyncSession, task_id: int, scope: Scope | None) -> list[Org]:
    ids = await tasks_repo.target_ids(session=session, task_id=task_id)
    rows = (await session.exec(select(Org).where(col(Org.id).in_(ids)))).all()
    inside = [org for org in rows if scope is None or scope.covers(org)]
    return sorted(inside, key=lambda org: org.path)


async def _paths(session: AsyncSession, orgs: Sequence[Org]) -> dict[int, str]:
    """Each org's 'root › … › org', with every ancestor loaded in one query."""
    chains = {org.id: [int(p) for p in org.path.strip("/").split("/") if p] for org in orgs}
    wanted = {i for chain in chains.values() for i in chain}
    rows = (await session.exec(select(Org).where(col(Org.id).in_(wanted)))).all()
    names = {org.id: org.name for org in rows}
    return {
        org_id: PATH_SEPARATOR.join(names[i] for i in chain if i in names)  # type: ignore[misc]
        for org_id, chain in chains.items()
    }


def _org_rows(
    task: ReportTask,
    orgs: Sequence[Org],
    paths: dict[int, str],
    by_org: dict[int, ReportSubmission],
    tz: ZoneInfo,
    words: Words,
) -> Iterator[list[Any]]:
    for org in orgs:
        row = by_org.get(org.id)  # type: ignore[arg-type]
        if row is None:
            yield [org.name, paths.get(org.id, org.name), words.states["missing"]]  # type: ignore[arg-type]
            continue
        yield [
            org.name,
            paths.get(org.id, org.name),  # type: ignore[arg-type]
            words.states["late" if row.late else "submitted"],
            _local(row.submitted_at, tz),
            words.yes if row.late else words.no,
            *[row.sections.get(name, "")[:CELL_MAX] for name in task.sections],
            *[int(row.indicators.get(name, 0)) for name in task.indicators],
        ]


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    """Local wall time, as Excel has no time zones."""
    return moment.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)


def _summary_row(
    task: ReportTask,
    cycle: TaskCycle,
    orgs: Sequence[Org],
    figures: dict[int, tuple[bool, dict[str, Any]]],
    tz: ZoneInfo,
) -> list[Any]:
    done = [figures[org.id] for org in orgs if org.id in figures]
    late = sum(1 for is_late, _ in done if is_late)
    totals = [sum(int(values.get(name, 0)) for _, values in done) for name in task.indicators]
    return [
        cycle.seq,
        _local(cycle.deadline, tz),
        len(orgs),
        len(done) - late,
        late,
        len(orgs) - len(done),
        *totals,
    ]
