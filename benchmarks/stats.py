"""Time /stats and /export over a big tree: 200,000 activities in 5,000 orgs (by default).

    python benchmarks/stats.py                       # SQLite (a temporary file)
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/stats.py

The data is bulk-inserted once (a province, cities, counties and enterprises; a year of
activities of every type, pushes included, logged by 3,000 named users, every tenth one since
edited by another of them). Each measurement then runs in a fresh child process
that imports everything first and measures only the work: wall and CPU seconds, and the
process's peak resident memory (ru_maxrss, imports included; its value after the imports is
printed too). /stats is `stats.compute` plus drawing its charts; /export is `write_activities`
to a file. With ``STABOT_BENCH_DATABASE_URL`` set, PostgreSQL is measured too: use a throw-away
database (the script empties the tables it fills).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, text

from bot.config import async_database_url
from bot.services import charts, exports, stats
from bot.services.activities import AUDIENCES, TYPES, unit_of
from storage.activity_models import Activity
from storage.db import create_engine, reading_factory, session_factory, transaction
from storage.migrate import upgrade_to_head
from storage.models import Org, OrgLevel, User

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
TODAY = date(2026, 3, 16)
TZ = ZoneInfo("Asia/Shanghai")
YEAR = stats.Period(date(2025, 3, 17), TODAY)  # the last twelve months: every row counts
CHUNK = 5_000
USERS = 3_000
FIRST_USER = 10_000
EDITED_EVERY = 10
KINDS = [t.key for t in TYPES] + ["push"] * 3  # pushes are daily, so they are common


def _tree(count: int) -> list[dict[str, Any]]:
    """A province, 12 cities, about 100 counties, and enterprises under the counties."""
    rows = [_org(1, "内蒙古自治区科协", OrgLevel.PROVINCE, None, "/1/")]
    cities = list(range(2, 14))
    for i in cities:
        rows.append(_org(i, f"第{i}市科协", OrgLevel.CITY, 1, f"/1/{i}/"))
    counties = list(range(14, min(count, 114) + 1))
    for i in counties:
        city = cities[i % len(cities)]
        rows.append(_org(i, f"第{i}旗县区科协", OrgLevel.COUNTY, city, f"/1/{city}/{i}/"))
    for i in range(counties[-1] + 1, count + 1):
        county = counties[i % len(counties)]
        parent = rows[county - 1]["path"]
        rows.append(_org(i, f"第{i}企业科协", OrgLevel.ENTERPRISE, county, f"{parent}{i}/"))
    return rows


def _org(i: int, name: str, level: OrgLevel, parent: int | None, path: str) -> dict[str, Any]:
    return {"id": i, "name": name, "level": level.value, "parent_id": parent, "path": path,
            "created_at": NOW}  # fmt: skip


def _activities(count: int, orgs: int, rng: random.Random) -> Any:
    for i in range(1, count + 1):
        kind = rng.choice(KINDS)
        push = kind == "push"
        yield {
            "id": i, "type": kind, "type_other": "科普大篷车" if kind == "other" else None,
            "title": "" if push else f"科技助力乡村振兴科普活动第{i}场",
            "day": TODAY - timedelta(days=rng.randrange(365)), "place": None if push else "社区",
            "org_id": rng.randint(1, orgs), "participants": None if push else rng.randint(5, 500),
            "audience": [] if push else rng.sample(AUDIENCES, 2),
            "summary": None if push else "讲解了节能知识和防诈骗常识，发放宣传资料。",
            "photos": [] if push else [f"photo-{i}-{n}" for n in range(rng.randint(0, 3))],
            "unit": unit_of(kind), "amount": rng.randint(1, 10) if push else 1,
            "created_by": FIRST_USER + i % USERS, "created_at": NOW,
            "updated_by": FIRST_USER + (i * 7) % USERS if i % EDITED_EVERY == 0 else None,
            "updated_at": NOW if i % EDITED_EVERY == 0 else None,
        }  # fmt: skip


def _users(orgs: int) -> list[dict[str, Any]]:
    return [
        {"telegram_id": FIRST_USER + n, "real_name": f"用户{n}", "org_id": 1 + n % orgs,
         "role": "liaison", "active": True, "blocked_bot": False, "created_at": NOW}
        for n in range(USERS)
    ]  # fmt: skip


async def fill(url: str, orgs: int, count: int) -> None:
    """Migrate, empty and fill the database."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    rng = random.Random(7)
    async with engine.begin() as connection:
        await connection.execute(delete(Activity))
        await connection.execute(delete(User))
        await connection.execute(text("DELETE FROM org WHERE id > 0"))  # no FK cascades needed
        await connection.execute(insert(Org), _tree(orgs))
        await connection.execute(insert(User), _users(orgs))
        batch: list[dict[str, Any]] = []
        for row in _activities(count, orgs, rng):
            batch.append(row)
            if len(batch) == CHUNK:
                await connection.execute(insert(Activity), batch)
                batch = []
        if batch:
            await connection.execute(insert(Activity), batch)
        if engine.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT setval('org_id_seq', (SELECT max(id) FROM org))")
            )
            await connection.execute(text("ANALYZE"))
    await engine.dispose()


