"""Acknowledgements are not errors, through the real Application: a reply (收到, 好的, 👍, a
sticker) to a notice that asks for 已阅 counts as 已阅 and says so in a line; any other
acknowledgement gets no answer; none of them gets 没看懂."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.flows.broadcast import notice_buttons
from bot.runtime import runtime_of
from bot.services import broadcasts, people
from bot.services.broadcasts import Audience
from bot.telegram.render import render_markup
from offline.bot_api import strip_bookkeeping
from offline.updates import TgUser
from storage import users_repo
from storage.broadcast_models import Broadcast, BroadcastDelivery
from storage.db import transaction
from storage.models import Role, User
from tests.harness import BotHarness, demo_tree, running_bot, sent_texts

ADMIN = TgUser(id=73001, first_name="管理员")
ZHANG = TgUser(id=73002, first_name="张")
LIU = TgUser(id=73003, first_name="刘")
SMITH = TgUser(id=73004, first_name="Smith", language_code="en")


@pytest.fixture
async def officers(sessions, clock):
    members = [(ADMIN, "呼和浩特市科协", Role.ADMIN)] + [
        (user, "赛罕区科协", Role.INFO_OFFICER) for user in (ZHANG, LIU, SMITH)
    ]
    async with transaction(sessions) as session:
        return await demo_tree(session, members, clock.now())


async def launched(
    sessions, clock, *, receipt: bool, text: str = "通知：请于周五前报送"
) -> Broadcast:
    """A notice to the information officers, queued (one outbox row each)."""
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=ADMIN.id)
        scope = await people.admin_scope(session, admin, superadmin=False)
        draft, _ = await broadcasts.create_draft(
            session,
            scope=scope,
            admin_id=ADMIN.id,
            admin_locale="zh_CN",
            audience=Audience("role", role="info_officer"),
            content={"text": text},
            receipt=receipt,
            scheduled_at=None,
            now=clock.now(),
        )
        await broadcasts.launch(
            session, draft, scope=scope, default_locale="zh_CN", now=clock.now()
        )
        return draft


async def notice_to(bot: BotHarness, user: TgUser, broadcast: Broadcast) -> dict[str, Any]:
    """The notice in the user's chat as recipients get it (its text and 已阅 button)."""
    bot.api.register_chat(user.private_chat())
    locale = "en" if user.language_code == "en" else "zh_CN"
    markup = render_markup(locale, notice_buttons(broadcast))
    sent = await bot.app.bot.send_message(user.id, broadcast.text, reply_markup=markup)
    return next(m for m in bot.api.sent_messages(user.id) if m["message_id"] == sent.message_id)


def reply(bot: BotHarness, user: TgUser, text: str, notice: dict[str, Any]) -> dict[str, Any]:
    return bot.factory.message(user, text, reply_to=notice)


def sticker_reply(bot: BotHarness, user: TgUser, notice: dict[str, Any]) -> dict[str, Any]:
    update = bot.factory.sticker(user, "👍")
    update["message"]["reply_to_message"] = strip_bookkeeping(notice)
    return update


async def acked(sessions) -> dict[int, bool]:
    """Whether each recipient's row holds a receipt, by Telegram id."""
    query = select(User.telegram_id, BroadcastDelivery.acked_at).join(
        BroadcastDelivery, col(BroadcastDelivery.user_id) == col(User.id)
    )
    async with transaction(sessions) as session:
        return {tid: at is not None for tid, at in (await session.exec(query)).all()}


def edits_of(calls, notice: dict[str, Any]) -> list[str]:
    return [
        button["text"]
        for c in calls
        if c.method == "editMessageReplyMarkup" and c.params["message_id"] == notice["message_id"]
        for row in c.params["reply_markup"]["inline_keyboard"]
        for button in row
    ]


