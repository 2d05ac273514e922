"""Broadcasts through the real Application: targeting, preview, outbox states, limits, receipts."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from telegram import Bot
from telegram.error import NetworkError
from telegram.request import BaseRequest

from bot.common.i18n import t
from bot.delivery.budget import ChatPacer, SendBudget
from bot.delivery.pipeline import Pipeline
from bot.flows.broadcast import EXCERPT
from bot.runtime import runtime_of
from bot.services import broadcasts, orgs, people
from bot.services.broadcasts import Audience, BroadcastError
from offline.updates import TgUser
from storage import broadcasts_repo, members_repo, outbox_repo, users_repo
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastStatus, DeliveryStatus
from storage.db import transaction
from storage.models import Role, User
from tests.conftest import SUPERADMIN_ID
from tests.harness import (
    BotHarness,
    ClockSleep,
    ScriptedRequest,
    running_bot,
    sent_texts,
    toasts,
)

ADMIN = TgUser(id=30001, first_name="管理员")
ADMIN_EN = TgUser(id=30002, first_name="Admin", language_code="en")
OFFICERS = [TgUser(id=31000 + i, first_name=f"信息员{i}") for i in range(4)]
LIAISON = TgUser(id=32001, first_name="联络员")
FAR_AWAY = TgUser(id=33001, first_name="包头信息员")


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def add_user(sessions, clock, tg: TgUser, org, role: Role) -> None:
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session, telegram_id=tg.id, username=None, now=clock.now()
        )
        user.real_name, user.org_id, user.role, user.active = tg.first_name, org.id, role, True


@pytest.fixture
async def people_tree(sessions, clock, tree):
    hohhot = tree["呼和浩特市科协"]
    await add_user(sessions, clock, ADMIN, hohhot, Role.ADMIN)
    for i, officer in enumerate(OFFICERS):
        org = tree["赛罕区科协"] if i % 2 else tree["伊利集团科协"]
        await add_user(sessions, clock, officer, org, Role.INFO_OFFICER)
    await add_user(sessions, clock, LIAISON, tree["赛罕区科协"], Role.LIAISON)
    await add_user(sessions, clock, FAR_AWAY, tree["青山区科协"], Role.INFO_OFFICER)
    return tree


@pytest.fixture(params=["zh_CN", "en"])
async def admin(request, sessions, clock, people_tree) -> TgUser:
    """The admin of 呼和浩特市科协, speaking Chinese or English."""
    if request.param == "en":
        await add_user(sessions, clock, ADMIN_EN, people_tree["呼和浩特市科协"], Role.ADMIN)
        return ADMIN_EN
    return ADMIN


def locale_of(user: TgUser) -> str:
    return "en" if user.language_code == "en" else "zh_CN"


def sender_of(bot: BotHarness, clock) -> Pipeline:
    sender = runtime_of(bot.app).delivery
    sender.sleep = ClockSleep(clock)
    return sender


def register_chats(bot: BotHarness, *users: TgUser) -> None:
    for user in users:
        bot.api.register_chat(user.private_chat())


def notices_to(bot: BotHarness, user: TgUser) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.api.sent_messages(user.id)
        if "通知" in (m.get("text") or m.get("caption") or "")
    ]


async def deliveries(sessions) -> list[BroadcastDelivery]:
    async with transaction(sessions) as session:
        query = select(BroadcastDelivery).order_by(col(BroadcastDelivery.id))
        return list((await session.exec(query)).all())


def bold(text: str, part: str) -> dict[str, Any]:
    """A bold entity over ``part`` of ``text``, as the app's formatting menu makes it (the
    texts here are in the Basic Multilingual Plane: UTF-16 offsets are str offsets)."""
    return {"type": "bold", "offset": text.index(part), "length": len(part)}


def formatted(message: dict[str, Any]) -> set[tuple[str, str]]:
    """(entity type, the text it covers) of a message the bot sent, as Telegram stored it
    (its offsets count UTF-16 units: the sender line's 📢 is two)."""
    text = (message.get("text") or message.get("caption") or "").encode("utf-16-le")
    entities = message.get("entities") or message.get("caption_entities") or []
    return {
        (e["type"], text[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le"))
        for e in entities
    }


async def fill_form(bot: BotHarness, *, role_label: str = "科普信息员") -> None:
    await bot.text(ADMIN, "/broadcast")
    await bot.press(ADMIN, "按角色")
    await bot.press(ADMIN, role_label)
    text = "通知：请于12月9日前报送落实情况"
    await bot.feed(bot.factory.message(ADMIN, text, entities=[bold(text, "通知")]))
    await bot.press(ADMIN, "跳过")
    await bot.press(ADMIN, "要求回执")
    await bot.press(ADMIN, "立即发送")


async def launch_via_form(bot: BotHarness) -> None:
    await fill_form(bot)
    await bot.press(ADMIN, "确认提交")
    await bot.press(ADMIN, "预览")
    await bot.press(ADMIN, "确认发送")


async def test_form_preview_confirm_send_and_receipts(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS, LIAISON, FAR_AWAY)
        sender = sender_of(bot, clock)
        calls = await bot.text(ADMIN, "/broadcast")
        assert "呼和浩特市科协及下级全部（6 人）" in bot.button_texts(ADMIN.id)
        await fill_form(bot)
        summary = bot.last_text(ADMIN.id)
        assert "请核对通知" in summary and "要求回执" in summary
        assert ("bold", "通知") in formatted(bot.api.last_message(ADMIN.id))
        calls = await bot.press(ADMIN, "确认提交")
        assert "<b>4</b> 人" in sent_texts(calls)[0]
        calls = await bot.press(ADMIN, "预览")
        preview = bot.api.sent_messages(ADMIN.id)[-2]
        assert preview["text"] == (  # who sent it and when, as recipients will see it
            "📢 来自：呼和浩特市科协 · 管理员（管理员）· 2026-03-16 10:00\n"
            "通知：请于12月9日前报送落实情况"
        )
        assert formatted(preview) == {("bold", "通知")}
        assert preview["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ 已阅"
        assert "确认发送给 <b>4</b> 人" in sent_texts(calls)[-1]
        assert not notices_to(bot, OFFICERS[0])  # nothing goes out before the confirmation
        await bot.press(ADMIN, "确认发送")
        await sender.drain()

        for officer in OFFICERS:
            (notice,) = notices_to(bot, officer)
            assert notice["text"] == preview["text"]
        assert not notices_to(bot, LIAISON) and not notices_to(bot, FAR_AWAY)
        assert "送达 4/4" in bot.last_text(ADMIN.id)

        calls = await bot.press(OFFICERS[0], "已阅", message=notices_to(bot, OFFICERS[0])[0])
        assert toasts(calls) == ["已确认阅读，谢谢！"]
        calls = await bot.press(OFFICERS[0], "已确认", message=notices_to(bot, OFFICERS[0])[0])
        assert "已记录过" in toasts(calls)[0]
        calls = await bot.press(ADMIN, "谁已阅")
        text = sent_texts(calls)[0]
        assert "已阅 1/4" in text and "✅ 已阅：信息员0" in text and "信息员3" in text
    rows = await deliveries(sessions)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert sum(r.acked_at is not None for r in rows) == 1


@pytest.mark.parametrize(("typed", "receipt"), [("要", "要求回执"), ("不需要", "不要回执")])
async def test_the_receipt_question_reads_a_typed_yes_or_no(
    settings, clock, people_tree, typed, receipt
):
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        await bot.press(ADMIN, "科普信息员")
        await bot.text(ADMIN, "通知：请于12月9日前报送落实情况")
        await bot.press(ADMIN, "跳过")
        await bot.text(ADMIN, typed)
        assert "立即发送" in bot.button_texts(ADMIN.id)  # on to the time, the answer taken
        await bot.press(ADMIN, "立即发送")
        assert f"回执：{receipt}" in bot.last_text(ADMIN.id)


async def test_the_review_names_the_audience_and_counts_its_people(
    settings, clock, sessions, people_tree
):
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "选择组织")
        await bot.press(ADMIN, "赛罕区科协")
        await bot.press(ADMIN, "伊利集团科协")
        await bot.press(ADMIN, "完成")
        await bot.text(ADMIN, "通知：请于12月9日前报送落实情况")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "不要回执")
        calls = await bot.press(ADMIN, "立即发送")
        review = sent_texts(calls)[0]
        # Whom it reaches, not the button that was pressed ("选择组织…"), with the count.
        assert "• 对象：赛罕区科协、伊利集团科协（含下级），共 5 人" in review
        assert "选择组织" not in review and "• 组织：" not in review
        assert "修改组织" in bot.button_texts(ADMIN.id)  # the picked orgs can still change
        await bot.press(ADMIN, "修改对象")
        await bot.press(ADMIN, "按角色")
        calls = await bot.press(ADMIN, "科普信息员")
        review = sent_texts(calls)[0]
        assert "• 对象：全部科普信息员，共 4 人" in review and "• 角色：" not in review
        calls = await bot.press(ADMIN, "确认提交")
        assert "<b>4</b> 人" in sent_texts(calls)[0]  # the draft counts the same people


async def test_the_review_names_the_audience_in_english(settings, clock, sessions, people_tree):
    await add_user(sessions, clock, ADMIN_EN, people_tree["呼和浩特市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN_EN, "/broadcast")
        await bot.press(ADMIN_EN, t("en", "broadcast.aud.level"))
        await bot.press(ADMIN_EN, "County")
        await bot.text(ADMIN_EN, "Please report by Friday")
        await bot.press(ADMIN_EN, t("en", "form.button.skip"))
        await bot.press(ADMIN_EN, t("en", "broadcast.receipt_no"))
        calls = await bot.press(ADMIN_EN, t("en", "broadcast.when_now"))
        review = sent_texts(calls)[0]
        assert "• Audience: every organisation of the “County” level, 3 people" in review


async def test_the_org_picker_reads_short_names_within_the_admins_subtree(
    settings, clock, sessions, people_tree
):
    baotou = TgUser(id=30003, first_name="包头管理员")
    await add_user(sessions, clock, baotou, people_tree["包头市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/broadcast")
        calls = await bot.press(ADMIN, "选择组织")
        assert "（如“赛罕区”）" in sent_texts(calls)[0]  # a name of this admin's own tree
        await bot.text(ADMIN, "呼市")
        assert bot.button_texts(ADMIN.id)[0] == "呼和浩特市科协"
        calls = await bot.text(ADMIN, "玉泉区")  # no org of its own: its city's
        assert sent_texts(calls)[0].startswith("没有名为“玉泉区”的组织；玉泉区属于呼和浩特市")
        calls = await bot.text(ADMIN, "青山区")  # another city's: not this admin's to pick
        assert sent_texts(calls)[0].startswith("没有找到名称包含“青山区”的组织。")

        await bot.text(baotou, "/broadcast")
        calls = await bot.press(baotou, "选择组织")
        assert "（如“青山区”）" in sent_texts(calls)[0]
        calls = await bot.text(baotou, "玉泉区")  # Hohhot's district: outside this subtree
        assert sent_texts(calls)[0].startswith("没有找到名称包含“玉泉区”的组织。")
        calls = await bot.text(baotou, "呼市")
        assert sent_texts(calls)[0].startswith("没有找到名称包含“呼市”的组织。")


async def test_remind_those_who_have_not_acknowledged(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS)
        sender = sender_of(bot, clock)
        await launch_via_form(bot)
        await sender.drain()
        await bot.press(OFFICERS[1], "已阅", message=notices_to(bot, OFFICERS[1])[0])
        clock.advance(timedelta(hours=2))  # the reminder goes later than the notice did
        calls = await bot.press(ADMIN, "提醒未阅")
        assert "3 位未阅" in sent_texts(calls)[0]
        await sender.drain()
        assert len(notices_to(bot, OFFICERS[0])) == 2
        assert len(notices_to(bot, OFFICERS[1])) == 1
        reminder = notices_to(bot, OFFICERS[0])[-1]
        first_line, sent_by, _ = reminder["text"].split("\n", 2)
        assert first_line.startswith("🔔 提醒")
        # Who sent the notice, and when the notice itself went out (not the reminder).
        assert sent_by == "📢 来自：呼和浩特市科协 · 管理员（管理员）· 2026-03-16 10:00"
        await bot.press(OFFICERS[0], "已阅", message=reminder)
    async with transaction(sessions) as session:
        root = (await session.exec(select(Broadcast).order_by(col(Broadcast.id)))).first()
        figures = await broadcasts.progress(session, root.id)
    assert figures.acked == 2  # the reminder's button acknowledges the original notice


async def test_receipt_under_an_inaccessible_notice_still_counts(
    settings, clock, sessions, people_tree
):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS)
        sender = sender_of(bot, clock)
        await launch_via_form(bot)
        await sender.drain()
        notice = notices_to(bot, OFFICERS[0])[0]
        data = notice["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        # Telegram sends an InaccessibleMessage (date 0) for a message the bot can no longer see.
        gone = {"chat": notice["chat"], "message_id": notice["message_id"], "date": 0}
        calls = await bot.feed(bot.factory.forged_callback(OFFICERS[0], data, gone))
    assert toasts(calls) == ["已确认阅读，谢谢！"]
    assert "editMessageReplyMarkup" not in [c.method for c in calls]  # nothing there to edit
    assert sum(r.acked_at is not None for r in await deliveries(sessions)) == 1


async def test_the_review_preview_and_notice_show_the_formatting_set_in_the_app(
    settings, clock, sessions, admin
):
    """Bold and a link set with the app's formatting menu arrive as entities: the review shows
    them formatted (its excerpt cut inside the link, which stays a link), the preview's caption
    is the notice's; a "<b>" typed as text stays text in all three."""
    locale = locale_of(admin)
    head = "重要通知：标题写成 <b>…</b> 即可。"
    filler = ("请各单位按时报送" * 8)[: EXCERPT - 1 - len(head) - len("，详见")]
    text = head + filler + "，详见链接。"  # the review's excerpt ends inside the link
    url = "https://kx.example/a?b=1&c=2"
    link = {"type": "text_link", "offset": text.index("链接"), "length": 2, "url": url}
    entities = [bold(text, "重要通知"), link]
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        sender = sender_of(bot, clock)
        await bot.text(admin, "/broadcast")
        await bot.press(admin, t(locale, "broadcast.aud.role"))
        await bot.press(admin, t(locale, "role.info_officer"))
        await bot.feed(bot.factory.message(admin, text, entities=entities))
        await bot.feed(bot.factory.photo(admin, b"\x89PNG poster"))
        await bot.press(admin, t(locale, "broadcast.receipt_no"))
        await bot.press(admin, t(locale, "broadcast.when_now"))
        review = bot.api.last_message(admin.id)
        await bot.press(admin, t(locale, "form.button.confirm"))
        await bot.press(admin, t(locale, "broadcast.button.preview"))
        preview = bot.api.sent_messages(admin.id)[-2]
        await bot.press(admin, t(locale, "broadcast.button.send"))
        await sender.drain()
    (notice,) = [m for m in bot.api.sent_messages(OFFICERS[0].id) if "photo" in m]
    # Who sent it and when, above the text (the officers have no language of their own: the
    # admin's it is).
    sent_by = t(
        locale,
        "broadcast.from",
        org="呼和浩特市科协",
        name=admin.first_name,
        role=t(locale, "role.admin"),
        when="2026-03-16 10:00",
    )
    assert preview["caption"] == notice["caption"] == f"{sent_by}\n{text}"
    assert preview["caption_entities"] == notice["caption_entities"]
    assert formatted(notice) == {("bold", "重要通知"), ("text_link", "链接")}
    assert "标题写成 <b>…</b> 即可" in review["text"]
    assert {("bold", "重要通知"), ("text_link", "链")} <= formatted(review)
    assert "详见链…" in review["text"]


async def test_targeting_stays_inside_the_admin_scope(sessions, clock, people_tree):
    tree = people_tree
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=ADMIN.id)
        scope = await people.admin_scope(session, admin, superadmin=False)
        everyone = people.Scope(None)

        async def count(audience: Audience, within=scope) -> int:
            return await broadcasts.count_audience(session, within, audience)

        assert await count(Audience("subtree")) == 6
        assert await count(Audience("all"), everyone) == 7
        assert await count(Audience("level", level="enterprise")) == 2
        assert await count(Audience("role", role="info_officer")) == 4
        assert await count(Audience("orgs", org_ids=[tree["赛罕区科协"].id])) == 3
        with pytest.raises(BroadcastError):
            await count(Audience("orgs", org_ids=[tree["青山区科协"].id]))
        assert await count(Audience("orgs", org_ids=[tree["青山区科协"].id]), everyone) == 1
        user = await users_repo.get_user(session=session, telegram_id=OFFICERS[0].id)
        user.active = False  # inactive users (blocked the bot, removed) get nothing
        assert await count(Audience("role", role="info_officer")) == 3


async def test_non_admins_cannot_broadcast(settings, clock, people_tree):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(OFFICERS[0], "/broadcast")
        assert "只有管理员" in sent_texts(calls)[0]


async def test_typed_markup_is_text_and_a_scheduled_time(settings, clock, sessions, people_tree):
    typed = "通知：a < b & c，<script>x</script> 与 <b>粗体</b> 照打照发"
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS)
        sender = sender_of(bot, clock)
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        await bot.press(ADMIN, "科普信息员")
        await bot.text(ADMIN, typed)
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "不要回执")
        calls = await bot.text(ADMIN, "09:00")  # 10:00 now in Shanghai: tomorrow 09:00
        assert "2026-03-17 09:00" in sent_texts(calls)[0]
        await bot.press(ADMIN, "确认提交")
        await bot.press(ADMIN, "预览")
        calls = await bot.press(ADMIN, "确认发送")
        assert "已安排在 2026-03-17 09:00" in sent_texts(calls)[0]
        await sender.drain()
        assert not notices_to(bot, OFFICERS[0])
        clock.advance(timedelta(hours=23, minutes=1))
        await sender.drain()
        (notice,) = notices_to(bot, OFFICERS[0])
        sent_by = "📢 来自：呼和浩特市科协 · 管理员（管理员）· 2026-03-17 09:00"  # when it went
        assert notice["text"] == f"{sent_by}\n{typed}" and "reply_markup" not in notice
        assert "entities" not in notice  # what was typed as "<b>" is not made bold


async def test_a_day_said_first_is_kept_when_only_the_time_follows(
    settings, clock, sessions, people_tree
):
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        await bot.press(ADMIN, "科普信息员")
        await bot.text(ADMIN, "明天下午开会")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "不要回执")
        calls = await bot.text(ADMIN, "明天")  # 2026-03-16 10:00 in Shanghai now
        assert "具体时间" in sent_texts(calls)[0]  # the time is asked for
        calls = await bot.text(ADMIN, "下午三点")
        assert "2026-03-17 15:00" in sent_texts(calls)[0]
        await bot.press(ADMIN, "修改发送时间")
        await bot.text(ADMIN, "明天")
        calls = await bot.text(ADMIN, "后天下午3点")  # a day of its own stands alone
        assert "2026-03-18 15:00" in sent_texts(calls)[0]


async def test_telegram_tags_typed_in_full_format_the_notice(
    settings, clock, sessions, people_tree
):
    # No formatting entities (the terminal chat, or tags typed by hand): well-formed Telegram
    # tags are markup, in the review and in the notice alike.
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS)
        sender = sender_of(bot, clock)
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        await bot.press(ADMIN, "科普信息员")
        await bot.text(ADMIN, "通知：请于<b>周五前</b>报送")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "不要回执")
        calls = await bot.press(ADMIN, "立即发送")
        assert "<b>周五前</b>" in sent_texts(calls)[-1]  # rendered, not escaped
        await bot.press(ADMIN, "确认提交")
        await bot.press(ADMIN, "预览")
        await bot.press(ADMIN, "确认发送")
        await sender.drain()
        (notice,) = notices_to(bot, OFFICERS[0])
        sent_by = "📢 来自：呼和浩特市科协 · 管理员（管理员）· 2026-03-16 10:00\n"
        assert notice["text"] == sent_by + "通知：请于周五前报送"
        assert formatted(notice) == {("bold", "周五前")}


