"""Reminder scheduler and sender: APScheduler 3 on PTB's loop, a ledger drained at Telegram's rate.

APScheduler holds two jobs only, with fixed ids, in a SQLAlchemyJobStore on the bot's own
database (on SQLite in a file beside it, see `job_store_url`): each minute ``dispatch_job``
hands whatever is due to the sender (see bot/services/reminders.py), and on Monday at 08:30
local ``digest_job`` writes the admins' digests. One job per reminder would not do: 600 or
more jobs due at the same instant in a SQLite job store are skipped under the default 1 s
misfire grace. With several workers only the leader runs the scheduler and the sender (a
PostgreSQL advisory lock); the ledger's unique key makes a double hand-over impossible anyway.

The sender claims due ``pending`` ledger rows in small batches and sends them on the broadcast
lane, through the broadcast sender's own RateLimiter, so reminders and notices together stay
under Telegram's limits. Between 22:00 and 08:00 local it claims personal reminders only (their
owners chose the time): rows queued in the evening, or left by a process that stopped, wait for
08:00, and so does a retry that would fall in the night. In-flight policy as for broadcasts
(at most once): a row still ``sending`` after a crash is marked failed "interrupted" and never
resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.broadcaster import MAX_ATTEMPTS, RateLimiter, _retry_seconds
from bot.broadcaster import SERVICE_KEY as BROADCAST_KEY
from bot.clock import Clock
from bot.handlers.render import render_markup, render_text
from bot.runtime import Runtime, runtime_of
from bot.services import reminders, tasks
from storage import broadcasts_repo
from storage import reminders_repo as repo
from storage.db import SessionFactory, transaction
from storage.reminder_models import NO_CYCLE, LedgerStatus, ReminderLedger
from storage.task_models import ReportTask, TaskCycle, TaskStatus

log = logging.getLogger(__name__)
SERVICE_KEY = "reminders"
DISPATCH_JOB = "reminders-dispatch"
DIGEST_JOB = "reminders-digest"
LEADER_LOCK = 0x5_7AB0_7001  # pg_try_advisory_lock key of the scheduler's leader
LEADER_RETRY = 60.0  # seconds between a follower's attempts to become the leader
IDLE_POLL = 5.0
MAX_BACKOFF = 300.0
Sleep = Callable[[float], Awaitable[None]]
_ACTIVE: ReminderService | None = None  # what the stored jobs call (they hold no objects)


class ReminderSettings(BaseSettings):
    """``REMINDERS_*`` settings of the scheduler and the sender."""

    model_config = SettingsConfigDict(env_prefix="REMINDERS_", env_file=".env", extra="ignore")

    scheduler: bool | None = None  # None: run the scheduler when a bot token is set
    sender: bool | None = None  # None: run the sender when a bot token is set
    paused: bool = False  # start the scheduler without running jobs (tests, maintenance)
    claim_batch: int = 25
    max_in_flight: int = 20


def sync_database_url(url: str) -> str:
    """The synchronous URL for the bot's async one (aiosqlite → pysqlite, asyncpg → psycopg)."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}.get(
        parsed.get_backend_name()
    )
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def job_store_url(database_url: str) -> str:
    """Where the jobs are kept: the bot's database, or on SQLite a file beside it.

    APScheduler 3 calls its job store synchronously on the event loop. On SQLite, whose write
    lock covers the whole file, writing a job's next run time while one of the bot's
    transactions holds the lock (they start with BEGIN IMMEDIATE) would block the loop that
    transaction needs to finish: measured here, the write waits out the busy timeout and fails,
    and a failed write ends APScheduler's wake-ups. A file of its own has no such contention.
    """
    url = make_url(sync_database_url(database_url))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return url.render_as_string(hide_password=False)
    path = Path(url.database)
    return url.set(
        database=str(path.with_name(f"{path.stem}-scheduler{path.suffix}"))
    ).render_as_string(hide_password=False)


# --- the sender --------------------------------------------------------------------------------


