"""Leadership by PostgreSQL advisory lock: one process of the bot runs a job, others follow.

The lock lives as long as the leader's database connection: when that process dies, the
connection closes, the lock is free, and a follower (trying every ``retry`` seconds) takes over.
On SQLite, a single process, the caller always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


class AdvisoryLeader:
    """Holds (or waits for) one advisory lock."""

    def __init__(self, engine: AsyncEngine, key: int, *, retry: float = 60.0) -> None:
        self.engine, self.key, self.retry = engine, key, retry
        self.lock: AsyncConnection | None = None
        self._follower: asyncio.Task[None] | None = None

    async def acquire(self) -> bool:
        """Become the leader now if the lock is free (always on SQLite)."""
        if self.engine.dialect.name != "postgresql":
            return True
        connection = await self.engine.connect()
        query = text("SELECT pg_try_advisory_lock(:key)")
        if (await connection.execute(query, {"key": self.key})).scalar():
            self.lock = connection
            return True
        await connection.close()
        return False

    async def lead_or_follow(self, on_lead: Callable[[], None], name: str) -> None:
        """Run ``on_lead`` now as the leader, or once this process becomes it."""
        if await self.acquire():
            on_lead()
            return
        log.info("another worker leads %s; following", name)
        self._follower = asyncio.create_task(self._follow(on_lead), name=f"{name}-follower")

    async def _follow(self, on_lead: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self.retry)
            if await self.acquire():
                on_lead()
                return

    async def release(self) -> None:
        """Stop following; give the lock up."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self.lock is not None:
            await self.lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            await self.lock.close()
            self.lock = None
