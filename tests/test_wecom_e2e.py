"""WeCom end to end, as ``stabot run`` serves it beside Telegram (tests/wecom_e2e_support.py):
a liaison registers by typing an invite code, logs an activity through card presses, gets a
Telegram admin's report task on WeCom and reports before the reminder (which then goes only
to the Telegram member who did not), acknowledges a broadcast that reached both channels in
one delivery report, and asks a policy question; an invite QR scanned in WeCom registers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.common.i18n import t
from offline.updates import TgUser
from storage import identities_repo, users_repo
from storage.activity_models import Activity
from storage.broadcast_models import BroadcastDelivery
from storage.db import transaction
from storage.identity_models import Channel, Reach
from storage.models import Role
from storage.task_models import ReportSubmission
from tests.harness import demo_tree
from tests.test_wecom_dispatch import (
    ZHANG,
    log_up_to_photos,
    make_invite,
    person_on_wecom,
    register,
)
from tests.wecom_e2e_support import Running, running_stack, until

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = TgUser(id=60001, first_name="市科协管理员")  # 呼和浩特市科协, on Telegram
TUMOTE = TgUser(id=60002, first_name="土左旗联络员")  # 土默特左旗科协, on Telegram


@pytest.fixture
async def tree(sessions, clock):
    members = ((ADMIN, "呼和浩特市科协", Role.ADMIN), (TUMOTE, "土默特左旗科协", Role.LIAISON))
    async with transaction(sessions) as session:
        return await demo_tree(session, members, clock.now())


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


async def register_by_typing(run: Running, sessions, clock, tree) -> None:
    """The liaison types the invite code alone as a message, confirms the org, gives a name."""
    await register(run.wecom, sessions, clock, tree, org="赛罕区科协", typed="{}")


async def test_a_liaison_registers_and_logs_an_activity_through_cards(
    settings, clock, sessions, tree
):
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom = run.wecom
        await log_up_to_photos(wecom, "赛罕区")
        photo = wecom.api.add_media(b"\x89PNG\r\n" + bytes(64), "现场.png")
        await wecom.image(ZHANG, photo)  # the evidence photo, by its WeCom media id
        shown = await wecom.press(ZHANG, "完成")
        summary = "\n".join(s.text for s in shown)
        for part in ("科普讲座/报告", "2026-03-15", "赛罕区社区", "120 人", "1 张"):
            assert part in summary
        summary_card = wecom.latest(ZHANG)
        shown = await wecom.press(ZHANG, "确认提交")
        assert any("已记录" in s.text for s in shown)
        again = await wecom.press(ZHANG, "确认提交", card=summary_card)
        assert not any("已记录" in s.text for s in again)
    person = await person_on_wecom(sessions, ZHANG)
    assert (person.real_name, person.role, person.org_id) == (
        "张三",
        Role.LIAISON,
        tree["赛罕区科协"].id,
    )
    async with transaction(sessions) as session:
        [activity] = (await session.exec(select(Activity))).all()
    assert (activity.title, activity.place, activity.participants) == (
        "科技助力乡村振兴",
        "赛罕区社区",
        120,
    )
    assert activity.created_by == person.telegram_id
    # Kept in the media store, not as WeCom's media id (which WeCom keeps three days).
    [kept] = activity.photos
    assert kept.startswith("stored:") and kept.endswith(":现场.png")


async def test_a_photo_sent_on_wecom_is_shown_again_after_its_media_id_expired(
    settings, clock, sessions, tree
):
    png = b"\x89PNG\r\n" + bytes(range(64))
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom = run.wecom
        await log_up_to_photos(wecom, "赛罕区")
        photo = wecom.api.add_media(png, "现场.png")
        await wecom.image(ZHANG, photo)
        await wecom.press(ZHANG, "完成")
        await wecom.press(ZHANG, "确认提交")
        del wecom.api.media[photo]  # WeCom forgets a member's media id after three days
        clock.advance(timedelta(days=4))
        await wecom.text(ZHANG, "/mylogs")
        await wecom.press(ZHANG, "科技助力乡村振兴")
        shown = await wecom.press(ZHANG, "照片")
    [image] = [s for s in shown if s.kind == "image"]
    uploaded = wecom.api.media[image.text]  # uploaded anew from the store, as an image
    assert (uploaded.content, uploaded.file_name, uploaded.kind) == (png, "现场.png", "image")
    assert any("科技助力乡村振兴" in s.text for s in shown if s.kind == "text")


async def new_county_task(run: Running) -> None:
    """The admin's /newtask on Telegram: every county association under Hohhot, by 3月30日."""
    bot = run.telegram
    await bot.text(ADMIN, "/newtask")
    await bot.text(ADMIN, "2026年一季度科普工作落实情况")
    await bot.text(ADMIN, "请按栏目如实填写。")
    await bot.text(ADMIN, "3月30日")
    for label in ("一次性", "按级别", "县级", "使用默认", "使用默认", "跳过", "去核对"):
        await bot.press(ADMIN, label)
    calls = await bot.press(ADMIN, "确认提交")
    assert any("已发布" in str(c.params.get("text")) for c in calls)