class ReminderSender:
    """Claims due ledger rows, checks they still hold, sends them, records the outcome."""

    def __init__(
        self,
        *,
        sessions: SessionFactory,
        bot: Bot,
        limiter: RateLimiter,
        clock: Clock,
        tz: ZoneInfo,
        config: ReminderSettings,
        skip_locked: bool = False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sessions, self.bot, self.limiter, self.clock = sessions, bot, limiter, clock
        self.tz, self.config, self.skip_locked, self.sleep = tz, config, skip_locked, sleep
        self._inflight: set[asyncio.Task[None]] = set()
        self._undispatched: list[ReminderLedger] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the sender in the background."""
        self._task = asyncio.create_task(self.run(), name="reminder-sender")

    async def stop(self) -> None:
        """Stop the loop; claimed rows not yet requested go back, requests in flight finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.settle()
        async with transaction(self.sessions) as session:
            await repo.release(session=session, ids=[r.id for r in self._undispatched])  # type: ignore[misc]
        self._undispatched = []

    def wake(self) -> None:
        """New rows were handed over: look at the ledger now."""
        self._wake.set()

    async def run(self) -> None:
        """Recover, then drain the ledger for as long as the bot runs."""
        await self.recover()
        while True:
            try:
                claimed = await self.step()
            except Exception:  # a database hiccup must not end the sender for good
                log.exception("reminder step failed")
                claimed = 0
            if not claimed:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL)

    async def recover(self) -> int:
        """Apply the in-flight policy to rows a previous process left in ``sending``."""
        async with transaction(self.sessions) as session:
            lost = await repo.interrupt_in_flight(session=session)
        if lost:
            log.warning("%d reminders were in flight at the last stop: marked failed", lost)
        return lost

    async def drain(self, max_steps: int = 100_000) -> None:
        """Send until nothing due is left (tests and the CLI; waits via ``sleep``)."""
        claimed = 0
        for _ in range(max_steps):
            if step := await self.step():
                claimed += step
                continue
            await self.settle()
            if not claimed:  # nothing was due: what waits is for later, not for this drain
                return
            due = await self.next_due()
            if due is None or due > self.clock.now() + timedelta(seconds=MAX_BACKOFF):
                return  # what is left waits for its time (quiet hours), not for this drain
            await self.sleep(max(0.0, (due - self.clock.now()).total_seconds()))

    async def next_due(self) -> datetime | None:
        """When the sender may next claim a row: quiet hours hold all but personal ones."""
        async with transaction(self.sessions) as session:
            personal = await repo.next_due(session=session, prefix=reminders.PERSONAL_KIND)
            other = await repo.next_due(
                session=session, prefix=reminders.PERSONAL_KIND, matching=False
            )
        if other is not None:
            other = reminders.after_quiet_hours(max(other, self.clock.now()), self.tz)
        found = [due for due in (personal, other) if due is not None]
        return min(found) if found else None

    def _claimable_prefix(self) -> str | None:
        # Between 22:00 and 08:00 only personal reminders go out (the user chose the time);
        # task reminders, digests and announcements left over from the evening wait.
        quiet = reminders.in_quiet_hours(self.clock.now(), self.tz)
        return reminders.PERSONAL_KIND if quiet else None

    async def settle(self) -> None:
        """Wait for the requests in flight."""
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def step(self) -> int:
        """Claim one batch of due rows and send those still true; returns how many were claimed."""
        async with transaction(self.sessions) as session:
            rows = await repo.claim(
                session=session,
                now=self.clock.now(),
                limit=self.config.claim_batch,
                skip_locked=self.skip_locked,
                only_prefix=self._claimable_prefix(),
            )
            stale = await _stale_rows(session, rows)
            for row in rows:
                if row.id in stale:
                    row.status = LedgerStatus.SKIPPED
        self._undispatched = [row for row in rows if row.id not in stale]
        while self._undispatched:
            await self._dispatch(self._undispatched[0])
        return len(rows)

    async def _dispatch(self, row: ReminderLedger) -> None:
        chat_wait = self.limiter.chat_wait(row.chat_id)
        if chat_wait > 0:  # the chat got a message under a second ago: a bit later
            await self._save(row, status=LedgerStatus.PENDING, due_at=self._later(row, chat_wait))
            self._undispatched.pop(0)
            return
        while (wait := self.limiter.wait()) > 0:
            await self.sleep(wait)
        if self._claimable_prefix() is not None and not reminders.is_personal(row):
            # The rate limiter's wait (a 429 pause) ran into 22:00: back until the morning.
            await self._save(row, status=LedgerStatus.PENDING, due_at=self._later(row, 0))
            self._undispatched.pop(0)
            return
        self.limiter.take(row.chat_id)
        self._undispatched.pop(0)  # from here on the request may reach Telegram
        task = asyncio.create_task(self._deliver(row))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        while len(self._inflight) >= self.config.max_in_flight:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    def _later(self, row: ReminderLedger, seconds: float) -> datetime:
        """When a row goes again; a retry that would fall in quiet hours waits to 08:00."""
        moment = self.clock.now() + timedelta(seconds=seconds)
        if reminders.is_personal(row):
            return moment
        return reminders.after_quiet_hours(moment, self.tz)

    async def _save(self, row: ReminderLedger, **values: Any) -> None:
        async with transaction(self.sessions) as session:
            await repo.set_row(session=session, row_id=row.id, **values)  # type: ignore[arg-type]
            if values.get("status") == LedgerStatus.BLOCKED:
                await broadcasts_repo.mark_user_blocked(session=session, user_id=row.user_id)

    async def _deliver(self, row: ReminderLedger) -> None:
        await self._save(row, **await self._attempt(row))

    async def _attempt(self, row: ReminderLedger) -> dict[str, Any]:
        now = self.clock.now()
        row.sent_at = now  # "days left" counts from the moment it is sent
        reply = reminders.reminder_reply(row, self.tz)
        try:
            await self.bot.send_message(
                row.chat_id,
                render_text(row.locale, reply),
                parse_mode=ParseMode.HTML,
                reply_markup=render_markup(row.locale, reply.buttons),
            )
        except RetryAfter as error:
            seconds = _retry_seconds(error)
            self.limiter.pause(seconds)
            # A 429 is not the row's fault: it goes back without using up an attempt.
            later = self._later(row, seconds)
            return {"status": LedgerStatus.PENDING, "due_at": later, "error": "429"}
        except Forbidden as error:
            return {"status": LedgerStatus.BLOCKED, "error": str(error)[:200]}
        except BadRequest as error:  # chat not found …: retrying will not help
            return {"status": LedgerStatus.FAILED, "error": str(error)[:200]}
        except (NetworkError, TimeoutError, OSError) as error:
            return self._backoff(row, str(error))
        except TelegramError as error:
            return {"status": LedgerStatus.FAILED, "error": str(error)[:200]}
        return {"status": LedgerStatus.SENT, "sent_at": now, "error": None}

    def _backoff(self, row: ReminderLedger, error: str) -> dict[str, Any]:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            return {"status": LedgerStatus.FAILED, "attempts": attempts, "error": error[:200]}
        later = self._later(row, min(MAX_BACKOFF, 2.0**attempts))
        return {"status": LedgerStatus.PENDING, "attempts": attempts, "due_at": later}


