"""/mylogs searches over a big tree: the data of benchmarks/stats.py (200,000 activities).

    python benchmarks/mylogs_search.py [--activities 200000] [--repeat 5]
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/mylogs_search.py

Times one result page (the count and the page's five rows, as /mylogs shows them) of: the
province admin's whole list; a province admin's keyword that matches one record (every row of
the subtree is read), a keyword that names a type (全国科普日), a month; a city admin's keyword;
a liaison's keyword in their own records. CPU seconds (time.process_time) and wall seconds,
the best and the median of ``--repeat`` runs, in one process after a warm-up query.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stats import FIRST_USER, TODAY, fill, on_each_database  # noqa: E402
from bot.services import activities as svc  # noqa: E402
from bot.services import activity_search as search  # noqa: E402
from bot.services.people import Scope  # noqa: E402
from storage import orgs_repo  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402

CASES = (
    ("province, no search (the plain list)", 1, ""),
    ("province, keyword of one record", 1, "第123456场"),
    ("province, a type's name", 1, "科普日"),
    ("province, a month", 1, "3月"),
    ("one city, keyword of one record", 2, "第123456场"),
    ("a liaison's own, keyword", None, "科普日"),
)


async def _page(sessions, org_id: int | None, text: str) -> int:
    match = search.as_match(search.read_query(text, TODAY)) if text else None
    async with transaction(sessions) as session:
        if org_id is None:
            page = await svc.my_page(session, FIRST_USER + 7, 0, match)
        else:
            org = await orgs_repo.get_org(session=session, org_id=org_id)
            page = await svc.org_page(session, Scope(org), 0, match)
    return page.total


async def measure(url: str, repeat: int) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    await _page(sessions, 1, "warm-up")
    for label, org_id, text in CASES:
        cpu, wall = [], []
        for _ in range(repeat):
            started = time.process_time(), time.perf_counter()
            total = await _page(sessions, org_id, text)
            cpu.append(time.process_time() - started[0])
            wall.append(time.perf_counter() - started[1])
        print(
            f"  {label:<37} {total:>7,} found   CPU best {min(cpu) * 1000:6.1f} ms, median "
            f"{statistics.median(cpu) * 1000:6.1f} ms; wall median "
            f"{statistics.median(wall) * 1000:6.1f} ms"
        )
    await engine.dispose()


def run(name: str, url: str, args: argparse.Namespace) -> None:
    asyncio.run(fill(url, args.orgs, args.activities))
    print(f"{name}: {args.activities:,} activities in {args.orgs:,} orgs")
    asyncio.run(measure(url, args.repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--orgs", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    on_each_database(run, parser.parse_args())


if __name__ == "__main__":
    main()
