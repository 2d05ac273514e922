"""``stabot chat --channel wecom``: the dispatcher in the terminal, cards drawn as boxes whose
numbers press their buttons, numbered choices answered by typing the number."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.services import orgs, people
from offline.wecom_chat import markdown_shown, run_wecom_chat
from storage.db import transaction
from storage.models import Role


async def test_a_member_registers_and_starts_a_log_in_the_terminal(settings, clock, sessions):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        invite = await people.create_invite(
            session,
            org_id=tree["青山区科协"].id,
            role=Role.LIAISON,
            now=datetime.now(UTC),  # the chat runs on the system clock
            uses=1,
            ttl=people.parse_duration("7d"),
        )
    lines = [f"/start {invite.code}", "1", "张三", "2", "/log", "1", "/quit", "never read"]
    stdout = io.StringIO()
    await run_wecom_chat(
        settings, member="zhangsan", stdin=io.StringIO("\n".join(lines)), stdout=stdout
    )
    out = stdout.getvalue()
    assert "青山区科协" in out
    assert "[1] 是，这是我的组织" in out  # a card, its buttons numbered
    assert "bot (card updated)>" in out  # the pressed card replaced by the next step
    assert "注册成功" in out
    assert "回复数字选择：" in out and "1. " in out  # the activity types as numbered choices
    assert "活动名称" in out  # "1" picked the first type: the form asks the next step
    assert "never read" not in out
    assert "**" not in out and "活动类型：请选择" in out  # markdown shown as the app shows it


def test_markdown_is_shown_as_the_app_shows_it():
    text = "**活动类型**：请选择，或看[说明](https://example.org)和`/log`。"
    assert markdown_shown(text) == "活动类型：请选择，或看说明 (https://example.org)和/log。"
    assert markdown_shown(text, bold=True).startswith("\033[1m活动类型\033[0m：")
