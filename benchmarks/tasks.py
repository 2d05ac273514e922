"""Report tasks at province scale: publish to 10,000 orgs, submit, the board, the .xlsx export.

    python benchmarks/tasks.py [--orgs 10000] [--submit 500]
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/tasks.py

Measures, on a fresh SQLite file (and on PostgreSQL when ``STABOT_BENCH_DATABASE_URL`` names a
throw-away database): publishing one task to a subtree of ``--orgs`` orgs with one liaison
each (targets + first cycle, one transaction); counting its recipients; ``--submit`` reports
submitted one per transaction, as liaisons do (the rest are bulk-inserted); the status board
of the whole subtree; the export workbook of all rows, with its peak Python memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, update
from sqlmodel import col

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import async_database_url  # noqa: E402
from bot.services import task_export  # noqa: E402
from bot.services import tasks as svc  # noqa: E402
from bot.services.people import Scope  # noqa: E402
from storage.db import SessionFactory, create_engine, session_factory, transaction  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402
from storage.models import Org, OrgLevel, Role, User  # noqa: E402
from storage.task_models import ReportSubmission  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
CHUNK = 1000
TEXT = "建立联络员例会制度，每月走访企业，开展科普讲座和科技志愿服务。" * 5


async def _tree(sessions: SessionFactory, count: int, now: datetime, tag: str) -> Org:
    """A city with ``count`` enterprise associations under it."""
    async with transaction(sessions) as session:
        root = Org(name=f"基准市科协{tag}", level=OrgLevel.CITY, created_at=now)
        session.add(root)
        await session.flush()
        root.path = f"/{root.id}/"
        rows = [
            {
                "name": f"基准{tag}-{i}",
                "level": OrgLevel.ENTERPRISE.value,
                "parent_id": root.id,
                "path": "",
                "created_at": now,
            }
            for i in range(count)
        ]
        for start in range(0, count, CHUNK):
            await session.exec(insert(Org).values(rows[start : start + CHUNK]))  # type: ignore[call-overload]
        path = text(f"'{root.path}' || CAST(id AS TEXT) || '/'")
        await session.exec(update(Org).where(col(Org.parent_id) == root.id).values(path=path))  # type: ignore[call-overload]
        return root


async def _people(sessions: SessionFactory, root: Org, now: datetime, base: int) -> User:
    """One liaison per org, and the city's admin."""
    async with transaction(sessions) as session:
        found = await session.exec(
            text("SELECT id FROM org WHERE parent_id = :p ORDER BY id"), params={"p": root.id}
        )
        rows = [
            {
                "telegram_id": base + i,
                "org_id": org_id,
                "role": Role.LIAISON.value,
                "active": True,
                "blocked_bot": False,
                "registered_at": now,
                "created_at": now,
            }
            for i, (org_id,) in enumerate(found.all())
        ]
        for start in range(0, len(rows), CHUNK):
            await session.exec(insert(User).values(rows[start : start + CHUNK]))  # type: ignore[call-overload]
        admin = User(
            telegram_id=base - 1,
            org_id=root.id,
            role=Role.ADMIN,
            active=True,
            registered_at=now,
            created_at=now,
        )
        session.add(admin)
        await session.flush()
        return admin


async def _timed(label: str, results: dict[str, float], work):
    started = time.perf_counter()
    value = await work()
    results[label] = time.perf_counter() - started
    return value


async def run(url: str, orgs: int, submit: int) -> dict[str, float]:
    """All measurements on one database."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = session_factory(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    tag = now.strftime("%H%M%S")
    base = 7_000_000_000 + int(now.timestamp()) % 1_000_000 * 20_000
    root = await _tree(sessions, orgs, now, tag)
    admin = await _people(sessions, root, now, base)
    scope, results = Scope(root), {}

    async def publish():
        async with transaction(sessions) as session:
            ids = await svc.subtree_org_ids(session, scope)
            draft = svc.TaskDraft(title="基准任务", deadline=now + timedelta(days=14), org_ids=ids)
            task = await svc.publish_task(session, draft, actor=admin, scope=scope, now=now, tz=TZ)
            return task, (await svc.open_cycles(session, now))[-1], ids

    task, cycle, ids = await _timed("publish", results, publish)

    async def count():
        async with transaction(sessions) as session:
            return await svc.count_recipients(session, ids)

    assert await _timed("count recipients", results, count) == orgs + 1  # + the admin
    await _timed(
        "submit one by one", results, lambda: _submit(sessions, cycle.id, base, submit, now)
    )
    reported = submit + await _bulk_submissions(sessions, cycle.id, base, now)

    async def board():
        async with transaction(sessions) as session:
            return await svc.cycle_status(session, cycle.id, scope)

    status = await _timed("board (cycle_status)", results, board)
    assert len(status.submitted) == reported and len(status.missing) == len(ids) - reported

    async def export():
        async with transaction(sessions) as session:
            return await task_export.task_workbook(session, task.id, scope, TZ)

    data = await _timed("export .xlsx", results, export)
    tracemalloc.start()  # a second export, traced: tracing slows it, so it is not timed
    await export()
    results["export peak MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
    results["export size MiB"] = len(data) / 2**20
    tracemalloc.stop()
    results["submit per report ms"] = results["submit one by one"] / max(submit, 1) * 1000
    await engine.dispose()
    return results


async def _submit(sessions: SessionFactory, cycle_id: int, base: int, n: int, now: datetime):
    for i in range(n):
        async with transaction(sessions) as session:
            user = await session.exec(
                text("SELECT id FROM tg_user WHERE telegram_id = :t"), params={"t": base + i}
            )
            liaison = await session.get(User, user.one()[0])
            await svc.submit_report(
                session,
                cycle_id=cycle_id,
                user=liaison,
                sections={"工作抓手": TEXT},
                indicators={"活动场次": 3},
                attachments=[],
                now=now,
            )


async def _bulk_submissions(
    sessions: SessionFactory, cycle_id: int, base: int, now: datetime
) -> int:
    """Nine in ten of the orgs still missing have reported (the rest stay missing)."""
    async with transaction(sessions) as session:
        pending = await svc.pending_org_ids(session, cycle_id)
    keep = pending[: len(pending) * 9 // 10]
    rows = [
        {
            "cycle_id": cycle_id,
            "org_id": org_id,
            "submitted_by": base,
            "submitted_at": now,
            "late": False,
            "sections": {"工作抓手": TEXT},
            "indicators": {"活动场次": 2},
            "attachments": [],
            "version": 1,
        }
        for org_id in keep
    ]
    async with transaction(sessions) as session:
        for start in range(0, len(rows), CHUNK):
            await session.exec(insert(ReportSubmission).values(rows[start : start + CHUNK]))  # type: ignore[call-overload]
    return len(rows)


def main() -> None:
    """Run on SQLite, and on PostgreSQL when configured; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--submit", type=int, default=500)
    args = parser.parse_args()
    targets = {}
    with tempfile.TemporaryDirectory() as folder:
        targets["sqlite"] = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        if os.environ.get("STABOT_BENCH_DATABASE_URL"):
            targets["postgresql"] = async_database_url(os.environ["STABOT_BENCH_DATABASE_URL"])
        for name, url in targets.items():
            results = asyncio.run(run(url, args.orgs, args.submit))
            print(f"== {name}: {args.orgs} orgs, {args.submit} reports submitted one by one")
            for label, value in results.items():
                print(
                    f"{label:>24}: {value:8.2f}{'' if 'MiB' in label or 'ms' in label else ' s'}"
                )


if __name__ == "__main__":
    main()
