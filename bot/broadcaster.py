"""The broadcast sender: drains the outbox on its own Bot API lane, under Telegram's limits.

Replies go through ``application.bot``; broadcasts through a second `telegram.Bot` with its own
connection pool and this module's rate limiter, so a long broadcast never queues a reply.

In-flight policy (at most once): rows are claimed as ``sending`` in small batches
(``BROADCAST_CLAIM_BATCH``, 25 by default: 1 s of sending at 25/s) right before their
requests, and each outcome is written as soon as Telegram answers. A graceful stop
(SIGINT/SIGTERM) waits for the requests in flight and puts claimed rows that were never
requested back to ``pending``, so nothing is left in between. After a crash, a row still
``sending`` may or may not have reached Telegram, which has no idempotency key: it is marked
failed with error ``interrupted`` and never resent (no duplicates), and the delivery report
counts it among the failures (nobody is dropped silently). The window is the last claimed
batch plus the requests in flight at the moment of the crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict
from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.clock import Clock
from bot.flows import broadcast as views
from bot.flows.base import Reply
from bot.handlers.render import render_markup, render_text
from bot.i18n import t
from bot.runtime import runtime_of
from bot.services import broadcasts
from storage import broadcasts_repo as repo
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastStatus, DeliveryStatus
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
SERVICE_KEY = "broadcast"
MAX_ATTEMPTS = 5  # transient failures before a row is given up as failed
MAX_BACKOFF = 300.0
CATCH_UP = 2
IDLE_POLL = 1.0  # seconds between outbox polls when idle (scheduled notices, other workers)
Sleep = Callable[[float], Awaitable[None]]


class BroadcastSettings(BaseSettings):
    """``BROADCAST_*`` settings of the sender."""

    model_config = SettingsConfigDict(env_prefix="BROADCAST_", env_file=".env", extra="ignore")

    rate: float = 25.0  # messages per second overall (Telegram allows about 30)
    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    progress_every: float = 3.0  # seconds between edits of the admin's status message
    max_in_flight: int = 50  # concurrent requests on the broadcast lane
    # Rows claimed per step: small, because after a crash a claimed batch counts as "in flight"
    # (see the policy above); the limiter's catch-up credit hides the cost of claiming often.
    claim_batch: int = 25
    autostart: bool | None = None  # None: run the sender when a bot token is set


class RateLimiter:
    """Paces sends: a global rate, a per-chat interval, and a pause after a 429."""

    def __init__(self, rate: float, per_chat_interval: float, now: Callable[[], float]) -> None:
        self.interval = 1.0 / rate
        self.per_chat = per_chat_interval
        self.now = now
        self._next = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}

    def wait(self) -> float:
        """Seconds until the lane may send again."""
        return max(self._next, self._paused_until) - self.now()

    def chat_wait(self, chat_id: int) -> float:
        """Seconds until this chat may get another message."""
        return self._chat_next.get(chat_id, 0.0) - self.now()

    def take(self, chat_id: int) -> None:
        """Account for one send now."""
        now = self.now()
        # A little credit (CATCH_UP sends) makes up for the time a claim takes between batches;
        # no more, so that the busiest second stays under Telegram's 30 with replies included.
        self._next = max(self._next, now - CATCH_UP * self.interval) + self.interval
        self._chat_next[chat_id] = now + self.per_chat
        if len(self._chat_next) > 10_000:
            self._chat_next = {c: at for c, at in self._chat_next.items() if at > now}

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nothing is sent on the lane until then."""
        self._paused_until = max(self._paused_until, self.now() + seconds)


def _retry_seconds(error: RetryAfter) -> float:
    # PTB 22 warns that retry_after becomes a timedelta; accept both, without the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_notice(
    bot: Bot, chat_id: int, locale: str, broadcast: Broadcast, *, group: bool = False
) -> Message:
    """The notice exactly as recipients get it (the preview uses it too); ``group``: the copy
    posted in a work group, whose 已阅 button counts its members."""
    text = broadcast.text
    if broadcast.parent_id is not None:
        text = f"{t(locale, 'broadcast.reminder_prefix')}\n{text}"
    markup = render_markup(locale, views.notice_buttons(broadcast, group=group))
    common = {"parse_mode": ParseMode.HTML, "reply_markup": markup}
    if broadcast.media_kind == "photo":
        return await bot.send_photo(chat_id, broadcast.media_file_id, caption=text, **common)
    if broadcast.media_kind == "document":
        return await bot.send_document(chat_id, broadcast.media_file_id, caption=text, **common)
    return await bot.send_message(chat_id, text, **common)