async def launch_direct(
    sessions,
    clock,
    *,
    role: str = "info_officer",
    by: TgUser = ADMIN,
    receipt: bool = False,
    scheduled_at: datetime | None = None,
) -> int:
    """A launched broadcast without the form (the sender tests start here)."""
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=by.id)
        scope = await people.admin_scope(session, admin, superadmin=False)
        draft, _ = await broadcasts.create_draft(
            session,
            scope=scope,
            admin_id=by.id,
            admin_locale=locale_of(by),
            audience=Audience("role", role=role),
            content={"text": "通知：测试"},
            receipt=receipt,
            scheduled_at=scheduled_at,
            now=clock.now(),
        )
        await broadcasts.launch(
            session, draft, scope=scope, default_locale="zh_CN", now=clock.now()
        )
        return draft.id


def FlakyRequest(api: BaseRequest, failures: list[Any]) -> ScriptedRequest:
    """The offline API behind scripted failures, each answering one sendMessage."""
    return ScriptedRequest(api, {"sendMessage": failures})


async def flaky_lane(bot: BotHarness, sender: Pipeline, failures) -> None:
    sender.sender.lane = Bot(bot.app.bot.token, request=FlakyRequest(bot.api, failures))
    await sender.sender.lane.initialize()


def refused() -> NetworkError:
    """What PTB raises when httpx could not connect: the request never left."""
    try:
        raise httpx.ConnectError("connection refused")
    except httpx.ConnectError as cause:
        error = NetworkError("httpx.ConnectError: connection refused")
        error.__cause__ = cause
        return error


