"""Reminder schedule, ledger and hand-over: pure rules first, then against the database."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from bot.flows import reminder_views
from bot.services import orgs, people, reminders
from bot.services import tasks as task_svc
from bot.services.reminders import Clocked, ReminderError
from storage import reminders_repo, users_repo
from storage.db import transaction
from storage.models import Role
from storage.reminder_models import LedgerStatus
from storage.task_models import Recurrence

TZ = ZoneInfo("Asia/Shanghai")
ADMIN, SAIHAN, SAIHAN_2, YILI, BAOTOU_ADMIN = 50001, 50002, 50003, 50004, 50005
SUPER = 50009  # one of SUPERADMIN_IDS


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


def shown(moment: datetime) -> str:
    return moment.astimezone(TZ).strftime("%m-%d %H:%M")


# --- the pure schedule -------------------------------------------------------------------------


def test_schedule_of_an_evening_deadline():
    slots = reminders.schedule(local(2026, 3, 25, 18), TZ)
    assert [(kind, shown(at)) for kind, at in slots] == [
        ("d7", "03-18 09:00"),
        ("d3", "03-22 09:00"),
        ("d1", "03-24 09:00"),
        ("d0", "03-25 09:00"),
        ("overdue1", "03-26 09:00"),
        ("overdue2", "03-27 09:00"),
        ("overdue3", "03-28 09:00"),
    ]


def test_a_morning_deadline_has_no_same_day_reminder_after_it():
    kinds = [kind for kind, _ in reminders.schedule(local(2026, 3, 25, 8, 30), TZ)]
    assert kinds == ["d7", "d3", "d1", "overdue1", "overdue2", "overdue3"]


@pytest.mark.parametrize(
    ("moment", "kind"),
    [
        (local(2026, 3, 18, 8, 59), None),
        (local(2026, 3, 18, 9, 0), "d7"),
        (local(2026, 3, 21, 21, 0), "d7"),
        (local(2026, 3, 24, 12, 0), "d1"),  # d3 and d7 are superseded: only the latest
        (local(2026, 3, 25, 23, 0), None),  # quiet hours
        (local(2026, 3, 29, 9, 0), "overdue3"),
    ],
)
def test_only_the_latest_due_kind_and_never_in_quiet_hours(moment, kind):
    assert reminders.due_kind(local(2026, 3, 25, 18), moment, TZ) == kind


def test_quiet_hours_push_to_eight_in_the_morning():
    assert reminders.after_quiet_hours(local(2026, 3, 16, 23, 10), TZ) == local(2026, 3, 17, 8)
    assert reminders.after_quiet_hours(local(2026, 3, 17, 6, 0), TZ) == local(2026, 3, 17, 8)
    noon = local(2026, 3, 17, 12)
    assert reminders.after_quiet_hours(noon, TZ) == noon


def test_the_ledger_kind_names_the_deadline_date():
    assert reminders.ledger_kind("d1", local(2026, 3, 25, 18), TZ) == "d1@2026-03-25"


# --- /remind times -----------------------------------------------------------------------------

NOW = local(2026, 3, 16, 10)  # a Monday


# --- against the database ----------------------------------------------------------------------


@pytest.fixture
async def world(sessions, clock):
    """The demo tree; an admin of 呼和浩特; liaisons of 赛罕区 (two) and 伊利; a 包头 admin."""
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
    members = {
        ADMIN: ("呼和浩特市科协", Role.ADMIN),
        SAIHAN: ("赛罕区科协", Role.LIAISON),
        SAIHAN_2: ("赛罕区科协", Role.INFO_OFFICER),
        YILI: ("伊利集团科协", Role.LIAISON),
        BAOTOU_ADMIN: ("包头市科协", Role.ADMIN),
    }
    users = {}
    async with transaction(sessions) as session:
        for telegram_id, (org_name, role) in members.items():
            user = await users_repo.upsert_user(
                session=session, telegram_id=telegram_id, username=None, now=clock.now()
            )
            user.org_id, user.role, user.registered_at = tree[org_name].id, role, clock.now()
            users[telegram_id] = user
    return tree, users


async def publish(
    sessions, clock, world, deadline, names=("赛罕区科协", "伊利集团科协"), recurrence=None
):
    tree, users = world
    draft = task_svc.TaskDraft(
        title="2026年主题活动落实情况",
        deadline=deadline,
        org_ids=[tree[name].id for name in names],
        recurrence=recurrence or Recurrence.NONE,
    )
    async with transaction(sessions) as session:
        scope = await people.admin_scope(session, users[ADMIN], False)
        task = await task_svc.publish_task(
            session, draft, actor=users[ADMIN], scope=scope, now=clock.now(), tz=TZ
        )
        cycle = (await task_svc.open_cycles(session, clock.now()))[0]
    return task, cycle


async def dispatch(sessions, moment) -> int:
    async with transaction(sessions) as session:
        return await reminders.dispatch_due(session, Clocked(moment, TZ))


async def ledger(sessions) -> list[tuple[int, str, str]]:
    async with transaction(sessions) as session:
        rows = await reminders_repo.rows(session=session)
        return [(r.chat_id, r.kind, shown(r.due_at)) for r in rows]


async def test_hand_over_once_per_kind_and_only_to_pending_orgs(sessions, clock, world):
    _, cycle = await publish(sessions, clock, world, local(2026, 3, 25, 18))
    assert await dispatch(sessions, local(2026, 3, 18, 8, 59)) == 0
    assert await dispatch(sessions, local(2026, 3, 18, 9)) == 3
    assert await dispatch(sessions, local(2026, 3, 18, 9, 1)) == 0  # a second tick, a restart
    async with transaction(sessions) as session:
        tree_user = world[1][YILI]
        await task_svc.submit_report(
            session,
            cycle_id=cycle.id,
            user=tree_user,
            sections={"工作抓手": "开展科普讲座三场"},
            indicators={},
            attachments=[],
            now=local(2026, 3, 20, 10),
        )
    assert await dispatch(sessions, local(2026, 3, 22, 9)) == 2  # 伊利 submitted
    assert await ledger(sessions) == [
        (SAIHAN, "d7@2026-03-25", "03-18 09:00"),
        (SAIHAN_2, "d7@2026-03-25", "03-18 09:00"),
        (YILI, "d7@2026-03-25", "03-18 09:00"),
        (SAIHAN, "d3@2026-03-25", "03-22 09:00"),
        (SAIHAN_2, "d3@2026-03-25", "03-22 09:00"),
    ]


async def test_published_at_night_waits_for_the_morning(sessions, clock, world):
    """d1's time (the 16th 09:00) came before the task: the announcement says it all."""
    clock.set(local(2026, 3, 16, 23))
    await publish(sessions, clock, world, local(2026, 3, 17, 18), names=("伊利集团科协",))
    for minute in range(0, 9 * 60 + 30, 30):  # 23:00 … 07:30 quiet, then no reminder at 08:00
        assert await dispatch(sessions, clock.now() + timedelta(minutes=minute)) == 0
    assert await dispatch(sessions, local(2026, 3, 17, 9)) == 1
    assert await ledger(sessions) == [(YILI, "d0@2026-03-17", "03-17 09:00")]


