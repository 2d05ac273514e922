"""Two simulated weeks of reminders through the real Application, with a restart in the middle.

The scheduler runs with its SQLAlchemy job store on the test database but paused: the test fires
the stored jobs itself whenever their triggers fall due on the frozen clock, then lets the sender
drain the ledger. After the restart the jobs come back from the store, not from new add_job calls.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import text
from telegram import Bot

from bot import scheduler as scheduler_mod
from bot.runtime import runtime_of
from bot.scheduler import (
    DIGEST_JOB,
    DISPATCH_JOB,
    ReminderService,
    StabotScheduler,
    job_store_url,
    sync_database_url,
)
from bot.services import orgs, people
from bot.services import tasks as task_svc
from offline.updates import TgUser
from storage import reminders_repo, users_repo
from storage.db import create_engine, transaction
from storage.models import Role
from storage.reminder_models import LedgerStatus
from tests.harness import BotHarness, ClockSleep, running_bot
from tests.test_broadcast import FlakyRequest

TZ = ZoneInfo("Asia/Shanghai")
# The dispatch job runs once a step, on odd hours (09:00, 23:00 …); others at their own times.
STEP = timedelta(hours=2)
ADMIN = TgUser(id=60001, first_name="管理员")
SAIHAN = TgUser(id=60002, first_name="赛罕联络员")
SAIHAN_2 = TgUser(id=60003, first_name="赛罕信息员")
YILI = TgUser(id=60004, first_name="伊利联络员")
MEMBERS = {
    ADMIN: ("呼和浩特市科协", Role.ADMIN),
    SAIHAN: ("赛罕区科协", Role.LIAISON),
    SAIHAN_2: ("赛罕区科协", Role.INFO_OFFICER),
    YILI: ("伊利集团科协", Role.LIAISON),
}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)




@pytest.fixture
def scheduled(settings):
    """The scheduler starts (paused: the test fires its jobs) without a bot token."""
    settings.reminders.scheduler = True  # this test's own settings (REMINDERS_SCHEDULER)
    settings.reminders.paused = True
    empty_job_store(settings)


def empty_job_store(settings) -> None:
    """No jobs left by an earlier test (SQLite keeps them in a file the tables' reset misses)."""
    engine = sqlalchemy.create_engine(job_store_url(settings.database_url))
    if sqlalchemy.inspect(engine).has_table("apscheduler_jobs"):
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM apscheduler_jobs"))
    engine.dispose()


@pytest.fixture
async def world(sessions, clock):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        users = {}
        for tg, (org_name, role) in MEMBERS.items():
            user = await users_repo.upsert_user(
                session=session, telegram_id=tg.id, username=None, now=clock.now()
            )
            user.org_id, user.role, user.registered_at = tree[org_name].id, role, clock.now()
            user.real_name = tg.first_name
            users[tg.id] = user
    return tree, users


def service_of(bot: BotHarness, clock) -> ReminderService:
    service = runtime_of(bot.app).reminders
    service.sender.sleep = ClockSleep(clock)
    for tg in MEMBERS:
        bot.api.register_chat(tg.private_chat())
    return service


async def fire_due_jobs(
    service: ReminderService, since: datetime, until: datetime, *, drain: bool = True
) -> None:
    """Run the stored jobs whose triggers fire in (since, until], as the scheduler would,
    each followed by the sender's drain.

    The per-minute dispatch runs once, at ``until``; any other job at its own fire time.
    """
    clock = clock_of(service)
    due = []
    for job in service.scheduler.get_jobs():
        fire = job.trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
        if fire is not None and fire <= until:
            due.append((until if job.id == DISPATCH_JOB else fire, job.id, job.func))
    for moment, job_id, func in sorted(due):
        clock.set(max(moment, clock.now()))
        with service.scheduler.serving():  # as the scheduler runs its jobs
            await func()
        if drain or job_id != DISPATCH_JOB:
            await service.sender.drain()
    clock.set(max(until, clock.now()))


def clock_of(service: ReminderService):
    return service.rt.clock


async def simulate(service: ReminderService, until: datetime, *, drain_last=True) -> None:
    """Step the clock to ``until``, firing due jobs and draining the sender after each."""
    clock = clock_of(service)
    while clock.now() < until:
        end = min(clock.now() + STEP, until)
        await fire_due_jobs(service, clock.now(), end, drain=drain_last or end < until)


async def sent_reminders(sessions) -> list[tuple[int, str, str]]:
    async with transaction(sessions) as session:
        rows = await reminders_repo.rows(session=session, statuses=[LedgerStatus.SENT])
    return sorted(
        (r.chat_id, r.kind, r.sent_at.astimezone(TZ).strftime("%m-%d %H:%M")) for r in rows
    )


def stored_job_ids(settings) -> list[str]:
    engine = sqlalchemy.create_engine(job_store_url(settings.database_url))
    with engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM apscheduler_jobs ORDER BY id"))
        ids = [row[0] for row in found.all()]
    engine.dispose()
    return ids


async def publish(sessions, clock, world) -> int:
    tree, users = world
    draft = task_svc.TaskDraft(
        title="2026年主题活动落实情况",
        deadline=local(2026, 3, 25, 18),
        org_ids=[tree["赛罕区科协"].id, tree["伊利集团科协"].id],
    )
    async with transaction(sessions) as session:
        scope = await people.admin_scope(session, users[ADMIN.id], False)
        await task_svc.publish_task(
            session, draft, actor=users[ADMIN.id], scope=scope, now=clock.now(), tz=TZ
        )
        return (await task_svc.open_cycles(session, clock.now()))[0].id


async def submit(sessions, clock, world, cycle_id, tg) -> None:
    async with transaction(sessions) as session:
        await task_svc.submit_report(
            session,
            cycle_id=cycle_id,
            user=world[1][tg.id],
            sections={"工作抓手": "开展科普讲座三场"},
            indicators={},
            attachments=[],
            now=clock.now(),
        )


def task_reminder(kind: str, day: int) -> list[tuple[int, str, str]]:
    return [(tg.id, kind, f"03-{day:02d} 09:00") for tg in (SAIHAN, SAIHAN_2)]


async def test_two_weeks_of_reminders_with_a_restart(settings, clock, sessions, world, scheduled):
    clock.set(local(2026, 3, 16, 11))
    cycle_id = await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        assert sorted(j.id for j in service.scheduler.get_jobs()) == [DIGEST_JOB, DISPATCH_JOB]
        await bot.text(SAIHAN, "/remind 明天晚上11点 给孩子签字")
        await simulate(service, local(2026, 3, 22, 9), drain_last=False)
        # 09:00 on the 22nd: the d3 rows are handed over, then the process stops unsent.
        stored = {job.id: job.next_run_time for job in service.scheduler.get_jobs()}
        await scheduler_mod.stop_service(bot.app)
    assert stored_job_ids(settings) == [DIGEST_JOB, DISPATCH_JOB]
    async with running_bot(settings, clock, after=bot) as second:
        service = service_of(second, clock)
        # Rebuilt from the job store: the stored next run times, not freshly added jobs.
        assert {job.id: job.next_run_time for job in service.scheduler.get_jobs()} == stored
        assert await service.tick() == 0  # the new leader's first tick: nothing twice
        await service.sender.drain()  # the d3 rows left pending by the first process
        await simulate(service, local(2026, 3, 23, 13))
        await submit(sessions, clock, world, cycle_id, YILI)
        await simulate(service, local(2026, 3, 30, 10))
        await scheduler_mod.stop_service(second.app)
        later_calls = second.api.calls_to("sendMessage")
    expected = [
        (SAIHAN.id, "personal:1", "03-17 23:00"),  # set by the user: quiet hours allow it
        (YILI.id, "d7@2026-03-25", "03-18 09:00"),
        (YILI.id, "d3@2026-03-25", "03-22 09:00"),
        (ADMIN.id, "digest:2026-W13", "03-23 08:30"),
    ]
    for kind, day in [("d7", 18), ("d3", 22), ("d1", 24), ("d0", 25)] + [
        (f"overdue{n}", 25 + n) for n in (1, 2, 3)
    ]:
        expected += task_reminder(f"{kind}@2026-03-25", day)
    expected.sort()
    assert await sent_reminders(sessions) == expected
    # Exactly one Bot API message per ledger row: nothing sent twice, nothing lost.
    reminder_calls = bot.api.calls_to("sendMessage") + later_calls
    per_chat = Counter(
        c.params["chat_id"]
        for c in reminder_calls
        if "⏰" in c.params["text"] or "📋" in c.params["text"]
    )
    assert per_chat == Counter(chat for chat, _, _ in expected)


async def test_the_fill_button_opens_the_cycle(settings, clock, sessions, world, scheduled):
    cycle_id = await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        clock.set(local(2026, 3, 18, 9))
        assert await service.tick() == 3
        await service.sender.drain()
        await scheduler_mod.stop_service(bot.app)
    message = bot.api.last_message(YILI.id)
    assert "2026年主题活动落实情况" in message["text"] and "2026-03-25 18:00" in message["text"]
    assert "7" in message["text"]
    button = message["reply_markup"]["inline_keyboard"][0][0]
    assert (button["text"], button["callback_data"]) == ("填报", f"task:fill:{cycle_id}")


async def test_a_blocked_recipient_is_marked_and_not_retried(
    settings, clock, sessions, world, scheduled
):
    await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        bot.api.block(YILI.id)
        clock.set(local(2026, 3, 18, 9))
        await service.tick()
        await service.sender.drain()
        await scheduler_mod.stop_service(bot.app)
    async with transaction(sessions) as session:
        blocked = await reminders_repo.rows(session=session, statuses=[LedgerStatus.BLOCKED])
        user = await users_repo.get_user(session=session, telegram_id=YILI.id)
    assert [r.chat_id for r in blocked] == [YILI.id]
    assert user.blocked_bot is True


def test_the_job_store_url_uses_sync_drivers():
    assert sync_database_url("sqlite+aiosqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    pg = sync_database_url("postgresql+asyncpg://u:p@h:5432/db")
    assert pg == "postgresql+psycopg://u:p@h:5432/db"
    # PostgreSQL keeps the jobs in the bot's database; SQLite in a file of their own.
    assert job_store_url("postgresql+asyncpg://u:p@h:5432/db") == pg
    assert job_store_url("sqlite+aiosqlite:////d/stabot.db") == "sqlite:////d/stabot-scheduler.db"


async def test_rows_that_no_longer_hold_are_skipped(settings, clock, sessions, world, scheduled):
    """Handed over, then the org submits before its turn: the sender skips the row."""
    cycle_id = await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        clock.set(local(2026, 3, 18, 9))
        assert await service.tick() == 3
        await submit(sessions, clock, world, cycle_id, YILI)
        await service.sender.drain()
        await scheduler_mod.stop_service(bot.app)
    async with transaction(sessions) as session:
        rows = await reminders_repo.rows(session=session)
    assert sorted((r.chat_id, r.status) for r in rows) == [
        (SAIHAN.id, LedgerStatus.SENT),
        (SAIHAN_2.id, LedgerStatus.SENT),
        (YILI.id, LedgerStatus.SKIPPED),
    ]
    assert bot.api.sent_messages(YILI.id) == []


async def test_the_running_scheduler_runs_the_stored_job(
    settings, clock, sessions, world
):
    """Unpaused, APScheduler itself calls the stored dispatch job on PTB's loop."""
    settings.reminders.scheduler = True
    empty_job_store(settings)
    await publish(sessions, clock, world)
    clock.set(local(2026, 3, 18, 9))
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        executed: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def listener(event) -> None:
            if event.job_id == DISPATCH_JOB and not executed.done():
                executed.set_result(event.retval)

        service.scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        # Due now instead of at the next wall-clock minute.
        service.scheduler.modify_job(DISPATCH_JOB, next_run_time=datetime.now(TZ))
        handed = await asyncio.wait_for(executed, timeout=10)
        await scheduler_mod.stop_service(bot.app)
    assert handed == 3


async def test_one_leader_per_database(settings, clock, sessions, engine):
    """On PostgreSQL the advisory lock lets one service lead; SQLite's one process leads."""
    async with running_bot(settings, clock) as bot:
        first = runtime_of(bot.app).reminders
        other_engine = create_engine(settings.database_url)
        second = ReminderService(
            rt=replace(first.rt, engine=other_engine), sender=first.sender, config=first.config
        )
        leads = [await first.lead(), await second.lead()]
        released = first.leader.lock is not None
        await scheduler_mod.stop_service(bot.app)  # releases the lock
        after = await second.lead()
        await second.stop()
        await other_engine.dispose()
    if engine.dialect.name == "postgresql":
        assert (leads, released, after) == ([True, False], True, True)
    else:
        assert (leads, after) == ([True, True], True)


RUNS: list[asyncio.Future[None]] = []  # the runs the stored job below still waits for


async def counted_job() -> None:
    """A stored job (stores keep a textual reference) that marks one expected run done."""
    for run in RUNS:
        if not run.done():
            run.set_result(None)
            return


async def test_a_failing_store_write_does_not_end_the_wake_ups():
    """The first write of a next run time fails; the scheduler wakes again and runs the job."""

    class FlakyStore(SQLAlchemyJobStore):  # keeps the old next run time, like a database
        failures = 1

        def update_job(self, job) -> None:
            if self.failures:
                self.failures -= 1
                raise OSError("database restarting")
            super().update_job(job)

    loop = asyncio.get_running_loop()
    RUNS[:] = [loop.create_future(), loop.create_future()]
    scheduler = StabotScheduler(jobstores={"default": FlakyStore(url="sqlite://")}, timezone=TZ)
    scheduler.retry_seconds = 0.01
    scheduler.start()
    now = datetime.now(TZ)
    scheduler.add_job(counted_job, "interval", hours=1, next_run_time=now, max_instances=2)
    # Ran, the write failed, woke again: the job was still due and ran a second time.
    await asyncio.wait_for(asyncio.gather(*RUNS), timeout=10)
    scheduler.shutdown(wait=False)
    assert all(run.done() for run in RUNS)


async def test_a_backlog_left_in_the_evening_waits_for_eight_after_a_restart(
    settings, clock, sessions, world, scheduled
):
    """Rows queued at 21:40 and a retry pushed past 22:00; a new process from 23:30 on."""
    clock.set(local(2026, 3, 16, 11))
    await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        clock.set(local(2026, 3, 18, 21, 40))  # down all day: d7 is handed over in the evening
        await bot.text(SAIHAN, "/remind 今晚11点45分 给孩子签字")
        assert await service.tick() == 3
        # One row is tried at 21:59 and meets a 429 asking for 6 minutes: 22:05 is night.
        clock.set(local(2026, 3, 18, 21, 59))
        too_many = {"description": "Too Many Requests", "parameters": {"retry_after": 360}}
        service.sender.sender.lane = Bot(
            bot.app.bot.token, request=FlakyRequest(bot.api, [(429, too_many)])
        )
        await service.sender.sender.lane.initialize()
        service.sender.config.claim_batch = 1
        assert await service.sender.step() == 1
        await service.sender.settle()
        await scheduler_mod.stop_service(bot.app)
    async with transaction(sessions) as session:
        waiting = await reminders_repo.rows(session=session, statuses=[LedgerStatus.PENDING])
    assert sorted((r.due_at, r.error) for r in waiting if r.cycle_id) == [
        (local(2026, 3, 18, 21, 40), None),
        (local(2026, 3, 18, 21, 40), None),
        (local(2026, 3, 19, 8), "429"),  # the retry waits for the morning
    ]
    clock.set(local(2026, 3, 18, 23, 30))
    async with running_bot(settings, clock, after=bot) as second:
        service = service_of(second, clock)
        assert await service.tick() == 0
        await service.sender.drain()
        assert second.api.calls_to("sendMessage") == []  # nothing at 23:30
        await simulate(service, local(2026, 3, 19, 7, 59))
        night = [c.params["chat_id"] for c in second.api.calls_to("sendMessage")]
        assert night == [SAIHAN.id]  # only the personal reminder its owner set for 23:45
        await simulate(service, local(2026, 3, 19, 8))
        await simulate(service, local(2026, 3, 19, 10))  # 09:00 brings nothing again
        await scheduler_mod.stop_service(second.app)
        calls = second.api.calls_to("sendMessage")
    sent = await sent_reminders(sessions)
    assert sent == sorted(
        [(SAIHAN.id, "personal:1", "03-19 01:30")]
        + [(tg.id, "d7@2026-03-25", "03-19 08:00") for tg in (SAIHAN, SAIHAN_2, YILI)]
    )
    task_calls = Counter(c.params["chat_id"] for c in calls if "报送提醒" in c.params["text"])
    assert task_calls == Counter({SAIHAN.id: 1, SAIHAN_2.id: 1, YILI.id: 1})
