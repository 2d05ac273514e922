"""Reminders for 10,000 orgs due in the same minute: time until all are handed to the sender.

"Handed to the sender" means what the per-minute job does: find the open cycles, their pending
orgs and recipients, and write one ``pending`` ledger row per recipient (INSERT … ON CONFLICT
DO NOTHING), committed. Sending them is Telegram's rate limit (about 25/s), not measured here.
Then the next minute's dispatch (nothing left), and one after as many tasks again to as many
orgs nobody has joined: cycles that write no ledger row, so every minute looks at them again.

    python benchmarks/reminders.py                      # SQLite (a temporary file)
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/reminders.py

With ``STABOT_BENCH_DATABASE_URL`` set, PostgreSQL is measured too. Use a throw-away database:
the script migrates it and adds orgs, users and tasks (it drops nothing; each run uses its own
far-future dates and ids so earlier runs do not add to the work).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, update
from sqlmodel import col

from bot.config import async_database_url
from bot.services import reminders
from storage.db import SessionFactory, create_engine, session_factory, transaction
from storage.migrate import upgrade_to_head
from storage.models import Org, OrgLevel, Role, User
from storage.task_models import ReportTask, TaskCycle, TaskTarget

TZ = ZoneInfo("Asia/Shanghai")
CHUNK = 1000


def _moment(run: int) -> datetime:
    """09:00 local on a far-future Monday of its own for each run."""
    day = datetime(2300, 1, 2, 9, tzinfo=TZ) + timedelta(weeks=run)
    return day.astimezone(UTC)


async def _orgs(sessions: SessionFactory, count: int, now: datetime, tag: int) -> list[int]:
    async with transaction(sessions) as session:
        root = Org(name=f"基准科协{tag}", level=OrgLevel.CITY, created_at=now)
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
        # Materialised paths in one statement: parent path + own id (same SQL on both).
        path = text(f"'{root.path}' || CAST(id AS TEXT) || '/'")
        await session.exec(  # type: ignore[call-overload]
            update(Org).where(col(Org.parent_id) == root.id).values(path=path)
        )
        found = await session.exec(
            text("SELECT id FROM org WHERE parent_id = :p ORDER BY id"), params={"p": root.id}
        )
        return [int(row[0]) for row in found.all()]


async def _liaisons(
    sessions: SessionFactory, org_ids: list[int], now: datetime, base: int
) -> None:
    rows = [
        {
            "telegram_id": base + i,
            "org_id": org_id,
            "role": Role.LIAISON.value,
            "real_name": "联络员",
            "active": True,
            "blocked_bot": False,
            "registered_at": now,
            "created_at": now,
        }
        for i, org_id in enumerate(org_ids)
    ]
    async with transaction(sessions) as session:
        for start in range(0, len(rows), CHUNK):
            await session.exec(insert(User).values(rows[start : start + CHUNK]))  # type: ignore[call-overload]


async def _tasks(
    sessions: SessionFactory, org_ids: list[int], tasks: int, deadline: datetime, now: datetime
) -> None:
    """``tasks`` tasks sharing the orgs between them, all due the day after ``now`` (d1)."""
    share = -(-len(org_ids) // tasks)
    async with transaction(sessions) as session:
        for number in range(tasks):
            task = ReportTask(
                title=f"基准任务{number}",
                org_id=org_ids[0],
                created_by=1,
                created_at=now,
                updated_at=now,
            )
            session.add(task)
            await session.flush()
            session.add(
                TaskCycle(
                    task_id=task.id,
                    seq=1,
                    period_start=now.date(),  # type: ignore[arg-type]
                    period_end=deadline.date(),
                    deadline=deadline,
                )
            )
            targets = [
                {"task_id": task.id, "org_id": org_id}
                for org_id in org_ids[number * share : (number + 1) * share]
            ]
            for start in range(0, len(targets), CHUNK):
                await session.exec(insert(TaskTarget).values(targets[start : start + CHUNK]))  # type: ignore[call-overload]


async def _dispatch(sessions: SessionFactory, now: datetime, *, commit: bool) -> tuple[int, float]:
    began = time.perf_counter()
    async with sessions() as session:
        handed = await reminders.dispatch_due(session, reminders.Clocked(now, TZ))
        await (session.commit() if commit else session.rollback())
    return handed, time.perf_counter() - began


async def measure(url: str, orgs: int, tasks: int) -> str:
    """Set up, then time one hand-over of every due reminder; returns a line of figures."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = session_factory(engine)
    run = random.randrange(0, 5000)
    due = _moment(run)
    setup_at = due - timedelta(days=10)
    org_ids = await _orgs(sessions, orgs, setup_at, run)
    await _liaisons(sessions, org_ids, setup_at, random.randrange(10**10, 10**11))
    await _tasks(sessions, org_ids, tasks, due + timedelta(days=1, hours=9), setup_at)
    # Peak Python memory of the hand-over, in a pass that is rolled back (tracemalloc slows
    # everything down, so the timed pass below runs without it).
    tracemalloc.start()
    await _dispatch(sessions, due, commit=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    handed, seconds = await _dispatch(sessions, due, commit=True)
    again, quiet = await _dispatch(sessions, due + timedelta(minutes=1), commit=True)
    # As many orgs again that nobody has joined, asked by as many tasks: their cycles write
    # no row, so every minute looks at them again.
    empty_ids = await _orgs(sessions, orgs, setup_at, run + 10_000)
    await _tasks(sessions, empty_ids, tasks, due + timedelta(days=1, hours=9), setup_at)
    minutes = [await _dispatch(sessions, due + timedelta(minutes=m), commit=True) for m in (2, 3)]
    await engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{engine.dialect.name:<11} orgs={orgs} tasks={tasks} handed={handed} in {seconds:5.2f} s"
        f"  ({handed / seconds:,.0f}/s)  next minute: {again} more in {quiet * 1000:.0f} ms; "
        f"with {tasks} tasks to {orgs} empty orgs: {minutes[-1][0]} in "
        f"{minutes[-1][1] * 1000:.0f} ms  |  "
        f"hand-over peak (tracemalloc) {peak / 2**20:5.1f} MiB, process max RSS {rss:5.0f} MiB"
    )


async def main_async(orgs: int, tasks: int) -> None:
    """SQLite, then PostgreSQL when a URL is given."""
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        print(await measure(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", orgs, tasks))
    pg = os.environ.get("STABOT_BENCH_DATABASE_URL")
    if pg:
        print(await measure(async_database_url(pg), orgs, tasks))
    else:
        print("postgresql  skipped (set STABOT_BENCH_DATABASE_URL)")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000, help="orgs, one liaison each")
    parser.add_argument("--tasks", type=int, default=4, help="tasks sharing the orgs")
    args = parser.parse_args()
    asyncio.run(main_async(args.orgs, args.tasks))


if __name__ == "__main__":
    main()
