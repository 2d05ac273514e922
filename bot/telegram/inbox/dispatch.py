"""Updates out of the inbox to the handlers: each chat in order, one update of a chat at a time.

One runner task per active chat takes the chat's updates in order (update id) and hands each to
``Application.process_update``; up to ``MAX_CONCURRENT`` updates of different chats run at
once. The update's first transaction marks its row done together with its effects
(``Runtime.unit``); an update no handler opened a transaction for is marked done afterwards.

Two ways to know a chat's next updates:
- local (SQLite, one process): the process has received every update, so they queue in
  memory, and a restart first queues whatever the inbox still holds as pending.
- leased (PostgreSQL, any number of workers): a worker handles a chat only under the chat's
  lease (a row with an owner and an expiry, renewed while it works), and reads the chat's
  pending rows from the inbox, whichever worker stored them. Giving the lease up and checking
  for pending rows are one transaction, so an update stored by a worker that could not claim
  the chat is never left behind; a dead worker's leases expire and a sweep hands its chats on.

A failure is retried when it may pass (the database went away) and otherwise reported by the
error handler; an update that failed or crashed the process ``MAX_RETRIES`` times more is
given up, logged, and the user of a private chat is asked to try again (`ask_to_try_again`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ApplicationHandlerStop

from bot.common.i18n import normalize_locale, t
from bot.common.workers import LEASE_TTL, KeyedRunners, backoff, is_transient
from bot.runtime import (
    KEEP_PROCESSED,
    PRUNE_EVERY,
    Claim,
    current_claim,
    reset_claim,
    run_with_claim,
    runtime_of,
)
from bot.telegram.inbox.ingress import Item
from bot.telegram.replies import ask_to_try_again
from storage import inbox_repo
from storage.db import transaction

log = logging.getLogger(__name__)
MAX_CONCURRENT = 64  # updates of different chats handled at once
MAX_RETRIES = 3  # further attempts after the first, then the update is given up
BATCH = 50  # pending rows of a chat read at a time (leased mode)
SWEEP_CHATS = 200


class Dispatcher(KeyedRunners):
    """The chat runners of one process, in local or leased mode."""

    runner_name = "inbox-chat"

    def __init__(self, application: Application, *, leased: bool, sleep=asyncio.sleep) -> None:
        self.app = application
        self.rt = runtime_of(application)
        super().__init__(self.rt.sessions, self.rt.clock)
        self.leased = leased
        self.sleep = sleep  # tests pass one that does not wait
        self._queued: dict[int, deque[Item]] = {}  # local mode: the chat's items in order
        self._received: dict[int, dict[int, Item]] = {}  # leased: parsed items by update id
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    # --- feeding --------------------------------------------------------------------------

    def submit(self, items: list[Item]) -> None:
        """Stored updates (in update id order) to be handled."""
        for item in items:
            if self.leased:
                self._received.setdefault(item.chat_id, {})[item.update_id] = item
            else:
                self._queued.setdefault(item.chat_id, deque()).append(item)
            self.poke(item.chat_id)

    async def start(self) -> None:
        """Open, and queue what the inbox holds from before (a restart or another worker)."""
        self.open = True
        if self.leased:
            await self.sweep()
            self.start_timers()
            return
        async with transaction(self.rt.sessions) as session:
            rows = await inbox_repo.pending(session=session)
        if rows:
            log.info("resuming %d stored updates", len(rows))
        self.submit([_recovered(row) for row in rows])

    # --- the runner of one chat -----------------------------------------------------------

    async def _run(self, chat_id: int) -> None:
        try:
            while self.open:
                self._dirty.discard(chat_id)
                batch = await self._next_batch(chat_id)
                if batch is None:  # another worker holds the chat: it will see these too
                    self._received.pop(chat_id, None)
                    break
                for item in batch:
                    if not self.open:
                        break
                    await self.handle(item)
                if batch and not self.leased:
                    continue
                # Leased: give the chat up at once (one transaction, not a claim and a read
                # that finds nothing) and look again only if updates came meanwhile.
                if await self._idle(chat_id) or chat_id in self._dirty:
                    continue
                break
        except Exception:  # the database is gone: the sweep or a restart picks the chat up
            log.exception("inbox runner of chat %s stopped", chat_id)
        finally:
            self._runners.pop(chat_id, None)
            if self.leased and not self.open:
                await self._release_quietly(chat_id)

    async def _next_batch(self, chat_id: int) -> list[Item] | None:
        if not self.leased:
            queued = self._queued.pop(chat_id, None)
            return list(queued) if queued else []
        now = self.rt.clock.now()
        async with transaction(self.rt.sessions) as session:
            claimed = await inbox_repo.claim_chat(
                session=session, chat_id=chat_id, owner=self.owner, now=now, until=now + LEASE_TTL
            )
            rows = (
                await inbox_repo.pending_of_chat(session=session, chat_id=chat_id, limit=BATCH)
                if claimed
                else []
            )
        if not claimed:
            return None
        received = self._received.get(chat_id, {})
        return [received.pop(row.update_id, None) or _recovered(row) for row in rows]

    async def _idle(self, chat_id: int) -> bool:
        """Nothing left here; in leased mode give the chat up. True: updates are pending."""
        if not self.leased:
            return False
        async with transaction(self.rt.sessions) as session:
            return await inbox_repo.release_chat(
                session=session, chat_id=chat_id, owner=self.owner
            )

    async def _release_quietly(self, chat_id: int) -> None:
        with contextlib.suppress(Exception):
            await self._idle(chat_id)

    # --- one update -----------------------------------------------------------------------

    async def handle(self, item: Item) -> None:
        """Handle one stored update: once, or retried while its failure may pass."""
        while True:
            try:
                async with self._slots:
                    claim = await self._attempt(item)
            except Exception as error:  # our own bookkeeping failed: the database
                if not self.open:
                    return
                log.warning("update %s: %s; trying again", item.update_id, error)
                claim = Claim(item.update, retry=True) if item.update else None
            if claim is None or not claim.retry or not self.open:
                return
            await self.sleep(backoff(item.attempts + 1))
            item.recovered = True

    async def _attempt(self, item: Item) -> Claim | None:
        update = item.update or self._parse(item)
        if update is None:
            await self._finish(item, gave_up=True)
            return None
        item.update = update
        if item.recovered:
            attempts = await self._count_attempt(item)
            if attempts is None:  # handled meanwhile (by another worker)
                return None
            if attempts > MAX_RETRIES:
                await self._give_up(item, update)
                return None
        claim = Claim(update, managed=True, may_retry=item.attempts < MAX_RETRIES)
        token = run_with_claim(claim)
        try:
            await self.app.process_update(update)
        finally:
            reset_claim(token)
        if not claim.recorded and not claim.retry:
            # No handler kept anything (nothing matched, or it needed no transaction), or a
            # handler failed and the error handler told the user: either way it is over.
            await self._finish(item, gave_up=claim.failed)
        return claim

    def _parse(self, item: Item) -> Update | None:
        try:
            return Update.de_json(json.loads(item.payload or "null"), self.app.bot)
        except Exception:
            log.exception("stored update %s cannot be read; dropped", item.update_id)
            return None

    async def _count_attempt(self, item: Item) -> int | None:
        async with transaction(self.rt.sessions) as session:
            attempts = await inbox_repo.count_attempt(session=session, update_id=item.update_id)
        if attempts is not None:
            item.attempts = attempts
        return attempts

    async def _finish(self, item: Item, *, gave_up: bool) -> None:
        now = self.rt.clock.now()
        async with transaction(self.rt.sessions) as session:
            await inbox_repo.finish(
                session=session, update_id=item.update_id, now=now, gave_up=gave_up
            )
            if item.update_id % PRUNE_EVERY == 0:  # as Runtime.unit does for the others
                await inbox_repo.forget_done_before(session=session, moment=now - KEEP_PROCESSED)

    async def _give_up(self, item: Item, update: Update) -> None:
        await self._finish(item, gave_up=True)
        log.error(
            "update %s of chat %s given up after %d attempts",
            item.update_id,
            item.chat_id,
            item.attempts,
        )
        await self._apologise(update)

    async def _apologise(self, update: Update) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        locale = normalize_locale(
            user.language_code if user else None, self.rt.settings.default_locale
        )
        await ask_to_try_again(self.app.bot, chat.id, t(locale, "inbox.try_again"))

    # --- leases: renewal and the sweep for chats whose worker died ------------------------

    async def sweep(self) -> None:
        """Start runners for chats with pending updates that no live worker holds."""
        async with transaction(self.rt.sessions) as session:
            chats = await inbox_repo.orphaned_chats(
                session=session, now=self.rt.clock.now(), limit=SWEEP_CHATS
            )
        for chat_id in chats:
            self.poke(chat_id)


def _recovered(row) -> Item:
    return Item(row.update_id, row.chat_id, None, row.payload, row.attempts, recovered=True)


async def note_failure(update: object, context) -> None:
    """Error handler run before the one that apologises: a failure worth another try is not
    reported (the dispatcher tries again); any other is noted on the update's claim."""
    claim = current_claim(update)
    if claim is None or not claim.managed or claim.recorded:
        return
    if claim.may_retry and is_transient(context.error):
        claim.retry = True
        log.warning(
            "update %s failed (%r); it will be tried again", claim.update.update_id, context.error
        )
        raise ApplicationHandlerStop
    claim.failed = True