async def test_reminders_whose_time_came_before_publication_are_not_sent(sessions, clock, world):
    """Published Monday 10:00 for Wednesday 18:00: d7 and d3 lie before the task existed.

    Publishing announces the task to everybody; a d3 right after it would only repeat it.
    d1 and d0 come at their times, and the overdue ones after the deadline.
    """
    await publish(sessions, clock, world, local(2026, 3, 18, 18), names=("伊利集团科协",))
    moments = [local(2026, 3, 16, 10), local(2026, 3, 16, 12)]  # publication, a later tick
    moments += [local(2026, 3, day, hour) for day in range(17, 23) for hour in (9, 12)]
    handed = {shown(moment): await dispatch(sessions, moment) for moment in moments}
    assert {at: n for at, n in handed.items() if n} == {
        "03-17 09:00": 1,
        "03-18 09:00": 1,
        "03-19 09:00": 1,
        "03-20 09:00": 1,
        "03-21 09:00": 1,
    }
    kinds = [kind.split("@")[0] for _, kind, _ in await ledger(sessions)]
    assert kinds == ["d1", "d0", "overdue1", "overdue2", "overdue3"]


async def submit(sessions, cycle_id, user, moment) -> None:
    async with transaction(sessions) as session:
        await task_svc.submit_report(
            session,
            cycle_id=cycle_id,
            user=user,
            sections={"工作抓手": "开展科普讲座三场"},
            indicators={},
            attachments=[],
            now=moment,
        )