async def test_429_is_honoured_and_nothing_is_sent_twice(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        too_many = {
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }
        await flaky_lane(bot, sender, [(429, too_many)])
        await launch_direct(sessions, clock)
        start = clock.now()
        await sender.drain()
        assert sender.retry_after_hits == 1
        assert sum(sender.sleep.calls) >= 7  # the whole lane waited what Telegram asked
        sends = [c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] != ADMIN.id]
        assert sorted(c.params["chat_id"] for c in sends) == sorted(o.id for o in OFFICERS)
        assert clock.now() - start >= timedelta(seconds=7)
    rows = await deliveries(sessions)
    assert [r.status for r in rows] == [DeliveryStatus.SENT] * 4
    assert [r.attempts for r in rows] == [0] * 4  # a 429 uses up no attempt


async def test_a_refused_connection_is_retried_then_given_up(
    settings, clock, sessions, people_tree
):
    """A connection never made provably sent nothing: retried with backoff, then failed."""
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, LIAISON)
        sender = sender_of(bot, clock)
        await flaky_lane(bot, sender, [refused() for _ in range(5)])
        await launch_direct(sessions, clock, role="liaison")
        await sender.drain()
        assert [round(s) for s in sender.sleep.calls if s >= 1] == [2, 4, 8, 16]
        (given_up,) = await deliveries(sessions)
        assert (given_up.status, given_up.attempts) == (DeliveryStatus.FAILED, 5)

        await flaky_lane(bot, sender, [refused()])
        await launch_direct(sessions, clock, role="liaison")
        await sender.drain()
    retried = (await deliveries(sessions))[-1]
    assert (retried.status, retried.attempts) == (DeliveryStatus.SENT, 1)


