"""WeCom's durable inbox: events stored before WeCom gets its 200, then handled in each
member's order by one worker at a time, on one process or several sharing PostgreSQL.

Like Telegram's inbox (bot/telegram/inbox/dispatch.py, leased mode), with the same chat
leases (``inbox_lease``) under keys of their own: a worker handles a member's events only
while it holds the member's lease, renewed while it works; giving the lease up and looking
for pending events are one transaction, so an event stored by a process that could not claim
the member is never left behind; a dead worker's leases expire and a sweep hands its members
on. One code path for SQLite and PostgreSQL: WeCom's volume does not need Telegram's
in-memory shortcut for one process.

An event is marked done right after its handler returns, in a transaction of its own, unless
the handler marked it in its own transaction first (``mark_handled``): the dispatcher does,
so that an event's effects and its done mark commit together and a crash between them cannot
run it twice. A handler that raises a failure that may pass (the database) is tried again;
any other failure is logged and the event given up; an event that crashed the process
``MAX_RETRIES`` times more is given up too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.clock import Clock
from bot.common.workers import LEASE_TTL, KeyedRunners, backoff, is_transient
from bot.wecom.events import EventHandler, WeComEvent, read_event
from bot.wecom.xmlfields import WeComXmlError
from storage import inbox_repo, wecom_inbox_repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
MAX_CONCURRENT = 32  # events of different members handled at once
MAX_RETRIES = 3  # further attempts after the first, then the event is given up
BATCH = 50  # pending events of a member read at a time
SWEEP_MEMBERS = 200
KEEP_DONE = timedelta(days=2)  # WeCom retries an unanswered callback within seconds
PRUNE_EVERY = 1000
# Members' lease keys: below -2**62, where no Telegram chat id (|id| < 2**53) and no address
# (positive) lies; 56 bits of a hash of the user id (a clash only makes two members wait).
MEMBER_BASE = -(1 << 62)


def member_key(user_id: str) -> int:
    """The lease key of a WeCom member (by their userid)."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=7).digest()
    return MEMBER_BASE - int.from_bytes(digest, "big")


@dataclass
class _Handling:
    event_id: int
    marked: bool = False  # mark_handled ran in the handler's transaction


@dataclass
class StoredEvent:
    """A pending event as the worker reads it; ``attempts`` as counted so far."""

    id: int
    payload: str
    attempts: int


_CURRENT: ContextVar[_Handling | None] = ContextVar("stabot_wecom_event", default=None)


async def mark_handled(session: AsyncSession, now: datetime) -> bool:
    """Mark the event being handled done in the caller's transaction (with its effects).

    False: it was done before (handled meanwhile), so the caller should keep nothing.
    True as well outside the worker (tests, the terminal chat): there is nothing to mark.
    """
    handling = _CURRENT.get()
    if handling is None:
        return True
    handling.marked = True
    return await wecom_inbox_repo.finish(session=session, event_id=handling.event_id, now=now)


