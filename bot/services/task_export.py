"""A task's submissions as an Excel workbook: one row per target org, and a 汇总 sheet."""

from __future__ import annotations

import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.orgs import PATH_SEPARATOR
from bot.services.people import Scope
from storage import tasks_repo
from storage.models import Org
from storage.task_models import ReportSubmission, ReportTask, TaskCycle

FIXED_HEADERS = ("组织", "组织路径", "状态", "提交时间", "是否逾期")
SUMMARY_HEADERS = ("周期", "截止时间", "应报", "按时提交", "逾期提交", "未提交")
STATE_WORDS = {"submitted": "已提交", "late": "逾期提交", "missing": "未提交"}
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
CELL_MAX = 32_767  # Excel's limit of characters in one cell


class ExportError(ValueError):
    """The task to export does not exist."""


async def task_workbook(
    session: AsyncSession, task_id: int, scope: Scope | None, tz: ZoneInfo = DEFAULT_TZ
) -> bytes:
    """The .xlsx bytes: a sheet per cycle (a row per target org in ``scope``) and 汇总."""
    task = await session.get(ReportTask, task_id)  # a withdrawn task can still be exported
    if task is None:
        raise ExportError(f"no task {task_id}")
    orgs = await _target_orgs(session, task_id, scope)
    paths = await _paths(session, orgs)
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    _header(summary, [*SUMMARY_HEADERS, *task.indicators])
    cycles = await tasks_repo.cycles_of(session=session, task_id=task_id)
    for cycle in cycles:
        title = "报送情况" if len(cycles) == 1 else f"第{cycle.seq}期"
        current = await tasks_repo.current_submissions(session=session, cycle_id=cycle.id)  # type: ignore[arg-type]
        by_org = {row.org_id: row for row in current}
        sheet = book.create_sheet(title)
        _cycle_sheet(sheet, task, orgs, paths, by_org, tz)
        summary.append(_summary_row(task, cycle, orgs, by_org, tz))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


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


def _header(sheet: Worksheet, headers: Sequence[str]) -> None:
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"


def _cycle_sheet(
    sheet: Worksheet,
    task: ReportTask,
    orgs: Sequence[Org],
    paths: dict[int, str],
    by_org: dict[int, ReportSubmission],
    tz: ZoneInfo,
) -> None:
    _header(sheet, [*FIXED_HEADERS, *task.sections, *task.indicators])
    for org in orgs:
        row = by_org.get(org.id)  # type: ignore[arg-type]
        state = "missing" if row is None else "late" if row.late else "submitted"
        sheet.append(
            [
                org.name,
                paths.get(org.id, org.name),  # type: ignore[arg-type]
                STATE_WORDS[state],
                row.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if row else "",
                ("是" if row.late else "否") if row else "",
                *[
                    (row.sections.get(name, "") if row else "")[:CELL_MAX]
                    for name in task.sections
                ],
                *[row.indicators.get(name, 0) if row else None for name in task.indicators],
            ]
        )
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 40


def _summary_row(
    task: ReportTask,
    cycle: TaskCycle,
    orgs: Sequence[Org],
    by_org: dict[int, ReportSubmission],
    tz: ZoneInfo,
) -> list[object]:
    done = [by_org[org.id] for org in orgs if org.id in by_org]
    late = sum(1 for row in done if row.late)
    totals = [sum(int(row.indicators.get(name, 0)) for row in done) for name in task.indicators]
    return [
        cycle.seq,
        cycle.deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        len(orgs),
        len(done) - late,
        late,
        len(orgs) - len(done),
        *totals,
    ]