async def board(sessions, cycle_id) -> tuple[list[int], list[int], list[int]]:
    async with transaction(sessions) as session:
        status = await task_svc.cycle_status(session, cycle_id, None)
    return status.submitted, status.late, status.missing


async def test_a_quarterly_task_reminds_each_cycle_on_its_own(sessions, clock, world):
    """Cycle 1 submitted by both orgs; cycle 2 (deadline three months on) still reminds both."""
    tree, users = world
    saihan, yili = tree["赛罕区科协"].id, tree["伊利集团科协"].id
    _, first = await publish(
        sessions, clock, world, local(2026, 3, 25, 18), recurrence=Recurrence.QUARTERLY
    )
    assert await dispatch(sessions, local(2026, 3, 18, 9)) == 3
    await submit(sessions, first.id, users[SAIHAN], local(2026, 3, 20, 10))
    await submit(sessions, first.id, users[YILI], local(2026, 3, 26, 10))  # a day late
    assert await dispatch(sessions, local(2026, 3, 26, 11)) == 0  # cycle 2 is opened here
    async with transaction(sessions) as session:
        second = (await task_svc.open_cycles(session, local(2026, 3, 26, 11)))[-1]
    assert (second.seq, second.deadline) == (2, local(2026, 6, 25, 18))
    assert (second.period_start.isoformat(), second.period_end.isoformat()) == (
        "2026-03-26",
        "2026-06-25",
    )
    assert await board(sessions, first.id) == ([saihan], [yili], [])
    assert await board(sessions, second.id) == ([], [], [saihan, yili])
    for day in (3, 10):  # cycle 1 is answered: no overdue reminders; cycle 2 not yet due
        assert await dispatch(sessions, local(2026, 4, day, 9)) == 0
    assert await dispatch(sessions, local(2026, 6, 18, 9)) == 3  # cycle 2's d7, to everybody
    await submit(sessions, second.id, users[YILI], local(2026, 6, 20, 10))
    assert await dispatch(sessions, local(2026, 6, 22, 9)) == 2  # d3 for 赛罕区 only
    assert await board(sessions, second.id) == ([yili], [], [saihan])
    async with transaction(sessions) as session:
        rows = await reminders_repo.rows(session=session)
    assert Counter((r.cycle_id, r.kind) for r in rows) == {
        (first.id, "d7@2026-03-25"): 3,
        (second.id, "d7@2026-06-25"): 3,
        (second.id, "d3@2026-06-25"): 2,
    }