class WeComInbox(KeyedRunners):
    """Store received events, and the workers that take them to ``handler``."""

    runner_name = "wecom-member"

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        handler: EventHandler,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__(sessions, clock)
        self.handler = handler
        self.sleep = sleep  # between tries of a failed event; tests pass one that does not wait
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._stored = 0  # since the last pruning of old done rows
        self._buffer: list[tuple[dict, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # --- in -------------------------------------------------------------------------------

    async def receive(self, event: WeComEvent, plain_xml: str) -> bool:
        """Store an event (before WeCom is answered); False when it was stored before.

        Callbacks that arrive together are stored in one transaction (a group commit, as
        Telegram's ingress does): under a burst the answers wait for one commit, not a queue
        of them.
        """
        row = {
            "dedup_key": event.dedup_key[:160],
            "user_id": event.user_id[:64],
            "member_key": member_key(event.user_id),
            "payload": plain_xml,
        }
        stored = asyncio.get_running_loop().create_future()
        self._buffer.append((row, stored))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await stored

    async def _flush(self) -> None:
        while self._buffer:
            batch, self._buffer = self._buffer, []
            try:
                new = await self._store([row for row, _ in batch])
            except Exception as error:  # each callback answers 500: WeCom delivers it again
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(error)
                continue
            for row, stored in batch:
                fresh = row["dedup_key"] in new
                new.discard(row["dedup_key"])  # a key twice in one batch is new only once
                if not stored.done():
                    stored.set_result(fresh)
                if fresh:
                    self.poke(row["member_key"])

    async def _store(self, rows: list[dict]) -> set[str]:
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            new = await wecom_inbox_repo.store(
                session=session, rows=[row | {"received_at": now} for row in rows]
            )
            self._stored += len(rows)
            if self._stored >= PRUNE_EVERY:
                self._stored = 0
                await wecom_inbox_repo.forget_done_before(session=session, moment=now - KEEP_DONE)
        return new

    # --- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open, and take up what is stored from before (a restart, or another process)."""
        self.open = True
        await self.sweep()
        self.start_timers()

    async def sweep(self) -> None:
        """Start runners for members with pending events and no live lease."""
        async with transaction(self.sessions) as session:
            keys = await wecom_inbox_repo.orphaned_members(
                session=session, now=self.clock.now(), limit=SWEEP_MEMBERS
            )
        for key in keys:
            self.poke(key)

    # --- one member -----------------------------------------------------------------------

    async def _run(self, key: int) -> None:
        try:
            while self.open:
                self._dirty.discard(key)
                batch = await self._next_batch(key)
                if batch is None:  # another worker holds the member: it will see these too
                    break
                for row in batch:
                    if not self.open:
                        break
                    await self.handle(row)
                if await self._release(key) or key in self._dirty:
                    continue
                break
        except Exception:  # the database is gone: the sweep or a restart takes it up
            log.exception("wecom runner of member %s stopped", key)
        finally:
            self._runners.pop(key, None)
            if not self.open:
                with contextlib.suppress(Exception):
                    await self._release(key)

    async def _next_batch(self, key: int) -> list[StoredEvent] | None:
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            claimed = await inbox_repo.claim_chat(
                session=session, chat_id=key, owner=self.owner, now=now, until=now + LEASE_TTL
            )
            if not claimed:
                return None
            rows = await wecom_inbox_repo.pending_of_member(
                session=session, member_key=key, limit=BATCH
            )
            batch = [StoredEvent(row.id, row.payload, row.attempts) for row in rows]
            if batch:
                # An attempt of the member's first event only: an event that crashes the
                # process is the first of its member after each restart, so it is counted
                # once per crash, and the events behind it are not counted for its crashes.
                head = batch[0]
                head.attempts = (
                    await wecom_inbox_repo.count_attempt(session=session, event_id=head.id)
                    or head.attempts + 1
                )
        return batch

    async def _release(self, key: int) -> bool:
        async with transaction(self.sessions) as session:
            return await wecom_inbox_repo.release_member(
                session=session, member_key=key, owner=self.owner
            )

    # --- one event ------------------------------------------------------------------------

    async def handle(self, stored: StoredEvent) -> None:
        """Handle one stored event: once, or again while its failure may pass."""
        if stored.attempts > MAX_RETRIES + 1:
            log.error("wecom event %s given up after %d attempts", stored.id, stored.attempts)
            await self._finish(stored.id, gave_up=True)
            return
        try:
            event = read_event(stored.payload)
        except WeComXmlError:
            log.error("stored wecom event %s cannot be read; given up", stored.id)
            await self._finish(stored.id, gave_up=True)
            return
        for attempt in range(1, MAX_RETRIES + 2):
            outcome, marked = await self._run_handler(stored.id, event)
            if outcome == "retry" and attempt <= MAX_RETRIES and self.open:
                await self.sleep(backoff(attempt))
                continue
            if outcome == "retry" and not self.open:
                return  # stopping: it stays pending for the next start
            if not marked or outcome != "done":
                await self._finish(stored.id, gave_up=outcome != "done")
            return

    async def _run_handler(self, event_id: int, event: WeComEvent) -> tuple[str, bool]:
        """The outcome (done, retry or failed) and whether the handler marked the event."""
        handling = _Handling(event_id)
        token = _CURRENT.set(handling)
        try:
            async with self._slots:
                await self.handler(event)
            return "done", handling.marked
        except Exception as error:
            if is_transient(error):
                name = type(error).__name__  # not its text: it may carry the event's words
                log.warning("wecom event %s failed (%s); trying again", event_id, name)
                return "retry", False
            # The event's kind only: its text is the member's and stays out of the log.
            log.exception("wecom event %s (%s) failed; given up", event_id, event.kind)
            return "failed", False
        finally:
            _CURRENT.reset(token)

    async def _finish(self, event_id: int, *, gave_up: bool) -> None:
        # A no-op when the handler marked it in its own transaction (mark_handled).
        async with transaction(self.sessions) as session:
            await wecom_inbox_repo.finish(
                session=session, event_id=event_id, now=self.clock.now(), gave_up=gave_up
            )