@pytest.mark.parametrize("said", ["收到", "好的，收到", "收到，按要求办理", "谢谢", "👍", "已阅"])
async def test_a_reply_to_a_notice_counts_as_read(settings, clock, sessions, officers, said):
    broadcast = await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        notice = await notice_to(bot, ZHANG, broadcast)
        calls = await bot.feed(reply(bot, ZHANG, said, notice))
        assert sent_texts(calls) == ["✅ 已记为已阅。"]
        assert edits_of(calls, notice) == ["✅ 已确认阅读"]  # as if the button was pressed
        again = await bot.feed(reply(bot, ZHANG, "好的", notice))
        assert sent_texts(again) == ["✅ 这条通知已记为已阅。"]
    assert (await acked(sessions))[ZHANG.id] and not (await acked(sessions))[LIU.id]


async def test_a_sticker_and_an_english_reply_count_too(settings, clock, sessions, officers):
    broadcast = await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        notice = await notice_to(bot, LIU, broadcast)
        calls = await bot.feed(sticker_reply(bot, LIU, notice))
        assert sent_texts(calls) == ["✅ 已记为已阅。"]
        english = await notice_to(bot, SMITH, broadcast)
        calls = await bot.feed(reply(bot, SMITH, "OK, thanks", english))
        assert sent_texts(calls) == ["✅ Marked as read."]
        assert edits_of(calls, english) == ["✅ Marked as read"]
    assert await acked(sessions) == {ZHANG.id: False, LIU.id: True, SMITH.id: True}


async def test_a_reply_that_asks_something_is_a_question(settings, clock, sessions, officers):
    broadcast = await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        notice = await notice_to(bot, ZHANG, broadcast)
        calls = await bot.feed(reply(bot, ZHANG, "收到，这个要什么时候交？", notice))
    assert "已阅" not in "\n".join(sent_texts(calls)) and "没看懂" not in "\n".join(
        sent_texts(calls)
    )
    assert not (await acked(sessions))[ZHANG.id]


async def test_a_reply_to_a_notice_without_a_receipt_gets_no_answer(
    settings, clock, sessions, officers
):
    broadcast = await launched(sessions, clock, receipt=False)
    async with running_bot(settings, clock) as bot:
        notice = await notice_to(bot, ZHANG, broadcast)
        for said in ("收到", "谢谢", "好的，收到"):
            assert sent_texts(await bot.feed(reply(bot, ZHANG, said, notice))) == []
        assert sent_texts(await bot.feed(sticker_reply(bot, ZHANG, notice))) == []
    assert not (await acked(sessions))[ZHANG.id]


@pytest.mark.parametrize("user", [ZHANG, SMITH])
async def test_acknowledgements_outside_replies_get_no_answer(
    settings, clock, sessions, officers, user
):
    async with running_bot(settings, clock) as bot:
        for said in ("收到", "好的，收到", "收到，按要求办理", "谢谢", "👍", "OK", "Thanks"):
            assert sent_texts(await bot.text(user, said)) == [], said
        assert sent_texts(await bot.feed(bot.factory.sticker(user, "🙏"))) == []


async def test_a_reply_to_a_notice_counts_even_inside_a_form(settings, clock, sessions, officers):
    broadcast = await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        notice = await notice_to(bot, ZHANG, broadcast)
        await bot.text(ZHANG, "/log")
        calls = await bot.feed(reply(bot, ZHANG, "收到", notice))
        assert sent_texts(calls) == ["✅ 已记为已阅。"]
        calls = await bot.press(ZHANG, "科普讲座")  # the form is where it was
        assert "活动名称" in "\n".join(sent_texts(calls))
    assert (await acked(sessions))[ZHANG.id]


# --- a bare 收到, not a reply: the one notice waiting for it, or which of several ---------------


async def delivered(bot: BotHarness, *users: TgUser) -> None:
    """The delivery pipeline sends every queued notice (the recipients' chats exist)."""
    for user in users:
        bot.api.register_chat(user.private_chat())
    await runtime_of(bot.app).delivery.drain()


