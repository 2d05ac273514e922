"""Answers that lead to the work: a policy answer names the asker's org's open report task
that came with the document, with the days left and a 填报 button (bot/services/task_links.py)."""

from __future__ import annotations

from bot import PROJECT_ROOT
from offline.updates import TgUser
from tests import test_tasks_bot
from tests.harness import BotHarness, running_bot, sent_texts
from tests.test_tasks_bot import (
    ADMIN,
    QINGSHAN,
    SAIHAN,
    TUMOTE,
    chats,
    new_county_task,
    submit_report,
)

# Hohhot's and Baotou's people (the indexed corpus, kb_settings, comes from conftest).
tree = test_tasks_bot.tree

NOTICE = "000_fe3cdc91cff56ffb.txt"  # the 落实情况报告 notice, as bundled and indexed
QUESTION = "落实情况报告什么时候交？"
HINT = "你单位有与这份文件相关的报送任务："
LINE = "• 2026年一季度科普工作落实情况｜截止 2026-03-30 18:00｜"
PASSED = "⚠️ 文中的“12月9日”出自 2021-11-23 的文件，指的是 2021-12-09，现在可能已不适用。"
OPEN = "📋 你单位目前的报送任务："
NONE_OPEN = "📋 你单位目前没有待报送的任务。"


async def publish_with_the_notice(bot: BotHarness) -> None:
    """The city admin sends the notice as the task's attachment to Hohhot's counties."""
    notice = (PROJECT_ROOT / "corpus" / NOTICE).read_bytes()
    chats(bot)
    await new_county_task(bot, notice=notice, notice_name=NOTICE)


def buttons(calls: list) -> list[str]:
    markup = calls[-1].params.get("reply_markup") or {"inline_keyboard": []}
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


async def test_a_liaison_asking_when_the_report_is_due_gets_days_left_and_the_form(
    kb_settings, clock, tree
):
    async with running_bot(kb_settings, clock) as bot:
        await publish_with_the_notice(bot)
        calls = await bot.text(SAIHAN, QUESTION)
        answer = sent_texts(calls)[0]
        assert "12月9日" in answer
        # The notice's 12月9日 is 2021's: said under the answer, before the task it came with.
        assert f"{PASSED}\n\n📋 {HINT}\n{LINE}还剩 14 天" in answer
        assert buttons(calls) == ["更多来源", "查看全文", "填报"]
        await bot.press(SAIHAN, "填报")
        assert "第 1/5 栏：工作抓手" in bot.last_text(SAIHAN.id)


async def test_another_org_and_someone_without_an_org_get_the_plain_answer(
    kb_settings, clock, tree
):
    stranger = TgUser(id=50099, first_name="路人")
    async with running_bot(kb_settings, clock) as bot:
        await publish_with_the_notice(bot)
        for user in (QINGSHAN, stranger):  # Qingshan is a county of another city
            calls = await bot.text(user, QUESTION)
            assert "12月9日" in sent_texts(calls)[0]
            assert HINT not in sent_texts(calls)[0] and "2026年一季度" not in sent_texts(calls)[0]
            assert buttons(calls) == ["更多来源", "查看全文"]


async def test_the_hint_in_english_and_only_for_questions_about_reporting(
    kb_settings, clock, tree
):
    english = TgUser(id=TUMOTE.id, first_name=TUMOTE.first_name, language_code="en")
    async with running_bot(kb_settings, clock) as bot:
        await publish_with_the_notice(bot)
        calls = await bot.text(english, "/ask 报告最晚哪天交")
        hint = "Your organisation has a report task that comes with this document:"
        assert hint in sent_texts(calls)[0]
        assert "| 14 days left" in sent_texts(calls)[0]
        assert buttons(calls)[-1] == "Fill in"
        # A question about the notice's content, not its deadline or reporting, stays plain.
        calls = await bot.text(SAIHAN, "/ask 主题活动的活动主题是什么")
        assert HINT not in sent_texts(calls)[0]


