"""Typed answers where the forms expect a button or a field's value, through the real
Application: 是的 at "discard what you entered?", 确定 under the summary, questions about a step
(这里要填什么？), head counts as people say them, 没有照片 at the photo step, and where a saved
record can be seen again. Then the one reader behind them, on a table of realistic inputs."""

from __future__ import annotations

import json

import pytest

from bot.common.i18n import t
from bot.services import activities as svc
from bot.services.activity_text import read_report
from bot.services.short_answers import asks_about_step, says_nothing, yes_or_no
from offline.updates import TgUser
from storage import conversations_repo
from storage.db import transaction
from tests.harness import running_bot, sent_texts
from tests.test_activities import (
    LI,
    TODAY,
    at_title,
    form_step,
    li,
    make_member,
    stored,
    to_participants,
    to_summary,
    tree,
)
from tests.test_onboarding import make_invite

__all__ = ["li", "tree"]  # fixtures shared with test_activities

WANG = TgUser(id=30004, first_name="Wang", language_code="en")
NEWCOMER = TgUser(id=30010, first_name="新人")


async def answers(sessions, user=LI) -> dict:
    """The answers the user's open form holds."""
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=user.id, user_id=user.id)
        return json.loads(row.data)["data"] if row else {}


async def asked_to_discard(bot, user=LI):
    """/log, a type picked, then /cancel: the keep / discard question stands."""
    await at_title(bot)
    calls = await bot.text(user, "/cancel")
    assert t("zh_CN", "form.cancel_confirm") in sent_texts(calls)[0]


# --- the cancel question -------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["是的", "是", "对", "确定", "好", "确定取消", "是的。"])
async def test_a_typed_yes_at_the_cancel_question_cancels(settings, clock, sessions, li, typed):
    async with running_bot(settings, clock) as bot:
        await asked_to_discard(bot)
        question = bot.keyboard_message(LI.id)
        calls = await bot.text(LI, typed)
        assert sent_texts(calls) == [t("zh_CN", "form.cancelled")]
        # The question's buttons go with it: nothing is left to press.
        dropped = [c for c in calls if c.method == "editMessageReplyMarkup"]
        assert [c.params["message_id"] for c in dropped] == [question["message_id"]]
    assert await form_step(sessions, LI) is None  # the form ended
    assert await stored(sessions) == []


@pytest.mark.parametrize("typed", ["不", "不是", "否", "算了", "取消", "继续填写"])
async def test_a_typed_no_at_the_cancel_question_keeps_the_form(
    settings, clock, sessions, li, typed
):
    async with running_bot(settings, clock) as bot:
        await asked_to_discard(bot)
        calls = await bot.text(LI, typed)
        texts = sent_texts(calls)
        assert texts[0].startswith(t("zh_CN", "form.cancel_kept"))
        assert "活动名称" in texts[0]  # the step it stood at, asked again
        assert await answers(sessions) == {"type": "lecture"}
        await bot.text(LI, "科技助力乡村振兴")
        assert (await answers(sessions))["title"] == "科技助力乡村振兴"


