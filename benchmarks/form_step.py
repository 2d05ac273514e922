"""Time one step of the activity form through the real Application (p50 / p95 / p99).

Every step is one Update (a typed answer or a pressed button) fed to
``Application.process_update``: the guards, the handler, the form engine, the state load and
save, and the reply built and sent through PTB's ``Bot`` (request encoding, response parsing)
are all inside the measurement. Only the Bot API's side is not ours: by default a ``wire``
transport answers each call with the JSON Telegram would send (no network, no checks);
``--transport offline`` uses the offline Bot API of the tests instead, which also checks every
call against the Bot API spec and keeps the chats' state (about 0.7 ms more per step).

    python benchmarks/form_step.py                      # SQLite (a temporary file), 3 runs
    taskset -c 1 python benchmarks/form_step.py --runs 5 --forms 100
    STABOT_BENCH_DATABASE_URL=postgresql://user@host:5432/db python benchmarks/form_step.py

With ``STABOT_BENCH_DATABASE_URL`` set, PostgreSQL is measured too. Use a throw-away
database: the script migrates it and adds demo orgs, users and activities (it drops nothing).
CPU time (``time.process_time``) is shown beside wall time: on a shared machine it tells
what a step costs when it has a core to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram.request import BaseRequest, RequestData

from bot.app import build_application
from bot.common.clock import FrozenClock
from bot.config import Settings, async_database_url
from bot.services import orgs
from offline.bot_api import OfflineBotAPI
from offline.updates import TgUser, UpdateFactory, to_update
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


class WireRequest(BaseRequest):
    """Answers Bot API calls with the JSON Telegram sends back, at once and without checks.

    PTB still encodes every call's parameters and parses every answer into its objects, as it
    does with the real HTTP transport; only the network and Telegram's own work are left out.
    """

    _TAGS = re.compile(r"<[^>]+>")

    def __init__(self, bot_user: dict[str, Any]) -> None:
        self.bot_user = bot_user
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}  # chat -> id -> message
        self._next_id = 10**6

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def read_timeout(self) -> float | None:
        """No network, so no timeout."""
        return None

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_: Any
    ) -> tuple[int, bytes]:
        """One Bot API call: its parameters encoded as for HTTP, the answer as JSON bytes."""
        params = request_data.json_parameters if request_data else {}
        result = self._answer(url.rsplit("/", 1)[-1], params)
        return 200, json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()

    def _answer(self, endpoint: str, params: dict[str, str]) -> Any:
        if endpoint == "getMe":
            return self.bot_user
        if endpoint.startswith("send") or endpoint.startswith("editMessage"):
            return self._message(endpoint, params)
        return True  # answerCallbackQuery, setMyCommands, deleteMessage …

    def _message(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = self.messages.setdefault(chat_id, {})
        if endpoint.startswith("send"):
            self._next_id += 1
            message_id = self._next_id
            message = {"message_id": message_id, "date": int(START.timestamp())}
            message |= {"chat": {"id": chat_id, "type": "private"}, "from": self.bot_user}
        else:
            message_id = int(params["message_id"])
            message = chat[message_id]
        if "text" in params:  # Telegram answers with the text without its HTML tags
            message["text"] = self._TAGS.sub("", params["text"])
        markup = json.loads(params.get("reply_markup") or "null")
        if markup:
            message["reply_markup"] = markup
        else:  # a keyboard taken off, or none sent
            message.pop("reply_markup", None)
        chat[message_id] = message
        return message

    def keyboard(self, chat_id: int) -> dict[str, Any]:
        """The newest message in the chat with an inline keyboard."""
        for message in reversed(self.messages.get(chat_id, {}).values()):
            if message.get("reply_markup", {}).get("inline_keyboard"):
                return message
        raise RuntimeError("no keyboard to press")


class Runner:
    """One Application on one database, and users to drive it."""

    def __init__(self, url: str, data_dir: Path, transport: str) -> None:
        self.clock = FrozenClock(START)
        self.offline = OfflineBotAPI(bot_username="stabot_bench_bot", clock=self._stamp)
        self.wire = WireRequest(self.offline.bot_user) if transport == "wire" else None
        self.api = self.wire or self.offline
        settings = Settings(
            _env_file=None,
            bot_token=None,
            database_url=url,
            data_dir=data_dir,
            # indexing the corpus in the background is not a form step
            knowledge={"warmup": False},
        )
        self.app = build_application(settings, request=self.api, clock=self.clock, migrate=False)
        self.factory = UpdateFactory(self.offline, clock=self._stamp)
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
        if self.wire is not None:
            return self.wire.keyboard(chat_id)
        for message in reversed(self.offline.sent_messages(chat_id)):
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


async def measure(url: str, options: argparse.Namespace) -> list[tuple[float, float]]:
    """Fill ``warmup + forms`` whole forms; the step times of the last ``forms``."""
    base = random.randrange(10**8, 10**9)  # fresh users on a database used before
    count = options.warmup + options.forms
    users = [TgUser(id=base + i, first_name=f"用户{i}") for i in range(count)]
    await prepare(url, users)
    with tempfile.TemporaryDirectory() as data_dir:
        runner = Runner(url, Path(data_dir), options.transport)
        times: list[tuple[float, float]] = []
        async with runner.app:
            await runner.app.post_init(runner.app)
            for number, user in enumerate(users):
                spent = [await runner.step(user, kind, value) for kind, value in SCRIPT]
                if number >= options.warmup:
                    times.extend(spent)
        return times


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(label: str, times: list[tuple[float, float]]) -> str:
    """One line of figures in milliseconds: wall time, then CPU time of the process."""
    wall = [w * 1000 for w, _ in times]
    cpu = [c * 1000 for _, c in times]
    return (
        f"{label:<11} steps={len(wall):<5} wall p50={percentile(wall, 0.50):6.2f}  "
        f"p95={percentile(wall, 0.95):6.2f}  p99={percentile(wall, 0.99):6.2f}  "
        f"mean={statistics.fmean(wall):6.2f} ms  |  cpu p50={percentile(cpu, 0.50):6.2f}  "
        f"p95={percentile(cpu, 0.95):6.2f}  p99={percentile(cpu, 0.99):6.2f} ms"
    )


def spread(label: str, runs: list[list[tuple[float, float]]]) -> str:
    """The range of p50 and p95 (wall) over the runs."""
    p50 = [percentile([w * 1000 for w, _ in times], 0.50) for times in runs]
    p95 = [percentile([w * 1000 for w, _ in times], 0.95) for times in runs]
    return (
        f"{label:<11} {len(runs)} runs: wall p50 {min(p50):.2f}–{max(p50):.2f} ms, "
        f"p95 {min(p95):.2f}–{max(p95):.2f} ms"
    )


async def run(options: argparse.Namespace) -> None:
    """Measure on SQLite, then on PostgreSQL when a URL is given; ``runs`` times each."""
    targets: list[tuple[str, Callable[[], Awaitable[list[tuple[float, float]]]]]] = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(options.runs):  # a fresh SQLite file per run
            sqlite_url = f"sqlite+aiosqlite:///{Path(folder) / f'bench{number}.db'}"
            targets.append(("sqlite", lambda url=sqlite_url: measure(url, options)))
        pg = os.environ.get("STABOT_BENCH_DATABASE_URL")
        if pg:
            pg_url = async_database_url(pg)
            targets += [("postgresql", lambda: measure(pg_url, options))] * options.runs
        print(
            f"one form step through the Application; {options.forms} forms x {len(SCRIPT)} "
            f"steps per run; transport {options.transport}; gc "
            f"{'on' if gc.isenabled() else 'off'}"
        )
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        results: dict[str, list[list[tuple[float, float]]]] = {}
        for label, job in targets:
            times = await job()
            results.setdefault(label, []).append(times)
            print(report(label, times), flush=True)
        for label, runs in results.items():
            print(spread(label, runs))
        if not pg:
            print("postgresql  skipped (set STABOT_BENCH_DATABASE_URL)")


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=int, default=50, help="measured forms per run")
    parser.add_argument("--warmup", type=int, default=3, help="forms run first, not measured")
    parser.add_argument("--runs", type=int, default=3, help="runs per database")
    parser.add_argument("--transport", choices=("wire", "offline"), default="wire")
    parser.add_argument("--no-gc", action="store_true", help="disable the garbage collector")
    options = parser.parse_args()
    if options.no_gc:
        gc.disable()
    asyncio.run(run(options))


if __name__ == "__main__":
    main()