async def test_a_5xx_or_a_dropped_answer_is_unknown_and_never_resent(
    settings, clock, sessions, people_tree
):
    """It may have arrived: reported as unknown, and the admin may choose to resend."""
    dropped = NetworkError("httpx.RemoteProtocolError: Server disconnected")
    dropped.__cause__ = httpx.RemoteProtocolError("Server disconnected")
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        await flaky_lane(bot, sender, [(502, {"description": "Bad Gateway"}), dropped])
        await launch_direct(sessions, clock)
        await sender.drain()
        sends = [c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] != ADMIN.id]
        assert len(sends) == 2  # two of the four answered; the others were tried once each
        report = bot.last_text(ADMIN.id)
        assert "送达 2/4" in report and "未确认送达 2" in report
        calls = await bot.press(ADMIN, "重发给未确认送达的 2 人")
        assert "可能已经收到过" in sent_texts(calls)[0]
        assert len(await _unknown(sessions)) == 2  # nothing happens before the confirmation
        await bot.press(ADMIN, "确认重发")
        await sender.drain()
        sends = [c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] != ADMIN.id]
        assert sorted(c.params["chat_id"] for c in sends) == sorted(o.id for o in OFFICERS)
        assert "送达 4/4" in bot.last_text(ADMIN.id)
    assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.SENT}


async def test_people_deactivated_since_get_neither_a_resend_nor_a_claimed_row(
    sessions, clock, people_tree
):
    """/members deactivation drops what waits for a person, claimed rows included (released,
    they would go out), and the resend of unconfirmed rows leaves them out."""
    broadcast_id = await launch_direct(sessions, clock)
    async with transaction(sessions) as session:
        await broadcasts_repo.activate_due(session=session, now=clock.now())
        claimed = await broadcasts_repo.claim(
            session=session, now=clock.now(), limit=1, skip_locked=False
        )
        rows = await _rows_of(session, broadcast_id)
        unknown = next(r for r in rows if r.id != claimed[0].id)
        unknown.status = DeliveryStatus.UNKNOWN
        for row in (claimed[0], unknown):
            user = await session.get(User, row.user_id)
            user.active, user.deactivated_at = False, clock.now()
            await members_repo.stop_queued(session=session, user=user)
        # The pipeline lets the claimed row go (its chat was busy): it stays cancelled.
        await outbox_repo.release(
            session=session, model=BroadcastDelivery, ids=[claimed[0].id], due_column="x"
        )
        resent = await broadcasts_repo.requeue_unconfirmed(
            session=session, broadcast_id=broadcast_id
        )
    assert resent == 0
    async with transaction(sessions) as session:
        after = {r.id: r for r in await _rows_of(session, broadcast_id)}
    assert after[claimed[0].id].status == DeliveryStatus.CANCELLED
    assert after[unknown.id].status == DeliveryStatus.UNKNOWN