async def test_other_text_at_the_cancel_question_is_never_an_answer(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await asked_to_discard(bot)
        calls = await bot.text(LI, "科技助力乡村振兴")
        text = sent_texts(calls)[0]
        assert text.startswith(t("zh_CN", "form.cancel_answer_yes_no"))
        assert t("zh_CN", "form.cancel_confirm") in text
        assert bot.button_texts(LI.id) == ["确定取消", "继续填写"]
        await bot.feed(bot.factory.photo(LI, b"scene"))  # a photo neither
        assert await answers(sessions) == {"type": "lecture"}
        calls = await bot.press(LI, "继续填写")
        assert "活动名称" in sent_texts(calls)[0]
        assert await answers(sessions) == {"type": "lecture"}


async def test_the_cancel_button_then_a_typed_yes(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.press(LI, "取消")
        calls = await bot.text(LI, "是的")
        assert sent_texts(calls) == [t("zh_CN", "form.cancelled")]
    assert await form_step(sessions, LI) is None  # the form ended


@pytest.mark.parametrize(("typed", "step"), [("yes", None), ("No", "title")])
async def test_english_yes_and_no_at_the_cancel_question(
    settings, clock, sessions, tree, typed, step
):
    await make_member(sessions, clock, WANG, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(WANG, "/log")
        await bot.press(WANG, "Lecture")
        await bot.text(WANG, "/cancel")
        calls = await bot.text(WANG, "maybe")
        assert sent_texts(calls)[0].startswith(t("en", "form.cancel_answer_yes_no"))
        await bot.text(WANG, typed)
    assert await form_step(sessions, WANG) == step


# --- the summary and the yes / no steps ----------------------------------------------------


async def test_a_typed_yes_under_the_summary_saves(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        calls = await bot.text(LI, "确定")
        assert "已记录" in sent_texts(calls)[0]
    [activity] = await stored(sessions)
    assert activity.title == "科技助力乡村振兴"


@pytest.mark.parametrize(
    ("typed", "notice"),
    [
        ("不对", "form.summary_typed_no"),
        ("不是", "form.summary_typed_no"),
        ("嗯…再想想吧", "form.use_buttons"),
    ],
)
async def test_a_no_or_other_text_under_the_summary_saves_nothing(
    settings, clock, sessions, li, typed, notice
):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        calls = await bot.text(LI, typed)
        text = sent_texts(calls)[0]
        assert text.startswith(t("zh_CN", notice))
        assert "请核对这条活动记录" in text
    assert await form_step(sessions, LI) == "summary"
    assert await stored(sessions) == []


async def test_registration_reads_typed_yes_and_no(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(NEWCOMER, f"/start {code}")
        calls = await bot.text(NEWCOMER, "是的")
        assert "真实姓名" in sent_texts(calls)[0]
        await bot.text(NEWCOMER, "/cancel")
        await bot.text(NEWCOMER, "是")
        await bot.text(NEWCOMER, f"/start {code}")
        calls = await bot.text(NEWCOMER, "不是")
        assert sent_texts(calls) == [t("zh_CN", "register.org_wrong")]
    assert await form_step(sessions, NEWCOMER) is None  # the form ended


# --- questions about a step ----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["这里要填什么？", "写啥好", "什么意思", "填什么", "?"])
async def test_a_question_at_the_title_step_gets_its_help(settings, clock, sessions, li, typed):
    async with running_bot(settings, clock) as bot:
        await at_title(bot)
        calls = await bot.text(LI, typed)
        text = sent_texts(calls)[0]
        assert text.startswith(t("zh_CN", "activity.help.title"))
        assert "活动名称" in text  # the step's prompt again, with its example
    assert await form_step(sessions, LI) == "title"
    assert "title" not in await answers(sessions)


@pytest.mark.parametrize(
    "title", ["垃圾分类，你做对了吗？", "人工智能是什么？", "什么是科普", "怎么写好科普文章"]
)
async def test_a_title_that_holds_a_question_is_a_title(settings, clock, sessions, li, title):
    async with running_bot(settings, clock) as bot:
        await at_title(bot)
        calls = await bot.text(LI, title)
        assert "活动日期" in sent_texts(calls)[0]
    assert (await answers(sessions))["title"] == title


async def test_a_question_at_the_summary_step_of_the_form_gets_help(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        calls = await bot.text(LI, "什么意思")
        assert sent_texts(calls)[0].startswith(t("zh_CN", "activity.help.summary"))
        assert "brief" not in await answers(sessions)
        await bot.text(LI, "什么是垃圾分类？讲解了分类方法。")
        assert (await answers(sessions))["brief"] == "什么是垃圾分类？讲解了分类方法。"


async def test_a_step_without_its_own_help_gets_the_general_one(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await at_title(bot)
        await bot.text(LI, "讲座")
        calls = await bot.text(LI, "这里填什么")
        expected = t("zh_CN", "form.step_help", label=t("zh_CN", "activity.label.day"))
        assert sent_texts(calls)[0].startswith(expected)


async def test_english_questions_and_titles(settings, clock, sessions, tree):
    await make_member(sessions, clock, WANG, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(WANG, "/log")
        await bot.press(WANG, "Lecture")
        calls = await bot.text(WANG, "What should I write here?")
        assert sent_texts(calls)[0].startswith(t("en", "activity.help.title"))
        await bot.text(WANG, "What is AI?")
    assert (await answers(sessions, WANG))["title"] == "What is AI?"


# --- buttons typed out ----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["上一步", "返回", "后退", "上一步吧", "back", "上一步。"])
async def test_a_typed_back_word_goes_back_and_is_never_a_title(
    settings, clock, sessions, li, typed
):
    async with running_bot(settings, clock) as bot:
        await at_title(bot)
        calls = await bot.text(LI, typed)
        assert "活动类型" in sent_texts(calls)[0] or "类型" in sent_texts(calls)[0]
        assert await form_step(sessions, LI) == "type"
        assert "title" not in await answers(sessions)


@pytest.mark.parametrize("typed", ["取消", "不填了", "取消吧", "cancel"])
async def test_a_typed_cancel_word_asks_as_cancel_does(settings, clock, sessions, li, typed):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        calls = await bot.text(LI, typed)
        assert sent_texts(calls) == [t("zh_CN", "form.cancel_confirm")]
        assert bot.button_texts(LI.id) == ["确定取消", "继续填写"]
        assert "participants" not in await answers(sessions)
        calls = await bot.text(LI, "是的")
        assert sent_texts(calls) == [t("zh_CN", "form.cancelled")]
    assert await stored(sessions) == []


async def test_a_typed_cancel_at_the_summary_asks_and_is_never_the_summary(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        calls = await bot.text(LI, "取消")  # at the (optional) summary step
        assert sent_texts(calls) == [t("zh_CN", "form.cancel_confirm")]
        assert "summary" not in await answers(sessions)
        await bot.text(LI, "继续填写")
        await bot.text(LI, "讲解了节能知识。")
        await bot.press(LI, "跳过")
        calls = await bot.text(LI, "取消")  # at the review
        assert sent_texts(calls) == [t("zh_CN", "form.cancel_confirm")]
        await bot.text(LI, "确定取消")
    assert await stored(sessions) == []


@pytest.mark.parametrize("title", ["返回家乡的大学生科普行", "上一步的工作总结", "取消预约须知"])
async def test_a_word_inside_a_longer_title_is_a_title(settings, clock, sessions, li, title):
    async with running_bot(settings, clock) as bot:
        await at_title(bot)
        await bot.text(LI, title)
        assert (await answers(sessions))["title"] == title


async def test_a_typed_button_label_presses_it(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.text(LI, "青少年")  # the audience step's button, typed: ticked
        assert len((await answers(sessions))["audience"]) == 1
        [ticked] = [b for b in bot.button_texts(LI.id) if "青少年" in b]
        assert ticked != "青少年"
        await bot.text(LI, "完成")
        await bot.text(LI, "讲解了节能知识。")
        calls = await bot.text(LI, "跳过")
        assert "请核对这条活动记录" in sent_texts(calls)[0]


@pytest.mark.parametrize("typed", ["好了", "完成", "done"])
async def test_done_typed_at_the_photo_step_keeps_the_photos(settings, clock, sessions, li, typed):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        await bot.feed(bot.factory.photo(LI, b"scene"))
        calls = await bot.text(LI, typed)
        assert "照片：1 张" in sent_texts(calls)[0]


async def test_english_words_press_the_buttons(settings, clock, sessions, tree):
    await make_member(sessions, clock, WANG, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(WANG, "/log")
        await bot.press(WANG, "Lecture")
        await bot.text(WANG, "Back")
        assert await form_step(sessions, WANG) == "type"
        await bot.text(WANG, "Lecture")  # the button's label, typed
        assert await form_step(sessions, WANG) == "title"
        calls = await bot.text(WANG, "cancel")
        assert sent_texts(calls) == [t("en", "form.cancel_confirm")]


# --- head counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "count", "note"),
    [
        ("八十个学生左右", 80, "activity.count_about"),
        ("五六十个居民", 50, "activity.count_lower"),
        ("一百来人", 100, "activity.count_about"),
        ("30多人", 30, "activity.count_about"),
        ("约200人", 200, "activity.count_about"),
        ("50-60人", 50, "activity.count_lower"),
        ("120", 120, None),
        # A closing particle, and 号人 for 人 (as spoken).
        ("两百来人吧", 200, "activity.count_about"),
        ("100人吧", 100, "activity.count_about"),
        ("一百多号人", 100, "activity.count_about"),
        ("80人左右吧", 80, "activity.count_about"),
        ("120人啊", 120, None),
    ],
)
async def test_head_counts_as_people_say_them(settings, clock, sessions, li, typed, count, note):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        calls = await bot.text(LI, typed)
        assert "活动对象" in sent_texts(calls)[0]
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        calls = await bot.press(LI, "跳过")
        summary = sent_texts(calls)[0]
        assert f"参加人数：{count} 人" in summary
        if note is None:
            assert "人记" not in summary
        else:
            assert t("zh_CN", note, said=typed, count=count) in summary
        assert "修改参加人数" in bot.button_texts(LI.id)
        await bot.press(LI, "确认提交")
    [activity] = await stored(sessions)
    assert activity.participants == count


async def test_a_plain_number_after_a_rough_one_drops_its_note(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        calls = await to_summary(bot)  # the count was typed as 约120人
        note = t("zh_CN", "activity.count_about", said="约120人", count=120)
        assert note in sent_texts(calls)[0]
        await bot.press(LI, "修改参加人数")
        calls = await bot.text(LI, "58")
        summary = sent_texts(calls)[0]
        assert "参加人数：58 人" in summary and "人记" not in summary


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("昨天在社区开展科普讲座，八十个学生左右", 80),
        ("昨天在社区开展科普讲座，五六十个居民参加", 50),
        ("昨天在社区开展科普讲座，一百来人", 100),
        ("昨天在社区开展科普讲座，十几个孩子参加", 10),
    ],
)
def test_the_quick_log_reads_the_same_head_counts(text, count):
    [reading] = read_report(text, TODAY).readings
    assert reading.participants == count


# --- the photo step and after saving -------------------------------------------------------


@pytest.mark.parametrize("typed", ["没有照片", "没有", "不用了", "无", "没拍照"])
async def test_nothing_typed_at_the_photo_step_skips_it(settings, clock, sessions, li, typed):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        calls = await bot.text(LI, typed)
        assert "请核对这条活动记录" in sent_texts(calls)[0]
        assert "照片：0 张" in sent_texts(calls)[0]


async def test_no_more_after_a_photo_keeps_it(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        await bot.feed(bot.factory.photo(LI, b"scene"))
        calls = await bot.text(LI, "没有了")
        assert "照片：1 张" in sent_texts(calls)[0]


async def test_the_saved_message_says_where_to_see_and_edit_it(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        calls = await bot.press(LI, "确认提交")
        text = sent_texts(calls)[0]
        assert "已记录" in text and "/mylogs" in text
        assert t("zh_CN", "activity.saved_where", days=svc.EDIT_WINDOW.days) in text


# --- the reader, on its own ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meaning"),
    [
        ("是的", True), ("是", True), ("对", True), ("对的", True), ("确定", True),
        ("好", True), ("好的！", True), ("嗯嗯", True), ("Yes", True), ("ok", True),
        ("不", False), ("不是", False), ("否", False), ("算了", False), ("取消", False),
        ("不是的", False), ("no", False), ("Nope.", False),
        ("好好学习", None), ("是的，不过名称要改", None), ("科普讲座", None), ("", None),
        ("不错的讲座", None), ("yesterday", None),
    ],
)  # fmt: skip
def test_yes_or_no(typed, meaning):
    assert yes_or_no(typed) is meaning


@pytest.mark.parametrize(
    ("typed", "nothing"),
    [
        ("没有", True), ("没有照片", True), ("不用了", True), ("无", True), ("暂无", True),
        ("跳过", True), ("没有了", True), ("没拍照", True), ("skip", True), ("None", True),
        ("no photos", True),
        ("没有人迟到", False), ("无人机科普讲座", False), ("讲解了防诈骗知识", False),
        ("不用担心", False),
    ],
)  # fmt: skip
def test_says_nothing(typed, nothing):
    assert says_nothing(typed) is nothing


@pytest.mark.parametrize(
    ("typed", "asks"),
    [
        ("这里要填什么？", True), ("写啥好", True), ("什么意思", True), ("啥意思？", True),
        ("这个怎么填", True), ("填什么呢", True), ("不知道写什么", True), ("？", True),
        ("这是什么", True), ("what should I write?", True), ("What does this mean?", True),
        ("垃圾分类，你做对了吗？", False), ("人工智能是什么？", False), ("什么是科普", False),
        ("怎么写好科普文章", False), ("哪吒主题科普展", False), ("What is AI?", False),
        ("How to write a science story?", False), ("社区活动室", False),
    ],
)  # fmt: skip
def test_asks_about_step(typed, asks):
    assert asks_about_step(typed) is asks
