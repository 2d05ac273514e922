"""/remind through the real Application: set, refuse, list and delete personal reminders."""

from __future__ import annotations

import pytest

from bot.services import orgs
from offline.updates import TgUser
from storage import users_repo
from storage.db import transaction
from storage.models import Role
from tests.harness import running_bot, toasts

LIAISON = TgUser(id=61001, first_name="联络员", language_code="zh-hans")


@pytest.fixture
async def member(sessions, clock):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        user = await users_repo.upsert_user(
            session=session, telegram_id=LIAISON.id, username=None, now=clock.now()
        )
        user.org_id, user.role, user.registered_at = (
            tree["赛罕区科协"].id,
            Role.LIAISON,
            clock.now(),
        )
        user.real_name = "王芳"


async def test_set_list_and_delete(settings, clock, member):
    async with running_bot(settings, clock) as bot:
        await bot.text(LIAISON, "/remind")
        assert "还没有待发的提醒" in bot.last_text(LIAISON.id)
        await bot.text(LIAISON, "/remind 明天上午9点 提交照片")
        assert "2026-03-17 09:00" in bot.last_text(LIAISON.id)
        assert "提交照片" in bot.last_text(LIAISON.id)
        await bot.text(LIAISON, "/remind 下周一 9:00 例会")
        await bot.text(LIAISON, "/remind")
        listing = bot.last_text(LIAISON.id)
        assert listing.index("提交照片") < listing.index("例会")
        assert bot.button_texts(LIAISON.id) == ["删除第 1 条", "删除第 2 条"]
        calls = await bot.press(LIAISON, "删除第 1 条")
        assert toasts(calls) == ["已删除"]
        assert "提交照片" not in bot.last_text(LIAISON.id)
        assert "例会" in bot.last_text(LIAISON.id)


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("/remind 随便 看看", "没看懂提醒时间"),
        ("/remind 2026-03-01 10:00 开会", "已经过去"),
        ("/remind 明天上午9点", "请在时间后面写上提醒内容"),
        ("/remind 明天上午9点 " + "长" * 501, "最多 500 个字"),
    ],
)
async def test_refusals_explain_and_store_nothing(settings, clock, member, typed, hint):
    async with running_bot(settings, clock) as bot:
        await bot.text(LIAISON, typed)
        assert hint in bot.last_text(LIAISON.id)
        await bot.text(LIAISON, "/remind")
        assert "还没有待发的提醒" in bot.last_text(LIAISON.id)


@pytest.mark.parametrize(
    ("typed", "zh", "en"),
    [
        ("/remind 2026-03-20 25:00 开会", "没有25点（小时是 0–23）。",
         "There is no hour 25 (hours are 0–23)."),
        ("/remind 2026-02-30 09:00 开会", "2月没有30日。", "Month 2 has no day 30."),
        ("/remind 2026-13-01 开会", "没有13月（月份是 1–12）。",
         "There is no month 13 (months are 1–12)."),
        ("/remind 4月31日 开会", "4月没有31日。", "Month 4 has no day 31."),
        ("/remind 明天9点75分 开会", "没有75分（分钟是 0–59）。",
         "There is no minute 75 (minutes are 0–59)."),
        ("/remind 2912369天后 开会", "这个时间太远了（日历只到 9999 年）。",
         "That is too far ahead (the calendar ends with the year 9999)."),
    ],
)
async def test_impossible_times_say_what_is_wrong_and_store_nothing(
    settings, clock, sessions, member, typed, zh, en
):
    async with running_bot(settings, clock) as bot:
        await bot.text(LIAISON, typed)
        assert bot.last_text(LIAISON.id) == zh
        await bot.text(LIAISON, "/lang")
        await bot.press(LIAISON, "English")
        await bot.text(LIAISON, typed)
        assert bot.last_text(LIAISON.id) == en
        await bot.text(LIAISON, "/remind")
        assert "no reminders" in bot.last_text(LIAISON.id).lower()
