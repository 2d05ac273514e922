"""What every channel's inbox worker shares: one runner task per key (a Telegram chat, a
WeCom member) under the key's lease, renewed while it works, with a sweep for keys whose
worker died; which failures may pass, the wait before the next try, and the name a
process's leases go by."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.common.clock import Clock
from storage import inbox_repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
LEASE_TTL = timedelta(seconds=15)  # a dead worker's keys wait this long at most
RENEW_EVERY = 5.0  # seconds between lease renewals (a third of the TTL)
SWEEP_EVERY = 5.0  # seconds between looks for keys whose worker died
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError)


def is_transient(error: BaseException | None) -> bool:
    """Whether a failure may pass by itself: the database or its connection, not our code."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT)


def backoff(attempts: int) -> float:
    """Seconds before the next try of a failed update or event: 1, 2, 4 …"""
    return float(2 ** max(0, attempts - 1))


def worker_id() -> str:
    """A name for this process's leases: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class KeyedRunners:
    """One runner task per key, started on demand (``poke``), each running ``_run(key)``;
    with ``start_timers``, the leases of the running keys renewed and ``sweep`` run on a
    timer. Subclasses say what a runner and a sweep do."""

    runner_name = "runner"

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self.owner = worker_id()
        self.open = False
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()  # keys with news since their runner last looked
        self._background: list[asyncio.Task[None]] = []

    async def _run(self, key: int) -> None:
        raise NotImplementedError

    async def sweep(self) -> None:
        """Poke the keys whose work no live worker holds."""

    def poke(self, key: int) -> None:
        """Have the key's runner look for its work (starting one if none runs)."""
        self._dirty.add(key)
        if self.open and key not in self._runners:
            task = asyncio.get_running_loop().create_task(
                self._run(key), name=f"{self.runner_name}-{key}"
            )
            self._runners[key] = task

    def start_timers(self) -> None:
        """Renew the running keys' leases and sweep, every few seconds, until ``stop``."""
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(self._every(SWEEP_EVERY, self.sweep)),
            loop.create_task(self._every(RENEW_EVERY, self.renew)),
        ]

    async def stop(self) -> None:
        """Let the running work finish; what is still pending stays stored for next time."""
        self.open = False
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*list(self._runners.values()), return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no key has work left here (tests and benchmarks)."""
        while self._runners:
            await asyncio.gather(*list(self._runners.values()), return_exceptions=True)

    async def renew(self) -> None:
        """Extend the leases of the keys this process is working on."""
        keys = list(self._runners)
        if not keys:
            return
        async with transaction(self.sessions) as session:
            await inbox_repo.renew_leases(
                session=session,
                owner=self.owner,
                chat_ids=keys,
                until=self.clock.now() + LEASE_TTL,
            )

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as error:  # the database is away: the next round tries again
                log.warning("%s %s failed: %s", self.runner_name, job.__name__, error)