class BroadcastSender:
    """Claims due outbox rows, sends them on the lane, records outcomes, reports progress."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        lane: Bot,
        admin_bot: Bot,
        clock: Clock,
        config: BroadcastSettings,
        skip_locked: bool = False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sessions = sessions
        self.lane = lane
        self.admin_bot = admin_bot
        self.clock = clock
        self.config = config
        self.skip_locked = skip_locked
        self.sleep = sleep
        self.limiter = RateLimiter(config.rate, config.per_chat_interval, self._timestamp)
        self.batch = max(1, config.claim_batch)
        self.retry_after_hits = 0
        self._inflight: set[asyncio.Task[None]] = set()
        self._halted: set[int] = set()
        self._undispatched: list[BroadcastDelivery] = []  # claimed, no request made yet
        self._shown: dict[int, tuple[float, int]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _timestamp(self) -> float:
        return self.clock.now().timestamp()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the sender in the background."""
        self._task = asyncio.create_task(self.run(), name="broadcast-sender")

    async def stop(self) -> None:
        """Stop the loop; claimed rows not yet requested go back, requests in flight finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.settle()
        # A graceful stop leaves nothing in "sending": only a crash invokes the in-flight policy.
        async with transaction(self.sessions) as session:
            await repo.release_unsent(session=session, ids=[r.id for r in self._undispatched])
        self._undispatched = []

    def wake(self) -> None:
        """Something changed (a launch, a resume): look at the outbox now."""
        self._wake.set()

    def halt(self, broadcast_id: int) -> None:
        """Stop sending rows of a broadcast already claimed (pause, cancel)."""
        self._halted.add(broadcast_id)

    async def run(self) -> None:
        """Recover, then drain the outbox for as long as the bot runs."""
        await self.recover()
        while True:
            try:
                sent = await self.step()
            except Exception:  # a database hiccup must not end the sender for good
                log.exception("broadcast step failed")
                sent = 0
            if not sent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL)

    async def recover(self) -> int:
        """Apply the in-flight policy to rows a previous process left in ``sending``."""
        async with transaction(self.sessions) as session:
            lost = await repo.interrupt_in_flight(session=session, now=self.clock.now())
        if lost:
            log.warning("%d broadcast rows were in flight at the last stop: marked failed", lost)
        return lost

    async def drain(self, max_steps: int = 10_000) -> None:
        """Send until nothing is due or waiting (tests and the CLI; sleeps via ``sleep``)."""
        for _ in range(max_steps):
            if await self.step():
                continue
            await self.settle()
            async with transaction(self.sessions) as session:
                due = await repo.next_due(session=session)
            if due is None:
                await self.maintain()
                return
            await self.sleep(max(0.0, (due - self.clock.now()).total_seconds()))

    async def settle(self) -> None:
        """Wait for the requests in flight."""
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    # --- one step ----------------------------------------------------------------------------

    async def step(self) -> int:
        """Claim one batch of due rows and send it; returns how many were claimed."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            await repo.activate_due(session=session, now=now)
            rows = await repo.claim(
                session=session, now=now, limit=self.batch, skip_locked=self.skip_locked
            )
            running = await repo.broadcasts_with_status(
                session=session, statuses=[BroadcastStatus.RUNNING]
            )
        self._halted.clear()  # claims only take running broadcasts; halts matter per batch
        by_id = {b.id: b for b in running}
        await self._open_progress(running)
        self._undispatched = list(rows)
        while self._undispatched:
            row = self._undispatched[0]
            await self._dispatch(row, by_id[row.broadcast_id])
        await self.maintain(full=len(rows) < self.batch)
        return len(rows)

    async def _dispatch(self, row: BroadcastDelivery, broadcast: Broadcast) -> None:
        if row.broadcast_id in self._halted:
            await self._release(row, 0.0)
            self._undispatched.pop(0)
            return
        chat_wait = self.limiter.chat_wait(row.chat_id)
        if chat_wait > 0:  # the chat got a message under a second ago: try it a bit later
            await self._release(row, chat_wait)
            self._undispatched.pop(0)
            return
        while (wait := self.limiter.wait()) > 0:
            await self.sleep(wait)
        self.limiter.take(row.chat_id)
        self._undispatched.pop(0)  # from here on the request may reach Telegram
        task = asyncio.create_task(self._deliver(row, broadcast))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        while len(self._inflight) >= self.config.max_in_flight:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    async def _release(self, row: BroadcastDelivery, delay: float) -> None:
        at = self.clock.now() + timedelta(seconds=delay)
        async with transaction(self.sessions) as session:
            broadcast = await session.get(Broadcast, row.broadcast_id)
            cancelled = broadcast is not None and broadcast.status == BroadcastStatus.CANCELLED
            status = DeliveryStatus.CANCELLED if cancelled else DeliveryStatus.PENDING
            await repo.set_delivery(
                session=session, delivery_id=row.id, status=status, next_attempt_at=at
            )

    async def _deliver(self, row: BroadcastDelivery, broadcast: Broadcast) -> None:
        values = await self._attempt(row, broadcast)
        async with transaction(self.sessions) as session:
            await repo.set_delivery(session=session, delivery_id=row.id, **values)
            if values["status"] == DeliveryStatus.BLOCKED:
                await repo.mark_unreachable(session=session, row=row)

    async def _attempt(self, row: BroadcastDelivery, broadcast: Broadcast) -> dict[str, object]:
        now = self.clock.now()
        try:
            message = await send_notice(
                self.lane, row.chat_id, row.locale, broadcast, group=row.group_id is not None
            )
        except RetryAfter as error:
            seconds = _retry_seconds(error)
            self.limiter.pause(seconds)
            self.retry_after_hits += 1
            # A 429 is not the row's fault: it goes back without using up an attempt.
            return _retry_at(now, seconds, "429", attempts=row.attempts)
        except Forbidden as error:
            return {"status": DeliveryStatus.BLOCKED, "error": str(error)[:200]}
        except BadRequest as error:  # chat not found, bad file id …: retrying will not help
            return {"status": DeliveryStatus.FAILED, "error": str(error)[:200]}
        except (NetworkError, TimeoutError, OSError) as error:
            return _backoff(now, row.attempts + 1, str(error))
        except TelegramError as error:
            return {"status": DeliveryStatus.FAILED, "error": str(error)[:200]}
        return {
            "status": DeliveryStatus.SENT,
            "message_id": message.message_id,
            "sent_at": now,
            "error": None,
        }

    # --- progress ----------------------------------------------------------------------------

    async def _open_progress(self, running: list[Broadcast] | tuple[Broadcast, ...]) -> None:
        for broadcast in running:
            if broadcast.progress_message_id is None:
                await self._show_progress(broadcast, force=True)

    async def maintain(self, *, full: bool = True) -> None:
        """Edit due status messages; finish broadcasts with nothing left to send."""
        async with transaction(self.sessions) as session:
            active = await repo.broadcasts_with_status(
                session=session, statuses=[BroadcastStatus.RUNNING]
            )
        for broadcast in active:
            due = self._progress_due(broadcast.id)
            if due or full:
                await self._show_progress(broadcast, force=due)

    def _progress_due(self, broadcast_id: int) -> bool:
        shown = self._shown.get(broadcast_id)
        return shown is None or self._timestamp() - shown[0] >= self.config.progress_every

    async def _show_progress(self, broadcast: Broadcast, *, force: bool) -> None:
        async with transaction(self.sessions) as session:
            figures = await broadcasts.progress(session, broadcast.id)  # type: ignore[arg-type]
        if figures.waiting == 0:
            await self._finish(broadcast, figures)
            return
        if not force:
            return
        rate, eta = self._rate(broadcast.id, figures)
        reply = views.progress_reply(broadcast, figures, rate=rate, eta=eta)
        await self._show(broadcast, reply)

    def _rate(self, broadcast_id: int, figures: broadcasts.Progress) -> tuple[float, float]:
        now = self._timestamp()
        before = self._shown.get(broadcast_id)
        self._shown[broadcast_id] = (now, figures.sent)
        if before is None or now <= before[0]:
            return 0.0, 0.0
        rate = (figures.sent - before[1]) / (now - before[0])
        return rate, (figures.waiting / rate if rate > 0 else 0.0)

    async def _finish(self, broadcast: Broadcast, figures: broadcasts.Progress) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(Broadcast, broadcast.id)
            if row is None or row.status != BroadcastStatus.RUNNING:
                return
            row.status = BroadcastStatus.DONE
            row.finished_at = self.clock.now()
        self._shown.pop(broadcast.id, None)  # type: ignore[arg-type]
        await self._show(row, views.progress_reply(row, figures, rate=0.0, eta=0.0))
        await self._send_admin(row, views.report_reply(row, figures))

    async def _show(self, broadcast: Broadcast, reply: Reply) -> None:
        locale = broadcast.admin_locale
        if broadcast.progress_message_id is None:
            # 0: the admin can't be reached; the sender does not try again every step.
            message_id = await self._send_admin(broadcast, reply) or 0
            async with transaction(self.sessions) as session:
                row = await session.get(Broadcast, broadcast.id)
                if row is not None:
                    row.progress_message_id = message_id
            broadcast.progress_message_id = message_id
            return
        try:
            await self.admin_bot.edit_message_text(
                render_text(locale, reply),
                chat_id=broadcast.created_by,
                message_id=broadcast.progress_message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=render_markup(locale, reply.buttons),
            )
        except TelegramError as error:  # "not modified", or the admin deleted it
            log.debug("progress edit failed: %s", error)

    async def _send_admin(self, broadcast: Broadcast, reply: Reply) -> int | None:
        locale = broadcast.admin_locale
        try:
            sent = await self.admin_bot.send_message(
                broadcast.created_by,
                render_text(locale, reply),
                parse_mode=ParseMode.HTML,
                reply_markup=render_markup(locale, reply.buttons),
            )
        except TelegramError as error:
            log.warning("broadcast %s: admin message failed: %s", broadcast.id, error)
            return None
        return sent.message_id