async def test_a_wecom_liaison_reports_before_the_reminder_and_is_not_reminded(
    settings, clock, sessions, tree
):
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom, bot = run.wecom, run.telegram
        # Published at night: the announcement waits in the reminder ledger for 08:00 and then
        # goes through the delivery pipeline: on WeCom on its own lane, on Telegram as before.
        # (By day, up to ANNOUNCE_DIRECT people are told with the admin's reply, as notices.)
        clock.advance(local(2026, 3, 16, 22, 30) - clock.now())
        await new_county_task(run)
        assert "已排队发送" in bot.last_text(ADMIN.id)
        clock.advance(local(2026, 3, 17, 8, 0, 30) - clock.now())
        wecom_lane = run.serving.runtime.delivery.lanes["wecom"]
        replies = wecom_lane.chats.day.used(clock.now().timestamp())  # registration's replies
        run.serving.runtime.delivery.wake()
        deadline = "截止时间：2026-03-30 18:00"
        await until(lambda: deadline in wecom.last_text(ZHANG), run.task, "the announcement")
        announcement = wecom.latest(ZHANG)
        assert announcement.kind == "card" and "2026年一季度科普工作落实情况" in announcement.text
        # WeCom's own budget counts the announcement, as it counted the replies before it.
        assert wecom_lane.chats.day.used(clock.now().timestamp()) == replies + 1
        await until(lambda: bot.api.last_message(TUMOTE.id) is not None, run.task, "tg ann.")
        assert deadline in bot.last_text(TUMOTE.id)

        await wecom.press(ZHANG, "填报", card=announcement)
        assert "第 1/5 栏：工作抓手" in "\n".join(v.text for v in wecom.views(ZHANG)[-2:])
        await wecom.text(ZHANG, "建立联络员例会制度，每月走访企业。")
        for _ in range(5):
            await wecom.press(ZHANG, "下一栏")
        await wecom.press(ZHANG, "确认无误")
        await wecom.press(ZHANG, "跳过")
        shown = await wecom.press(ZHANG, "确认提交")
        assert any("已提交" in s.text for s in shown), [s.text for s in shown]

        # d7, 09:00 on the 23rd: the reminder goes to the county that has not reported.
        seen_on_wecom = len(run.wecom.api.log)
        told_on_telegram = len(bot.api.sent_messages(TUMOTE.id))
        clock.advance(local(2026, 3, 23, 9, 1) - clock.now())
        assert run.serving.runtime.reminders is not None
        assert await run.serving.runtime.reminders.tick() >= 1
        await until(
            lambda: len(bot.api.sent_messages(TUMOTE.id)) > told_on_telegram, run.task, "d7"
        )
        assert "2026年一季度科普工作落实情况" in bot.last_text(TUMOTE.id)
        await run.serving.runtime.delivery.drain()  # whatever else was due has gone
        assert run.wecom.api.log[seen_on_wecom:] == []
    async with transaction(sessions) as session:
        [report] = (await session.exec(select(ReportSubmission))).all()
    assert report.org_id == tree["赛罕区科协"].id
    assert report.submitted_by == (await person_on_wecom(sessions, ZHANG)).telegram_id


