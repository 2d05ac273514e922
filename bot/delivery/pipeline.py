"""The delivery loop: claim → render → send → classify → record, for every source at once.

A *source* is one outbox table with its per-kind pieces (bot/delivery/broadcasts.py,
bot/delivery/reminders.py): what to claim, how a row reads, when it may go, how a release or an
outcome is written, and what to do between steps (progress messages). The pipeline owns the
budget, the in-flight requests, the outcome buffer and the error policy (see the package doc).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.clock import Clock
from bot.delivery.budget import EARLY, Place, SendBudget
from bot.delivery.outcome import Outcome, Outgoing, Result
from bot.delivery.settings import DeliverySettings
from storage import outbox_repo
from storage.db import SessionFactory, transaction
from storage.identity_models import channel_of
from storage.outbox_repo import EVERY_CHANNEL, Channels

log = logging.getLogger(__name__)
MAIN = "main"  # the loop of the channels without a lane of their own (Telegram)
IDLE_POLL = 1.0  # seconds between outbox polls when idle (scheduled notices, other writers)
MAX_BACKOFF = 300.0  # the longest wait before retrying a connection that was never made
Sleep = Callable[[float], Awaitable[None]]


@dataclass(eq=False)
class Item:
    """One claimed row on its way."""

    source: Source
    row: Any
    chat_id: int
    paid: bool = False
    marked: bool = False  # written ``sending``: a crash from here on leaves it unknown


class Sender(Protocol):
    """What sends: a channel adapter's sender (bot/telegram/sender.py), or a fake in tests."""

    async def send(self, out: Outgoing) -> Result: ...


class Source(Protocol):
    """The per-kind pieces of one outbox."""

    name: str
    model: Any  # the table model
    due_column: str

    async def claim(
        self,
        session: AsyncSession,
        now: datetime,
        limit: int,
        skip_locked: bool,
        channels: Channels = EVERY_CHANNEL,
    ) -> list[Item]: ...

    def halted(self, item: Item) -> bool: ...

    def may_send(self, item: Item, now: datetime) -> bool: ...

    def later(self, item: Item, moment: datetime) -> datetime: ...

    def render(self, item: Item, now: datetime) -> Outgoing: ...

    def sent_values(self, item: Item, result: Result) -> dict[str, Any]: ...

    async def release(
        self, session: AsyncSession, items: Sequence[Item], moment: datetime | None
    ) -> None: ...

    async def next_due(self, session: AsyncSession, now: datetime) -> datetime | None: ...

    async def between_steps(self, pipeline: Pipeline, *, full: bool) -> None: ...


@dataclass
class Buffer:
    """Outcomes waiting to be written, per source, and rows whose chat refused the bot (403)."""

    outcomes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    blocked: list[Any] = field(default_factory=list)
    rows: int = 0