async def _stale_rows(session: AsyncSession, rows: list[ReminderLedger]) -> set[int]:
    """Rows of task cycles that no longer hold: the task was deleted or the org submitted."""
    cycle_ids = {row.cycle_id for row in rows if row.cycle_id != NO_CYCLE}
    live: dict[int, set[int]] = {}
    for cycle_id in cycle_ids:
        cycle = await session.get(TaskCycle, cycle_id)
        task = await session.get(ReportTask, cycle.task_id) if cycle is not None else None
        if task is not None and task.status == TaskStatus.PUBLISHED:
            live[cycle_id] = set(await tasks.pending_org_ids(session, cycle_id))
    return {
        row.id  # type: ignore[misc]
        for row in rows
        if row.cycle_id != NO_CYCLE and row.org_id not in live.get(row.cycle_id, set())
    }


# --- the service: scheduler, sender, leadership ------------------------------------------------


@dataclass
class ReminderService:
    """What the stored jobs reach: the runtime, the sender, and the scheduler when leading."""

    rt: Runtime
    sender: ReminderSender
    config: ReminderSettings
    scheduler: AsyncIOScheduler | None = None
    _lock: AsyncConnection | None = None
    _follower: asyncio.Task[None] | None = None

    def clocked(self, now: datetime | None = None) -> reminders.Clocked:
        """The moment (the runtime's clock unless given), zone and default language."""
        settings = self.rt.settings
        return reminders.Clocked(
            now or self.rt.clock.now(),
            settings.tz,
            settings.default_locale,
            tuple(settings.superadmin_ids),
        )

    async def tick(self, now: datetime | None = None) -> int:
        """Hand every reminder due now to the sender; returns how many rows were written."""
        async with transaction(self.rt.sessions) as session:
            handed = await reminders.dispatch_due(session, self.clocked(now))
        if handed:
            self.sender.wake()
        return handed

    async def digest(self, now: datetime | None = None) -> int:
        """Write this week's digests for the admins; returns how many."""
        async with transaction(self.rt.sessions) as session:
            handed = await reminders.enqueue_digests(session, self.clocked(now))
        if handed:
            self.sender.wake()
        return handed

    # --- leadership and the scheduler ---

    async def lead(self) -> bool:
        """Become the leader (PostgreSQL advisory lock; SQLite's one process always leads)."""
        engine = self.rt.engine
        if engine.dialect.name != "postgresql":
            return True
        connection = await engine.connect()
        query = text("SELECT pg_try_advisory_lock(:key)")
        if (await connection.execute(query, {"key": LEADER_LOCK})).scalar():
            self._lock = connection  # the lock lives as long as this connection
            return True
        await connection.close()
        return False

    async def start(self) -> None:
        """Lead and run, or follow and try again every minute."""
        if await self.lead():
            self._run_as_leader()
        else:
            log.info("another worker runs the reminder scheduler; following")
            self._follower = asyncio.create_task(self._follow(), name="reminder-follower")

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(LEADER_RETRY)
            if await self.lead():
                self._run_as_leader()
                return

    def _run_as_leader(self) -> None:
        self.scheduler = build_scheduler(self.rt.settings.database_url, self.rt.settings.tz)
        self.scheduler.start(paused=True)
        install_jobs(self.scheduler, self.rt.settings.tz)
        if not self.config.paused:
            self.scheduler.resume()
        if _autostart(self.config.sender, self.rt):
            self.sender.start()

    async def stop(self) -> None:
        """Stop scheduler, sender and follower; release the leadership."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.sender.stop()
        if self._lock is not None:
            await self._lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
            await self._lock.close()
            self._lock = None


class StabotScheduler(AsyncIOScheduler):
    """AsyncIOScheduler whose wake-ups survive a failing job store."""

    retry_seconds = 30.0

    def _process_jobs(self) -> float | None:
        # APScheduler 3 guards reading the store but not writing a job's next run time; an
        # error there (the database restarting) would leave no timer and no more wake-ups.
        try:
            return super()._process_jobs()
        except Exception:
            log.exception("scheduler wake-up failed; trying again in %.0f s", self.retry_seconds)
            return self.retry_seconds


def build_scheduler(database_url: str, tz: ZoneInfo) -> StabotScheduler:
    """The scheduler with a SQLAlchemy job store (see `job_store_url`)."""
    store = SQLAlchemyJobStore(engine=create_engine(job_store_url(database_url)))
    return StabotScheduler(jobstores={"default": store}, timezone=tz)


def install_jobs(scheduler: AsyncIOScheduler, tz: ZoneInfo) -> None:
    """Add the two jobs unless the store already holds them unchanged.

    Replacing a stored job would reset its next run time and lose a misfire catch-up (the
    digest of a Monday morning the bot was down), so a job is only replaced when its trigger
    changed (another time zone).
    """
    specs = {
        DISPATCH_JOB: (dispatch_job, CronTrigger(minute="*", timezone=tz), 50),
        DIGEST_JOB: (
            digest_job,
            CronTrigger(day_of_week="mon", hour=8, minute=30, timezone=tz),
            6 * 3600,  # a restart later that morning still sends it
        ),
    }
    for job_id, (func, trigger, grace) in specs.items():
        stored = scheduler.get_job(job_id)
        if stored is not None and str(stored.trigger) == str(trigger):
            continue
        scheduler.add_job(
            func,
            trigger,
            id=job_id,
            replace_existing=True,
            misfire_grace_time=grace,
            coalesce=True,  # runs missed while down collapse into one
            max_instances=1,
        )


async def dispatch_job() -> int:
    """The per-minute job: hand due reminders to the sender."""
    return await _ACTIVE.tick() if _ACTIVE is not None else 0


async def digest_job() -> int:
    """The Monday 08:30 job: the admins' digests."""
    return await _ACTIVE.digest() if _ACTIVE is not None else 0


