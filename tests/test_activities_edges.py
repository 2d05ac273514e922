"""The activity form's edges, through the real Application: more typed dates and head counts,
bad input at every typed step, keyboards that do not pile up, old buttons that must not throw a
form away, commands in the middle of the form, a confirm that fails, and an admin's org list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.common.i18n import t
from bot.flows.quick_log import read_free_text
from bot.services import activities as svc
from offline.updates import TgUser
from storage import users_repo
from storage.db import transaction
from storage.models import Role
from tests.harness import running_bot, sent_texts, toasts
from tests.test_activities import (
    LI,
    TODAY,
    ZHAO,
    at_title,
    form_step,
    li,
    log_many,
    make_member,
    stored,
    to_participants,
    to_summary,
    tree,
)

__all__ = ["li", "tree"]  # fixtures shared with test_activities

WANG = TgUser(id=30004, first_name="Wang", language_code="en")
ADMIN = TgUser(id=30005, first_name="王主席")


@pytest.mark.parametrize(
    ("typed", "count"),
    [
        ("120余人", 120),
        ("两千", 2000),
        ("百余人", 100),
        ("近百人", 100),
        ("千余人", 1000),
        ("1.2万人", 12000),
        ("3万", 30000),
        ("一百万", 1_000_000),
    ],
)
def test_more_head_counts(typed, count):
    assert svc.parse_participants(typed) == count


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("负五", "activity.participants_negative"),
        ("零", "activity.participants_zero"),
        ("一百万零一", "activity.participants_too_many"),
        ("12.5", "activity.bad_participants"),
    ],
)
def test_head_counts_refused_with_their_hint(typed, key):
    with pytest.raises(svc.ActivityError) as refused:
        svc.parse_participants(typed)
    assert refused.value.key == key


async def _at_summary_step(bot):
    await to_participants(bot)
    await bot.text(LI, "120")
    await bot.press(LI, "青少年")
    await bot.press(LI, "完成")


async def _at_people(bot):
    await to_participants(bot)


async def _at_type_other(bot):
    await bot.text(LI, "/log")
    await bot.press(LI, "其他")


BAD_INPUTS = [
    (_at_summary_step, "简" * 5000, "最多 1000 字，你发了 5000 字", "活动简介"),
    (_at_type_other, "类" * 5000, "最多 50 字，你发了 5000 字", "具体类型"),
    (at_title, "   ", "内容不能为空", "活动名称"),
    (_at_people, "120.5", "没有看懂人数", "参加人数"),
]


@pytest.mark.parametrize(("walk", "text", "hint", "prompt"), BAD_INPUTS)
async def test_more_bad_text_repeats_the_step(
    settings, clock, sessions, li, walk, text, hint, prompt
):
    async with running_bot(settings, clock) as bot:
        await walk(bot)
        step = await form_step(sessions, LI)
        reply = sent_texts(await bot.text(LI, text))[0]
        assert hint in reply and prompt in reply
        assert await form_step(sessions, LI) == step
    assert await stored(sessions) == []


async def test_files_and_stickers_where_text_or_a_number_is_expected(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        await _at_people(bot)
        calls = await bot.feed(bot.factory.photo(LI, b"photo"))
        assert "照片请在最后" in sent_texts(calls)[0] and "参加人数" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.document(LI, b"%PDF", "report.pdf"))
        assert "需要输入文字" in sent_texts(calls)[0]
        assert await form_step(sessions, LI) == "participants"
        await bot.press(LI, "上一步")
        await bot.press(LI, "上一步")
        await bot.press(LI, "上一步")
        calls = await bot.feed(bot.factory.sticker(LI))
        assert "需要输入文字" in sent_texts(calls)[0] and "活动日期" in sent_texts(calls)[0]
        assert await form_step(sessions, LI) == "day"
    assert await stored(sessions) == []


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


async def test_an_old_same_as_last_button_keeps_the_open_form(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await bot.press(LI, "确认提交")
        saved = bot.keyboard_message(LI.id)
        await to_participants(bot)
        calls = await bot.press(LI, "同上次", message=saved)
        text = sent_texts(calls)[0]
        assert "还有一个表单没有填完" in text and "参加人数" in text
        assert await form_step(sessions, LI) == "participants"
        await bot.press(LI, "我的记录", message=saved)  # a list does not end the form
        await bot.press(LI, "科技助力乡村振兴", message=_current(bot, saved))
        calls = await bot.press(LI, "修改", message=_current(bot, saved))
        assert "还有一个表单没有填完" in sent_texts(calls)[0]
        await bot.text(LI, "66")
        await bot.press(LI, "青少年")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        calls = await bot.press(LI, "跳过")
        assert "66 人" in sent_texts(calls)[0] and "青山区社区" in sent_texts(calls)[0]


def _current(bot, message):
    """The message as it reads now (after the bot edited it)."""
    return next(
        m for m in bot.api.sent_messages(LI.id) if m["message_id"] == message["message_id"]
    )


async def test_same_as_last_on_the_new_form_still_works(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await bot.press(LI, "确认提交")
        await bot.text(LI, "/log")
        calls = await bot.press(LI, "同上次")  # the form just opened holds nothing yet
        assert "已沿用上次" in sent_texts(calls)[0]


async def test_same_as_last_typed_alone(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await bot.press(LI, "确认提交")
        calls = await bot.text(LI, "同上次")
        assert "已沿用上次" in sent_texts(calls)[0]
    assert await form_step(sessions, LI) == "type"


async def test_same_as_last_asks_for_an_org_no_longer_yours(settings, clock, sessions, li, tree):
    async with running_bot(settings, clock) as first:
        await to_summary(first)
        await first.press(LI, "确认提交")
    await _move(sessions, LI, tree["赛罕区科协"])
    async with running_bot(settings, clock, after=first) as bot:
        await bot.text(LI, "/log 同上次")
        await bot.press(LI, "科技培训")
        await bot.text(LI, "节能培训")
        calls = await bot.press(LI, "今天")
        assert "主办组织" in sent_texts(calls)[0]
        assert "赛罕区科协" in bot.button_texts(LI.id)


async def _move(sessions, user, org):
    async with transaction(sessions) as session:
        row = await users_repo.get_user(session=session, telegram_id=user.id)
        row.org_id = org.id


async def test_a_confirm_that_fails_keeps_the_answers(settings, clock, sessions, li, tree):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await _move(sessions, LI, tree["赛罕区科协"])  # 青山区科协 is no longer the user's
        calls = await bot.press(LI, "确认提交")
        text = sent_texts(calls)[0]
        assert "只能为你所在的组织" in text and "请核对" in text
        assert await form_step(sessions, LI) == "summary"
        assert await stored(sessions) == []
        await bot.press(LI, "修改主办组织")
        await bot.press(LI, "赛罕区科协")
        calls = await bot.press(LI, "确认提交")
        assert "已记录" in sent_texts(calls)[0]
    [activity] = await stored(sessions)
    assert (activity.org_id, activity.participants) == (tree["赛罕区科协"].id, 120)


async def test_commands_in_the_middle_keep_the_form(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        calls = await bot.text(LI, "/stats")
        assert "/stats 暂时不能用" in sent_texts(calls)[0] and "参加人数" in sent_texts(calls)[0]
        await bot.text(LI, "/ask 全国科普日是什么时候")
        await bot.text(LI, "/help")
        assert await form_step(sessions, LI) == "participants"
        calls = await bot.text(LI, "一百二十")
        assert "活动对象" in sent_texts(calls)[0]
        await bot.press(LI, "青少年")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        await bot.press(LI, "跳过")
        await bot.press(LI, "确认提交")
    [activity] = await stored(sessions)
    assert (activity.title, activity.participants) == ("科技助力乡村振兴", 120)


async def test_log_with_last_months_date(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/log 上个月15号在包钢集团举办科技培训，共80名职工参加")
        text = sent_texts(calls)[0]
        assert "2026-02-15" in text and "80 人" in text and "活动名称" in text


async def test_the_unregistered_get_a_pointer_to_registration(settings, clock, sessions, tree):
    guest = TgUser(id=30010, first_name="路人")
    async with running_bot(settings, clock) as bot:
        for command in ("/log", "/log 同上次", "/mylogs", "/pushed 3"):
            calls = await bot.text(guest, command)
            assert t("zh_CN", "activity.not_registered") == sent_texts(calls)[0]
        calls = await bot.text(guest, "同上次")
        assert "邀请链接" in sent_texts(calls)[0]
    assert await form_step(sessions, guest) is None
    assert await stored(sessions) == []


async def test_english_quick_log_and_hints(settings, clock, sessions, tree):
    await make_member(sessions, clock, WANG, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(WANG, "/log yesterday lecture for 120 people")
        text = sent_texts(calls)[0]
        assert "2026-03-15" in text and "120" in text and "Title" in text
        calls = await bot.text(WANG, "x" * 5000)
        assert "at most 200 characters, you sent 5000" in sent_texts(calls)[0]


# --- an admin's list of the org's records ----------------------------------------------------


@pytest.fixture
async def old_record(sessions, clock, li, tree):
    """李明's record, logged 40 days ago: past his own edit window."""
    clock.advance(timedelta(days=-40))
    await log_many(sessions, clock, LI, tree["包钢集团科协"], 1)
    clock.advance(timedelta(days=40))
    [activity] = await stored(sessions)
    return activity


