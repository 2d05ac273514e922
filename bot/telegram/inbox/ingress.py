"""Updates in: stored in the inbox (in batches) before Telegram is told they arrived.

Long polling tells Telegram with the offset of the next getUpdates: PTB's Updater puts each
update of a batch on ``update_queue`` and then asks for the next offset. `InboxQueue.put`
hands the update to `Ingress`, which stores what arrived in one transaction, and `PollGate`,
the transport of getUpdates, waits for that transaction before it sends the next offset. So
a batch is stored with one INSERT, and nothing is acknowledged that is not stored. A webhook
request waits for its own update's transaction before it answers 200
(bot/telegram/inbox/webhook.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from bot.common.clock import Clock
from bot.telegram.processor import chat_key
from storage import inbox_repo
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Item:
    """One update on its way to the handlers.

    ``update``: the parsed update when this process received it, else None (read back from
    the inbox after a restart, or received by another worker); ``recovered`` items count an
    attempt before they are handled, so an update that crashes the process is given up.
    """

    update_id: int
    chat_id: int
    update: Update | None = None
    payload: str | None = None
    attempts: int = 0
    recovered: bool = False
    stored: asyncio.Future[None] | None = field(default=None, repr=False)


def item_of(update: Update, payload: str | None) -> Item:
    """The item of a freshly received update."""
    return Item(update.update_id, chat_key(update) or 0, update, payload)


class Ingress:
    """Group commit of received updates; the new ones go on to ``deliver`` once stored."""

    def __init__(
        self, sessions: SessionFactory, clock: Clock, deliver: Callable[[list[Item]], None]
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._deliver = deliver
        self._buffer: list[Item] = []
        self._task: asyncio.Task[None] | None = None
        self._raw: dict[int, str] = {}

    def note_raw(self, body: bytes) -> None:
        """Keep each update's JSON from a getUpdates answer, to store it as received."""
        try:
            updates = json.loads(body).get("result") or []
            self._raw = {u["update_id"]: json.dumps(u, ensure_ascii=False) for u in updates}
        except (ValueError, TypeError, KeyError, AttributeError):  # PTB reports bad answers
            self._raw = {}

    def receive(self, update: Update, *, raw: str | None = None, wait: bool = False):
        """Queue an update for the next batch; with ``wait``, a future done once it is stored."""
        payload = raw or self._raw.pop(update.update_id, None) or update.to_json()
        item = item_of(update, payload)
        if wait:
            item.stored = asyncio.get_running_loop().create_future()
        self._buffer.append(item)
        self._kick()
        return item.stored

    async def flushed(self) -> None:
        """Return once every update received so far is stored; raise if storing failed."""
        while self._buffer or (self._task is not None and not self._task.done()):
            self._kick()
            assert self._task is not None
            await asyncio.shield(self._task)

    def _kick(self) -> None:
        if self._buffer and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._flush(), name="inbox-in")
            self._task.add_done_callback(_retrieve)

    async def _flush(self) -> None:
        while self._buffer:
            batch, self._buffer = self._buffer, []
            try:
                new = await self._store(batch)
            except Exception as error:
                log.warning("could not store %d received updates: %s", len(batch), error)
                self._buffer[:0] = batch  # the next flush tries them again
                _settle(batch, error)
                raise
            _settle(batch, None)
            # Updates that arrived together (webhook requests at the same moment) go on in
            # Telegram's order, not in the order their requests happened to be read.
            fresh = sorted((i for i in batch if i.update_id in new), key=lambda i: i.update_id)
            self._deliver(fresh)

    async def _store(self, batch: list[Item]) -> set[int]:
        now = self._clock.now()
        rows = [
            {
                "update_id": item.update_id,
                "chat_id": item.chat_id,
                "payload": item.payload,
                "received_at": now,
            }
            for item in batch
        ]
        async with transaction(self._sessions) as session:
            return await inbox_repo.store_received(session=session, rows=rows)


def _settle(batch: list[Item], error: Exception | None) -> None:
    for item in batch:
        if item.stored is not None and not item.stored.done():
            if error is None:
                item.stored.set_result(None)
            else:
                item.stored.set_exception(error)


def _retrieve(task: asyncio.Task[None]) -> None:
    # A failed flush is logged and retried by the next one; its error needs no other reader.
    if not task.cancelled():
        task.exception()


class InboxQueue(asyncio.Queue):
    """The Application's update queue: updates go to the inbox, everything else as before.

    PTB's Updater puts what getUpdates returned here; PTB's own fetcher still reads the queue
    for its stop signal. Once ``ingress`` is set, updates are stored and dispatched by the
    inbox instead of being queued in memory.
    """

    ingress: Ingress | None = None
    gate: PollGate | None = None

    async def put(self, item: Any) -> None:
        """Store an update; queue anything else.

        Behind the poller's gate the next getUpdates waits for the store, so a batch is one
        transaction; any other producer (PTB's own webhook server) waits here.
        """
        if self.ingress is not None and isinstance(item, Update):
            stored = self.ingress.receive(item, wait=self.gate is None)
            if stored is not None:
                await stored
            return
        await super().put(item)


class PollGate(BaseRequest):
    """The transport of getUpdates: waits until the received updates are stored before the
    next getUpdates moves Telegram's offset past them, and keeps their JSON as received."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self.ingress: Ingress | None = None

    async def initialize(self) -> None:
        """Initialise the wrapped transport."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped transport down."""
        await self.inner.shutdown()

    @property
    def read_timeout(self) -> float | None:
        """The wrapped transport's read timeout."""
        return self.inner.read_timeout

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        """Send the call; a getUpdates first waits for the inbox."""
        polling = self.ingress is not None and url.endswith("/getUpdates")
        if polling:
            try:
                await self.ingress.flushed()
            except Exception as error:  # PTB's polling loop retries a NetworkError
                raise NetworkError(f"received updates not stored yet: {error}") from error
        code, body = await self.inner.do_request(url, method, request_data, **timeouts)
        if polling and code == 200:
            self.ingress.note_raw(body)
        return code, body