# --- wiring ------------------------------------------------------------------------------------


def _autostart(flag: bool | None, rt: Runtime) -> bool:
    return flag if flag is not None else rt.settings.token is not None


async def start_service(application: Application) -> ReminderService:
    """Build the reminder service (``rt.services["reminders"]``) and start it when configured."""
    global _ACTIVE
    rt = runtime_of(application)
    config = ReminderSettings()
    broadcast = rt.services.get(BROADCAST_KEY)
    limiter = broadcast.limiter if broadcast is not None else RateLimiter(25.0, 1.0, _stamp(rt))
    sender = ReminderSender(
        sessions=rt.sessions,
        bot=broadcast.lane if broadcast is not None else application.bot,
        limiter=limiter,
        clock=rt.clock,
        tz=rt.settings.tz,
        config=config,
        skip_locked=rt.engine.dialect.name == "postgresql",
    )
    service = ReminderService(rt=rt, sender=sender, config=config)
    rt.services[SERVICE_KEY] = service
    _ACTIVE = service
    if _autostart(config.scheduler, rt):
        await service.start()
    return service


def _stamp(rt: Runtime) -> Callable[[], float]:
    return lambda: rt.clock.now().timestamp()


async def stop_service(application: Application) -> None:
    """Stop the service and forget it."""
    global _ACTIVE
    service: ReminderService | None = runtime_of(application).services.pop(SERVICE_KEY, None)
    if service is not None:
        await service.stop()
    if _ACTIVE is service:
        _ACTIVE = None
