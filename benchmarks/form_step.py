"""Time one step of the activity form through the real Application (p50 / p95).

Every step is one Update (a typed answer or a pressed button) fed to
``Application.process_update`` over the offline Bot API: the guards, the handler, the form
engine, the state load and save, and the rendered reply are all inside the measurement.

    python benchmarks/form_step.py                      # SQLite (a temporary file)
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/form_step.py

With ``STABOT_BENCH_DATABASE_URL`` set, PostgreSQL is measured too. Use a throw-away
database: the script migrates it and adds demo orgs, users and activities (it drops nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.app import build_application
from bot.clock import FrozenClock
from bot.config import Settings, async_database_url
from bot.offline_api import OfflineBotAPI
from bot.services import orgs
from bot.updates import TgUser, UpdateFactory, to_update
from storage import users_repo
from storage.db import create_engine, session_factory, transaction
from storage.migrate import upgrade_to_head
from storage.models import Role

START = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
ORG_NAME = "青山区科协"
# One whole form: (kind, text or button label). Each entry is one measured step.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("text", "/log"),
    ("press", "科普讲座"),
    ("text", "科技助力乡村振兴科普讲座"),
    ("press", "昨天"),
    ("text", "青山区社区"),
    ("press", ORG_NAME),
    ("text", "约120人"),
    ("press", "社区居民"),
    ("press", "完成"),
    ("text", "讲解了节能和防诈骗知识。"),
    ("press", "跳过"),
    ("press", "确认提交"),
)


class Runner:
    """One Application on one database, and users to drive it."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.clock = FrozenClock(START)
        self.api = OfflineBotAPI(bot_username="stabot_bench_bot", clock=self._stamp)
        settings = Settings(
            _env_file=None,
            bot_token=None,
            database_url=url,
            data_dir=data_dir,
            knowledge_warmup=False,  # indexing the corpus in the background is not a form step
        )
        self.app = build_application(settings, request=self.api, clock=self.clock, migrate=False)
        self.factory = UpdateFactory(self.api, clock=self._stamp)
        # Update ids already seen on a reused database would be dropped as duplicates.
        self.factory._update_id = random.randrange(10**10, 10**11)

    def _stamp(self) -> float:
        return self.clock.now().timestamp()

    async def step(self, user: TgUser, kind: str, value: str) -> tuple[float, float]:
        """Feed one update; return the wall-clock and CPU seconds it took."""
        if kind == "text":
            command, _, args = value.partition(" ")
            update = (
                self.factory.command(user, command, args or None)
                if value.startswith("/")
                else self.factory.message(user, value)
            )
        else:
            message = self._keyboard(user.id)
            update = self.factory.callback(user, self._button(message, value), message)
        parsed = to_update(update, self.app.bot)
        began, began_cpu = time.perf_counter(), time.process_time()
        await self.app.process_update(parsed)
        return time.perf_counter() - began, time.process_time() - began_cpu

    def _keyboard(self, chat_id: int) -> dict[str, Any]:
        for message in reversed(self.api.sent_messages(chat_id)):
            if (message.get("reply_markup") or {}).get("inline_keyboard"):
                return message
        raise RuntimeError("no keyboard to press")

    @staticmethod
    def _button(message: dict[str, Any], label: str) -> str:
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if label in button["text"]:
                    return button["callback_data"]
        raise RuntimeError(f"no button {label!r}")


async def prepare(url: str, users: list[TgUser]) -> None:
    """Migrate, add the demo tree, and register the users as liaisons of one county."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    async with transaction(session_factory(engine)) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=START)}
        for user in users:
            row = await users_repo.upsert_user(
                session=session, telegram_id=user.id, username=None, now=START
            )
            row.real_name, row.org_id, row.role = "测试", tree[ORG_NAME].id, Role.LIAISON
            row.registered_at = START
    await engine.dispose()


async def measure(url: str, forms: int, warmup: int) -> list[tuple[float, float]]:
    """Fill ``warmup + forms`` whole forms; the step times of the last ``forms``."""
    base = random.randrange(10**8, 10**9)  # fresh users on a database used before
    users = [TgUser(id=base + i, first_name=f"用户{i}") for i in range(warmup + forms)]
    await prepare(url, users)
    with tempfile.TemporaryDirectory() as data_dir:
        runner = Runner(url, Path(data_dir))
        times: list[tuple[float, float]] = []
        async with runner.app:
            await runner.app.post_init(runner.app)
            for number, user in enumerate(users):
                spent = [await runner.step(user, kind, value) for kind, value in SCRIPT]
                if number >= warmup:
                    times.extend(spent)
        return times


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(label: str, times: list[tuple[float, float]]) -> str:
    """One line of figures in milliseconds.

    CPU time (all threads of this process, aiosqlite's included) is shown beside wall time:
    on a machine shared with other work it tells what a step costs when it has a core.
    """
    wall = [w * 1000 for w, _ in times]
    cpu = [c * 1000 for _, c in times]
    return (
        f"{label:<11} steps={len(wall):<5} wall p50={percentile(wall, 0.50):6.2f} ms  "
        f"p95={percentile(wall, 0.95):6.2f} ms  mean={statistics.fmean(wall):6.2f} ms  |  "
        f"cpu p50={percentile(cpu, 0.50):6.2f} ms  p95={percentile(cpu, 0.95):6.2f} ms"
    )


async def run(forms: int, warmup: int) -> None:
    """Measure on SQLite, then on PostgreSQL when a URL is given."""
    targets: list[tuple[str, Callable[[], Awaitable[list[tuple[float, float]]]]]] = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        targets.append(("sqlite", lambda: measure(sqlite_url, forms, warmup)))
        pg = os.environ.get("STABOT_BENCH_DATABASE_URL")
        if pg:
            pg_url = async_database_url(pg)
            targets.append(("postgresql", lambda: measure(pg_url, forms, warmup)))
        print(f"one form step through the Application; {forms} forms x {len(SCRIPT)} steps")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for label, job in targets:
            print(report(label, await job()), flush=True)
        if not pg:
            print("postgresql  skipped (set STABOT_BENCH_DATABASE_URL)")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=40, help="measured forms per database")
    parser.add_argument("--warmup", type=int, default=3, help="forms run first, not measured")
    args = parser.parse_args()
    asyncio.run(run(args.forms, args.warmup))


if __name__ == "__main__":
    main()
