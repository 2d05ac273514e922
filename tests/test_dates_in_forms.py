"""Every form and command reads dates with the one reader, through the real Application:
a broadcast's start, a task's deadline, /remind, the activity date, the /stats and /export
range, /mylogs; in Chinese and in English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from offline.updates import TgUser
from storage import conversations_repo
from storage.activity_models import Activity
from storage.broadcast_models import Broadcast
from storage.db import transaction
from storage.models import Role
from storage.reminder_models import PersonalReminder
from tests.harness import BotHarness, demo_tree, running_bot, sent_texts

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = TgUser(id=71001, first_name="市管理员")
ADMIN_EN = TgUser(id=71002, first_name="Admin", language_code="en")
LIAISON = TgUser(id=71003, first_name="联络员")
LIAISON_EN = TgUser(id=71004, first_name="Liaison", language_code="en")
OFFICER = TgUser(id=71005, first_name="信息员")


@pytest.fixture
async def people(sessions, clock):
    members = (
        (ADMIN, "呼和浩特市科协", Role.ADMIN),
        (ADMIN_EN, "呼和浩特市科协", Role.ADMIN),
        (LIAISON, "赛罕区科协", Role.LIAISON),
        (LIAISON_EN, "赛罕区科协", Role.LIAISON),
        (OFFICER, "赛罕区科协", Role.INFO_OFFICER),
    )
    async with transaction(sessions) as session:
        return await demo_tree(session, members, clock.now())


def at(clock, *local: int) -> None:
    clock.set(datetime(*local, tzinfo=TZ))


def utc(*local: int) -> datetime:
    return datetime(*local, tzinfo=TZ).astimezone(UTC)


def texts(calls) -> str:
    return "\n".join(sent_texts(calls))


async def form_data(sessions, user: TgUser) -> tuple[str, dict]:
    import json

    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=user.id, user_id=user.id)
    assert row is not None, "no form is open"
    return row.step, json.loads(row.data)["data"]


# --- /broadcast: its start ------------------------------------------------------------------


async def to_broadcast_time(bot: BotHarness, admin: TgUser, labels: dict[str, str]) -> None:
    await bot.text(admin, "/broadcast")
    await bot.press(admin, labels["role"])
    await bot.press(admin, labels["officer"])
    await bot.text(admin, labels["text"])
    await bot.press(admin, labels["skip"])
    await bot.press(admin, labels["no_receipt"])


ZH = {"role": "按角色", "officer": "科普信息员", "text": "通知：周五前报送", "skip": "跳过",
      "no_receipt": "不要回执", "confirm": "确认提交"}  # fmt: skip
EN = {"role": "One role", "officer": "information officer", "text": "Notice: report by Friday",
      "skip": "Skip", "no_receipt": "No receipt", "confirm": "Confirm"}  # fmt: skip


@pytest.mark.parametrize(
    ("admin", "labels", "typed", "shown"),
    [
        (ADMIN, ZH, "12月8日 9:00", "2026-12-08 09:00"),
        (ADMIN, ZH, "明天上午9点", "2026-11-21 09:00"),
        (ADMIN_EN, EN, "tomorrow 9am", "2026-11-21 09:00"),
        (ADMIN_EN, EN, "12月8日 9:00", "2026-12-08 09:00"),
    ],
)
async def test_a_broadcast_starts_when_it_is_said(
    settings, clock, sessions, people, admin, labels, typed, shown
):
    at(clock, 2026, 11, 20, 15, 0)
    async with running_bot(settings, clock) as bot:
        await to_broadcast_time(bot, admin, labels)
        calls = await bot.text(admin, typed)
        assert shown in texts(calls)
        await bot.press(admin, labels["confirm"])
    async with transaction(sessions) as session:
        saved = (await session.exec(select(Broadcast))).one()
    day, hour = (8, 9) if "12月8日" in typed else (21, 9)
    assert saved.scheduled_at.replace(tzinfo=UTC) == utc(2026, 11 if day == 21 else 12, day, hour)


@pytest.mark.parametrize(
    ("admin", "labels", "typed", "said"),
    [
        (ADMIN, ZH, "明天", "请写上具体时间"),
        (ADMIN, ZH, "12月8日 25:00", "没有25点"),
        (ADMIN, ZH, "2月30日 9:00", "2月没有30日"),
        (ADMIN, ZH, "昨天 9:00", "已经过去了"),
        (ADMIN, ZH, "3月1日 9:00", "最多只能定在 60 天以内"),
        (ADMIN, ZH, "尽快", "没看懂这个时间"),
        (ADMIN_EN, EN, "tomorrow", "Please add a time"),
        (ADMIN_EN, EN, "2月30日 9:00", "Month 2 has no day 30"),
    ],
)
async def test_a_start_that_cannot_be_taken_is_said_and_asked_again(
    settings, clock, sessions, people, admin, labels, typed, said
):
    at(clock, 2026, 11, 20, 15, 0)
    async with running_bot(settings, clock) as bot:
        await to_broadcast_time(bot, admin, labels)
        calls = await bot.text(admin, typed)
    assert said in texts(calls)
    assert (await form_data(sessions, admin))[0] == "when"


# --- /newtask: its deadline -----------------------------------------------------------------


async def to_deadline(bot: BotHarness, admin: TgUser) -> None:
    await bot.text(admin, "/newtask")
    await bot.text(admin, "一季度落实情况")
    await bot.text(admin, "请如实填写。")


@pytest.mark.parametrize(
    ("admin", "typed", "deadline"),
    [
        (ADMIN, "下周三", utc(2026, 3, 25, 18)),  # a day alone: 18:00
        (ADMIN, "下周三 12:00", utc(2026, 3, 25, 12)),
        (ADMIN, "12月1日", utc(2026, 12, 1, 18)),  # ahead this year: this year's
        (ADMIN_EN, "next friday", utc(2026, 3, 20, 18)),
    ],
)
async def test_a_deadline_is_read_like_everywhere_else(
    settings, clock, sessions, people, admin, typed, deadline
):
    async with running_bot(settings, clock) as bot:
        await to_deadline(bot, admin)
        await bot.text(admin, typed)
    step, data = await form_data(sessions, admin)
    assert step == "recurrence"
    assert datetime.fromisoformat(data["deadline"]) == deadline


@pytest.mark.parametrize(
    ("admin", "said"),
    [
        (
            ADMIN,
            "12月1日已经过了（今天是 2026-12-05）。如果指明年的，请写上年份，如“2027年12月1日”。",
        ),
        (ADMIN_EN, "12月1日 has passed (today is 2026-12-05). For next year's, write the year"),
    ],
)
async def test_a_past_deadline_is_said_never_moved_to_next_year(
    settings, clock, sessions, people, admin, said
):
    at(clock, 2026, 12, 5, 10, 0)
    async with running_bot(settings, clock) as bot:
        await to_deadline(bot, admin)
        calls = await bot.text(admin, "12月1日")
        assert said in texts(calls)
        assert (await form_data(sessions, admin))[0] == "deadline"  # asked again
        await bot.text(admin, "2027年12月1日")  # the year said: taken
    step, data = await form_data(sessions, admin)
    assert step == "recurrence" and datetime.fromisoformat(data["deadline"]) == utc(
        2027, 12, 1, 18
    )


# --- /remind ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "typed", "moment", "shown"),
    [
        (LIAISON, "/remind 3天后 交材料", utc(2026, 3, 21, 9), "2026-03-21 09:00"),
        (LIAISON, "/remind 明天 交材料", utc(2026, 3, 19, 9), "2026-03-19 09:00"),
        (LIAISON, "/remind 两小时后 喝水", utc(2026, 3, 18, 23, 30), "2026-03-18 23:30"),
        (LIAISON_EN, "/remind in 3 days send it", utc(2026, 3, 21, 9), "2026-03-21 09:00"),
        (LIAISON_EN, "/remind next friday 9am call", utc(2026, 3, 20, 9), "2026-03-20 09:00"),
    ],
)
async def test_a_reminder_for_a_day_said_at_night_goes_at_nine(
    settings, clock, sessions, people, user, typed, moment, shown
):
    at(clock, 2026, 3, 18, 21, 30)  # a Wednesday night
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(user, typed)
    assert shown in texts(calls)
    async with transaction(sessions) as session:
        reminder = (await session.exec(select(PersonalReminder))).one()
    assert reminder.remind_at.replace(tzinfo=UTC) == moment


@pytest.mark.parametrize(
    ("user", "typed", "said"),
    [
        (LIAISON, "/remind 2月30日 开会", "2月没有30日"),
        (LIAISON, "/remind 今天 开会", "已经过去了"),
        (LIAISON, "/remind 随便 看看", "请把时间写在前面"),
        (LIAISON_EN, "/remind whenever call", "Put it first"),
    ],
)
async def test_a_reminder_that_cannot_be_set_says_why(
    settings, clock, sessions, people, user, typed, said
):
    at(clock, 2026, 3, 18, 21, 30)
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(user, typed)
    assert said in texts(calls)
    async with transaction(sessions) as session:
        assert (await session.exec(select(PersonalReminder))).all() == []


# --- the activity date ----------------------------------------------------------------------


async def to_activity_day(bot: BotHarness, user: TgUser, kind: str, title: str) -> None:
    await bot.text(user, "/log")
    await bot.press(user, kind)
    await bot.text(user, title)


@pytest.mark.parametrize(
    ("user", "kind", "typed", "day"),
    [
        (LIAISON, "科普讲座", "上周五", "2026-03-13"),
        (LIAISON, "科普讲座", "三月十五日", "2026-03-15"),
        (LIAISON, "科普讲座", "上个月15号", "2026-02-15"),
        (LIAISON_EN, "Lecture", "last friday", "2026-03-13"),
    ],
)
async def test_the_activity_date_is_read(
    settings, clock, sessions, people, user, kind, typed, day
):
    async with running_bot(settings, clock) as bot:
        await to_activity_day(bot, user, kind, "节能知识讲座")
        await bot.text(user, typed)
    step, data = await form_data(sessions, user)
    assert (step, data["day"]) == ("place", day)


@pytest.mark.parametrize(
    ("user", "kind", "typed", "said"),
    [
        (LIAISON, "科普讲座", "2月30日", "2月没有30日"),
        (LIAISON, "科普讲座", "明天", "2026-03-17 还没到（今天是 2026-03-16）"),
        (LIAISON, "科普讲座", "1999-12-31", "不能早于 2000-01-01"),
        (LIAISON, "科普讲座", "改天", "没看懂这个日期。可以这样写"),
        (LIAISON_EN, "Lecture", "2月30日", "Month 2 has no day 30"),
        (LIAISON_EN, "Lecture", "tomorrow", "is still ahead (today is 2026-03-16)"),
    ],
)
async def test_an_activity_date_that_cannot_be_taken_is_said(
    settings, clock, sessions, people, user, kind, typed, said
):
    async with running_bot(settings, clock) as bot:
        await to_activity_day(bot, user, kind, "节能知识讲座")
        calls = await bot.text(user, typed)
    assert said in texts(calls)
    step, data = await form_data(sessions, user)
    assert step == "day" and "day" not in data


async def test_a_guessed_year_is_shown_on_the_summary(settings, clock, sessions, people):
    async with running_bot(settings, clock) as bot:
        await to_activity_day(bot, LIAISON, "科普讲座", "冬季讲座")
        await bot.text(LIAISON, "12月20日")
        await bot.text(LIAISON, "赛罕区社区")
        await bot.press(LIAISON, "赛罕区科协")
        await bot.text(LIAISON, "80")
        await bot.press(LIAISON, "社区居民")
        await bot.press(LIAISON, "完成")
        await bot.press(LIAISON, "跳过")
        calls = await bot.press(LIAISON, "跳过")
    summary = texts(calls)
    assert "2025-12-20" in summary and "“12月20日”按 2025-12-20 记" in summary


# --- /stats and /export: the custom range ---------------------------------------------------


@pytest.fixture
async def logged(sessions, clock, people):
    saihan = people["赛罕区科协"]
    async with transaction(sessions) as session:
        for day, participants in ((date(2026, 1, 10), 120), (date(2026, 2, 3), 30)):
            session.add(
                Activity(type="lecture", title="讲座", day=day, org_id=saihan.id, unit="session",
                         participants=participants, created_by=LIAISON.id, created_at=clock.now())
            )  # fmt: skip
    return people


async def test_a_reversed_range_is_said_with_how_to_send_it_again(
    settings, clock, sessions, logged
):
    async with running_bot(settings, clock) as bot:
        refused = await bot.text(ADMIN, "/stats 2026-03-31 至 2026-01-01")
        assert "结束日期 2026-01-01 早于开始日期 2026-03-31" in texts(refused)
        assert "可以重新发送 /stats 加日期范围" in texts(refused)  # how to try again
        async with transaction(sessions) as session:  # no hidden form takes the next text
            assert not await conversations_repo.get_state(
                session=session, chat_id=ADMIN.id, user_id=ADMIN.id
            )
        calls = await bot.text(ADMIN, "/stats 2026-01-01 至 2026-03-15")
    text = texts(calls)
    assert "没看懂这条消息" not in text
    assert "2026-01-01 至 2026-03-15" in text and "活动 <b>2</b> 次" in text


async def test_the_custom_range_reads_months_quarters_and_chinese_dates(
    settings, clock, sessions, logged
):
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/stats")
        await bot.press(ADMIN, "自定义")
        refused = await bot.text(ADMIN, "1月1日 至 2月30日")
        assert "2月没有30日" in texts(refused)
        calls = await bot.text(ADMIN, "上季度")
        assert "2025-10-01 至 2025-12-31" in texts(calls)
        await bot.text(ADMIN, "/stats")
        await bot.press(ADMIN, "自定义")
        calls = await bot.text(ADMIN, "一月一日到二月十日")
    assert "2026-01-01 至 2026-02-10" in texts(calls) and "活动 <b>2</b> 次" in texts(calls)


async def test_an_english_range_in_export_and_stats(settings, clock, sessions, logged):
    async with running_bot(settings, clock) as bot:
        refused = await bot.text(ADMIN_EN, "/export 2026-04-01 to 2026-04-30")
        assert "The start, 2026-04-01, is still ahead" in texts(refused)
        assert "Send /export again with a range" in texts(refused)
        calls = await bot.text(ADMIN_EN, "/export last month")
        assert "2026-02-01" in texts(calls)


# --- /mylogs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "typed", "shown"),
    [
        (LIAISON, "/mylogs 1月", "2026-01-01 至 2026-01-31"),
        (LIAISON, "/mylogs 第一季度", "2026-01-01 至 2026-03-31"),
        (LIAISON, "/mylogs 一月一日到二月十日", "2026-01-01 至 2026-02-10"),
        (LIAISON, "/mylogs 13月", "没有13月"),
        (LIAISON, "/mylogs 2026-03-31 至 2026-01-01", "早于开始日期"),
        (LIAISON, "/mylogs 3月5日到", "也可以写关键词"),
        (LIAISON_EN, "/mylogs last quarter", "2025-10-01 to 2025-12-31"),
        (LIAISON_EN, "/mylogs 2026-03-31 to 2026-01-01", "comes before the start"),
    ],
)
async def test_mylogs_ranges(settings, clock, sessions, logged, user, typed, shown):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(user, typed)
    assert shown in texts(calls)


async def test_mylogs_finds_the_records_of_a_quarter(settings, clock, sessions, people):
    saihan = people["赛罕区科协"].id
    async with transaction(sessions) as session:
        for day in (date(2026, 1, 10), date(2026, 2, 3), date(2025, 12, 30)):
            session.add(
                Activity(type="lecture", title=f"讲座{day}", day=day, org_id=saihan,
                         unit="session", created_by=LIAISON.id, created_at=clock.now())
            )  # fmt: skip
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LIAISON, "/mylogs 第一季度")
    assert "（2026-01-01 至 2026-03-31）共 2 条" in texts(calls)  # not 2025-12-30
    assert "01-10" in str(bot.button_texts(LIAISON.id)) and "12-30" not in str(
        bot.button_texts(LIAISON.id)
    )
    async with transaction(sessions) as session:
        found = (await session.exec(select(Activity).order_by(col(Activity.day)))).all()
    assert len(found) == 3


# --- examples follow today -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "recent", "soon"),
    [((2026, 3, 16), "2026-03-13", "2026-03-19"), ((2026, 12, 7), "2026-12-04", "2026-12-10")],
)
async def test_example_dates_in_prompts_and_hints_follow_today(
    settings, clock, people, today, recent, soon
):
    at(clock, *today, 10)
    year, month, _ = today
    async with running_bot(settings, clock) as bot:
        await bot.text(LIAISON, "/log")
        await bot.press(LIAISON, "科普讲座")
        await bot.text(LIAISON, "科普讲座进社区")
        assert f"“{recent}”" in bot.last_text(LIAISON.id)  # the date step's prompt
        calls = await bot.text(LIAISON, "好几天以前")
        assert f"、{recent}。" in texts(calls)  # the hint's examples
        calls = await bot.text(ADMIN, "/remind 找个时间 开会")
        assert f"/remind {soon} 15:00 开会" in texts(calls) and "2026-03-20" not in texts(calls)
        calls = await bot.text(ADMIN_EN, "/mylogs 3月5日到")
        assert f"{year}-{month:02d}-01 to {year}-{month:02d}-{today[2]:02d}" in texts(calls)