# --- one measurement (in a child process) ----------------------------------------------------


async def _stats(url: str, org_id: int, out: Path) -> dict[str, Any]:
    from bot.flows.stats import charts as chart_specs
    from bot.telegram.handlers.stats import _draw

    engine = create_engine(url)
    async with transaction(session_factory(engine)) as session:
        org = await session.get(Org, org_id)
        started = time.perf_counter(), time.process_time()
        figures = await stats.compute(session, org=org, period=YEAR, now=NOW, tz=TZ)
    queried = time.perf_counter()
    images = [_draw(chart, "zh_CN") for chart in chart_specs(figures)]
    await engine.dispose()
    return {"sql_s": queried - started[0], "charts": len(images),
            "activities": figures.activities, **_since(started)}  # fmt: skip


async def _export(url: str, org_id: int, out: Path) -> dict[str, Any]:
    engine = create_engine(url)
    async with transaction(reading_factory(engine)) as session:  # as the bot does it
        org = await session.get(Org, org_id)
        started = time.perf_counter(), time.process_time()
        totals = await exports.write_activities(
            session, org=org, period=YEAR, target=out, locale="zh_CN", tz=TZ,
            offload=exports.offload_to_thread,
        )  # fmt: skip
    await engine.dispose()
    return {"rows": totals.rows, "mb": out.stat().st_size / 2**20, **_since(started)}


def _since(started: tuple[float, float]) -> dict[str, float]:
    return {"wall_s": time.perf_counter() - started[0], "cpu_s": time.process_time() - started[1]}


def measure(args: argparse.Namespace) -> None:
    """Child process: run one scenario and print its figures as JSON."""
    charts.render(charts.Chart("bar", "预热", ["科普"], [1]))  # import matplotlib and the font
    work = _stats if args.measure == "stats" else _export
    baseline = _peak_rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(work(args.url, args.org, Path(folder) / "out.xlsx"))
    figures["rss_after_imports_mb"] = baseline
    figures["rss_peak_mb"] = _peak_rss_mb()
    print(json.dumps(figures))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(url: str, scenario: str, org_id: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", scenario, "--url", url, "--org", str(org_id)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(name: str, url: str, args: argparse.Namespace) -> None:
    """Fill one database, then measure each scenario in its own process."""
    began = time.perf_counter()
    asyncio.run(fill(url, args.orgs, args.activities))
    print(f"{name}: filled {args.activities:,} activities in {args.orgs:,} orgs "
          f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
    for scenario, org_id, label in (
        ("stats", 1, "whole province"),
        ("stats", 2, "one city"),
        ("export", 1, "whole province"),
        ("export", 2, "one city"),
    ):
        for _ in range(args.repeat):
            figures = _child(url, scenario, org_id)
            print(f"{name}  /{scenario:<6} {label:<15} " + json.dumps(_rounded(figures)))


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}


def main() -> None:
    """Measure on SQLite, and on PostgreSQL when STABOT_BENCH_DATABASE_URL is set."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--orgs", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--measure", choices=("stats", "export"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--org", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return
    on_each_database(run, args)


def on_each_database(run: Any, args: argparse.Namespace) -> None:
    """``run(name, url, args)`` on a temporary SQLite file, then on STABOT_BENCH_DATABASE_URL."""
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        run("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", args)
    pg = os.environ.get("STABOT_BENCH_DATABASE_URL")
    if pg:
        run("postgresql", async_database_url(pg), args)
    else:
        print("postgresql  skipped (set STABOT_BENCH_DATABASE_URL)")


if __name__ == "__main__":
    main()