async def test_after_submitting_the_hint_says_submitted(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        await publish_with_the_notice(bot)
        await bot.text(SAIHAN, "/tasks")
        calls = await submit_report(bot, SAIHAN, "建立联络员例会制度。")
        assert "已提交（第 1 版）" in sent_texts(calls)[0]
        answer = sent_texts(await bot.text(SAIHAN, QUESTION))[0]
        other = sent_texts(await bot.text(TUMOTE, QUESTION))[0]
    assert f"{LINE}✅ 已提交" in answer
    assert f"{LINE}还剩 14 天" in other  # the other county has not submitted


async def test_a_withdrawn_task_gives_no_hint(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        await publish_with_the_notice(bot)
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        await bot.press(ADMIN, "撤回任务")
        await bot.press(ADMIN, "确定撤回")
        calls = await bot.text(SAIHAN, QUESTION)
    assert "12月9日" in sent_texts(calls)[0] and HINT not in sent_texts(calls)[0]
    assert buttons(calls) == ["更多来源", "查看全文"]


async def test_a_task_whose_title_names_the_notice_is_linked_without_an_attachment(
    kb_settings, clock, tree
):
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        title = "“提升科技服务能力，推动企业创新驱动发展”主题活动落实情况"
        await new_county_task(bot, "3月20日", title=title)
        calls = await bot.text(SAIHAN, "报告最晚哪天交")
    assert f"{HINT}\n• {title}｜截止 2026-03-20 18:00｜还剩 4 天" in sent_texts(calls)[0]
    assert buttons(calls)[-1] == "填报"


# --- a deadline from an old document ------------------------------------------------------


async def test_an_old_deadline_points_to_the_askers_own_open_task(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)  # no notice: no task is linked to the document
        calls = await bot.text(SAIHAN, "总结材料啥时候报")
        answer = sent_texts(calls)[0]
        assert f"{PASSED}\n\n{OPEN}\n{LINE}还剩 14 天" in answer
        assert HINT not in answer
        assert buttons(calls) == ["更多来源", "查看全文", "填报"]
        await bot.press(SAIHAN, "填报")
        assert "第 1/5 栏：工作抓手" in bot.last_text(SAIHAN.id)


async def test_several_open_tasks_the_first_three_with_their_buttons(kb_settings, clock, tree):
    titles = [f"2026年{month}月科普工作落实情况" for month in (1, 2, 3, 4)]
    deadlines = ("3月20日", "3月25日", "3月30日", "4月5日")
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        for title, deadline in zip(titles, deadlines, strict=True):
            await new_county_task(bot, deadline, title=title)
        calls = await bot.text(TUMOTE, QUESTION)
    answer = sent_texts(calls)[0]
    assert f"{PASSED}\n\n{OPEN}\n• {titles[0]}｜截止 2026-03-20 18:00｜还剩 4 天" in answer
    assert titles[2] in answer and titles[3] not in answer
    assert answer.endswith("另有 1 项，发送 /tasks 查看全部。")
    assert buttons(calls) == ["更多来源", "查看全文", *(f"填报：{t}" for t in titles[:3])]


async def test_an_old_deadline_for_an_org_with_nothing_open_and_for_someone_without_one(
    kb_settings, clock, tree
):
    stranger = TgUser(id=50099, first_name="路人")
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)  # Hohhot's counties: nothing for Qingshan (Baotou)
        own = sent_texts(await bot.text(QINGSHAN, QUESTION))[0]
        plain = sent_texts(await bot.text(stranger, QUESTION))[0]
    assert own.endswith(f"{PASSED}\n\n{NONE_OPEN}")
    assert plain.endswith(PASSED)  # no org: the note, and nothing about tasks


async def test_an_old_deadline_in_english(kb_settings, clock, tree):
    english = TgUser(id=SAIHAN.id, first_name=SAIHAN.first_name, language_code="en")
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        calls = await bot.text(english, "when is the 落实情况报告 due")
    answer = sent_texts(calls)[0]
    assert ("⚠️ “12月9日” comes from a document of 2021-11-23 and means 2021-12-09: it may no "
            "longer apply.\n\n📋 Your organisation's report tasks now:\n"
            "• 2026年一季度科普工作落实情况 | due 2026-03-30 18:00 | 14 days left") in answer
    assert buttons(calls)[-1] == "Fill in"


async def test_a_question_about_content_gets_no_note_on_dates(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        calls = await bot.text(SAIHAN, "/ask 主题活动的活动主题是什么")
    assert "可能已不适用" not in sent_texts(calls)[0] and OPEN not in sent_texts(calls)[0]
