"""Shared parts of the process benchmarks: the bot as a child process, its CPU time, and
scripted users who fill the activity form against the loopback fake Bot API.

A user pushes one update (as Telegram would hand it to the bot) and waits until the bot has
answered in that chat: a new message or an edited one. Buttons are pressed on the newest
message of the chat that has a keyboard, as a person would.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.fake_bot_api import FakeBotApi
from offline.updates import TgUser, UpdateFactory

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:bench-token"
ANSWERS = ("sendMessage", "editMessageText")  # what shows a user that the bot answered
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
JSON = dict[str, Any]
Deliver = Callable[[JSON], Awaitable[None]]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def stabot_env(work: Path, database_url: str, api_port: int, **extra: str) -> dict[str, str]:
    """The environment of a ``stabot run`` against the fake API, background services off."""
    return {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api_port}/bot",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(work / "data"),
        "CORPUS_DIR": str(work / "corpus"),
        "KNOWLEDGE_WARMUP": "false",
        "BROADCAST_AUTOSTART": "false",
        "REMINDERS_SCHEDULER": "false",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


async def start_process(
    work: Path, env: dict[str, str], *args: str, log_name: str = "bot.log"
) -> asyncio.subprocess.Process:
    """A child Python process in ``work``, its output appended to ``work/log_name``."""
    log = (work / log_name).open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=work, env=env, stdout=log, stderr=log
    )


class ScriptedUser:
    """One Telegram user whose updates go to the bot through ``deliver``."""

    def __init__(self, api: FakeBotApi, user: TgUser, factory: UpdateFactory, deliver: Deliver):
        self.api = api
        self.user = user
        self.factory = factory
        self.deliver = deliver
        self.pushed: list[int] = []  # update ids, in the order this user sent them

    def answers(self) -> int:
        """How many messages the bot has sent or edited in this user's chat."""
        calls = self.api.chat_calls.get(self.user.id, [])
        return sum(1 for _, method in calls if method in ANSWERS)

    def build(self, kind: str, value: str) -> JSON:
        """The update for one scripted input: a text (command) or a pressed button."""
        if kind == "text":
            command, _, args = value.partition(" ")
            if value.startswith("/"):
                return self.factory.command(self.user, command, args or None)
            return self.factory.message(self.user, value)
        message = self.api.keyboard(self.user.id)
        if message is None:
            raise LookupError("no keyboard to press")
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if value in button["text"]:
                    return self.factory.callback(self.user, button["callback_data"], message)
        raise LookupError(f"no button {value!r}")

    async def send(self, update: JSON) -> None:
        """Hand one update to the bot."""
        self.pushed.append(update["update_id"])
        await self.deliver(update)

    async def step(self, kind: str, value: str, timeout: float) -> bool:
        """Send one input and wait for the bot's answer; False when none came in time."""
        before = self.answers()
        await self.send(self.build(kind, value))
        return await self.api.wait_for(lambda: self.answers() > before, timeout)


def users_of(
    api: FakeBotApi, base: int, count: int, deliver: Deliver, first_update_id: int
) -> list[ScriptedUser]:
    """``count`` users with ids from ``base``; their update ids are drawn from one sequence."""
    factory = UpdateFactory(None, first_update_id=first_update_id)
    return [
        ScriptedUser(api, TgUser(id=base + i, first_name=f"用户{i}"), factory, deliver)
        for i in range(count)
    ]


def polling_delivery(api: FakeBotApi) -> Deliver:
    """Updates handed out by the fake's getUpdates, as Telegram does for long polling."""

    async def deliver(update: JSON) -> None:
        api.push_update(update)

    return deliver


async def wait_polling(api: FakeBotApi, process: asyncio.subprocess.Process, timeout: float):
    """Wait until the bot process polls (it has started); raise if it died or took too long."""
    started = api.polls

    def polling() -> bool:
        return api.polls > started or process.returncode is not None

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not polling():
        if loop.time() > deadline:
            raise TimeoutError("the bot did not start polling")
        await asyncio.sleep(0.05)
    if process.returncode is not None:
        raise RuntimeError(f"the bot exited with {process.returncode}")
