"""/remind through the real Application: set, refuse, list and delete personal reminders."""

from __future__ import annotations

import pytest

from bot.services import orgs
from bot.updates import TgUser
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
