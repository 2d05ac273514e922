"""Chaos: ``kill -9`` the real ``stabot run`` at random moments while scripted users fill the
activity form, restart it each time, then count what was lost or doubled.

20 users (``--users``) long-poll through the loopback fake Bot API (benchmarks/fake_bot_api.py,
with Telegram's 429 limits): each fills the activity form (/log … 确认提交, the 12 steps of
benchmarks/form_step.py), then sends /help and /me, and again, waiting for the bot's answer
before the next input and ``--think`` seconds after it. Meanwhile the bot process is killed
with SIGKILL ``--kills`` times, each at a random moment 2–6 s after it started polling again.

Counted at the end (after every user's last input was answered):
- inputs lost: updates pushed that are not done in the inbox (every one must be handled once)
- confirmed activities lost or doubled: activities stored per user against confirms handled
- forms resumed: forms open at a kill that ended in the activity the user filled in
- answers missing: inputs handled whose answer never came (the process died between the
  commit and the send); the user then sends /log, which shows the open form again

    python benchmarks/chaos.py [--kills 20] [--users 20] [--seed 1] [--json]
    python benchmarks/chaos.py --bot-root /path/to/other/checkout   # the same test, other code

Everything stays on 127.0.0.1 and in a temporary directory (SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fake_bot_api import FakeBotApi, make_server  # noqa: E402
from benchmarks.form_step import SCRIPT, prepare  # noqa: E402
from benchmarks.scripted import (  # noqa: E402
    ScriptedUser,
    free_port,
    polling_delivery,
    stabot_env,
    start_process,
    users_of,
    wait_polling,
)

USER_BASE = 4_000_000
DONE_TIMEOUT = 120.0  # seconds an input may wait to be handled (restarts included)
ANSWER_GRACE = 3.0  # seconds after an input is handled for its answer to arrive
EXTRAS = (("text", "/help"), ("text", "/me"))
FORM_TITLE = "科技助力乡村振兴科普讲座"


@dataclass
class Tally:
    """What the users saw."""

    confirms: dict[int, int] = field(default_factory=dict)  # user -> confirms handled
    open_forms_at_kill: int = 0
    missing_answers: int = 0
    resyncs: int = 0
    unanswered: list[int] = field(default_factory=list)  # update ids never done in time


class Inbox:
    """The driver's read-only view of the bot's database (SQLite, WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path, timeout=30)
        return self._db

    def table(self) -> str:
        """``inbox``, or ``processed_update`` for code from before the inbox."""
        names = {r[0] for r in self._connection().execute("SELECT name FROM sqlite_master")}
        return "inbox" if "inbox" in names else "processed_update"

    def done(self, ids: list[int]) -> set[int]:
        """Which of these updates are handled."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        where = "done_at IS NOT NULL AND " if self.table() == "inbox" else ""
        query = f"SELECT update_id FROM {self.table()} WHERE {where}update_id IN ({marks})"
        return {row[0] for row in self._connection().execute(query, ids)}

    def in_form(self, user_id: int) -> bool:
        """Whether the user has an open form."""
        query = "SELECT 1 FROM conversation_state WHERE chat_id = ? AND user_id = ?"
        return self._connection().execute(query, (user_id, user_id)).fetchone() is not None

    def activities(self) -> dict[int, list[tuple]]:
        """Stored activities per user: (type, title, place, participants)."""
        query = "SELECT created_by, type, title, place, participants FROM activity"
        found: dict[int, list[tuple]] = {}
        for created_by, *fields in self._connection().execute(query):
            found.setdefault(created_by, []).append(tuple(fields))
        return found

    def gave_up(self) -> int:
        """Updates the bot gave up on."""
        if self.table() != "inbox":
            return 0
        return self._connection().execute("SELECT count(*) FROM inbox WHERE gave_up").fetchone()[0]


class Chaos:
    """The bot process, the users, and the killer."""

    def __init__(self, options: argparse.Namespace, work: Path) -> None:
        self.options = options
        self.work = work
        self.rng = random.Random(options.seed)
        self.api = FakeBotApi()
        self.port = free_port()
        self.db_path = work / "bot.db"
        self.url = f"sqlite+aiosqlite:///{self.db_path}"
        self.inbox = Inbox(self.db_path)
        self.tally = Tally()
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.stopping = False
        self.users: list[ScriptedUser] = []
        self.stage: dict[int, str] = {}  # user -> "form" while filling a form

    async def prepare(self) -> None:
        """Schema and users, by the code under test (its migrations may differ from ours)."""
        if not self.options.bot_root:
            await prepare(self.url, [u.user for u in self.users])
            return
        ids = [u.user.id for u in self.users]
        script = (
            "import asyncio\nfrom benchmarks.form_step import prepare\n"
            "try:\n    from offline.updates import TgUser\n"
            "except ImportError:  # a checkout from before the offline package\n"
            "    from bot.updates import TgUser\n"
            f"asyncio.run(prepare({self.url!r}, [TgUser(id=i, first_name='u') for i in {ids}]))"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, cwd=self.options.bot_root
        )
        if await process.wait():
            raise RuntimeError("preparing the database failed")

    async def start_bot(self) -> None:
        """Start ``stabot run`` (from ``--bot-root``) and wait until it polls."""
        root = Path(self.options.bot_root or ROOT)
        env = stabot_env(self.work, self.url, self.port, PYTHONPATH=str(root))
        self.process = await start_process(self.work, env, "-m", "bot", "run")
        await wait_polling(self.api, self.process, 120)

    async def killer(self) -> None:
        """SIGKILL the bot at random moments, restarting it each time."""
        while self.kills < self.options.kills:
            await asyncio.sleep(self.rng.uniform(2.0, 6.0))
            self.tally.open_forms_at_kill += sum(1 for s in self.stage.values() if s == "form")
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1
            print(f"kill {self.kills}: pushed {self.pushed()} inputs so far", flush=True)
            await self.start_bot()
        self.stopping = True

    def pushed(self) -> int:
        """Inputs sent by all users."""
        return sum(len(u.pushed) for u in self.users)

    async def wait_done(self, update_id: int) -> bool:
        """Wait until the bot has handled the update (it may be restarted meanwhile)."""
        deadline = time.monotonic() + DONE_TIMEOUT
        while time.monotonic() < deadline:
            if self.inbox.done([update_id]):
                return True
            await asyncio.sleep(0.05)
        return False

    async def step(self, user: ScriptedUser, kind: str, value: str) -> None:
        """One input: handled (in the inbox), then answered; resync when the answer is lost."""
        before = user.answers()
        update = user.build(kind, value)
        await user.send(update)
        if not await self.wait_done(update["update_id"]):
            self.tally.unanswered.append(update["update_id"])
            raise TimeoutError(f"update {update['update_id']} was never handled")
        answered = await self.api.wait_for(lambda: user.answers() > before, ANSWER_GRACE)
        if not answered:
            self.tally.missing_answers += 1
            if self.inbox.in_form(user.user.id):  # show me the form again: /log does
                self.tally.resyncs += 1
                await self.step(user, "text", "/log")
        await asyncio.sleep(self.rng.uniform(*self.options.think))

    async def user_loop(self, user: ScriptedUser) -> None:
        """Forms and extra commands until the killer is done."""
        self.tally.confirms[user.user.id] = 0
        while not self.stopping:
            self.stage[user.user.id] = "form"
            for kind, value in SCRIPT:
                await self.step(user, kind, value)
            self.tally.confirms[user.user.id] += 1
            self.stage[user.user.id] = "other"
            for kind, value in EXTRAS:
                await self.step(user, kind, value)

    async def run(self) -> dict[str, Any]:
        """Prepare, run users and killer, then count."""
        self.users = users_of(
            self.api, USER_BASE, self.options.users, polling_delivery(self.api), 1
        )
        await self.prepare()
        server = make_server(self.api, self.port)
        try:
            await self.start_bot()
            began = time.monotonic()
            results = await asyncio.gather(
                self.killer(), *(self.user_loop(u) for u in self.users), return_exceptions=True
            )
            errors = [repr(r) for r in results if isinstance(r, BaseException)]
            seconds = time.monotonic() - began
            await asyncio.sleep(1.0)  # the last answers' trailing commits
        finally:
            if self.process is not None and self.process.returncode is None:
                self.process.terminate()
                await self.process.wait()
            server.stop()
        return self.count(errors, seconds)

    def count(self, errors: list[str], seconds: float) -> dict[str, Any]:
        """The figures."""
        pushed = [i for u in self.users for i in u.pushed]
        done = self.inbox.done(pushed)
        stored = self.inbox.activities()
        expected = (("lecture", FORM_TITLE, "青山区社区", 120),)
        lost = doubled = wrong = 0
        for user in self.users:
            mine = stored.get(user.user.id, [])
            confirms = self.tally.confirms.get(user.user.id, 0)
            lost += max(0, confirms - len(mine))
            doubled += max(0, len(mine) - confirms)
            wrong += sum(1 for a in mine if a not in expected)
        return {
            "kills": self.kills,
            "users": len(self.users),
            "seconds": round(seconds, 1),
            "inputs_pushed": len(pushed),
            "inputs_lost": len(pushed) - len(done),
            "inputs_given_up": self.inbox.gave_up(),
            "confirmed_activities": sum(self.tally.confirms.values()),
            "activities_lost": lost,
            "activities_doubled": doubled,
            "activities_with_wrong_fields": wrong,
            "forms_open_at_kills": self.tally.open_forms_at_kill,
            "forms_resumed": self.tally.open_forms_at_kill if not (lost or wrong) else None,
            "answers_missing": self.tally.missing_answers,
            "resyncs": self.tally.resyncs,
            "429s": self.api.rejected_429,
            "errors": errors,
        }


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--think", type=float, nargs=2, default=(1.0, 1.5), help="seconds between inputs"
    )
    parser.add_argument("--bot-root", help="run the bot from this checkout instead")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(Chaos(options, Path(folder)).run())
    results["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, ensure_ascii=False, indent=None if options.json else 2))


if __name__ == "__main__":
    main()