def _retry_at(now: datetime, seconds: float, error: str, *, attempts: int) -> dict[str, object]:
    return {
        "status": DeliveryStatus.PENDING,
        "next_attempt_at": now + timedelta(seconds=seconds),
        "attempts": attempts,
        "error": error[:200],
    }


def _backoff(now: datetime, attempts: int, error: str) -> dict[str, object]:
    if attempts >= MAX_ATTEMPTS:
        return {"status": DeliveryStatus.FAILED, "attempts": attempts, "error": error[:200]}
    return _retry_at(now, min(MAX_BACKOFF, 2.0**attempts), error, attempts=attempts)


# --- wiring ----------------------------------------------------------------------------------


def _lane_bot(application: Application, config: BroadcastSettings) -> Bot:
    settings = runtime_of(application).settings
    request = application.bot.request
    updates_request = request
    if isinstance(request, HTTPXRequest):
        # Its own connection pool: broadcast requests never wait for a reply's connection.
        request = HTTPXRequest(connection_pool_size=config.max_in_flight + 4)
        updates_request = HTTPXRequest(connection_pool_size=1)
    return Bot(
        application.bot.token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_file_base_url,
        request=request,
        get_updates_request=updates_request,
    )


async def start_service(application: Application) -> BroadcastSender:
    """Build the sender (``rt.services["broadcast"]``) and start it when configured to."""
    rt = runtime_of(application)
    config = BroadcastSettings()
    lane = _lane_bot(application, config)
    await lane.initialize()
    sender = BroadcastSender(
        sessions=rt.sessions,
        lane=lane,
        admin_bot=application.bot,
        clock=rt.clock,
        config=config,
        skip_locked=rt.engine.dialect.name == "postgresql",
    )
    rt.services[SERVICE_KEY] = sender
    autostart = config.autostart if config.autostart is not None else rt.settings.token is not None
    if autostart:
        sender.start()
    return sender


async def stop_service(application: Application) -> None:
    """Stop the sender and close its lane."""
    sender: BroadcastSender | None = runtime_of(application).services.pop(SERVICE_KEY, None)
    if sender is not None:
        await sender.stop()
        await sender.lane.shutdown()