async def test_an_admin_corrects_a_record_of_the_subtree_at_any_time(
    settings, clock, sessions, tree, old_record
):
    await make_member(sessions, clock, ADMIN, tree["包头市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(ADMIN, "/mylogs")
        assert "还没有活动记录" in sent_texts(calls)[0]
        calls = await bot.press(ADMIN, "本组织及下级的记录")
        assert "第 1/1 页" in sent_texts(calls)[0]
        calls = await bot.press(ADMIN, "培训01")
        detail = sent_texts(calls)[0]
        assert "记录人：李明" in detail and "不能再修改" not in detail
        await bot.press(ADMIN, "修改")
        await bot.press(ADMIN, "修改名称")
        await bot.text(ADMIN, "培训第一期")
        calls = await bot.press(ADMIN, "确认提交")
        assert "已更新" in sent_texts(calls)[0]
        await bot.press(ADMIN, "我的记录")
        await bot.press(ADMIN, "本组织及下级的记录")
        await bot.press(ADMIN, "培训第一期")
        calls = await bot.press(ADMIN, "返回列表")
        assert "本组织及下级的活动记录" in sent_texts(calls)[0]
    [activity] = await stored(sessions)
    assert (activity.title, activity.created_by) == ("培训第一期", LI.id)
    assert (activity.updated_by, activity.updated_at) == (ADMIN.id, clock.now())


async def test_the_owner_past_the_window_is_sent_to_the_admin(
    settings, clock, sessions, old_record
):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/mylogs")
        assert "本组织及下级的记录" not in bot.button_texts(LI.id)
        calls = await bot.press(LI, "培训01")
        assert "联系组织管理员" in sent_texts(calls)[0]
        assert "修改" not in bot.button_texts(LI.id)


async def _forged(bot, user, data):
    """A button press with callback data the bot never offered this user."""
    await bot.text(user, "/pushed")  # any message with a keyboard will do to press on
    message = bot.keyboard_message(user.id)
    offered = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    update = bot.factory.callback(user, offered, message)
    update["callback_query"]["data"] = data
    return await bot.feed(update)


async def test_others_cannot_open_edit_or_delete_a_record(
    settings, clock, sessions, tree, old_record
):
    hohhot_admin = TgUser(id=30006, first_name="呼市")
    await make_member(sessions, clock, hohhot_admin, tree["呼和浩特市科协"], Role.ADMIN)
    await make_member(sessions, clock, ZHAO, tree["包钢集团科协"])  # same org, not the owner
    gone = t("zh_CN", "activity.not_found")
    async with running_bot(settings, clock) as bot:
        for user in (hohhot_admin, ZHAO):
            for action in ("open", "edit", "delete", "delete-yes"):
                calls = await _forged(bot, user, f"log:{action}:{old_record.id}:o")
                assert toasts(calls) == [gone], (user, action)
        calls = await _forged(bot, ZHAO, "logs:org:0")
        assert toasts(calls) == [t("zh_CN", "activity.admins_only")]
        await bot.text(hohhot_admin, "/mylogs")
        calls = await bot.press(hohhot_admin, "本组织及下级的记录")
        assert "还没有活动记录" in sent_texts(calls)[0]  # 包钢 is not in 呼和浩特's subtree
    [activity] = await stored(sessions)
    assert (activity.title, activity.updated_by) == ("培训01", None)


async def test_the_org_list_pages(settings, clock, sessions, li, tree):
    await make_member(sessions, clock, ADMIN, tree["包头市科协"], Role.ADMIN)
    await log_many(sessions, clock, LI, tree["青山区科协"], 7)
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/mylogs")
        await bot.press(ADMIN, "本组织及下级的记录")
        calls = await bot.press(ADMIN, "下一页")
        assert "第 2/2 页" in sent_texts(calls)[0]
        assert [b for b in bot.button_texts(ADMIN.id) if "培训" in b] == [
            "03-10 培训02",
            "03-09 培训01",
        ]
        await bot.press(ADMIN, "培训01")
        await bot.press(ADMIN, "删除")
        calls = await bot.press(ADMIN, "确定删除")
        assert "已删除" in sent_texts(calls)[0]
        calls = await bot.press(ADMIN, "返回列表")
        assert "本组织及下级的活动记录" in sent_texts(calls)[0]
    assert len(await stored(sessions)) == 6


@pytest.mark.parametrize(
    "text",
    ["3月15日的科普讲座要不要报送", "昨天的科普讲座需不需要拍照", "上周五科普讲座能不能补录",
     "昨天科普讲座谁组织的", "昨天的科技培训多少人参加才算数"],
)
def test_a_question_about_an_activity_is_no_report(text):
    assert read_free_text(text, TODAY).outcome == "none"


def test_a_report_naming_several_places_is_still_a_report():
    assert read_free_text("昨天联合几个社区开展科普讲座，约120人参加", TODAY).outcome == "log"
