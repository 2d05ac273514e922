"""/members through the real Application: the list, invites, changes to a person, refusals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.common.i18n import t
from bot.services import broadcasts, orgs, people, reminders
from bot.services import tasks as task_svc
from bot.services.broadcasts import Audience
from bot.services.members import fingerprint
from bot.services.reminders import Clocked
from offline.updates import TgUser
from storage import outbox_repo, reminders_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.member_models import MemberAction, MemberAudit
from storage.models import Invite, Role
from storage.reminder_models import LedgerStatus, PersonalReminder, PersonalStatus
from tests.harness import running_bot, sent_texts, toasts

TZ = ZoneInfo("Asia/Shanghai")
CITY = TgUser(id=30001, first_name="王", username="wang_admin")  # admin of 呼和浩特市科协
SAIHAN_ADMIN = TgUser(id=30002, first_name="赵")  # admin of 赛罕区科协
SAIHAN_PEER = TgUser(id=30003, first_name="钱")  # a second admin of 赛罕区科协
BAOTOU = TgUser(id=30004, first_name="Sun", language_code="en")  # admin of 包头市科协
LIAISON = TgUser(id=30005, first_name="李")  # liaison of 赛罕区科协
QINGSHAN = TgUser(id=30006, first_name="Zhou", language_code="en")  # liaison of 青山区科协
NEWCOMER = TgUser(id=30010, first_name="新人")

# Telegram id → (org, role, real name); the names sort as they are listed within an org.
PEOPLE = {
    CITY.id: ("呼和浩特市科协", Role.ADMIN, "王建国"),
    SAIHAN_ADMIN.id: ("赛罕区科协", Role.ADMIN, "赵敏"),
    SAIHAN_PEER.id: ("赛罕区科协", Role.ADMIN, "钱伟"),
    BAOTOU.id: ("包头市科协", Role.ADMIN, "Sun Li"),
    LIAISON.id: ("赛罕区科协", Role.LIAISON, "李明"),
    QINGSHAN.id: ("青山区科协", Role.LIAISON, "Zhou Yan"),
}
# Twelve more people below 呼和浩特, so its list has two pages.
EXTRA = [
    (31000 + n, org, role, f"成员{n:02d}")
    for n, (org, role) in enumerate(
        [("土默特左旗科协", Role.LIAISON)] * 4
        + [("伊利集团科协", Role.INFO_OFFICER)] * 3
        + [("伊利集团科协", Role.LIAISON)] * 2
        + [("内蒙古大学科协", Role.INFO_OFFICER)] * 3
    )
]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
async def world(sessions, clock):
    """The demo tree and its people; returns org name → org."""
    async with transaction(sessions) as session:
        tree = {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}
        rows = [(tid, *row) for tid, row in PEOPLE.items()] + EXTRA
        for telegram_id, org_name, role, name in rows:
            user = await users_repo.upsert_user(
                session=session, telegram_id=telegram_id, username=None, now=clock.now()
            )
            user.org_id, user.role, user.real_name = tree[org_name].id, role, name
            user.registered_at = clock.now()
            if telegram_id in (BAOTOU.id, QINGSHAN.id):
                user.locale = "en"
    return tree


async def load(sessions, telegram_id):
    async with transaction(sessions) as session:
        return await users_repo.get_user(session=session, telegram_id=telegram_id)


async def audit(sessions) -> list[tuple[str, int | None]]:
    async with transaction(sessions) as session:
        rows = (await session.exec(select(MemberAudit).order_by(col(MemberAudit.id)))).all()
        return [(str(row.action), row.actor_id) for row in rows]


def forged(bot, user, data, message=None):
    """A callback update whose data no button of the message carries (a modified client)."""
    message = message or bot.keyboard_message(user.id)
    first = next(
        button["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for button in row
        if "callback_data" in button
    )
    update = bot.factory.callback(user, first, message)
    update = copy.deepcopy(update)
    update["callback_query"]["data"] = data
    return bot.feed(update)


def told(calls, user) -> list[str]:
    """What the bot sent to ``user`` in these calls (the person an admin acted on)."""
    return [
        str(c.params["text"])
        for c in calls
        if c.method == "sendMessage" and c.params["chat_id"] == user.id
    ]


def menu(bot, user) -> list[str]:
    return [c["command"] for c in bot.api.my_commands({"type": "chat", "chat_id": user.id})]


# --- the list ----------------------------------------------------------------------------------


async def test_list_pages_by_org_role_and_name_within_the_subtree(settings, clock, world):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(CITY, "/members")
        page = sent_texts(calls)[0]
        assert "呼和浩特市科协" in page and "共 16 人 · 第 1/2 页" in page
        lines = [line for line in page.splitlines() if line[:2].rstrip(".").isdigit()]
        assert len(lines) == 10
        # Tree order (paths compare bytewise: /1/2/ < /1/2/11/ < /1/2/4/), admins first.
        assert lines[0].startswith("1. <b>王建国</b> · 管理员 · 呼和浩特市科协")
        assert "内蒙古大学科协" in lines[1]
        assert [line.split("</b>")[0][-2:] for line in lines[4:7]] == ["赵敏", "钱伟", "李明"]
        assert "注册 2026-03-16 · 最近活动 2026-03-16" in page
        assert "包头" not in page and "Sun Li" not in page

        calls = await bot.press(CITY, "下一页")
        page = sent_texts(calls)[0]
        assert "第 2/2 页" in page and "11. " in page and "16. " in page
        assert calls[-1].method == "editMessageText"  # the list pages in place

        calls = await bot.press(CITY, "科普信息员")
        page = sent_texts(calls)[0]
        assert "（科普信息员）" in page and "共 6 人" in page and "科协联络员" not in page
        assert "✅ 科普信息员" in bot.button_texts(CITY.id)

        await bot.press(CITY, "按组织筛选")
        assert "按哪个组织筛选" in bot.last_text(CITY.id)
        calls = await bot.text(CITY, "伊利")  # typed part of a name
        calls = await bot.press(CITY, "伊利集团科协")
        page = sent_texts(calls)[0]
        assert "伊利集团科协</b>（科普信息员）" in page and "共 3 人 · 第 1/1 页" in page

        calls = await bot.press(CITY, "全部组织")
        assert "共 6 人" in sent_texts(calls)[0]


async def test_statuses_and_last_activity(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        clock.advance(timedelta(days=2))
        await bot.text(LIAISON, "/help")  # last seen on the 18th
        async with transaction(sessions) as session:
            session.add(
                Activity(
                    type="lecture",
                    title="科普讲座",
                    day=clock.now().date(),
                    org_id=world["土默特左旗科协"].id,
                    unit="场",
                    created_by=31000,
                    created_at=clock.now() + timedelta(days=1),
                )
            )
            quiet = await users_repo.get_user(session=session, telegram_id=31001)
            await outbox_repo.mark_users_blocked(session=session, user_ids=[quiet.id])
        page = sent_texts(await bot.text(CITY, "/members"))[0]
        assert "最近活动 2026-03-18" in page.split("李明")[1].split("\n")[1]
        assert (
            "最近活动 2026-03-19" in page.split("成员00")[1].split("\n")[1]
        )  # an activity logged
        assert "🚫 已屏蔽机器人" in page.split("成员01")[1].split("\n")[1]
        await bot.text(TgUser(id=31001, first_name="成员"), "/help")  # wrote again: unblocked
        page = sent_texts(await bot.text(CITY, "/members"))[0]
        assert "🚫" not in page


# --- invites -----------------------------------------------------------------------------------


async def make_invite_in_chat(bot, admin, org_name, role_label, uses_label, days_label):
    await bot.text(admin, "/members")
    await bot.press(admin, "生成邀请链接")
    await bot.press(admin, org_name)
    await bot.press(admin, role_label)
    await bot.press(admin, uses_label)
    await bot.press(admin, days_label)
    return await bot.press(admin, "确认提交")


async def test_invite_made_in_chat_registers_a_newcomer(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        await bot.text(CITY, "/members")
        await bot.press(CITY, "生成邀请链接")
        await bot.press(CITY, "赛罕区科协")
        roles = bot.button_texts(CITY.id)
        assert {"科协联络员", "科普信息员", "管理员"} <= set(roles)  # 赛罕区 lies below 呼和浩特
        await bot.press(CITY, "科普信息员")
        assert bot.button_texts(CITY.id)[:3] == ["1 次", "10 次", "50 次"]
        await bot.press(CITY, "10 次")
        assert bot.button_texts(CITY.id)[:3] == ["1 天", "7 天", "30 天"]
        await bot.press(CITY, "7 天")
        assert "请核对邀请" in bot.last_text(CITY.id)
        calls = await bot.press(CITY, "确认提交")
        text = sent_texts(calls)[0]
        assert "有效期至：2026-03-23 10:00（北京时间）" in text
        assert "呼和浩特市科协 › 赛罕区科协" in text and "可用次数：10" in text
        link = text.split("\n")[1]
        assert link.startswith("https://t.me/stabot_test_bot?start=")
        share = bot.keyboard_message(CITY.id)["reply_markup"]["inline_keyboard"][0][0]
        assert share["text"] == "📤 分享"
        assert urlsplit(share["url"]).netloc == "t.me"
        assert parse_qs(urlsplit(share["url"]).query) == {"url": [link]}

        code = link.rsplit("=", 1)[1]
        await bot.text(NEWCOMER, f"/start {code}")
        assert "科普信息员" in bot.last_text(NEWCOMER.id)
        await bot.press(NEWCOMER, "是，这是我的组织")
        await bot.text(NEWCOMER, "孙新")
        calls = await bot.press(NEWCOMER, "确认提交")
        assert "注册成功" in sent_texts(calls)[0]
        page = sent_texts(await bot.text(CITY, "/members"))[0]
        assert "共 17 人" in page
    newcomer = await load(sessions, NEWCOMER.id)
    assert (newcomer.role, newcomer.org_id) == (Role.INFO_OFFICER, world["赛罕区科协"].id)
    async with transaction(sessions) as session:
        invite = (await session.exec(select(Invite))).one()
    assert (invite.used, invite.max_uses, invite.created_by) == (1, 10, CITY.id)
    assert await audit(sessions) == [(MemberAction.INVITE_CREATED, CITY.id)]


async def test_admins_of_an_org_make_no_admins_of_it(settings, clock, world):
    async with running_bot(settings, clock) as bot:
        await bot.text(SAIHAN_ADMIN, "/members")
        await bot.press(SAIHAN_ADMIN, "生成邀请链接")
        calls = await bot.text(SAIHAN_ADMIN, "伊利")  # not below 赛罕区
        assert "你管理的范围内没有名称包含「伊利」的组织" in sent_texts(calls)[0]
        await bot.press(SAIHAN_ADMIN, "赛罕区科协")
        roles = bot.button_texts(SAIHAN_ADMIN.id)
        assert "科协联络员" in roles and "管理员" not in roles


async def test_open_invites_revoke_and_expiry(settings, clock, sessions, world):
    async with transaction(sessions) as session:
        codes = []
        for org_name, days in (("赛罕区科协", 7), ("土默特左旗科协", 1), ("青山区科协", 7)):
            invite = await people.create_invite(
                session,
                org_id=world[org_name].id,
                role=Role.LIAISON,
                now=clock.now(),
                ttl=timedelta(days=days),
                created_by=CITY.id,
            )
            codes.append(invite.code)
    async with running_bot(settings, clock) as bot:
        await bot.text(CITY, "/members")
        calls = await bot.press(CITY, "有效的邀请")
        text = sent_texts(calls)[0]
        assert "共 2 个" in text and "青山区" not in text  # 包头's invite is not theirs
        assert f"start={codes[0]}" in text and "王建国" in text
        before_revoke = bot.keyboard_message(CITY.id)
        assert [b for b in bot.button_texts(CITY.id) if b.startswith("撤销")] == [
            "撤销 1",
            "撤销 2",
        ]
        calls = await bot.press(CITY, "撤销 2")  # newest first: 赛罕区's was made first
        assert toasts(calls) == ["已保存"]
        assert "已撤销邀请：赛罕区科协 · 科协联络员" in sent_texts(calls)[0]
        assert "共 1 个" in sent_texts(calls)[0]
        calls = await bot.press(CITY, "撤销 2", message=before_revoke)  # the old list again
        assert toasts(calls) == [t("zh_CN", "members.stale")]
        assert not sent_texts(calls)
        calls = await bot.text(NEWCOMER, f"/start {codes[0]}")
        assert "这个邀请链接已被撤销" in sent_texts(calls)[0]

        clock.advance(timedelta(days=2))
        await bot.press(CITY, "成员列表")
        calls = await bot.press(CITY, "有效的邀请")
        assert "没有可用的邀请链接" in sent_texts(calls)[0]
        calls = await bot.text(NEWCOMER, f"/start {codes[1]}")
        assert "已过期" in sent_texts(calls)[0]
    assert [a for a, _ in await audit(sessions)] == [MemberAction.INVITE_REVOKED]


# --- changes to a person -----------------------------------------------------------------------


async def open_card(bot, admin, name, command="/members"):
    await bot.text(admin, command)
    return await bot.press(admin, name)


async def publish_task_to(sessions, clock, org_ids) -> None:
    async with transaction(sessions) as session:
        city = await users_repo.get_user(session=session, telegram_id=CITY.id)
        scope = await people.admin_scope(session, city, False)
        draft = task_svc.TaskDraft(
            title="2026年科普日活动落实情况", deadline=local(2026, 3, 25, 18), org_ids=org_ids
        )
        await task_svc.publish_task(
            session, draft, actor=city, scope=scope, now=clock.now(), tz=TZ
        )


async def ledger_chats(sessions) -> list[tuple[int, str]]:
    async with transaction(sessions) as session:
        return [(r.chat_id, r.status) for r in await reminders_repo.rows(session=session)]


async def test_deactivate_stops_reminders_and_member_commands(settings, clock, sessions, world):
    saihan = world["赛罕区科协"].id
    await publish_task_to(sessions, clock, [saihan])
    async with transaction(sessions) as session:  # queued before: a reminder for the morning
        await reminders.dispatch_due(session, Clocked(local(2026, 3, 18, 9), TZ))
        liaison = await users_repo.get_user(session=session, telegram_id=LIAISON.id)
        session.add(
            PersonalReminder(
                user_id=liaison.id,
                chat_id=LIAISON.id,
                text="交照片",
                remind_at=local(2026, 3, 20, 9),
                created_at=clock.now(),
            )
        )
    assert (LIAISON.id, LedgerStatus.PENDING) in await ledger_chats(sessions)
    async with running_bot(settings, clock) as bot:
        await bot.text(LIAISON, "/log")  # a form left open
        await open_card(bot, CITY, "李明")
        calls = await bot.press(CITY, "停用")
        assert "确认停用 李明（赛罕区科协）" in sent_texts(calls)[0]
        confirm_message = bot.keyboard_message(CITY.id)
        calls = await bot.press(CITY, "确认")
        assert toasts(calls) == ["已保存"]
        assert "✅ 已停用 李明。" in sent_texts(calls)[0] and "⛔ 已停用" in sent_texts(calls)[0]
        said = told(calls, LIAISON)
        assert "已被管理员停用" in said[0]
        assert menu(bot, LIAISON) == ["start", "help", "me", "lang", "cancel", "ask", "docs"]

        calls = await bot.press(CITY, "确认", message=confirm_message)  # pressed again
        assert toasts(calls) == [t("zh_CN", "members.stale")] and not sent_texts(calls)

        for command in ("/log", "/tasks", "/mylogs", "/stats"):
            text = sent_texts(await bot.text(LIAISON, command))[0]
            assert "注册" in text, (command, text)  # refused: not a member any more
        assert "已被管理员停用" in sent_texts(await bot.text(LIAISON, "/start"))[0]
        assert "已被管理员停用" in sent_texts(await bot.text(LIAISON, "/me"))[0]
        async with transaction(sessions) as session:
            invite = await people.create_invite(
                session, org_id=saihan, role=Role.ADMIN, now=clock.now()
            )
            code = invite.code
        calls = await bot.text(LIAISON, f"/start {code}")  # no way back in through an invite
        assert "已被管理员停用" in sent_texts(calls)[0]
    async with transaction(sessions) as session:  # the d3 reminder: the admins only
        assert await reminders.dispatch_due(session, Clocked(local(2026, 3, 22, 9), TZ)) == 2
    liaison_rows = [row for row in await ledger_chats(sessions) if row[0] == LIAISON.id]
    assert liaison_rows == [(LIAISON.id, LedgerStatus.SKIPPED)]  # d7, queued before
    async with transaction(sessions) as session:
        assert (
            await broadcasts.count_audience(
                session, people.Scope(None), Audience("orgs", org_ids=[saihan])
            )
            == 2
        )  # the two admins of 赛罕区
        personal = (await session.exec(select(PersonalReminder))).one()
        assert personal.status == PersonalStatus.DELETED
    liaison = await load(sessions, LIAISON.id)
    assert (liaison.active, liaison.role, liaison.org_id) == (False, Role.LIAISON, saihan)
    assert await audit(sessions) == [(MemberAction.DEACTIVATED, CITY.id)]


async def test_reactivate_brings_the_menu_back(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        await open_card(bot, CITY, "李明")
        await bot.press(CITY, "停用")
        await bot.press(CITY, "确认")
        calls = await bot.press(CITY, "恢复")
        assert "确认恢复 李明" in sent_texts(calls)[0]
        calls = await bot.press(CITY, "确认")
        assert "✅ 已恢复 李明。" in sent_texts(calls)[0]
        said = told(calls, LIAISON)
        path = "内蒙古自治区科协 › 呼和浩特市科协 › 赛罕区科协"
        assert f"账号已恢复（{path}，科协联络员）" in said[0]
        assert "log" in menu(bot, LIAISON)
        assert "/log" in sent_texts(await bot.text(LIAISON, "/help"))[0]
    assert [a for a, _ in await audit(sessions)] == [
        MemberAction.DEACTIVATED,
        MemberAction.REACTIVATED,
    ]


async def test_role_change_and_move_tell_the_person_in_their_language(
    settings, clock, sessions, world
):
    async with running_bot(settings, clock) as bot:
        page = sent_texts(await bot.text(BAOTOU, "/members"))[0]
        assert page.startswith("<b>👥 People · 包头市科协</b> (all roles)\n2 in all · page 1/1")
        assert "2. <b>Zhou Yan</b> · liaison · 青山区科协\n    active · joined 2026-03-16" in page
        calls = await bot.press(BAOTOU, "Zhou Yan")
        assert "Org: 内蒙古自治区科协 › 包头市科协 › 青山区科协" in sent_texts(calls)[0]
        calls = await bot.press(BAOTOU, "Change role")
        assert "Change the role of Zhou Yan from liaison to:" in sent_texts(calls)[0]
        assert bot.button_texts(BAOTOU.id) == ["information officer", "admin", "‹ Back"]
        await bot.press(BAOTOU, "information officer")
        calls = await bot.press(BAOTOU, "Confirm")
        assert "✅ Zhou Yan is now information officer." in sent_texts(calls)[0]
        said = told(calls, QINGSHAN)
        assert said[0].startswith("An admin has made you information officer.")
        assert "pushed" in menu(bot, QINGSHAN)
        assert bot.api.my_commands({"type": "chat", "chat_id": QINGSHAN.id})[1] == {
            "command": "help",
            "description": "Help",
        }

        calls = await bot.press(BAOTOU, "Move to another org")
        assert "Move Zhou Yan to which org?" in sent_texts(calls)[0]
        await bot.text(BAOTOU, "包钢")
        calls = await bot.press(BAOTOU, "包钢集团科协")
        assert (
            "Move Zhou Yan from 内蒙古自治区科协 › 包头市科协 › 青山区科协 to"
            in (sent_texts(calls)[0])
        )
        calls = await bot.press(BAOTOU, "Confirm")
        assert (
            "✅ Zhou Yan is now in 内蒙古自治区科协 › 包头市科协 › 青山区科协 › 包钢集团科协."
            in (sent_texts(calls)[0])
        )
        said = told(calls, QINGSHAN)
        assert said[0].startswith("An admin has moved you to 内蒙古自治区科协")
        assert "包钢集团科协" in sent_texts(await bot.text(QINGSHAN, "/me"))[0]
    zhou = await load(sessions, QINGSHAN.id)
    assert (zhou.role, zhou.org_id) == (Role.INFO_OFFICER, world["包钢集团科协"].id)
    assert [a for a, _ in await audit(sessions)] == [MemberAction.ROLE_CHANGED, MemberAction.MOVED]


async def test_promotion_to_admin_gives_the_admin_menu(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        await open_card(bot, CITY, "李明")
        await bot.press(CITY, "更改角色")
        calls = await bot.press(CITY, "管理员")
        assert "确认把 李明 的角色从「科协联络员」改为「管理员」" in sent_texts(calls)[0]
        calls = await bot.press(CITY, "确认")
        said = told(calls, LIAISON)
        assert "管理员已把你的角色改为「管理员」" in said[0]
        assert "members" in menu(bot, LIAISON) and "broadcast" in menu(bot, LIAISON)
        page = sent_texts(await bot.text(LIAISON, "/members"))[0]
        assert "成员 · 赛罕区科协" in page


# --- refusals ----------------------------------------------------------------------------------


async def test_liaisons_groups_and_other_subtrees_are_refused(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        assert sent_texts(await bot.text(LIAISON, "/members")) == ["只有管理员可以管理成员。"]
        group = bot.factory.group()
        calls = await bot.feed(bot.factory.command(CITY, "/members", chat=group))
        # Like every form in a group: a note and a link that opens it in private.
        assert sent_texts(calls)[0].startswith("/members 涉及个人信息或需要填写表单")
        markup = calls[-1].params["reply_markup"]["inline_keyboard"]
        assert markup[0][0]["url"].endswith("?start=go_members")

        await bot.text(BAOTOU, "/members")  # a sibling subtree: 包头 cannot reach 赛罕区
        async with transaction(sessions) as session:
            liaison = await users_repo.get_user(session=session, telegram_id=LIAISON.id)
        token = fingerprint(liaison)
        stale = t("en", "members.stale")
        for data in (  # well-formed buttons of /members, beyond 包头's reach or out of date
            f"member:{liaison.id}:0..0",
            f"member-set:n:{liaison.id}:{token}:d:0..0",
            f"member-set:y:{liaison.id}:{token}:d:0..0",
            f"member-set:y:{liaison.id}:{token}:oa:0..0",
            f"members:{world['赛罕区科协'].id}::0",
            "invite-revoke:1:0",
            f"member:{liaison.id}:²..0",
            f"member-set:y:{liaison.id}:{token}:m²:0..0",
        ):
            calls = await forged(bot, BAOTOU, data)
            assert toasts(calls) == [stale], data
            assert not sent_texts(calls), data
        for data in (  # no button of the bot: the handlers never see them
            "members:zz",
            "members:x:q:0",
            "member-set:y:1:2",
            f"mb|p|{liaison.id}|0..0",  # the data of a button from before the typed families
            # Huge or odd numbers: they reached a query (SQLite OverflowError, PostgreSQL
            # out of range) or int() ("²" is a digit to isdigit()).
            f"member:{'9' * 30}:0..0",
            f"members:{'9' * 30}::0",
            f"invites:{'9' * 25}",
            f"invite-revoke:{'9' * 25}:0",
            f"member:{liaison.id}²:0..0",
        ):
            calls = await forged(bot, BAOTOU, data)
            assert toasts(calls) == [t("en", "button.stale")], data
            assert not sent_texts(calls), data
    liaison = await load(sessions, LIAISON.id)
    assert (liaison.active, liaison.role) == (True, Role.LIAISON)
    assert await audit(sessions) == []


async def test_admins_of_one_org_cannot_remove_each_other(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        calls = await open_card(bot, SAIHAN_ADMIN, "钱伟")
        assert "只能由上级管理员更改" in sent_texts(calls)[0]
        assert bot.button_texts(SAIHAN_ADMIN.id) == ["‹ 成员列表"]
        async with transaction(sessions) as session:
            peer = await users_repo.get_user(session=session, telegram_id=SAIHAN_PEER.id)
        data = f"member-set:y:{peer.id}:{fingerprint(peer)}:d:0..0"
        calls = await forged(bot, SAIHAN_ADMIN, data)
        assert toasts(calls) == [t("zh_CN", "members.stale")]
        # The city admin above them may.
        await open_card(bot, CITY, "钱伟")
        assert "⛔ 停用" in bot.button_texts(CITY.id)
    assert (await load(sessions, SAIHAN_PEER.id)).active


async def test_acting_on_oneself_warns_first(settings, clock, sessions, world):
    async with running_bot(settings, clock) as bot:
        await open_card(bot, SAIHAN_ADMIN, "赵敏")
        calls = await bot.press(SAIHAN_ADMIN, "更改角色")
        assert "管理员" not in bot.button_texts(SAIHAN_ADMIN.id)  # the role they have
        await bot.press(SAIHAN_ADMIN, "科协联络员")
        text = bot.last_text(SAIHAN_ADMIN.id)
        assert text.startswith("⚠️ 这是你自己的账号。改为其他角色后你会立即失去管理员权限")
        await bot.press(SAIHAN_ADMIN, "取消")
        calls = await bot.press(SAIHAN_ADMIN, "停用")
        assert "这是你自己的账号" in sent_texts(calls)[0]
        await bot.press(SAIHAN_ADMIN, "确认")
        assert "members" not in menu(bot, SAIHAN_ADMIN)
        calls = await bot.text(SAIHAN_ADMIN, "/members")
        assert sent_texts(calls) == ["只有管理员可以管理成员。"]
    assert not (await load(sessions, SAIHAN_ADMIN.id)).active


async def test_superadmins_see_everyone(settings, clock, world):
    admin = TgUser(id=settings.superadmin_ids[0], first_name="Root")
    async with running_bot(settings, clock) as bot:
        page = sent_texts(await bot.text(admin, "/members"))[0]
        assert "全部组织" in page and "共 18 人" in page
        page = sent_texts(await bot.press(admin, "下一页"))[0]
        assert "18. <b>Zhou Yan</b> · 科协联络员 · 青山区科协" in page  # 包头 (/1/3/) comes last


async def test_a_half_filled_form_is_kept_when_a_picker_button_is_pressed(settings, clock, world):
    async with running_bot(settings, clock) as bot:
        await bot.text(CITY, "/members")
        listing = bot.keyboard_message(CITY.id)
        await bot.text(CITY, "/log")
        await bot.press(CITY, "科普讲座")
        calls = await bot.press(CITY, "生成邀请链接", message=listing)
        assert "你还有一个表单没有填完" in sent_texts(calls)[0]
        assert "活动名称" in sent_texts(calls)[0]  # the /log form's next step, as it was


async def test_a_card_without_a_username_shows_no_dash(settings, clock, sessions, world):
    async with transaction(sessions) as session:
        li = await users_repo.get_user(session=session, telegram_id=LIAISON.id)
        li.username = "li_ming"
    async with running_bot(settings, clock) as bot:
        await bot.text(BAOTOU, "/members")
        card = sent_texts(await bot.press(BAOTOU, "Zhou Yan"))[0]
        assert card.startswith("<b>Zhou Yan</b>\nRole: liaison") and "—" not in card
        await bot.text(SAIHAN_ADMIN, "/members")
        card = sent_texts(await bot.press(SAIHAN_ADMIN, "李明"))[0]
        assert card.startswith("<b>李明</b>（@li_ming）\n角色：科协联络员")