async def test_a_broadcast_reaches_both_channels_in_one_report_and_a_wecom_receipt_counts(
    settings, clock, sessions, tree
):
    """Liaisons: ZHANG on WeCom, TUMOTE on Telegram and on WeCom with notices to all
    channels. One report counts each channel's deliveries; receipts count people."""
    async with transaction(sessions) as session:
        tumote = await users_repo.get_user(session=session, telegram_id=TUMOTE.id)
        await identities_repo.add_identity(
            session,
            channel=Channel.WECOM,
            external_id="tumote",
            now=clock.now(),
            user_id=tumote.id,
        )
        tumote.reach = Reach.ALL.value
    async with running_stack(settings, clock, {ZHANG, "tumote"}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom, bot = run.wecom, run.telegram
        await bot.text(ADMIN, "/broadcast")
        await bot.press(ADMIN, "按角色")
        await bot.press(ADMIN, "科协联络员")
        await bot.text(ADMIN, "通知：请于3月30日前报送落实情况")
        for label in ("跳过", "要求回执", "立即发送", "确认提交", "预览"):
            await bot.press(ADMIN, label)
        assert "确认发送给 2 人" in bot.last_text(ADMIN.id)
        calls = await bot.press(ADMIN, "确认发送")
        assert any("已开始发送给 2 人" in str(c.params.get("text")) for c in calls)
        sent = "通知：请于3月30日前报送落实情况"
        await until(lambda: bool(wecom.views("tumote")), run.task, "the notices")
        await run.serving.runtime.delivery.drain()  # the outcomes are written by the clock
        await until(lambda: "企业微信：送达" in bot.last_text(ADMIN.id), run.task, "report")
        report = bot.last_text(ADMIN.id)
        assert "送达 3/3" in report and "已阅 0/2" in report  # 3 deliveries, 2 people
        assert "Telegram：送达 1/1" in report and "企业微信：送达 2/2" in report
        assert sent in bot.last_text(TUMOTE.id)
        notice = wecom.latest(ZHANG)
        assert notice.kind == "card" and sent in notice.text
        shown = await wecom.press(ZHANG, "已阅", card=notice)
        assert any("已确认阅读" in s.text for s in shown), [s.text for s in shown]
        calls = await bot.press(ADMIN, "谁已阅")
        who = "\n".join(str(c.params.get("text")) for c in calls if c.method == "sendMessage")
        assert "已阅 1/2" in who and "✅ 已阅：张三" in who and "未阅：土左旗联络员" in who
        calls = await bot.press(ADMIN, "提醒未阅")  # TUMOTE, on both channels: one person
        assert any("向 1 位未阅人员" in str(c.params.get("text")) for c in calls)
        await until(lambda: "提醒" in wecom.last_text("tumote"), run.task, "the reminder")
        # TUMOTE reads it on Telegram: the receipt settles the WeCom copy too.
        calls = await bot.press(TUMOTE, "已阅", message=bot.api.sent_messages(TUMOTE.id)[-1])
        assert "已确认阅读，谢谢！" in [c.params.get("text") for c in calls]
        shown = await wecom.press("tumote", "已阅")
        assert any("已记录过" in s.text for s in shown), [s.text for s in shown]
    async with transaction(sessions) as session:
        rows = (await session.exec(select(BroadcastDelivery))).all()
    notice = min(row.broadcast_id for row in rows)  # the reminder is a broadcast of its own
    acked = [(row.channel, row.acked_at is not None) for row in rows if row.broadcast_id == notice]
    assert sorted(acked) == [
        ("telegram", True),
        ("wecom", True),
        ("wecom", True),
    ]


async def test_a_policy_question_on_wecom_gets_the_cited_passage(
    kb_settings, clock, sessions, tree
):
    async with running_stack(kb_settings, clock, {ZHANG}, [ADMIN]) as run:
        shown = await run.wecom.text(ZHANG, "企业科技人员多少人要单独成立科协？")
    text = "\n".join(s.text for s in shown).replace("**", "")
    assert "30人以上（含30人）" in text
    assert "《关于加强企业科协组织建设的意见》" in text


async def test_an_invite_qr_scanned_through_the_wecom_menu_registers(
    settings, clock, sessions, tree
):
    """What an invite's QR image holds ("邀请码 <code>", tests/test_people_channels.py), scanned
    with a scancode_waitmsg menu item, is read as if typed: the registration starts."""
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with running_stack(settings, clock, {ZHANG}, [ADMIN]) as run:
        wecom = run.wecom
        scanned = run.callbacks.scan(ZHANG, f"邀请码 {code}")
        await run.callback(scanned)
        card = wecom.latest(ZHANG)
        assert "赛罕区科协" in card.text and card.kind == "card"
        shown = len(wecom.api.log)
        await run.callback(scanned)  # WeCom's retry of the same callback: 200, nothing new
        assert len(wecom.api.log) == shown
        await wecom.press(ZHANG, "是，这是我的组织")
        await wecom.text(ZHANG, "张三")
        shown = await wecom.press(ZHANG, "确认提交")
        assert any("注册成功" in s.text for s in shown)
    person = await person_on_wecom(sessions, ZHANG)
    assert (person.real_name, person.org_id) == ("张三", tree["赛罕区科协"].id)


async def test_a_photo_sent_on_wecom_reaches_a_telegram_admin(settings, clock, sessions, tree):
    png = b"\x89PNG\r\n" + bytes(range(64))
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom, bot = run.wecom, run.telegram
        await log_up_to_photos(wecom, "赛罕区")
        await wecom.image(ZHANG, wecom.api.add_media(png, "现场.png"))
        await wecom.press(ZHANG, "完成")
        await wecom.press(ZHANG, "确认提交")
        await bot.text(ADMIN, "/mylogs")
        await bot.press(ADMIN, "本组织及下级")
        await bot.press(ADMIN, "科技助力乡村振兴")
        calls = await bot.press(ADMIN, "照片")
    [photo] = [call for call in calls if call.method == "sendPhoto"]
    assert list(photo.files.values()) == [png]  # uploaded from the store, not a file id


async def test_a_photo_sent_on_telegram_reaches_a_wecom_member(settings, clock, sessions, tree):
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(96))
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        wecom = run.wecom
        await log_up_to_photos(wecom, "赛罕区")
        await wecom.press(ZHANG, "跳过")
        await wecom.press(ZHANG, "确认提交")
        # The record's photo as Telegram holds it (sent there, or by the person's Telegram).
        on_telegram = run.telegram.api.register_file(jpeg, kind="photo")[-1]["file_id"]
        async with transaction(sessions) as session:
            [activity] = (await session.exec(select(Activity))).all()
            activity.photos = [on_telegram]
            session.add(activity)
        await wecom.text(ZHANG, "/mylogs")
        await wecom.press(ZHANG, "科技助力乡村振兴")
        shown = await wecom.press(ZHANG, "照片")
    [image] = [s for s in shown if s.kind == "image"]  # fetched by getFile, then uploaded
    uploaded = wecom.api.media[image.text]
    assert (uploaded.content, uploaded.file_name, uploaded.kind) == (jpeg, "photo.jpg", "image")
    assert not any(t("zh_CN", "wecom.media_pending", count=1) in s.text for s in shown)


async def test_a_tasks_export_reaches_a_wecom_admin_as_an_xlsx_file(
    settings, clock, sessions, tree
):
    async with running_stack(settings, clock, {ZHANG}, [ADMIN, TUMOTE]) as run:
        await register_by_typing(run, sessions, clock, tree)
        await new_county_task(run)
        async with transaction(sessions) as session:
            person = await person_on_wecom(sessions, ZHANG)
            person.role, person.org_id = Role.ADMIN, tree["呼和浩特市科协"].id
            session.add(person)
        wecom = run.wecom
        await wecom.text(ZHANG, "/tasks")
        await wecom.press(ZHANG, "进度")
        shown = await wecom.press(ZHANG, "导出")
    [file] = [s for s in shown if s.kind == "file"]
    workbook = wecom.api.media[file.text]
    assert workbook.file_name.endswith(".xlsx") and workbook.content.startswith(b"PK")
