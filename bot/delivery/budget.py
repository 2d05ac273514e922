"""Telegram's sending limits for one bot: about 30 messages/s, 1/s per private chat, 20/min
per group; a 429's ``retry_after`` stops every send of the bot until it has passed.

`SendBudget` keeps them in one process (SQLite's one process, or tests). Sends are spaced
``1/rate`` apart (a GCRA schedule; a lane that woke late makes up at most 5 ms) and, as a guard,
the bulk lane never puts more than ``limit - 1`` in any ``window`` seconds: the last one is a
reply's. Replies *charge* the budget without waiting
(they go first); the bulk lane *waits* for its turn, so it fills what replies leave.

`SharedBudget` keeps the schedule in PostgreSQL (table ``send_budget``, a row per lane): a
process reserves the next few slots in one ``UPDATE … RETURNING`` (``reserve_ahead`` seconds of
sends), so slots are spaced evenly across every process and no process pays a round trip per
message; replies charged in a process are paid for in its next reservation. A 429 moves the
lane's row past the pause, so every process's next reservation starts after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import SessionFactory, transaction
from storage.delivery_models import SendBudget as BudgetRow

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], float]
FREE_LANE, PAID_LANE = "free", "paid"
STALE = 0.5  # a reserved slot more than half an interval past is dropped, not used late
REPLY_RESERVE = 1  # of each window's sends, kept for a reply the bulk lane cannot foresee
# A lane that woke late may make up this much, no more: asyncio.sleep oversleeps by a few ms,
# and more credit (0.1 s, one slot) let sends bunch up at the server (429s, measured).
CATCH_UP = 0.005


class ChatPacer:
    """The per-chat part of the limits, shared by every lane of a process."""

    def __init__(self, per_chat: float, group: float) -> None:
        self.per_chat, self.group = per_chat, group
        self._next: dict[int, float] = {}

    def wait(self, chat_id: int, now: float) -> float:
        """Seconds until this chat may get another message."""
        return self._next.get(chat_id, 0.0) - now

    def take(self, chat_id: int, now: float) -> None:
        """A message to this chat goes now (groups have negative ids: 20 a minute)."""
        self._next[chat_id] = now + (self.group if chat_id < 0 else self.per_chat)
        if len(self._next) > 10_000:
            self._next = {c: at for c, at in self._next.items() if at > now}


class SendBudget:
    """One lane's rate, sliding-window guard and 429 pause, in this process."""

    def __init__(
        self,
        *,
        rate: float,
        limit: int,
        window: float,
        now: Now,
        chats: ChatPacer,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.limit, self.window = limit, window
        self.now, self.chats, self.sleep = now, chats, sleep
        self.retry_after_hits = 0
        self._next = 0.0
        self._paused_until = 0.0
        self._recent: deque[float] = deque()  # send times within the last window

    # --- the bulk lane -----------------------------------------------------------------------

    async def ready(self) -> float:
        """Seconds until the bulk lane may send (0 or less: now)."""
        return self._wait(self.now())

    def _wait(self, now: float) -> float:
        self._trim(now)
        wait = max(self._next, self._paused_until) - now
        bulk_limit = max(1, self.limit - REPLY_RESERVE)
        if len(self._recent) >= bulk_limit:
            # The oldest sends of the window must age out before one more fits.
            wait = max(wait, self._recent[len(self._recent) - bulk_limit] + self.window - now)
        return wait

    def take(self, chat_id: int) -> None:
        """Account for one bulk send now."""
        self._spend(chat_id, self.now())

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until this chat may get another message."""
        return self.chats.wait(chat_id, self.now())

    # --- replies and pauses ------------------------------------------------------------------

    def charge(self, chat_id: int) -> None:
        """A reply goes now, without waiting: the bulk lane's next slot moves back."""
        self._spend(chat_id, self.now())

    def paused_for(self) -> float:
        """Seconds left of a 429 pause (0 when none)."""
        return max(0.0, self._paused_until - self.now())

    async def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nothing is sent on the lane until then."""
        self.retry_after_hits += 1
        self._paused_until = max(self._paused_until, self.now() + seconds)

    async def close(self) -> None:
        """Pay what is owed (shared budgets); nothing here."""

    def _spend(self, chat_id: int, now: float) -> None:
        self._trim(now)
        self._recent.append(now)
        self._next = max(self._next, now - min(CATCH_UP, self.interval)) + self.interval
        self.chats.take(chat_id, now)

    def _trim(self, now: float) -> None:
        while self._recent and now - self._recent[0] >= self.window:
            self._recent.popleft()


class SharedBudget(SendBudget):
    """The lane's schedule in the database, shared by every process of the bot."""

    def __init__(
        self, *, sessions: SessionFactory, lane: str, reserve_ahead: float, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.sessions, self.lane = sessions, lane
        self.batch = max(1, round(reserve_ahead / self.interval))
        self.reserve_ahead = reserve_ahead
        self._slots: deque[float] = deque()
        self._owed = 0  # replies charged here and not yet paid for in the database
        self._paying: asyncio.Task[None] | None = None

    async def ready(self) -> float:
        """Seconds until the next reserved slot (reserving more when none is left)."""
        now = self.now()
        while self._slots and self._slots[0] < max(
            now - STALE * self.interval, self._paused_until
        ):
            self._slots.popleft()
        if not self._slots:
            start = await self._reserve(self.batch, now)
            self._slots.extend(start + i * self.interval for i in range(self.batch))
        return max(self._slots[0] - now, self._wait(now))

    def take(self, chat_id: int) -> None:
        """Use the next reserved slot."""
        if self._slots:
            self._slots.popleft()
        now = self.now()
        self._trim(now)
        self._recent.append(now)
        self.chats.take(chat_id, now)

    def charge(self, chat_id: int) -> None:
        """A reply goes now; its slot is paid for in the database shortly after."""
        super().charge(chat_id)
        self._owed += 1
        if self._paying is None or self._paying.done():
            self._paying = asyncio.get_running_loop().create_task(self._pay_later())

    async def pause(self, seconds: float) -> None:
        """Pause here and in the database: every process's next reservation waits too."""
        await super().pause(seconds)
        until = self._paused_until
        self._slots.clear()
        greatest = self._greatest()
        async with transaction(self.sessions) as session:
            await self._ensure_row(session)
            await session.exec(  # type: ignore[call-overload]
                update(BudgetRow)
                .where(BudgetRow.lane == self.lane)
                .values(
                    paused_until=greatest(BudgetRow.paused_until, until),
                    next_at=greatest(BudgetRow.next_at, until),
                )
            )

    async def close(self) -> None:
        """Pay for the replies still owed."""
        if self._paying is not None:
            self._paying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._paying
        if self._owed:
            await self._reserve(0, self.now())

    async def _pay_later(self) -> None:
        await asyncio.sleep(self.reserve_ahead)
        if self._owed:
            await self._reserve(0, self.now())

    async def _reserve(self, count: int, now: float) -> float:
        """Reserve ``count`` slots after the replies owed; returns the first slot's time."""
        owed, self._owed = self._owed, 0
        slots = count + owed
        greatest = self._greatest()
        statement = (
            update(BudgetRow)
            .where(BudgetRow.lane == self.lane)
            .values(
                next_at=greatest(BudgetRow.next_at, now, BudgetRow.paused_until)
                + slots * self.interval
            )
            .returning(BudgetRow.next_at, BudgetRow.paused_until)
        )
        async with transaction(self.sessions) as session:
            row = (await session.exec(statement)).first()  # type: ignore[call-overload]
            if row is None:
                await self._ensure_row(session)
                row = (await session.exec(statement)).first()  # type: ignore[call-overload]
        next_at, paused_until = float(row[0]), float(row[1])
        # Another process's 429 shows here: this process pauses too.
        self._paused_until = max(self._paused_until, paused_until)
        return next_at - count * self.interval

    async def _ensure_row(self, session) -> None:  # type: ignore[no-untyped-def]
        dialect = session.bind.dialect.name if session.bind is not None else ""
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(BudgetRow.__table__)  # type: ignore[attr-defined]
            .values(lane=self.lane, next_at=0.0, paused_until=0.0)
            .on_conflict_do_nothing(index_elements=["lane"])
        )
        await session.exec(statement)

    def _greatest(self):  # type: ignore[no-untyped-def]
        # GREATEST on PostgreSQL; SQLite's scalar max() takes several arguments alike.
        bind = self.sessions.kw.get("bind")
        return (
            func.greatest if bind is not None and bind.dialect.name == "postgresql" else func.max
        )
