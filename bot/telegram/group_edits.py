"""The 已阅 count under group notices, edited at most once per group every few seconds.

Telegram lets a bot post about 20 messages a minute in one group, and edits count too. Each
group gets a slot every ``interval`` seconds (3 s: 20 a minute): a press that finds its slot
free edits at once; later presses on the same message wait for one scheduled edit, which reads
the count when it runs, so fifty quick presses cost a handful of edits, and the last one shows
them all. The receipts themselves are in the database; only the schedule is in memory, so
after a restart the next press shows the right count again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.common.clock import Clock

log = logging.getLogger(__name__)
INTERVAL = 3.0  # seconds between two edits in one group: Telegram's 20 messages a minute
Show = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class CountEdits:
    """Spaces the edits of each group's notice counts; one pending edit per message."""

    def __init__(
        self, clock: Clock, *, interval: float = INTERVAL, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.clock = clock
        self.interval = interval
        self.sleep = sleep
        self._next: dict[int, float] = {}  # chat id -> when its next edit may go
        self._pending: dict[tuple[int, int], asyncio.Task[None]] = {}

    async def request(self, chat_id: int, message_id: int, show: Show) -> None:
        """Show the current count now if the group's slot is free, else once it is."""
        key = (chat_id, message_id)
        if key in self._pending:
            return  # the scheduled edit will read the newer count
        wait = self._take_slot(chat_id)
        if wait <= 0:
            await show()
            return
        self._pending[key] = asyncio.create_task(self._later(key, wait, show))

    def _take_slot(self, chat_id: int) -> float:
        now = self.clock.now().timestamp()
        at = max(now, self._next.get(chat_id, now))
        self._next[chat_id] = at + self.interval
        if len(self._next) > 10_000:  # forget groups whose slots are long past
            self._next = {c: t for c, t in self._next.items() if t > now}
        return at - now

    async def _later(self, key: tuple[int, int], wait: float, show: Show) -> None:
        try:
            await self.sleep(wait)
            await show()
        except Exception:  # a failed edit only leaves an older count on show
            log.exception("count edit in chat %s failed", key[0])
        finally:
            self._pending.pop(key, None)

    async def settle(self) -> None:
        """Wait for the scheduled edits (tests; shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)

    async def close(self) -> None:
        """Drop the scheduled edits (the counts stay right in the database)."""
        for task in list(self._pending.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()
