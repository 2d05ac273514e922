"""Report task services: publishing, targeting, cycles, submissions and the status board."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.services import activities, orgs, task_export
from bot.services import tasks as svc
from bot.services.people import Scope
from storage import tasks_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import OrgLevel, Role
from storage.task_models import Recurrence

TZ = ZoneInfo("Asia/Shanghai")
ADMIN_ID, LIAISON_ID, OTHER_ID = 40001, 40002, 40003


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def member(sessions, clock, telegram_id, org, role=Role.LIAISON):
    async with transaction(sessions) as session:
        row = await users_repo.upsert_user(
            session=session, telegram_id=telegram_id, username=None, now=clock.now()
        )
        row.real_name, row.org_id, row.role, row.registered_at = "王芳", org.id, role, clock.now()
        return row


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def publish(sessions, clock, admin, scope, org_ids, **extra):
    draft = svc.TaskDraft(
        title="2026年主题活动落实情况",
        deadline=extra.pop("deadline", local(2026, 3, 30, 18)),
        org_ids=org_ids,
        **extra,
    )
    async with transaction(sessions) as session:
        return await svc.publish_task(
            session, draft, actor=admin, scope=scope, now=clock.now(), tz=TZ
        )


async def test_targets_by_subtree_and_by_level(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    scope = Scope(tree["呼和浩特市科协"])
    async with transaction(sessions) as session:
        subtree = await svc.subtree_org_ids(session, scope)
        counties = await svc.level_org_ids(session, scope, OrgLevel.COUNTY)
    assert {tree[n].id for n in ("赛罕区科协", "土默特左旗科协")} == set(counties)
    assert tree["伊利集团科协"].id in subtree and tree["青山区科协"].id not in subtree
    task = await publish(sessions, clock, admin, scope, counties)
    async with transaction(sessions) as session:
        assert await tasks_repo.target_ids(session=session, task_id=task.id) == sorted(counties)
        cycles = await tasks_repo.cycles_of(session=session, task_id=task.id)
    assert [(c.seq, c.period_start, c.period_end) for c in cycles] == [
        (1, date(2026, 1, 1), date(2026, 3, 30))
    ]


async def test_no_target_and_outside_target_are_refused(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    scope = Scope(tree["呼和浩特市科协"])
    for org_ids, key in (
        ([], "task.no_targets"),
        ([tree["青山区科协"].id], "task.target_outside"),
    ):
        with pytest.raises(svc.TaskError) as refused:
            await publish(sessions, clock, admin, scope, org_ids)
        assert refused.value.key == key
    async with transaction(sessions) as session:
        assert await svc.open_cycles(session, clock.now()) == []


async def test_submit_resubmit_late_and_board(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    liaison = await member(sessions, clock, LIAISON_ID, tree["赛罕区科协"])
    late_one = await member(sessions, clock, OTHER_ID, tree["土默特左旗科协"])
    scope = Scope(tree["呼和浩特市科协"])
    targets = [tree[n].id for n in ("赛罕区科协", "土默特左旗科协", "内蒙古大学科协")]
    task = await publish(sessions, clock, admin, scope, targets)
    cycle_id = (await svc_cycles(sessions, task.id))[0].id
    report = {"工作抓手": "建立联络员制度", "有效措施": "每月例会"}

    async def submit(user, text):
        async with transaction(sessions) as session:
            return await svc.submit_report(
                session,
                cycle_id=cycle_id,
                user=user,
                sections={**report, "实际成效": text},
                indicators={"活动场次": 3},
                attachments=[],
                now=clock.now(),
            )

    first = await submit(liaison, "覆盖10个社区")
    second = await submit(liaison, "覆盖12个社区")
    clock.set(local(2026, 3, 31, 9))
    late = await submit(late_one, "迟交")
    assert (first.version, second.version, second.late, late.late) == (1, 2, False, True)
    async with transaction(sessions) as session:
        history = await tasks_repo.submission_history(
            session=session, cycle_id=cycle_id, org_id=liaison.org_id
        )
        board = await svc.cycle_status(session, cycle_id, scope)
        pending = await svc.pending_org_ids(session, cycle_id)
        only_county = await svc.cycle_status(session, cycle_id, Scope(tree["赛罕区科协"]))
    assert [h.sections["实际成效"] for h in history] == ["覆盖12个社区", "覆盖10个社区"]
    assert history[1].superseded_at is not None and history[0].superseded_at is None
    assert history[0].indicators == {"活动场次": 3, "参与人次": 0}
    assert board == svc.CycleStatus(
        submitted=[tree["赛罕区科协"].id],
        late=[tree["土默特左旗科协"].id],
        missing=[tree["内蒙古大学科协"].id],
    )
    assert pending == [tree["内蒙古大学科协"].id]
    assert only_county == svc.CycleStatus(submitted=[tree["赛罕区科协"].id])


async def svc_cycles(sessions, task_id):
    async with transaction(sessions) as session:
        return await tasks_repo.cycles_of(session=session, task_id=task_id)


async def test_untargeted_org_and_long_section_are_refused(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    liaison = await member(sessions, clock, LIAISON_ID, tree["赛罕区科协"])
    stranger = await member(sessions, clock, OTHER_ID, tree["青山区科协"])
    task = await publish(sessions, clock, admin, Scope(tree["呼和浩特市科协"]), [liaison.org_id])
    cycle_id = (await svc_cycles(sessions, task.id))[0].id
    cases = (
        (stranger, "短", "task.not_targeted"),
        (liaison, "长" * 2001, "task.section_too_long"),
    )
    for user, text, key in cases:
        with pytest.raises(svc.TaskError) as refused:
            async with transaction(sessions) as session:
                await svc.submit_report(
                    session,
                    cycle_id=cycle_id,
                    user=user,
                    sections={"工作抓手": text},
                    indicators={},
                    attachments=[],
                    now=clock.now(),
                )
        assert refused.value.key == key
    async with transaction(sessions) as session:
        assert await svc.pending_org_ids(session, cycle_id) == [liaison.org_id]


async def test_recipients_and_prefill_from_activities(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    liaison = await member(sessions, clock, LIAISON_ID, tree["赛罕区科协"])
    task = await publish(sessions, clock, admin, Scope(tree["呼和浩特市科协"]), [liaison.org_id])
    cycle = (await svc_cycles(sessions, task.id))[0]
    days = (date(2026, 3, 1), date(2026, 3, 10), date(2025, 12, 31))  # the last is outside
    async with transaction(sessions) as session:
        for n, day in enumerate(days):
            session.add(
                Activity(
                    type="lecture",
                    title=f"讲座{n}",
                    day=day,
                    org_id=liaison.org_id,
                    participants=100 + n,
                    unit="session",
                    amount=2 if n else 1,
                    created_by=LIAISON_ID,
                    created_at=clock.now(),
                )
            )
        await session.flush()
        values = await svc.prefill_indicators(session, task, cycle, liaison.org_id)
        people = await svc.task_recipients(session, [liaison.org_id, tree["青山区科协"].id])
    assert values == {"活动场次": 3, "参与人次": 201}
    assert {org: [u.telegram_id for u in users] for org, users in people.items()} == {
        liaison.org_id: [LIAISON_ID]
    }


async def test_prefill_leaves_out_pushed_items(sessions, clock, tree):
    """科普信息员 pushes (type push, counted in 篇次) are neither 活动场次 nor 参与人次."""
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    liaison = await member(sessions, clock, LIAISON_ID, tree["赛罕区科协"])
    officer = await member(sessions, clock, OTHER_ID, tree["赛罕区科协"], Role.INFO_OFFICER)
    task = await publish(sessions, clock, admin, Scope(tree["呼和浩特市科协"]), [liaison.org_id])
    cycle = (await svc_cycles(sessions, task.id))[0]
    async with transaction(sessions) as session:
        for count in (12, 30):  # two pushes the same day: one record of 42 篇次
            await activities.record_pushed(
                session, actor=officer, count=count, now=clock.now(), tz=TZ
            )
        session.add(
            Activity(
                type="lecture",
                title="科普讲座",
                day=clock.now().astimezone(TZ).date(),
                org_id=liaison.org_id,
                participants=80,
                unit="session",
                amount=1,
                created_by=LIAISON_ID,
                created_at=clock.now(),
            )
        )
        await session.flush()
        values = await svc.prefill_indicators(session, task, cycle, liaison.org_id)
    assert values == {"活动场次": 1, "参与人次": 80}


async def test_recurring_cycles_are_created_once(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    task = await publish(
        sessions,
        clock,
        admin,
        Scope(tree["呼和浩特市科协"]),
        [tree["赛罕区科协"].id],
        deadline=local(2026, 3, 31, 18),
        recurrence=Recurrence.MONTHLY,
    )
    clock.set(local(2026, 5, 1, 9))  # two deadlines passed while nobody looked
    for _ in range(2):  # idempotent
        async with transaction(sessions) as session:
            await svc.ensure_cycles(session, clock.now(), TZ)
    cycles = await svc_cycles(sessions, task.id)
    assert [(c.seq, c.period_start, c.period_end, c.deadline) for c in cycles] == [
        (1, date(2026, 3, 1), date(2026, 3, 31), local(2026, 3, 31, 18)),
        (2, date(2026, 4, 1), date(2026, 4, 30), local(2026, 4, 30, 18)),
        (3, date(2026, 5, 1), date(2026, 5, 31), local(2026, 5, 31, 18)),
    ]
    async with transaction(sessions) as session:
        open_ids = [c.id for c in await svc.open_cycles(session, clock.now())]
    assert open_ids == [cycles[1].id, cycles[2].id]  # April's is overdue for under 3 days


async def test_deleted_task_and_moved_deadline(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    scope = Scope(tree["呼和浩特市科协"])
    task = await publish(sessions, clock, admin, scope, [tree["赛罕区科协"].id])
    cycle = (await svc_cycles(sessions, task.id))[0]
    async with transaction(sessions) as session:
        moved = await svc.move_deadline(
            session, cycle.id, scope, local(2026, 4, 10, 12), clock.now()
        )
        with pytest.raises(svc.TaskError) as refused:
            await svc.delete_task(session, task.id, Scope(tree["包头市科协"]), clock.now())
    assert moved.deadline == local(2026, 4, 10, 12) and refused.value.key == "task.not_your_task"
    async with transaction(sessions) as session:
        await svc.delete_task(session, task.id, scope, clock.now())
        assert await svc.open_cycles(session, clock.now()) == []
    assert timedelta(0) < moved.deadline - clock.now()


async def test_workbook_of_a_recurring_task_within_a_scope(sessions, clock, tree):
    admin = await member(sessions, clock, ADMIN_ID, tree["呼和浩特市科协"], Role.ADMIN)
    liaison = await member(sessions, clock, LIAISON_ID, tree["赛罕区科协"])
    targets = [tree["赛罕区科协"].id, tree["土默特左旗科协"].id]
    task = await publish(
        sessions,
        clock,
        admin,
        Scope(tree["呼和浩特市科协"]),
        targets,
        deadline=local(2026, 3, 31, 18),
        recurrence=Recurrence.MONTHLY,
        indicators=["活动场次"],
    )
    first = (await svc_cycles(sessions, task.id))[0]
    async with transaction(sessions) as session:
        await svc.submit_report(
            session,
            cycle_id=first.id,
            user=liaison,
            sections={"工作抓手": "三月"},
            indicators={"活动场次": 7},
            attachments=[],
            now=clock.now(),
        )
    clock.set(local(2026, 4, 1, 9))
    async with transaction(sessions) as session:
        await svc.ensure_cycles(session, clock.now(), TZ)
        data = await task_export.task_workbook(session, task.id, Scope(tree["赛罕区科协"]), TZ)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", "第1期", "第2期"]
    assert book["第1期"]["A1"].font.b and book["第1期"].freeze_panes == "A2"
    assert [row[:3] for row in book["第1期"].iter_rows(min_row=2, values_only=True)] == [
        ("赛罕区科协", "内蒙古自治区科协 › 呼和浩特市科协 › 赛罕区科协", "已提交")
    ]
    assert list(book["汇总"].iter_rows(min_row=2, values_only=True)) == [
        (1, datetime(2026, 3, 31, 18, 0), 1, 1, 0, 0, 7),
        (2, datetime(2026, 4, 30, 18, 0), 1, 0, 0, 1, 0),
    ]
