"""Report tasks through the real Application: /newtask, /tasks, the report form, the board."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from bot.flows import task_views
from bot.runtime import runtime_of
from bot.services import orgs
from offline.updates import TgUser
from storage import tasks_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import OrgLevel, Role
from storage.reminder_models import ReminderLedger
from tests.conftest import SUPERADMIN_ID
from tests.harness import BotHarness, demo_tree, running_bot, sent_texts, toasts

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = TgUser(id=50001, first_name="市科协管理员")
SAIHAN = TgUser(id=50002, first_name="赛罕联络员")
TUMOTE = TgUser(id=50003, first_name="土左旗联络员")
BAOTOU_ADMIN = TgUser(id=50004, first_name="包头管理员")
QINGSHAN = TgUser(id=50005, first_name="青山联络员")


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        members = (
            (ADMIN, "呼和浩特市科协", Role.ADMIN),
            (SAIHAN, "赛罕区科协", Role.LIAISON),
            (TUMOTE, "土默特左旗科协", Role.LIAISON),
            (BAOTOU_ADMIN, "包头市科协", Role.ADMIN),
            (QINGSHAN, "青山区科协", Role.LIAISON),
        )
        return await demo_tree(session, members, clock.now())


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


def chats(bot: BotHarness) -> None:
    for user in (ADMIN, SAIHAN, TUMOTE, BAOTOU_ADMIN, QINGSHAN):
        bot.api.register_chat(user.private_chat())


async def new_county_task(
    bot: BotHarness,
    deadline: str = "3月30日",
    *,
    notice: bytes | None = None,
    notice_name: str = "通知.docx",
    title: str = "2026年一季度科普工作落实情况",
) -> list:
    """/newtask to every county association under Hohhot, default sections and indicators."""
    await bot.text(ADMIN, "/newtask")
    await bot.text(ADMIN, title)
    await bot.text(ADMIN, "请按栏目如实填写。")
    await bot.text(ADMIN, deadline)
    await bot.press(ADMIN, "一次性")
    await bot.press(ADMIN, "按级别")
    await bot.press(ADMIN, "县级")
    await bot.press(ADMIN, "使用默认")
    await bot.press(ADMIN, "使用默认")
    if notice is None:
        await bot.press(ADMIN, "跳过")
    else:
        await bot.feed(bot.factory.document(ADMIN, notice, notice_name))
        await bot.press(ADMIN, "完成")
    await bot.press(ADMIN, "去核对")
    return await bot.press(ADMIN, "确认提交")


async def submit_report(
    bot: BotHarness, user: TgUser, first: str, indicators: str | None = None
) -> list:
    """Press 填报 on the newest keyboard, fill the first section, pass the others, no files."""
    await bot.press(user, "填报")
    await bot.text(user, first)
    for _ in range(5):
        await bot.press(user, "下一栏")
    if indicators:
        await bot.text(user, indicators)
    await bot.press(user, "确认无误")
    await bot.press(user, "跳过")
    return await bot.press(user, "确认提交")


async def only_cycle(sessions) -> int:
    async with transaction(sessions) as session:
        cycles = await tasks_repo.open_cycles(
            session=session, after=datetime(2000, 1, 1, tzinfo=UTC)
        )
        assert len(cycles) == 1
        return cycles[0].id


async def test_admin_publishes_to_one_level_and_members_get_a_fill_button(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        calls = await new_county_task(bot, notice=b"notice text")
        summary = sent_texts(bot.api.calls)
        assert any("将发给 2 个组织、2 人" in text for text in summary)
        assert any("按截止日 18:00 计" in text for text in summary)
        # The target's line says whom it reaches (not the button "按级别…"), with its counts.
        assert any("• 填报范围：全部县级/旗县区组织（2 个组织，2 人）" in text for text in summary)
        assert not any("按级别（" in text and "填报范围" in text for text in summary)
        assert (
            "已发布《2026年一季度科普工作落实情况》：2 个组织，已通知 2 人" in sent_texts(calls)[0]
        )
        for member in (SAIHAN, TUMOTE):
            assert "截止：2026-03-30 18:00" in bot.last_text(member.id)
            assert bot.button_texts(member.id) == ["填报", "查看附件（1）"]
        assert bot.api.last_message(QINGSHAN.id) is None  # another city's county
        calls = await bot.press(SAIHAN, "查看附件")
        (sent,) = [c for c in calls if c.method == "sendDocument"]
        assert bot.api.file_bytes(sent.params["document"]) == b"notice text"


async def test_a_title_typed_with_a_full_stop_is_not_followed_by_another(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        calls = await new_county_task(bot, title="关于报送科普日活动总结的通知。")
        assert sent_texts(calls)[0].startswith(
            "✅ 已发布《关于报送科普日活动总结的通知》：2 个组织"
        )
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "关于报送科普日活动总结的通知")
        await bot.press(ADMIN, "撤回")
        calls = await bot.press(ADMIN, "确定撤回")
        assert sent_texts(calls)[0] == "已撤回《关于报送科普日活动总结的通知》。"


async def to_target(bot: BotHarness, title: str = "科普日活动总结") -> list:
    """/newtask up to the target step (no description, a week's deadline, once)."""
    await bot.text(ADMIN, "/newtask")
    await bot.text(ADMIN, title)
    await bot.press(ADMIN, "跳过")
    await bot.press(ADMIN, "一周后")
    return await bot.press(ADMIN, "一次性")


async def past_defaults_to_check(bot: BotHarness) -> list:
    await bot.press(ADMIN, "使用默认")
    await bot.press(ADMIN, "使用默认")
    return await bot.press(ADMIN, "跳过")


async def test_the_preview_counts_the_people_the_publishing_tells(
    settings, clock, sessions, tree
):
    """The publisher (in the subtree) is not told of their own task: every count before
    publishing leaves them out, and says so, so "已通知 N 人" agrees with the preview."""
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await to_target(bot)
        assert "呼和浩特市科协及下级全部（7 个组织，2 人）" in bot.button_texts(ADMIN.id)
        await bot.press(ADMIN, "及下级全部")
        (check,) = sent_texts(await past_defaults_to_check(bot))
        assert check == (
            "将发给 7 个组织的联络员、信息员和管理员，共 2 人（不含你自己：发布人不另行通知）。"
        )
        review = sent_texts(await bot.press(ADMIN, "去核对"))[0]
        assert "将发给 7 个组织、2 人（不含你自己：发布人不另行通知）。" in review
        assert "• 填报范围：呼和浩特市科协及下级全部（7 个组织，2 人）" in review
        calls = await bot.press(ADMIN, "确认提交")
        assert "：7 个组织，已通知 2 人。" in sent_texts(calls)[0]
        told = {c.params["chat_id"] for c in calls if c.method == "sendMessage"}
        assert told == {SAIHAN.id, TUMOTE.id}  # the two people counted, and nobody else


async def test_picked_orgs_are_named_on_the_review(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await to_target(bot)
        await bot.press(ADMIN, "选择组织")
        await bot.press(ADMIN, "赛罕区科协")
        await bot.press(ADMIN, "土默特左旗科协")
        await bot.press(ADMIN, "完成")
        (check,) = sent_texts(await past_defaults_to_check(bot))
        assert check == "将发给 2 个组织的联络员、信息员和管理员，共 2 人。"  # without the admin
        review = sent_texts(await bot.press(ADMIN, "去核对"))[0]
        assert "• 填报范围：赛罕区科协、土默特左旗科协（2 个组织，2 人）" in review
        assert "选择组织" not in review and "• 组织：" not in review
        assert "修改组织" in bot.button_texts(ADMIN.id)


async def test_deadline_in_the_past_and_no_target_are_refused(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await bot.text(ADMIN, "/newtask")
        await bot.text(ADMIN, "标题")
        calls = await bot.press(ADMIN, "跳过")
        assert "截止时间（北京时间）" in sent_texts(calls)[0]  # the zone named as everywhere
        await bot.text(ADMIN, "2026-03-01")
        assert "2026-03-01 18:00 已经过去了" in bot.last_text(ADMIN.id)
        await bot.press(ADMIN, "两周后")
        await bot.press(ADMIN, "一次性")
        await bot.press(ADMIN, "选择组织")
        await bot.press(ADMIN, "完成")
        assert "请至少选择一项" in bot.last_text(ADMIN.id)
        calls = await bot.text(QINGSHAN, "/newtask")
        assert "只有管理员可以布置报送任务" in sent_texts(calls)[0]


async def test_liaison_drafts_resumes_submits_and_resubmits(settings, clock, sessions, tree):
    async with transaction(sessions) as session:
        session.add(
            Activity(
                type="lecture",
                title="科普讲座",
                day=date(2026, 3, 10),
                org_id=tree["赛罕区科协"].id,
                participants=120,
                unit="session",
                amount=1,
                created_by=SAIHAN.id,
                created_at=clock.now(),
            )
        )
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        await bot.text(SAIHAN, "/tasks")
        assert "还剩 14 天" in bot.last_text(SAIHAN.id)
        await bot.press(SAIHAN, "填报：")
        assert "任务说明：请按栏目如实填写。" in bot.last_text(SAIHAN.id)
        assert "第 1/5 栏：工作抓手" in bot.last_text(SAIHAN.id)
        await bot.text(SAIHAN, "建立联络员例会制度，")
        await bot.text(SAIHAN, "每月走访企业。")
        assert "本栏共" in bot.last_text(SAIHAN.id)
        await bot.press(SAIHAN, "下一栏")
        over = await bot.text(SAIHAN, "长" * 2001)
        assert "超过上限 2000 字" in sent_texts(over)[0]
        await bot.text(SAIHAN, "开展科普讲座")
        await bot.press(SAIHAN, "填报", message=bot.api.sent_messages(SAIHAN.id)[0])
        assert "接着上次的草稿" in bot.last_text(SAIHAN.id)
    async with running_bot(settings, clock, after=bot) as bot:  # a restart keeps the draft
        chats(bot)
        await bot.text(SAIHAN, "/tasks")
        assert "已填：开展科普讲座" in bot.last_text(SAIHAN.id)
        for _ in range(4):
            await bot.press(SAIHAN, "下一栏")
        assert "活动场次 1、参与人次 120" in bot.last_text(SAIHAN.id)
        await bot.text(SAIHAN, "参与人次 150")
        await bot.press(SAIHAN, "确认无误")
        await bot.press(SAIHAN, "跳过")
        calls = await bot.press(SAIHAN, "确认提交")
        assert "已提交（第 1 版）" in sent_texts(calls)[0]
        await bot.text(SAIHAN, "/tasks")
        assert "✅ 已提交" in bot.last_text(SAIHAN.id)
        await bot.press(SAIHAN, "填报：")
        assert "将替换已提交的第 1 版" in bot.last_text(SAIHAN.id)
        await bot.press(SAIHAN, "修改第2栏")
        assert "发送新内容将替换本栏" in bot.last_text(SAIHAN.id)
        await bot.text(SAIHAN, "开展科普讲座和科技志愿服务")
        await bot.press(SAIHAN, "下一栏")
        calls = await bot.press(SAIHAN, "确认提交")
        assert "已提交（第 2 版）" in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        cycle_id = (await tasks_repo.open_cycles(session=session, after=clock.now()))[0].id
        history = await tasks_repo.submission_history(
            session=session, cycle_id=cycle_id, org_id=tree["赛罕区科协"].id
        )
    assert [(h.version, h.superseded_at is None) for h in history] == [(2, True), (1, False)]
    assert history[0].sections["工作抓手"] == "建立联络员例会制度，\n每月走访企业。"
    assert history[0].sections["有效措施"] == "开展科普讲座和科技志愿服务"
    assert history[1].sections["有效措施"] == "开展科普讲座"
    assert history[0].indicators == {"活动场次": 1, "参与人次": 150}


async def test_late_report_and_board(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot, "3月20日 12:00")
        clock.set(local(2026, 3, 21, 9))
        await to_attachments(bot, TUMOTE, "迟到的报告")
        await bot.feed(bot.factory.photo(TUMOTE, b"activity photo"))
        await bot.press(TUMOTE, "完成")
        calls = await bot.press(TUMOTE, "确认提交")
        assert "标记为逾期提交" in sent_texts(calls)[0]
        await bot.text(ADMIN, "/tasks")
        assert "已交 0，逾期 1，未交 1" in bot.last_text(ADMIN.id)
        await bot.press(ADMIN, "进度：")
        board = bot.last_text(ADMIN.id)
        assert "🕒 逾期提交：土默特左旗科协" in board and "❌ 未提交：赛罕区科协" in board
        await bot.press(ADMIN, "查看报告")
        await bot.press(ADMIN, "土默特左旗科协")
        assert "迟到的报告" in bot.last_text(ADMIN.id)
        calls = await bot.press(ADMIN, "查看附件（1）")
        (photo,) = [c for c in calls if c.method == "sendPhoto"]
        assert bot.api.file_bytes(photo.params["photo"]) == b"activity photo"
        cycle_id = await only_cycle(sessions)
        data = f"task:files:{cycle_id}:{tree['土默特左旗科协'].id}"
        refused = await bot.feed(forged(bot, BAOTOU_ADMIN, data))
        assert "不是你所辖范围内发布的" in toasts(refused)[0]


async def to_attachments(bot: BotHarness, user: TgUser, text: str) -> None:
    """填报 on the newest task: ``text`` in the first section, the rest empty, values as given."""
    await bot.press(user, "填报")
    await bot.text(user, text)
    for _ in range(5):
        await bot.press(user, "下一栏")
    await bot.press(user, "确认无误")


async def test_the_board_shows_a_reports_photos_and_documents_as_albums(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        await to_attachments(bot, TUMOTE, "报告正文")
        for number in range(3):
            await bot.feed(bot.factory.photo(TUMOTE, f"现场{number}".encode()))
        for name in ("签到表.xlsx", "总结.docx"):
            await bot.feed(bot.factory.document(TUMOTE, name.encode(), name))
        await bot.press(TUMOTE, "完成")
        await bot.press(TUMOTE, "确认提交")
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        await bot.press(ADMIN, "查看报告")
        await bot.press(ADMIN, "土默特左旗科协")
        calls = await bot.press(ADMIN, "查看附件（5）")
        cycle_id = await only_cycle(sessions)
        data = f"task:files:{cycle_id}:{tree['土默特左旗科协'].id}"
        refused = await bot.feed(forged(bot, BAOTOU_ADMIN, data))
    photos, documents = (c.params["media"] for c in calls if c.method == "sendMediaGroup")
    assert [bot.api.file_bytes(m["media"]) for m in photos] == [
        f"现场{n}".encode() for n in range(3)
    ]
    assert [bot.api.file_bytes(m["media"]) for m in documents] == [
        "签到表.xlsx".encode(), "总结.docx".encode()
    ]  # fmt: skip
    assert [m["type"] for m in photos + documents] == ["photo"] * 3 + ["document"] * 2
    caption = "📎 <b>土默特左旗科协</b> · 2026年一季度科普工作落实情况 的报告附件"
    assert photos[0]["caption"] == f"{caption}（1/2）"
    assert documents[0]["caption"] == f"{caption}（2/2）"
    assert "不是你所辖范围内发布的" in toasts(refused)[0]
    assert not [c for c in refused if c.method.startswith("send")]


def forged(bot: BotHarness, user: TgUser, data: str) -> dict:
    """A press of a button the user never got: someone else's message, moved to their chat."""
    for message in bot.api.sent_messages():
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if any(button.get("callback_data") == data for row in rows for button in row):
            return bot.factory.callback(user, data, {**message, "chat": user.private_chat()})
    raise AssertionError(f"no message offers {data}")


async def test_refusals_for_other_subtrees_and_untargeted_orgs(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        cycle_id = await only_cycle(sessions)
        async with transaction(sessions) as session:
            task_id = (await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)).task_id
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        await bot.text(BAOTOU_ADMIN, "/tasks")
        assert "没有需要填报" in bot.last_text(BAOTOU_ADMIN.id)
        refused = await bot.feed(forged(bot, BAOTOU_ADMIN, f"task:board:{cycle_id}"))
        assert "不是你所辖范围内发布的" in sent_texts(refused)[0]
        refused = await bot.feed(forged(bot, QINGSHAN, f"task:fill:{cycle_id}"))
        assert "不在这个任务的填报范围内" in sent_texts(refused)[0]
        refused = await bot.feed(forged(bot, BAOTOU_ADMIN, f"task:export:{task_id}"))
        assert "不是你所辖范围内发布的" in toasts(refused)[0]
        assert bot.api.calls_to("sendDocument") == []


async def test_export_workbook_has_a_row_per_org_and_totals(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        await submit_report(bot, SAIHAN, "工作抓手内容", "活动场次 4")
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        calls = await bot.press(ADMIN, "导出 Excel")
    (document,) = [c for c in calls if c.method == "sendDocument"]
    book = load_workbook(io.BytesIO(next(iter(document.files.values()))))
    sheet, totals = book["报送情况"], book["汇总"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:7] == (
        "组织",
        "组织路径",
        "状态",
        "提交时间",
        "是否逾期",
        "工作抓手",
        "有效措施",
    )
    assert rows[0][-2:] == ("活动场次", "参与人次")
    by_org = {row[0]: row for row in rows[1:]}
    assert by_org["赛罕区科协"][1] == "内蒙古自治区科协 › 呼和浩特市科协 › 赛罕区科协"
    submitted = datetime(2026, 3, 16, 10, 0)
    assert by_org["赛罕区科协"][2:6] == ("已提交", submitted, "否", "工作抓手内容")
    assert by_org["赛罕区科协"][-2:] == (4, 0)
    assert by_org["土默特左旗科协"][2] == "未提交"
    deadline = datetime(2026, 3, 30, 18, 0)
    assert list(totals.iter_rows(values_only=True))[1] == (1, deadline, 2, 1, 0, 1, 4, 0)


async def test_admin_moves_the_deadline_reminds_and_withdraws(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        cycle_id = await only_cycle(sessions)
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        calls = await bot.press(ADMIN, "立即提醒未交单位")
        assert toasts(calls) == ["已安排提醒 2 人。"]
        await bot.press(ADMIN, "修改截止时间")
        assert "当前截止 2026-03-30 18:00" in bot.last_text(ADMIN.id)
        await bot.text(ADMIN, "2026-03-10 18:00")
        assert "已经过去了" in bot.last_text(ADMIN.id)
        await bot.text(ADMIN, "4月10日 12:00")
        calls = await bot.press(ADMIN, "确认提交")
        assert "已改为 2026-04-10 12:00" in sent_texts(calls)[0]
        async with transaction(sessions) as session:
            cycle = await tasks_repo.get_cycle(session=session, cycle_id=cycle_id)
        assert cycle.deadline == local(2026, 4, 10, 12)
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        await bot.press(ADMIN, "撤回任务")
        assert bot.button_texts(ADMIN.id) == ["确定撤回", "取消"]
        calls = await bot.press(ADMIN, "取消")  # the task stays as it was
        assert sent_texts(calls)[0] == "未撤回，《2026年一季度科普工作落实情况》保持不变。"
        assert [c.method for c in calls if c.method.startswith("send")] == []
        await bot.text(SAIHAN, "/tasks")
        assert "没有需要填报" not in bot.last_text(SAIHAN.id)
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        await bot.press(ADMIN, "撤回任务")
        calls = await bot.press(ADMIN, "确定撤回")
        assert "已撤回" in sent_texts(calls)[0]
        await bot.text(SAIHAN, "/tasks")
        assert "没有需要填报" in bot.last_text(SAIHAN.id)
        refused = await bot.press(SAIHAN, "填报", message=bot.api.sent_messages(SAIHAN.id)[0])
        assert "不存在或已撤回" in sent_texts(refused)[0]


async def test_a_big_audience_is_told_through_the_reminder_ledger(
    settings, clock, sessions, tree, monkeypatch
):
    monkeypatch.setattr(task_views, "ANNOUNCE_DIRECT", 1)
    async with running_bot(settings, clock) as bot:
        chats(bot)
        calls = await new_county_task(bot)
        assert "给 2 人的通知已排队发送" in sent_texts(calls)[0]
        assert bot.api.last_message(SAIHAN.id) is None  # not within the admin's update
        sender = runtime_of(bot.app).reminders.sender
        await sender.drain()
        for member in (SAIHAN, TUMOTE):
            assert "2026年一季度科普工作落实情况" in bot.last_text(member.id)
            assert bot.button_texts(member.id) == ["填报"]
        await sender.drain()  # nothing twice
        assert len(bot.api.sent_messages(SAIHAN.id)) == 1
    async with transaction(sessions) as session:
        rows = (await session.exec(select(ReminderLedger))).all()
    assert sorted(row.kind for row in rows) == ["published", "published"]


async def test_monthly_task_opens_its_next_cycle_with_its_own_board(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await bot.text(ADMIN, "/newtask")
        await bot.text(ADMIN, "月度科普活动小结")
        await bot.press(ADMIN, "跳过")
        await bot.text(ADMIN, "3月31日")
        await bot.press(ADMIN, "每月")
        await bot.press(ADMIN, "选择组织")
        await bot.text(ADMIN, "赛罕")
        await bot.press(ADMIN, "赛罕区科协")
        await bot.press(ADMIN, "完成")
        await bot.press(ADMIN, "使用默认")
        await bot.press(ADMIN, "不设指标")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "去核对")
        await bot.press(ADMIN, "确认提交")
        await bot.press(SAIHAN, "填报")
        await bot.text(SAIHAN, "三月的小结")
        calls = await bot.press(SAIHAN, "填报", message=bot.api.sent_messages(SAIHAN.id)[0])
        assert "接着上次的草稿" in sent_texts(calls)[-1]
        await bot.text(SAIHAN, "/cancel")
        await bot.press(SAIHAN, "确定取消")
        await bot.text(SAIHAN, "/log")
        calls = await bot.press(SAIHAN, "填报", message=bot.api.sent_messages(SAIHAN.id)[0])
        assert "还有一个表单没有填完" in sent_texts(calls)[-1]  # the activity form is kept
        await bot.text(SAIHAN, "/cancel")
        clock.set(local(2026, 4, 2, 9))
        await bot.text(SAIHAN, "/tasks")
        listing = bot.last_text(SAIHAN.id)
        assert "2026-03-31 18:00｜⚠️ 已逾期 2 天" in listing
        assert "2026-04-30 18:00｜还剩 28 天" in listing
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        assert "（第 2 期）" in bot.last_text(ADMIN.id)
        await bot.press(ADMIN, "第 1 期")
        assert "（第 1 期）" in bot.last_text(ADMIN.id)
        assert "❌ 未提交：赛罕区科协" in bot.last_text(ADMIN.id)


async def test_admin_of_an_asked_county_sees_only_its_part(settings, clock, sessions, tree):
    county_admin = TgUser(id=50006, first_name="赛罕区管理员")
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session, telegram_id=county_admin.id, username=None, now=clock.now()
        )
        user.org_id, user.role, user.registered_at = tree["赛罕区科协"].id, Role.ADMIN, clock.now()
    async with running_bot(settings, clock) as bot:
        chats(bot)
        bot.api.register_chat(county_admin.private_chat())
        await new_county_task(bot)
        cycle_id = await only_cycle(sessions)
        await bot.text(county_admin, "/tasks")
        assert "已交 0，逾期 0，未交 1" in bot.last_text(county_admin.id)
        await bot.press(county_admin, "进度：")
        assert "❌ 未提交：赛罕区科协" in bot.last_text(county_admin.id)
        assert "土默特左旗科协" not in bot.last_text(county_admin.id)
        assert bot.button_texts(county_admin.id) == ["立即提醒未交单位", "查看报告", "导出 Excel"]
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        refused = await bot.feed(forged(bot, county_admin, f"task:move:{cycle_id}"))
        assert "不是你所辖范围内发布的" in sent_texts(refused)[0]


async def test_a_task_published_at_night_is_announced_at_eight(settings, clock, sessions, tree):
    clock.set(local(2026, 3, 16, 23, 0))
    async with running_bot(settings, clock) as bot:
        chats(bot)
        calls = await new_county_task(bot)
        assert "22:00–08:00 不发送" in sent_texts(calls)[0]
        sender = runtime_of(bot.app).reminders.sender
        await sender.drain()
        assert bot.api.last_message(SAIHAN.id) is None
        clock.set(local(2026, 3, 17, 8, 0))
        await sender.drain()
        assert "2026年一季度科普工作落实情况" in bot.last_text(SAIHAN.id)
        assert "2026年一季度科普工作落实情况" in bot.last_text(TUMOTE.id)


async def test_board_pages_the_names_of_many_orgs(settings, clock, sessions, tree):
    async with transaction(sessions) as session:
        for i in range(20):
            await orgs.add_org(
                session,
                name=f"企业{i:02d}科协",
                level=OrgLevel.ENTERPRISE,
                parent_id=tree["赛罕区科协"].id,
                now=clock.now(),
            )
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await bot.text(ADMIN, "/newtask")
        await bot.text(ADMIN, "企业科协年报")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "两周后")
        await bot.press(ADMIN, "一次性")
        await bot.press(ADMIN, "按级别")
        await bot.press(ADMIN, "企业")
        await bot.press(ADMIN, "使用默认")
        await bot.press(ADMIN, "不设指标")
        await bot.press(ADMIN, "跳过")
        await bot.press(ADMIN, "去核对")
        await bot.press(ADMIN, "确认提交")
        await bot.text(ADMIN, "/tasks")
        await bot.press(ADMIN, "进度：")
        first = bot.last_text(ADMIN.id)
        await bot.press(ADMIN, "下一页")
        second = bot.last_text(ADMIN.id)
    names = [f"企业{i:02d}科协" for i in range(20)] + ["伊利集团科协", "蒙牛乳业科协"]
    assert "未交 22" in first
    assert sum(name in first for name in names) == 15
    assert sum(name in second for name in names) == 7
    assert not any(name in first and name in second for name in names)


async def test_superadmin_targets_every_org(settings, clock, sessions, tree):
    root = TgUser(id=SUPERADMIN_ID, first_name="超级管理员")
    async with running_bot(settings, clock) as bot:
        chats(bot)
        bot.api.register_chat(root.private_chat())
        await bot.text(root, "/newtask")
        await bot.text(root, "全区科协年度总结")
        await bot.press(root, "跳过")
        await bot.press(root, "两周后")
        await bot.press(root, "一次性")
        await bot.press(root, "全部组织")
        await bot.press(root, "使用默认")
        await bot.press(root, "不设指标")
        await bot.press(root, "跳过")
        await bot.press(root, "去核对")
        assert "• 填报范围：全部组织（12 个组织，5 人）" in bot.last_text(root.id)
        calls = await bot.press(root, "确认提交")
        assert "12 个组织，已通知 5 人" in sent_texts(calls)[0]


async def test_typed_next_and_done_words_move_on_and_are_never_report_text(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        chats(bot)
        await new_county_task(bot)
        await bot.press(SAIHAN, "填报")
        await bot.text(SAIHAN, "建立联络员例会制度。")
        await bot.text(SAIHAN, "下一栏")  # as the button: on to the second section
        assert "第 2/5 栏" in bot.last_text(SAIHAN.id)
        await bot.text(SAIHAN, "开展科普讲座。")
        await bot.text(SAIHAN, "写完了")
        assert "第 3/5 栏" in bot.last_text(SAIHAN.id)
        await bot.text(SAIHAN, "上一步")
        assert "第 2/5 栏" in bot.last_text(SAIHAN.id)
        for word in ("下一步", "完成", "next", "done"):
            await bot.text(SAIHAN, word)
        assert "活动场次" in bot.last_text(SAIHAN.id)
        await bot.press(SAIHAN, "确认无误")
        await bot.press(SAIHAN, "跳过")
        summary = bot.last_text(SAIHAN.id)
        assert "建立联络员例会制度。" in summary and "开展科普讲座。" in summary
        assert "写完了" not in summary and "下一栏" not in summary.replace("下一栏 »", "")
        calls = await bot.press(SAIHAN, "确认提交")
        assert "已提交（第 1 版）" in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        cycle_id = (await tasks_repo.open_cycles(session=session, after=clock.now()))[0].id
        [row] = await tasks_repo.submission_history(
            session=session, cycle_id=cycle_id, org_id=tree["赛罕区科协"].id
        )
    texts = list(row.sections.values())
    assert texts[:2] == ["建立联络员例会制度。", "开展科普讲座。"]
    assert not any(word in text for text in texts for word in ("下一", "写完", "完成", "next"))
