"""Reminder scheduler: APScheduler 3 on PTB's loop hands due reminders to the delivery pipeline.

APScheduler holds two jobs only, with fixed ids, in a SQLAlchemyJobStore on the bot's own
database (on SQLite in a file beside it, see `job_store_url`): each minute ``dispatch_job``
hands whatever is due to the sender (see bot/services/reminders.py), and on Monday at 08:30
local ``digest_job`` writes the admins' digests. One job per reminder would not do: 600 or
more jobs due at the same instant in a SQLite job store are skipped under the default 1 s
misfire grace. With several workers only the leader runs the scheduler (a PostgreSQL
advisory lock); the ledger's unique key makes a double hand-over impossible anyway.

The ledger is one source of the delivery pipeline (bot/delivery/), which sends it with the
broadcasts under one budget and one error policy; quiet hours are that source's business
(bot/delivery/reminders.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from telegram.ext import Application

from bot.config import ReminderSettings
from bot.delivery.leader import AdvisoryLeader
from bot.delivery.pipeline import Pipeline
from bot.runtime import Runtime, runtime_of
from bot.services import reminders
from storage.db import transaction

log = logging.getLogger(__name__)
DISPATCH_JOB = "reminders-dispatch"
DIGEST_JOB = "reminders-digest"
LEADER_LOCK = 0x5_7AB0_7001  # pg_try_advisory_lock key of the scheduler's leader
LEADER_RETRY = 60.0  # seconds between a follower's attempts to become the leader
# The service whose scheduler is running a job: stored jobs hold no objects, only the names of
# the functions below, so the scheduler sets this around the tasks it starts (`serving`).
_SERVING: ContextVar[ReminderService | None] = ContextVar("stabot_reminders", default=None)


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


# --- the service: scheduler, sender, leadership ------------------------------------------------


@dataclass
class ReminderService:
    """What the stored jobs reach: the runtime, the pipeline, and the scheduler when leading."""

    rt: Runtime
    sender: Pipeline  # the delivery pipeline, woken when rows are handed over
    config: ReminderSettings
    scheduler: AsyncIOScheduler | None = None
    leader: AdvisoryLeader = field(init=False)

    def __post_init__(self) -> None:
        self.leader = AdvisoryLeader(self.rt.engine, LEADER_LOCK, retry=LEADER_RETRY)

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
        """Hand every reminder due now to the pipeline; returns how many rows were written."""
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
        return await self.leader.acquire()

    async def start(self) -> None:
        """Lead and run, or follow and try again every minute."""
        await self.leader.lead_or_follow(self._run_as_leader, "reminder-scheduler")

    def _run_as_leader(self) -> None:
        self.scheduler = build_scheduler(self, self.rt.settings.database_url, self.rt.settings.tz)
        self.scheduler.start(paused=True)
        install_jobs(self.scheduler, self.rt.settings.tz)
        if not self.config.paused:
            self.scheduler.resume()

    async def stop(self) -> None:
        """Stop the scheduler and any follower; release the leadership."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.leader.release()


class StabotScheduler(AsyncIOScheduler):
    """AsyncIOScheduler of one reminder service, whose wake-ups survive a failing job store."""

    retry_seconds = 30.0

    def __init__(self, service: ReminderService | None = None, **options: object) -> None:
        super().__init__(**options)
        self.service = service

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Jobs started in this block (their tasks copy the context) reach this service."""
        token = _SERVING.set(self.service)
        try:
            yield
        finally:
            _SERVING.reset(token)

    def _process_jobs(self) -> float | None:
        # APScheduler 3 guards reading the store but not writing a job's next run time; an
        # error there (the database restarting) would leave no timer and no more wake-ups.
        try:
            with self.serving():  # the executor creates each job's task in here
                return super()._process_jobs()
        except Exception:
            log.exception("scheduler wake-up failed; trying again in %.0f s", self.retry_seconds)
            return self.retry_seconds


def build_scheduler(service: ReminderService, database_url: str, tz: ZoneInfo) -> StabotScheduler:
    """The service's scheduler with a SQLAlchemy job store (see `job_store_url`)."""
    store = SQLAlchemyJobStore(engine=create_engine(job_store_url(database_url)))
    return StabotScheduler(service, jobstores={"default": store}, timezone=tz)


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
    service = _SERVING.get()
    return await service.tick() if service is not None else 0


async def digest_job() -> int:
    """The Monday 08:30 job: the admins' digests."""
    service = _SERVING.get()
    return await service.digest() if service is not None else 0


# --- wiring ------------------------------------------------------------------------------------


async def start_service(application: Application) -> ReminderService:
    """Build the reminder service (``rt.reminders``) and start it when configured."""
    rt = runtime_of(application)
    if rt.delivery is None:
        raise RuntimeError("the delivery pipeline starts first (bot/app.py, post_init)")
    config = rt.settings.reminders
    service = ReminderService(rt=rt, sender=rt.delivery, config=config)
    rt.reminders = service
    run = config.scheduler if config.scheduler is not None else rt.settings.token is not None
    if run:
        await service.start()
    return service


async def stop_service(application: Application) -> None:
    """Stop the service and forget it."""
    rt = runtime_of(application)
    service, rt.reminders = rt.reminders, None
    if service is not None:
        await service.stop()