@pytest.mark.parametrize("said", ["收到", "已阅", "收到了", "好的收到"])
async def test_a_bare_receipt_word_acknowledges_the_one_waiting_notice(
    settings, clock, sessions, officers, said
):
    await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        await delivered(bot, ZHANG, LIU, SMITH)
        calls = await bot.text(ZHANG, said)
        assert sent_texts(calls) == ["✅ 已记为已阅：「通知：请于周五前报送」。"]
        assert sent_texts(await bot.text(ZHANG, said)) == []  # nothing left waiting: quiet
    assert await acked(sessions) == {ZHANG.id: True, LIU.id: False, SMITH.id: False}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("请于12月10日前报送活动总结。", "✅ 已记为已阅：「请于12月10日前报送活动总结」。"),
        ("请于12月10日前报送活动总结，", "✅ 已记为已阅：「请于12月10日前报送活动总结」。"),
        ("会议改期了！", "✅ 已记为已阅：「会议改期了！」。"),  # its meaning stays
        ("关于报送2026年全国科普日活动总结的通知。请于12月10日前", "…"),  # cut: no mark
    ],
)
async def test_a_notice_named_in_quotes_has_no_doubled_full_stop(
    settings, clock, sessions, officers, text, said
):
    """The notice named after 收到 ends its quote with one mark, not its own and the line's."""
    await launched(sessions, clock, receipt=True, text=text)
    async with running_bot(settings, clock) as bot:
        await delivered(bot, ZHANG, LIU, SMITH)
        (line,) = sent_texts(await bot.text(ZHANG, "收到"))
        if said == "…":  # a long notice is named by its start: the ellipsis stays
            assert line.startswith("✅ 已记为已阅：「关于报送") and line.endswith("…」。")
        else:
            assert line == said
        (line,) = sent_texts(await bot.text(SMITH, "received"))
        assert "”." in line and ".”." not in line and "。”." not in line


async def test_a_bare_receipt_word_with_several_waiting_asks_which(
    settings, clock, sessions, officers
):
    await launched(sessions, clock, receipt=True, text="关于报送科普日活动的通知")
    await launched(sessions, clock, receipt=True, text="关于召开年度工作会议的通知")
    await launched(sessions, clock, receipt=False, text="无需回执的通知")
    async with running_bot(settings, clock) as bot:
        await delivered(bot, ZHANG, LIU, SMITH)
        calls = await bot.text(SMITH, "Received")
        assert sent_texts(calls) == [
            "2 notices are waiting for your receipt. Which one did you read?"
        ]
        assert bot.button_texts(SMITH.id) == [
            "Read: 关于召开年度工作会议的通知",  # newest first
            "Read: 关于报送科普日活动的通知",
        ]
        await bot.press(SMITH, "年度工作会议")
        calls = await bot.text(SMITH, "收到")  # one left: recorded at once
        assert sent_texts(calls) == ["✅ Marked as read: “关于报送科普日活动的通知”."]
    async with transaction(sessions) as session:
        query = select(BroadcastDelivery.acked_at).join(
            User, col(BroadcastDelivery.user_id) == col(User.id)
        ).where(col(User.telegram_id) == SMITH.id, col(BroadcastDelivery.acked_at).is_not(None))
        assert len((await session.exec(query)).all()) == 2


async def test_a_bare_receipt_word_leaves_old_notices_and_thanks_alone(
    settings, clock, sessions, officers
):
    await launched(sessions, clock, receipt=True)
    async with running_bot(settings, clock) as bot:
        await delivered(bot, ZHANG, LIU, SMITH)
        assert sent_texts(await bot.text(ZHANG, "谢谢")) == []  # thanks is not a receipt
        clock.advance(timedelta(days=broadcasts.RECEIPT_DAYS, minutes=1))
        assert sent_texts(await bot.text(LIU, "收到")) == []  # a notice of last month: no
    assert not any((await acked(sessions)).values())