class Statements:
    """Counts the SQL statements run on an engine while active."""

    def __init__(self, engine) -> None:
        self.engine, self.count = engine.sync_engine, 0

    def _seen(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        sqlalchemy.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        sqlalchemy.event.remove(self.engine, "before_cursor_execute", self._seen)


async def test_cycles_with_nobody_to_remind_cost_the_same_few_queries(
    sessions, clock, engine, world
):
    """Tasks for an org nobody has joined yet come back every minute (no ledger row says
    they were handled): one query finds none of them has anyone, however many there are."""

    async def statements_of_a_dispatch(minute: int) -> int:
        with Statements(engine) as statements:
            assert await dispatch(sessions, local(2026, 3, 18, 9, minute)) == 0
        return statements.count

    empty = ("土默特左旗科协",)
    await publish(sessions, clock, world, local(2026, 3, 25, 18), names=empty)
    one = await statements_of_a_dispatch(0)
    for _ in range(5):
        await publish(sessions, clock, world, local(2026, 3, 25, 18), names=empty)
    assert await statements_of_a_dispatch(1) == one


async def test_a_person_who_joins_an_empty_org_gets_the_current_reminder(sessions, clock, world):
    tree, _ = world
    await publish(sessions, clock, world, local(2026, 3, 25, 18), names=("土默特左旗科协",))
    assert await dispatch(sessions, local(2026, 3, 18, 9)) == 0  # d7's time, nobody there
    assert await dispatch(sessions, local(2026, 3, 19, 14)) == 0
    async with transaction(sessions) as session:
        newcomer = await users_repo.upsert_user(
            session=session, telegram_id=50010, username=None, now=local(2026, 3, 19, 14)
        )
        newcomer.org_id, newcomer.role = tree["土默特左旗科协"].id, Role.LIAISON
        newcomer.registered_at = local(2026, 3, 19, 14)
    assert await dispatch(sessions, local(2026, 3, 19, 14, 1)) == 1  # the next minute
    assert await dispatch(sessions, local(2026, 3, 19, 14, 2)) == 0
    assert await ledger(sessions) == [(50010, "d7@2026-03-25", "03-19 14:01")]


async def test_a_deleted_task_stops_its_reminders(sessions, clock, world):
    task, _ = await publish(
        sessions, clock, world, local(2026, 3, 25, 18), names=("伊利集团科协",)
    )
    assert await dispatch(sessions, local(2026, 3, 18, 9)) == 1
    async with transaction(sessions) as session:
        scope = await people.admin_scope(session, world[1][ADMIN], False)
        await task_svc.delete_task(session, task.id, scope, local(2026, 3, 19, 9))
    for day in range(22, 30):
        assert await dispatch(sessions, local(2026, 3, day, 9)) == 0


async def test_a_moved_deadline_brings_the_reminders_of_its_new_date(sessions, clock, world):
    _, cycle = await publish(
        sessions, clock, world, local(2026, 3, 25, 18), names=("伊利集团科协",)
    )
    await dispatch(sessions, local(2026, 3, 18, 9))
    await dispatch(sessions, local(2026, 3, 22, 9))
    async with transaction(sessions) as session:
        scope = await people.admin_scope(session, world[1][ADMIN], False)
        later, moved_at = local(2026, 4, 1, 18), local(2026, 3, 23, 12)
        await task_svc.move_deadline(session, cycle.id, scope, later, moved_at)
    assert await dispatch(sessions, local(2026, 3, 24, 9)) == 0  # no d1 for the old date
    assert await dispatch(sessions, local(2026, 3, 25, 9)) == 1  # d7 of the new date
    assert await dispatch(sessions, local(2026, 3, 29, 9)) == 1
    kinds = [kind for _, kind, _ in await ledger(sessions)]
    assert kinds == ["d7@2026-03-25", "d3@2026-03-25", "d7@2026-04-01", "d3@2026-04-01"]


async def test_a_deadline_moved_earlier_reminds_at_once(sessions, clock, world):
    """d3 of the new date fell before publication, but nobody was told that date: it goes."""
    _, cycle = await publish(
        sessions, clock, world, local(2026, 3, 30, 18), names=("伊利集团科协",)
    )
    async with transaction(sessions) as session:
        scope = await people.admin_scope(session, world[1][ADMIN], False)
        sooner = local(2026, 3, 19, 18)
        await task_svc.move_deadline(session, cycle.id, scope, sooner, local(2026, 3, 17, 11))
    assert await dispatch(sessions, local(2026, 3, 17, 11)) == 1
    assert await ledger(sessions) == [(YILI, "d3@2026-03-19", "03-17 11:00")]


async def test_remind_the_missing_now(sessions, clock, world):
    """At most one manual reminder per recipient, cycle and local day of delivery."""
    _, cycle = await publish(sessions, clock, world, local(2026, 3, 25, 18))
    admin = world[1][ADMIN]
    presses = [
        clock.now(),  # Monday 10:00: sent now
        local(2026, 3, 16, 15),  # the same day: nothing
        local(2026, 3, 16, 23, 30),  # quiet hours: queued for Tuesday 08:00
        local(2026, 3, 17, 10),  # Tuesday's is already queued
    ]
    counts = []
    for moment in presses:
        async with transaction(sessions) as session:
            counts.append(await reminders.remind_missing_now(session, cycle.id, admin, moment))
    assert counts == [3, 0, 3, 0]
    due = {(kind, due) for _, kind, due in await ledger(sessions)}
    assert due == {("manual:2026-03-16", "03-16 10:00"), ("manual:2026-03-17", "03-17 08:00")}


@pytest.mark.parametrize(
    ("who", "key"),
    [(BAOTOU_ADMIN, "reminder.not_your_task"), (YILI, "reminder.not_admin")],
)
async def test_remind_now_refuses_outsiders(sessions, clock, world, who, key):
    _, cycle = await publish(sessions, clock, world, local(2026, 3, 25, 18))
    async with transaction(sessions) as session:
        with pytest.raises(ReminderError) as refused:
            await reminders.remind_missing_now(session, cycle.id, world[1][who], clock.now())
    assert refused.value.key == key
    assert await ledger(sessions) == []


async def test_monday_digest_once_a_week_per_admin(sessions, clock, world):
    _, cycle = await publish(sessions, clock, world, local(2026, 3, 25, 18))
    async with transaction(sessions) as session:
        await task_svc.submit_report(
            session,
            cycle_id=cycle.id,
            user=world[1][YILI],
            sections={"工作抓手": "已开展"},
            indicators={},
            attachments=[],
            now=local(2026, 3, 20, 10),
        )
    monday = Clocked(local(2026, 3, 23, 8, 30), TZ)
    async with transaction(sessions) as session:
        first = await reminders.enqueue_digests(session, monday)
        second = await reminders.enqueue_digests(session, monday)
        rows = await reminders_repo.rows(session=session)
    assert (first, second) == (1, 0)  # the 包头 admin's subtree has no target
    assert [(r.chat_id, r.kind) for r in rows] == [(ADMIN, "digest:2026-W13")]
    assert json.loads(rows[0].payload)["lines"][0]["figures"] == [1, 0, 1]


async def test_a_superadmin_without_an_org_gets_the_digest_of_every_org(sessions, clock, world):
    tree, users = world
    await publish(sessions, clock, world, local(2026, 3, 25, 18))  # 呼和浩特's task
    draft = task_svc.TaskDraft(
        title="包头市科普日总结", deadline=local(2026, 3, 27, 18), org_ids=[tree["青山区科协"].id]
    )
    async with transaction(sessions) as session:
        baotou = users[BAOTOU_ADMIN]
        scope = await people.admin_scope(session, baotou, False)
        await task_svc.publish_task(
            session, draft, actor=baotou, scope=scope, now=clock.now(), tz=TZ
        )
        await users_repo.upsert_user(
            session=session, telegram_id=SUPER, username=None, now=clock.now()
        )  # talked to the bot once; no org, no role
    monday = Clocked(local(2026, 3, 23, 8, 30), TZ, superadmins=(SUPER, 59999))  # 59999: unknown
    async with transaction(sessions) as session:
        assert await reminders.enqueue_digests(session, monday) == 3
        rows = await reminders_repo.rows(session=session)
    digests = {r.chat_id: json.loads(r.payload)["lines"] for r in rows}
    titles = {
        chat: [(line["title"], line["figures"]) for line in lines]
        for chat, lines in digests.items()
    }
    assert titles == {
        ADMIN: [("2026年主题活动落实情况", [0, 0, 2])],
        BAOTOU_ADMIN: [("包头市科普日总结", [0, 0, 1])],
        SUPER: [("2026年主题活动落实情况", [0, 0, 2]), ("包头市科普日总结", [0, 0, 1])],
    }


async def test_personal_reminders_ignore_quiet_hours(sessions, clock, world):
    user = world[1][SAIHAN]
    async with transaction(sessions) as session:
        at = local(2026, 3, 16, 23)
        await reminders.add_personal(session, user, SAIHAN, at, "给孩子签字", clock.now())
    assert await dispatch(sessions, local(2026, 3, 16, 22, 59)) == 0
    assert await dispatch(sessions, local(2026, 3, 16, 23)) == 1
    assert await dispatch(sessions, local(2026, 3, 16, 23, 1)) == 0
    async with transaction(sessions) as session:
        rows = await reminders_repo.rows(session=session, statuses=[LedgerStatus.PENDING])
    assert [json.loads(r.payload)["text"] for r in rows] == ["给孩子签字"]


@pytest.mark.parametrize(
    ("when", "text", "key"),
    [
        (local(2026, 3, 16, 9), "开会", "remind.past"),
        (local(2026, 3, 17, 9), "长" * 501, "remind.too_long"),
        (local(2026, 3, 17, 9), "  ", "remind.no_text"),
    ],
)
async def test_personal_reminder_refusals(sessions, clock, world, when, text, key):
    async with transaction(sessions) as session:
        with pytest.raises(ReminderError) as refused:
            await reminders.add_personal(
                session, world[1][SAIHAN], SAIHAN, when, text, clock.now()
            )
    assert refused.value.key == key


@pytest.mark.parametrize(
    ("kind", "sent", "says"),
    [
        ("d3@2026-03-25", local(2026, 3, 22, 9), "距截止还有 3 天"),
        ("d0@2026-03-25", local(2026, 3, 25, 9), "今天截止"),
        ("overdue2@2026-03-25", local(2026, 3, 27, 9), "已逾期 2 天"),
        ("published", local(2026, 3, 16, 10), "新报送任务"),
    ],
)
def test_what_a_task_reminder_says(kind, sent, says):
    from bot.telegram.render import render_text
    from storage.reminder_models import ReminderLedger

    payload = {"title": "主题活动<总结>", "deadline": local(2026, 3, 25, 18).isoformat()}
    row = ReminderLedger(
        cycle_id=7,
        user_id=1,
        kind=kind,
        chat_id=1,
        payload=json.dumps(payload),
        due_at=sent,
        created_at=sent,
        sent_at=sent,
    )
    reply = reminder_views.reminder_reply(row, TZ)
    text = render_text("zh_CN", reply)
    assert says in text and "主题活动&lt;总结&gt;" in text and "2026-03-25 18:00" in text
    assert [(b.data) for b in reply.buttons[0]] == ["task:fill:7"]


async def test_the_weekly_run_forgets_old_finished_rows(sessions, clock, world):
    from storage.reminder_models import ReminderLedger

    user = world[1][SAIHAN]
    old, recent = local(2025, 12, 1, 9), local(2026, 3, 9, 9)
    async with transaction(sessions) as session:
        for kind, at, status in [
            ("d7@2025-12-08", old, LedgerStatus.SENT),
            ("d3@2025-12-08", old, LedgerStatus.PENDING),  # still to send: kept
            ("d7@2026-03-16", recent, LedgerStatus.SENT),
        ]:
            session.add(
                ReminderLedger(
                    cycle_id=1,
                    user_id=user.id,
                    kind=kind,
                    chat_id=SAIHAN,
                    status=status,
                    due_at=at,
                    created_at=at,
                )
            )
    async with transaction(sessions) as session:
        await reminders.enqueue_digests(session, Clocked(local(2026, 3, 16, 8, 30), TZ))
    assert [kind for _, kind, _ in await ledger(sessions)] == ["d3@2025-12-08", "d7@2026-03-16"]