async def _rows_of(session, broadcast_id: int) -> list[BroadcastDelivery]:
    query = select(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast_id)
    return list((await session.exec(query)).all())


async def _unknown(sessions) -> list[BroadcastDelivery]:
    return [r for r in await deliveries(sessions) if r.status == DeliveryStatus.UNKNOWN]


async def test_only_the_sender_or_a_superadmin_may_resend(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        await flaky_lane(bot, sender, [(500, {"description": "Internal Server Error"})])
        await launch_direct(sessions, clock)
        await sender.drain()
        report = bot.keyboard_message(ADMIN.id)
        calls = await bot.press(OFFICERS[0], "重发", message=report)
        assert toasts(calls) == ["这不是你发布的通知。"]
        await bot.press(ADMIN, "重发", message=report)
        confirm = bot.keyboard_message(ADMIN.id)  # an officer somehow holds the confirm button
        calls = await bot.press(OFFICERS[0], "确认重发", message=confirm)
        assert toasts(calls) == ["这不是你发布的通知。"]
    assert len(await _unknown(sessions)) == 1


async def test_403_marks_the_user_blocked(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        bot.api.block(OFFICERS[2].id)
        sender = sender_of(bot, clock)
        await launch_direct(sessions, clock)
        await sender.drain()
        assert "已屏蔽机器人 1" in bot.last_text(ADMIN.id)
    rows = {r.chat_id: r for r in await deliveries(sessions)}
    assert rows[OFFICERS[2].id].status == DeliveryStatus.BLOCKED
    async with transaction(sessions) as session:
        user = await users_repo.get_user(session=session, telegram_id=OFFICERS[2].id)
    assert (user.active, user.blocked_bot) == (False, True)


async def test_pause_resume_cancel(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 1
        await launch_via_form(bot)
        await sender.step()
        await sender.settle()
        status = bot.keyboard_message(ADMIN.id)
        assert "发送中" in status["text"]
        calls = await bot.press(ADMIN, "暂停", message=status)
        assert "已暂停" in sent_texts(calls)[0] and "已发送 1/4" in sent_texts(calls)[0]
        assert await sender.step() == 0
        await bot.press(ADMIN, "继续")
        await sender.step()
        await sender.settle()
        running = copy.deepcopy(bot.keyboard_message(ADMIN.id))
        calls = await bot.press(ADMIN, "取消")
        stopped, delivered, *report = sent_texts(calls)[0].split("\n")
        assert stopped == "已取消：还没发出的 2 条不再发送。"  # what the cancel stops
        assert delivered == "已经送达的 2 人收到的通知无法撤回。"  # and what it cannot
        assert "已取消" in report[0]
        await sender.drain()
        calls = await bot.press(ADMIN, "取消", message=running)  # the old button again
        assert sent_texts(calls)[0].startswith("这条通知已经取消过了。\n")
    rows = await deliveries(sessions)
    assert [r.status for r in rows] == [DeliveryStatus.SENT] * 2 + [DeliveryStatus.CANCELLED] * 2


async def test_cancelling_a_notice_already_sent_says_it_cannot_be_recalled(
    settings, clock, sessions, admin
):
    locale = locale_of(admin)
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 1
        await launch_direct(sessions, clock, by=admin)
        await sender.step()
        await sender.settle()
        running = copy.deepcopy(bot.keyboard_message(admin.id))  # with pause and cancel
        await sender.drain()  # every notice delivered meanwhile
        calls = await bot.press(admin, t(locale, "broadcast.button.cancel"), message=running)
        said, *status = sent_texts(calls)[0].split("\n")
        assert said == t(locale, "broadcast.cannot_recall", count=4)
        assert t(locale, "broadcast.status.done") in status[0]
        assert calls[-1].method == "editMessageText" and bot.api.last_message(admin.id)
    assert said in {
        "这条通知已经发送完毕，送达 4 人；已发出的通知无法撤回，取消不了。",
        "This notice has already been delivered to 4 people; a notice sent cannot be recalled,"
        " so there is nothing to cancel.",
    }
    assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.SENT}


# --- what the admin is told: status message and report, in every state -----------------------

OTHER_FIGURES = (
    "broadcast.fig.waiting",
    "broadcast.fig.in_flight",
    "broadcast.fig.failed",
    "broadcast.fig.blocked",
    "broadcast.fig.unknown",
    "broadcast.fig.cancelled",
)
REPORT_LINES = {
    "broadcast.report": ("id", "sent", "total", "failed", "blocked", "cancelled"),
    "broadcast.report_unknown": ("unknown", "interrupted"),
    "broadcast.report_in_flight": ("count",),
}


def shown(html: str) -> str:
    """HTML the bot sent as Telegram shows it (tags applied; these texts have no entities)."""
    return re.sub(r"<[^>]+>", "", html)


def reading(locale: str, key: str, *numbers: str) -> re.Pattern[str]:
    """A catalog message as Telegram shows it, its ``numbers`` read back."""
    sentinels = {name: 900_001 + i for i, name in enumerate(numbers)}
    pattern = re.escape(shown(t(locale, key, status="STATUS", **sentinels)))
    pattern = pattern.replace("STATUS", ".+?")
    for name, value in sentinels.items():
        pattern = pattern.replace(str(value), rf"(?P<{name}>\d+)")
    return re.compile(pattern)


def status_figures(locale: str, text: str) -> tuple[int, int, int]:
    """(sent, every other state together, recipients) of a status message."""
    found = reading(locale, "broadcast.fig.sent", "sent", "total").search(text)
    assert found, text
    others = sum(
        int(match["count"])
        for key in OTHER_FIGURES
        for match in reading(locale, key, "count").finditer(text)
    )
    return int(found["sent"]), others, int(found["total"])


def report_figures(locale: str, text: str) -> dict[str, int]:
    """Every figure of a delivery report, by name (``count``: still in progress)."""
    figures: dict[str, int] = {}
    for key, numbers in REPORT_LINES.items():
        found = reading(locale, key, *numbers).search(text)
        figures |= {
            name: int(value) for name, value in (found.groupdict() if found else {}).items()
        }
    assert "total" in figures, text
    return figures


def report_adds_up(figures: dict[str, int]) -> bool:
    parts = ("sent", "failed", "blocked", "cancelled", "unknown", "count")
    return sum(figures.get(part, 0) for part in parts) == figures["total"]


async def status_of(bot: BotHarness, sessions, admin: TgUser) -> str:
    """The admin's status message of the (only) broadcast, as it reads now."""
    async with transaction(sessions) as session:
        (broadcast,) = (await session.exec(select(Broadcast))).all()
    (message,) = [
        m
        for m in bot.api.sent_messages(admin.id)
        if m["message_id"] == broadcast.progress_message_id
    ]
    return message["text"]


def reports(bot: BotHarness, locale: str, admin: TgUser) -> list[str]:
    head = reading(locale, "broadcast.report", *REPORT_LINES["broadcast.report"])
    return [m["text"] for m in bot.api.sent_messages(admin.id) if head.search(m["text"])]


async def press_after_three(bot: BotHarness, sender: Pipeline, admin: TgUser, key: str) -> str:
    """Three notices go, one step each; then the admin presses a button of the status message
    and sees this."""
    for _ in range(3):
        await sender.step()
        await sender.settle()
    calls = await bot.press(admin, t(locale_of(admin), key))
    (pressed,) = sent_texts(calls)
    return shown(pressed)


def notices_sent(bot: BotHarness) -> int:
    officers = {o.id for o in OFFICERS}
    return len([c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] in officers])


async def test_a_broadcast_paused_at_3_of_4_says_so_and_finishes_after_resuming(
    settings, clock, sessions, admin
):
    locale = locale_of(admin)
    paused_status = t(locale, "broadcast.status.paused")
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 1
        await launch_direct(sessions, clock, by=admin)
        pressed = await press_after_three(bot, sender, admin, "broadcast.button.pause")
        assert paused_status in pressed
        assert status_figures(locale, pressed) == (3, 1, 4)

        await sender.drain()  # nothing goes while paused; the status says where it stands
        assert notices_sent(bot) == 3
        status = await status_of(bot, sessions, admin)
        assert paused_status in status and status_figures(locale, status) == (3, 1, 4)
        assert t(locale, "broadcast.fig.waiting", count=1) in status
        assert len(status.splitlines()) == 3  # title, bar, figures: no speed while paused
        assert not reports(bot, locale, admin)

        await bot.press(admin, t(locale, "broadcast.button.resume"))
        await sender.drain()
        assert notices_sent(bot) == 4
        status = await status_of(bot, sessions, admin)
        assert t(locale, "broadcast.status.done") in status
        assert status_figures(locale, status) == (4, 0, 4)
        (report,) = reports(bot, locale, admin)
    assert report_figures(locale, report) | {"id": 0} == {
        "id": 0,
        "sent": 4,
        "total": 4,
        "failed": 0,
        "blocked": 0,
        "cancelled": 0,
    }


class PauseBeforeSend:
    """The pipeline's waits for a send slot (on the frozen clock); during the one before the
    ``nth`` notice the admin presses pause."""

    def __init__(self, bot: BotHarness, clock, admin: TgUser, nth: int) -> None:
        self.bot, self.admin, self.nth = bot, admin, nth
        self.waits = ClockSleep(clock)
        self.pressed: list[str] = []

    async def __call__(self, seconds: float) -> None:
        await self.waits(seconds)  # the notice before goes out meanwhile
        if notices_sent(self.bot) == self.nth - 1 and not self.pressed:
            calls = await self.bot.press(self.admin, "暂停")
            self.pressed = sent_texts(calls)


async def test_a_pause_during_the_wait_for_a_slot_stops_the_next_notice(
    settings, clock, sessions, people_tree
):
    """The pipeline spends most of a broadcast waiting for send slots: a pause that lands
    there stops the notice that waited, and the figures stay 3 of 4 until resumed."""
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 2  # the status message is up after the first two
        pause = PauseBeforeSend(bot, clock, ADMIN, nth=4)
        sender.sleep = pause
        await launch_direct(sessions, clock)
        await sender.drain()
        assert pause.pressed and notices_sent(bot) == 3
        sent, others, total = status_figures("zh_CN", shown(pause.pressed[0]))
        assert sent + others == total == 4  # what the database held at the press
        status = await status_of(bot, sessions, ADMIN)
        assert "已暂停" in status and status_figures("zh_CN", status) == (3, 1, 4)
        assert not reports(bot, "zh_CN", ADMIN)
        sender.sleep = ClockSleep(clock)
        await bot.press(ADMIN, "继续")
        await sender.drain()
        assert notices_sent(bot) == 4
        (report,) = reports(bot, "zh_CN", ADMIN)
    assert "送达 4/4" in report


class PressDuringSend(ScriptedRequest):
    """The offline API; while the ``nth`` notice's request is out, the admin presses pause."""

    def __init__(self, bot: BotHarness, nth: int) -> None:
        super().__init__(bot.api, {})
        self.bot, self.nth, self.pressed = bot, nth, False

    async def do_request(self, url: str, method: str, request_data=None, *args, **kwargs):
        """Press once the earlier notices are out, then answer this one."""
        last = url.endswith("/sendMessage") and notices_sent(self.bot) == self.nth - 1
        if last and not self.pressed:
            self.pressed = True
            await self.bot.press(ADMIN, "暂停")
        return await super().do_request(url, method, request_data, *args, **kwargs)


async def test_a_pause_while_the_last_request_is_out_ends_with_all_delivered(
    settings, clock, sessions, people_tree
):
    """A request already made cannot be recalled: the press shows it in progress, and once it
    is answered nobody waits, so the broadcast finishes with the truth (4 of 4)."""
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 2  # the status message is up after the first two
        sender.config.flush_every = 0
        sender.sender.lane = Bot(bot.app.bot.token, request=PressDuringSend(bot, nth=4))
        await sender.sender.lane.initialize()
        await launch_direct(sessions, clock)
        await sender.drain()
        pressed = next(t for t in sent_texts(bot.api.calls) if "已暂停" in t)
        status = await status_of(bot, sessions, ADMIN)
        (report,) = reports(bot, "zh_CN", ADMIN)
    assert status_figures("zh_CN", shown(pressed)) == (3, 1, 4) and "处理中 1" in pressed
    assert "已完成" in status and status_figures("zh_CN", status) == (4, 0, 4)
    assert "送达 4/4" in report


async def test_a_cancelled_broadcast_reports_what_went_and_what_was_cancelled(
    settings, clock, sessions, admin
):
    locale = locale_of(admin)
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        bot.api.block(OFFICERS[2].id)
        sender = sender_of(bot, clock)
        sender.config.claim_batch = 1
        await flaky_lane(bot, sender, [(502, {"description": "Bad Gateway"})])
        await launch_direct(sessions, clock, by=admin)
        pressed = await press_after_three(bot, sender, admin, "broadcast.button.cancel")
        await sender.drain()
        status = await status_of(bot, sessions, admin)
    assert [r.status for r in await deliveries(sessions)] == [
        DeliveryStatus.UNKNOWN,  # the 502
        DeliveryStatus.SENT,
        DeliveryStatus.BLOCKED,
        DeliveryStatus.CANCELLED,
    ]
    expected = {"sent": 1, "total": 4, "failed": 0, "blocked": 1, "cancelled": 1, "unknown": 1}
    for text in (pressed, status):  # at the press, and settled
        assert t(locale, "broadcast.status.cancelled") in text
        figures = report_figures(locale, text)
        assert report_adds_up(figures)
        assert {k: figures[k] for k in expected} == expected


async def test_a_finished_broadcast_with_failures_adds_up(settings, clock, sessions, admin):
    locale = locale_of(admin)
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        bot.api.block(OFFICERS[3].id)
        sender = sender_of(bot, clock)
        refusal = (400, {"description": "Bad Request: chat not found"})
        await flaky_lane(bot, sender, [(502, {"description": "Bad Gateway"}), refusal])
        await launch_direct(sessions, clock, by=admin, receipt=True)
        await sender.drain()
        status = await status_of(bot, sessions, admin)
        (report,) = reports(bot, locale, admin)
    assert t(locale, "broadcast.status.done") in status
    assert status_figures(locale, status) == (1, 3, 4)
    for key in ("broadcast.fig.failed", "broadcast.fig.blocked", "broadcast.fig.unknown"):
        assert t(locale, key, count=1) in status
    assert t(locale, "broadcast.fig.acked", count=0) in status
    figures = report_figures(locale, report)
    assert report_adds_up(figures)
    assert (figures["sent"], figures["failed"], figures["blocked"], figures["unknown"]) == (
        1,
        1,
        1,
        1,
    )


async def test_the_speed_is_measured_and_the_average_shown_at_the_end(
    settings, clock, sessions, admin
):
    """Never "0.0 条/秒": while sending, the speed since the start and the time left; at 100%
    the average over the send, no time left."""
    locale = locale_of(admin)
    async with running_bot(settings, clock) as bot:
        register_chats(bot, admin, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.budget = budget(0.5, lambda: clock.now().timestamp())  # a send every 2 s
        sender.budget.sleep = sender.sleep
        sender.config.claim_batch = 1
        sender.config.flush_every = 0  # every outcome written at once: the figures are current
        await launch_direct(sessions, clock, by=admin)
        await sender.drain()
        edits = [
            c.params["text"]
            for c in bot.api.calls_to("editMessageText")
            if c.params["chat_id"] == admin.id
        ]
    running = [e for e in edits if t(locale, "broadcast.status.running") in e]
    # When the status is shown depends on the sender's timing; a speed needs two sends.
    two_or_three = [t(locale, "broadcast.fig.sent", sent=n, total=4) for n in (2, 3)]
    paced = [e for e in running if any(sent in e for sent in two_or_three)]
    assert paced
    for edit in paced:
        waiting = next(n for n in (1, 2) if t(locale, "broadcast.fig.waiting", count=n) in edit)
        eta = f"0:{2 * waiting:02d}"
        assert t(locale, "broadcast.pace_eta", rate="0.5", eta=eta) in edit
    done = edits[-1]
    assert t(locale, "broadcast.status.done") in done and "100%" in done
    assert t(locale, "broadcast.pace_done", rate="0.5", elapsed="0:06") in done
    assert "0.0" not in done


async def test_a_group_notice_status_and_report_add_up(settings, clock, sessions, people_tree):
    from tests.test_groups import bind, post_notice

    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN)
        group = bot.factory.group("呼市科协工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        await bind(bot, group, ADMIN, "呼和浩特市科协")
        await post_notice(bot, clock, ADMIN, "呼市科协工作群（呼和浩特市科协）")
        status = await status_of(bot, sessions, ADMIN)
        (report,) = reports(bot, "zh_CN", ADMIN)
    assert "已完成" in status and status_figures("zh_CN", status) == (1, 0, 1)
    assert "已阅 0" in status
    assert report_adds_up(report_figures("zh_CN", report)) and "送达 1/1" in report


async def test_restart_resumes_without_resending(settings, clock, sessions, people_tree):
    """Officer 1's request had started when the process died (unknown, never resent by
    itself); officer 2's row was only claimed (provably not requested: sent after the restart)."""
    async with running_bot(settings, clock) as first:
        register_chats(first, ADMIN, *OFFICERS)
        sender = sender_of(first, clock)
        sender.config.claim_batch = 1
        await launch_direct(sessions, clock)
        await sender.step()  # officer 0 confirmed sent
        await sender.settle()
        async with transaction(sessions) as session:  # then the process dies
            in_flight, claimed = await broadcasts_repo.claim(
                session=session, now=clock.now(), limit=2, skip_locked=False
            )
            await outbox_repo.mark_sending(
                session=session, model=BroadcastDelivery, ids=[in_flight.id]
            )
    async with running_bot(settings, clock, after=first) as bot:
        bot.api.register_chat(ADMIN.private_chat())
        admin_api, bot.api = bot.api, first.api  # the same Telegram for the recipients
        sender = sender_of(bot, clock)
        sender.sender.lane = Bot(bot.app.bot.token, request=first.api)
        await sender.sender.lane.initialize()
        assert await sender.recover() == (1, 1)
        await sender.drain()
        report = admin_api.last_message(ADMIN.id)["text"]
        assert "未确认送达 1（其中重启时中断 1）" in report
    per_chat = [
        len([c for c in first.api.calls_to("sendMessage") if c.params["chat_id"] == o.id])
        for o in OFFICERS
    ]
    expected = [0 if o.id == in_flight.chat_id else 1 for o in OFFICERS]
    assert per_chat == expected  # the one in flight is never resent by itself
    rows = {r.chat_id: r for r in await deliveries(sessions)}
    assert (rows[in_flight.chat_id].status, rows[in_flight.chat_id].error) == (
        DeliveryStatus.UNKNOWN,
        "interrupted",
    )
    assert rows[claimed.chat_id].status == DeliveryStatus.SENT
    async with transaction(sessions) as session:
        broadcast = (await session.exec(select(Broadcast))).one()
    assert broadcast.status == BroadcastStatus.DONE


def budget(rate: float, now, *, limit: int = 30, window: float = 1.0) -> SendBudget:
    return SendBudget(rate=rate, limit=limit, window=window, now=now, chats=ChatPacer(1.0, 3.0))


async def test_budget_paces_globally_and_per_chat():
    now = [0.0]
    limiter = budget(25, lambda: now[0])
    for chat in range(25):
        now[0] = max(now[0], now[0] + await limiter.ready())
        limiter.answered(limiter.take(chat))  # answered at once
    assert now[0] == pytest.approx(24 / 25)
    assert limiter.chat_wait(0) == pytest.approx(1.0 - 24 / 25)
    assert budget(1, lambda: 0.0).chats.wait(-100, 0.0) == 0  # groups: 20 a minute
    limiter.answered(limiter.take(-100))
    assert limiter.chat_wait(-100) == pytest.approx(3.0)
    await limiter.pause(5)
    assert await limiter.ready() == pytest.approx(5)


async def test_unique_row_per_broadcast_and_user(sessions, clock, people_tree):
    broadcast_id = await launch_direct(sessions, clock)
    async with transaction(sessions) as session:
        where = broadcasts_repo.recipient_filter(root=None, role="info_officer")
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await broadcasts_repo.enqueue(
                session=session, broadcast_id=broadcast_id, where=where, default_locale="zh_CN"
            )


async def test_status_message_is_edited_at_most_every_few_seconds(
    settings, clock, sessions, people_tree
):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        sender.budget = budget(0.25, lambda: clock.now().timestamp())
        sender.budget.sleep = sender.sleep
        sender.config.claim_batch = 1
        await launch_direct(sessions, clock)
        start = clock.now()
        await sender.drain()
        elapsed = (clock.now() - start).total_seconds()
        edits = [c for c in bot.api.calls_to("editMessageText") if c.params["chat_id"] == ADMIN.id]
    assert elapsed >= 3
    # One edit per progress_every (3 s) at most, plus the final one.
    assert 1 <= len(edits) <= elapsed // sender.config.progress_every + 1
    assert "已完成" in edits[-1].params["text"] and "100%" in edits[-1].params["text"]


def test_broadcasts_use_their_own_lane(settings):
    from bot.app import build_application
    from bot.telegram.sender import lane_bot
    from bot.telegram.transport import AiohttpRequest

    app = build_application(settings, polling=True, migrate=False)
    lane = lane_bot(
        app,
        pool_size=50,
        transport=settings.bot_api_transport,
        base_url=settings.telegram_api_base_url,
        file_url="x",
    )
    assert isinstance(lane.request, AiohttpRequest)  # BOT_API_TRANSPORT's, as the bot's
    assert lane.request is not app.bot.request  # its own connection pool, no shared queue
    assert lane.token == app.bot.token


async def test_a_superadmin_sees_the_cost_and_chooses_a_paid_broadcast(
    settings, clock, sessions, people_tree
):
    boss = TgUser(id=SUPERADMIN_ID, first_name="超管")
    async with running_bot(settings, clock) as bot:
        register_chats(bot, boss, *OFFICERS, FAR_AWAY)
        sender = sender_of(bot, clock)
        await bot.text(boss, "/broadcast")
        await bot.press(boss, "按角色")
        await bot.press(boss, "科普信息员")
        await bot.text(boss, "通知：付费广播测试")
        await bot.press(boss, "跳过")
        await bot.press(boss, "不要回执")
        await bot.press(boss, "立即发送")
        await bot.press(boss, "确认提交")
        calls = await bot.press(boss, "预览")
        offer = sent_texts(calls)[-1]
        assert "每条 0.1 Telegram Star，共 0.5 Stars" in offer  # 5 officers in all the tree
        await bot.press(boss, "付费快速发送（0.5 Stars）")
        await sender.drain()
        notices = [
            c
            for c in bot.api.calls_to("sendMessage")
            if "付费广播测试" in c.params["text"] and c.params["chat_id"] != boss.id
        ]
        assert sorted(c.params["chat_id"] for c in notices) == sorted(
            o.id for o in (*OFFICERS, FAR_AWAY)
        )
        assert all(c.params.get("allow_paid_broadcast") is True for c in notices)
        # A superadmin who is no member signs with their name alone.
        signed = "📢 来自：超管（系统管理员）· 2026-03-16 10:00\n"
        assert notices[0].params["text"].startswith(signed)
    async with transaction(sessions) as session:
        (broadcast,) = (await session.exec(select(Broadcast))).all()
    assert broadcast.paid


async def test_other_admins_get_no_paid_offer(settings, clock, people_tree):
    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        await fill_form(bot)
        await bot.press(ADMIN, "确认提交")
        calls = await bot.press(ADMIN, "预览")
        assert "Stars" not in sent_texts(calls)[-1]
        assert not any("付费" in label for label in bot.button_texts(ADMIN.id))


async def test_a_reply_during_the_sending_marks_takes_the_last_place_and_the_notice_waits(
    settings, clock, sessions, people_tree
):
    """The bulk lane writes its ``sending`` marks once the window had a place; a reply that
    goes while that write runs takes the place, so the lane looks again and the notice waits
    for the next one (a second after the oldest answer) instead of making 31 in the window."""
    replies: list[Any] = []
    taken: list[Any] = []

    class Lane(SendBudget):
        """The budget of one process (the shared one spaces replies on its timeline too), with
        a reply that goes as soon as the marks are written, and the moment of each bulk send."""

        async def ready(self) -> float:
            if not replies and DeliveryStatus.SENDING in await statuses(sessions):
                replies.append(await self.reply(99_999))  # the write has just ended
            return await super().ready()

        def take(self, chat_id: int) -> Any:
            taken.append(clock.now())  # a notice's send starts now
            return super().take(chat_id)

    async with running_bot(settings, clock) as bot:
        register_chats(bot, ADMIN, *OFFICERS)
        sender = sender_of(bot, clock)
        now = lambda: clock.now().timestamp()  # noqa: E731
        lane = Lane(rate=29.5, limit=30, window=1.0, now=now, chats=ChatPacer(1.0, 3.0))
        sender.budget = lane
        lane.sleep = sender.sleep
        for chat in range(29):  # 29 replies answered just now: one place is left
            lane.answered(await lane.reply(90_000 + chat))
        started = clock.now()
        await launch_direct(sessions, clock)
        await sender.drain()
    assert replies and len(taken) == len(OFFICERS)
    assert taken[0] - started >= timedelta(seconds=1)


async def statuses(sessions) -> set[DeliveryStatus]:
    return {r.status for r in await deliveries(sessions)}


async def test_the_text_limit_shown_is_round_and_true(settings, clock, sessions, people_tree):
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        calls = await bot.press(ADMIN, "科普信息员")
        # Room is kept for the reminder's line and the sender's above the text.
        assert "最多 3800 字" in sent_texts(calls)[0]
        calls = await bot.text(ADMIN, "通" * 3801)
        assert "最多 3800 字" in sent_texts(calls)[0]  # refused at the limit it showed
        calls = await bot.text(ADMIN, "通" * 3800)
        assert "需要附一张图片" in sent_texts(calls)[0]