class Pipeline:
    """Drains every source under one budget; outcomes are written in batches."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        sources: Sequence[Source],
        sender: Sender,
        budget: SendBudget,
        paid_budget: SendBudget,
        clock: Clock,
        config: DeliverySettings,
        skip_locked: bool = False,
        poll: Sleep = asyncio.sleep,
        lanes: Mapping[str, SendBudget] | None = None,
    ) -> None:
        self.sessions, self.sources, self.sender = sessions, list(sources), sender
        self.budget, self.paid_budget = budget, paid_budget
        # A channel with limits of its own (WeCom) sends on its own lane, by the channel of
        # each row's address; the rest share ``budget`` (and ``paid_budget``).
        self.lanes: dict[str, SendBudget] = dict(lanes or {})
        # One claim-and-send loop per lane group (MAIN: the channels without a lane of their
        # own), so that a channel waiting for its budget never holds another's rows back.
        self.loops: dict[str, Channels] = {MAIN: Channels(excluding=tuple(self.lanes))}
        self.loops.update({name: Channels(only=name) for name in self.lanes})
        self._queues: dict[str, deque[Item]] = {name: deque() for name in self.loops}
        self._wakes = {name: asyncio.Event() for name in self.loops}
        self._upkeep = asyncio.Lock()  # one source upkeep at a time, whichever loop asks
        self.clock, self.config, self.skip_locked = clock, config, skip_locked
        self._sleep: Sleep = asyncio.sleep
        # How the idle loop waits between polls (a wake-up cuts it short); tests pass one that
        # moves their clock, so the loop the app runs can be driven without waiting.
        self.poll: Sleep = poll
        self._inflight: set[asyncio.Task[None]] = set()
        self._buffer = Buffer()
        self._flushed_at = clock.now()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # --- knobs tests turn --------------------------------------------------------------------

    @property
    def sleep(self) -> Sleep:
        """How the pipeline (and its budgets) wait: asyncio.sleep, or a fake that moves a clock."""
        return self._sleep

    @sleep.setter
    def sleep(self, value: Sleep) -> None:
        self._sleep = value
        for lane in self.all_lanes():
            lane.sleep = value

    @property
    def retry_after_hits(self) -> int:
        """429s met by the bulk lanes."""
        return sum(lane.retry_after_hits for lane in self.all_lanes())

    def all_lanes(self) -> list[SendBudget]:
        """Every lane the pipeline sends on."""
        return [self.budget, self.paid_budget, *self.lanes.values()]

    def lane_of(self, item: Item) -> SendBudget:
        """The lane a row goes on: its channel's own, else the paid or the free one."""
        lane = self.lanes.get(channel_of(item.chat_id).value)
        if lane is not None:
            return lane
        return self.paid_budget if item.paid else self.budget

    def source(self, name: str) -> Any:
        """The source of that name (``broadcasts``, ``reminders``)."""
        return next(s for s in self.sources if s.name == name)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run in the background."""
        self._task = asyncio.create_task(self.run(), name="delivery-pipeline")

    @property
    def running(self) -> bool:
        """Whether the background loop runs."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop the loop; rows without a request go back, requests in flight finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.settle()
        # A graceful stop leaves nothing claimed: only a crash makes rows unknown.
        for queue in self._queues.values():
            await self._release(list(queue), None)
            queue.clear()

    def wake(self) -> None:
        """Something changed (a launch, a hand-over): look at the outboxes now."""
        for event in self._wakes.values():
            event.set()

    def halt(self, broadcast_id: int) -> None:
        """Stop sending rows of a broadcast already claimed (pause, cancel)."""
        self.source("broadcasts").halt(broadcast_id)

    async def run(self) -> None:
        """Recover, then drain the outboxes for as long as the bot runs (a loop per lane)."""
        await self.recover()
        await asyncio.gather(*(self._loop(name) for name in self.loops))

    async def _loop(self, name: str) -> None:
        while True:
            try:
                claimed = await self.step_of(name)
            except Exception:  # a database hiccup must not end the pipeline for good
                log.exception("delivery step failed")
                claimed = 0
            if not claimed:
                await self._idle(name)

    async def _idle(self, name: str) -> None:
        """Wait ``IDLE_POLL`` seconds through ``poll``, or less when woken."""
        wake = self._wakes[name]
        wake.clear()
        waits = [
            asyncio.ensure_future(wake.wait()),
            asyncio.ensure_future(self.poll(IDLE_POLL)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def recover(self) -> tuple[int, int]:
        """Rows a previous process left: claimed ones go back, those in flight become unknown."""
        back = lost = 0
        async with transaction(self.sessions) as session:
            for source in self.sources:
                released, unknown = await outbox_repo.recover(session=session, model=source.model)
                back, lost = back + released, lost + unknown
        if lost:
            log.warning("%d sends were in flight at the last stop: recorded as unknown", lost)
        return back, lost

    async def drain(self, max_steps: int = 100_000) -> None:
        """Send until nothing due is left (tests and the CLI; waits through ``sleep``).

        What falls due later than a retry would (a scheduled notice, the morning after quiet
        hours) is left for its time, as is anything when this drain claimed nothing.
        """
        claimed = 0
        for _ in range(max_steps):
            if step := await self.step():
                claimed += step
                continue
            await self.settle()
            due = await self.next_due()
            now = self.clock.now()
            if due is None or not claimed or due > now + timedelta(seconds=MAX_BACKOFF):
                break
            await self.sleep(max(0.0, (due - now).total_seconds()))
        await self.between_steps(full=True)

    async def next_due(self) -> datetime | None:
        """When the earliest row of any source may be claimed."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            found = [await s.next_due(session, now) for s in self.sources]
        return min((due for due in found if due is not None), default=None)

    async def settle(self) -> None:
        """Wait for the requests in flight and record their outcomes."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        await self.flush()

    async def between_steps(self, *, full: bool) -> None:
        """Each source's upkeep (status messages, finishing broadcasts)."""
        async with self._upkeep:
            for source in self.sources:
                await source.between_steps(self, full=full)

    # --- one step ----------------------------------------------------------------------------

    async def step(self) -> int:
        """One step of every loop, side by side; returns how many rows were claimed."""
        return sum(await asyncio.gather(*(self.step_of(name) for name in self.loops)))

    async def step_of(self, name: str) -> int:
        """Claim a batch of the loop's channels from every source and send it; returns how
        many rows were claimed."""
        now = self.clock.now()
        channels = self.loops[name]
        batches: list[list[Item]] = []
        async with transaction(self.sessions) as session:
            for source in self.sources:
                claim = source.claim(session, now, self._batch(), self.skip_locked, channels)
                batches.append(await claim)
        # Interleaved, so a long broadcast never holds up a reminder for a whole batch.
        items = [i for group in _zip_longest(batches) for i in group]
        queue = self._queues[name]
        queue.extend(items)
        while queue:
            await self._dispatch_next(queue)
        await self.flush(force=False)
        await self.between_steps(full=len(items) < self.config.claim_batch)
        return len(items)

    def _batch(self) -> int:
        return max(1, self.config.claim_batch)

    async def _dispatch_next(self, queue: deque[Item]) -> None:
        item = queue[0]
        if item.source.halted(item):
            await self._release_first(queue, None)
            return
        lane = self.lane_of(item)
        chat_wait = lane.chat_wait(item.chat_id)
        if chat_wait > 0:  # the chat got a message under a second ago: it goes a bit later
            await self._release_first(queue, chat_wait)
            return
        await self._wait_for_slot(item, lane, queue)
        # Nothing is awaited from here to `take`: a reply that went during the wait took its
        # place in the window (and its chat) before this send looked, never after.
        if not item.source.may_send(item, self.clock.now()):  # the wait ran into quiet hours
            await self._release_first(queue, 0.0)
            return
        if (chat_wait := lane.chat_wait(item.chat_id)) > 0:  # a reply went meanwhile
            await self._release_first(queue, chat_wait)
            return
        place = lane.take(item.chat_id)
        queue.popleft()
        task = asyncio.create_task(self._deliver(item, lane, place))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        limit = self.config.paid_max_in_flight if item.paid else self.config.max_in_flight
        while len(self._inflight) >= limit:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    async def _wait_for_slot(self, item: Item, lane: SendBudget, queue: deque[Item]) -> None:
        """Until the lane may send; the ``sending`` marks are written during the wait, so their
        write does not make the send late (and no sooner than ``mark_ahead`` before it, so a
        long pause leaves no row marked that a crash would report as unknown). The lane is
        asked again after the write: a reply may have taken the place while it ran."""
        ahead = self.config.mark_ahead
        while (wait := await lane.ready()) > EARLY or not item.marked:
            if not item.marked and wait <= ahead:
                await self._mark_ahead(lane, queue)
                continue
            await self.sleep(wait if item.marked else wait - ahead / 2)

    async def _mark_ahead(self, lane: SendBudget, queue: deque[Item]) -> None:
        """Write ``sending`` for the rows about to go (the next ``mark_ahead`` seconds)."""
        count = max(1, int(self.config.mark_ahead / lane.interval))
        group = [i for i in list(queue)[:count] if not i.marked]
        async with transaction(self.sessions) as session:
            for source in self.sources:
                ids = [i.row.id for i in group if i.source is source]
                await outbox_repo.mark_sending(session=session, model=source.model, ids=ids)
        for item in group:
            item.marked = True

    async def _release_first(self, queue: deque[Item], delay: float | None) -> None:
        item = queue.popleft()
        await self._release([item], delay)

    async def _release(self, items: Sequence[Item], delay: float | None) -> None:
        if not items:
            return
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            for source in self.sources:
                mine = [i for i in items if i.source is source]
                if mine:
                    moment = None if delay is None else now + timedelta(seconds=delay)
                    await source.release(session, mine, moment)

    # --- one send ----------------------------------------------------------------------------

    async def _deliver(self, item: Item, lane: SendBudget, place: Place) -> None:
        now = self.clock.now()
        try:
            result = await self.sender.send(item.source.render(item, now))
        except BaseException:  # cancelled: it may have gone, and must not stay "in flight"
            lane.answered(place)
            raise
        if result.outcome in (Outcome.RETRY_AFTER, Outcome.NOT_SENT):  # Telegram did not take it
            lane.give_back(place)
        else:
            lane.answered(place)
        if result.outcome is Outcome.RETRY_AFTER:  # the chat's own limit, or the bot's
            await lane.refused(item.chat_id, result.retry_after, place.previous)
        values = {"id": item.row.id, **self._values(item, result, now)}
        self._buffer.outcomes.setdefault(item.source.name, []).append(values)
        if result.outcome is Outcome.BLOCKED:
            self._buffer.blocked.append(item.row)
        self._buffer.rows += 1
        await self.flush(force=False)

    def _values(self, item: Item, result: Result, now: datetime) -> dict[str, Any]:
        """The columns one outcome writes (the error policy)."""
        source, row = item.source, item.row
        match result.outcome:
            case Outcome.SENT:
                extra = source.sent_values(item, result)
                return {"status": "sent", "sent_at": now, "error": None, **extra}
            case Outcome.RETRY_AFTER:  # not the row's fault: no attempt used up
                later = source.later(item, now + timedelta(seconds=result.retry_after))
                return {"status": "pending", source.due_column: later, "error": "429"}
            case Outcome.NOT_SENT:
                attempts = row.attempts + 1
                if attempts >= self.config.max_attempts:
                    return {"status": "failed", "attempts": attempts, "error": result.error}
                wait = timedelta(seconds=min(MAX_BACKOFF, 2.0**attempts))
                later = source.later(item, now + wait)
                due = {source.due_column: later}
                return {"status": "pending", "attempts": attempts, "error": result.error, **due}
            case _:  # sent to nobody (failed, blocked) or to somebody perhaps (unknown)
                return {"status": result.outcome.value, "error": result.error}

    async def flush(self, *, force: bool = True) -> None:
        """Write the buffered outcomes (all when forced, else when enough have gathered)."""
        since = (self.clock.now() - self._flushed_at).total_seconds()
        # The pipeline's clock (tests move it); a wall clock set back counts as due.
        due = since >= self.config.flush_every or since < 0
        enough = force or due or self._buffer.rows >= self.config.flush_rows
        if not self._buffer.rows or not enough:
            return
        async with self._flush_lock:
            buffer, self._buffer = self._buffer, Buffer()
            self._flushed_at = self.clock.now()
            if not buffer.rows:
                return
            async with transaction(self.sessions) as session:
                for source in self.sources:
                    outcomes = buffer.outcomes.get(source.name)
                    if outcomes:
                        await outbox_repo.record(
                            session=session, model=source.model, outcomes=outcomes
                        )
                await outbox_repo.mark_unreachable(session=session, rows=buffer.blocked)


def _zip_longest(batches: list[list[Item]]) -> list[list[Item]]:
    longest = max((len(b) for b in batches), default=0)
    return [[b[i] for b in batches if i < len(b)] for i in range(longest)]
