"""The activity form's edges, through the real Application with real Update JSON."""

from __future__ import annotations

from tests.harness import running_bot, sent_texts
from tests.test_activities import (
    LI,
    li,
    to_summary,
    tree,
)

__all__ = ["li", "tree"]  # fixtures shared with test_activities


def _keyboards(bot, chat_id: int) -> list[int]:
    return [
        m["message_id"]
        for m in bot.api.sent_messages(chat_id)
        if (m.get("reply_markup") or {}).get("inline_keyboard")
    ]


async def test_a_typed_answer_to_the_summary_leaves_one_keyboard(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await bot.press(LI, "修改参加人数")
        calls = await bot.text(LI, "300")  # the summary comes as a new message
        assert "请核对" in sent_texts(calls)[0]
        assert len(_keyboards(bot, LI.id)) == 1
        calls = await bot.text(LI, "随便说点什么")  # text on the summary: shown again
        assert "请点击下方按钮" in sent_texts(calls)[0]
        assert len(_keyboards(bot, LI.id)) == 1
        calls = await bot.press(LI, "修改名称")  # the newest summary is the form's message
        assert [c.method for c in calls if c.method.startswith("edit")] == ["editMessageText"]
