"""Onboarding through the real Application: invites, registration, access requests, guards."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from bot.common.i18n import normalize_locale, t
from bot.services import members, orgs, people
from offline.updates import TgUser
from storage import users_repo
from storage.db import transaction
from storage.models import Role
from tests.harness import running_bot, sent_texts, toasts

LI = TgUser(id=20001, first_name="小李", username="xiaoli")
WANG = TgUser(id=20002, first_name="Wang", language_code="en")
ADMIN = TgUser(id=20003, first_name="管理员")
OTHER_ADMIN = TgUser(id=20004, first_name="别的管理员")


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def make_invite(sessions, clock, org, role=Role.LIAISON, uses=1, ttl="7d") -> str:
    async with transaction(sessions) as session:
        invite = await people.create_invite(
            session,
            org_id=org.id,
            role=role,
            now=clock.now(),
            uses=uses,
            ttl=people.parse_duration(ttl),
        )
        return invite.code


async def load_user(sessions, telegram_id):
    async with transaction(sessions) as session:
        return await users_repo.get_user(session=session, telegram_id=telegram_id)


async def to_review(bot, user, code, name="李明"):
    """An invite opened, its org confirmed and the name given: the review is shown."""
    await bot.text(user, f"/start {code}")
    await bot.press(user, t(normalize_locale(user.language_code), "register.org_yes"))
    return await bot.text(user, name)


async def register(bot, user, code, name="李明"):
    await to_review(bot, user, code, name)
    return await bot.press(user, t(normalize_locale(user.language_code), "form.button.confirm"))


async def test_invite_registration_then_help_and_language(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, f"/start {code}")
        assert "呼和浩特市科协 › 赛罕区科协" in sent_texts(calls)[0]
        assert "科协联络员" in sent_texts(calls)[0]
        await bot.press(LI, "是，这是我的组织")
        assert "真实姓名" in bot.last_text(LI.id)
        await bot.text(LI, "李明")
        assert "李明" in bot.last_text(LI.id) and "请核对" in bot.last_text(LI.id)
        calls = await bot.press(LI, "确认提交")
        assert "注册成功" in sent_texts(calls)[0]
        menu = bot.api.my_commands({"type": "chat", "chat_id": LI.id})
        assert [c["command"] for c in menu][:2] == ["start", "help"]

        calls = await bot.text(LI, "/help")
        assert sent_texts(calls)[0].startswith("<b>联络员可用命令")
        await bot.text(LI, "/lang")
        calls = await bot.press(LI, "English")
        assert "Language set to English" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/help")
        assert sent_texts(calls)[0].startswith("<b>Commands for liaisons")
    user = await load_user(sessions, LI.id)
    assert (user.real_name, user.role, user.org_id, user.locale) == (
        "李明",
        Role.LIAISON,
        tree["赛罕区科协"].id,
        "en",
    )


async def test_default_commands_are_set_per_language(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        zh = bot.api.my_commands({"type": "default"})
        en = bot.api.my_commands({"type": "default"}, "en")
    assert zh[1] == {"command": "help", "description": "帮助"}
    assert en[1] == {"command": "help", "description": "Help"}


async def test_bad_invites_are_explained(settings, clock, sessions, tree):
    expired = await make_invite(sessions, clock, tree["青山区科协"], ttl="1h")
    single = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/start nosuchcode")
        assert "邀请码无效" in sent_texts(calls)[0]
        clock.advance(timedelta(hours=2))
        calls = await bot.text(LI, f"/start {expired}")
        assert "已过期" in sent_texts(calls)[0]
        await register(bot, WANG, single, name="Wang Wei")
        calls = await bot.text(LI, f"/start {single}")
        assert "使用次数已满" in sent_texts(calls)[0]
    assert (await load_user(sessions, LI.id)).role is None


async def test_invite_used_up_while_filling_is_refused_at_confirm(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await to_review(bot, LI, code)
        await register(bot, WANG, code, name="Wang Wei")
        calls = await bot.press(LI, "确认提交")
        assert sent_texts(calls) == [t("zh_CN", "invite.used_up_while_filling")]
    assert (await load_user(sessions, LI.id)).role is None


async def test_invite_withdrawn_while_filling_says_withdrawn_not_expired(
    settings, clock, sessions, tree
):
    code = await make_invite(sessions, clock, tree["青山区科协"], uses=5)
    async with running_bot(settings, clock) as bot:
        await to_review(bot, LI, code)
        async with transaction(sessions) as session:  # the admin's 撤销 in /members
            invite = await users_repo.get_invite(session=session, code=code)
            scope = people.Scope(await orgs.get_org(session, tree["青山区科协"].id))
            await members.revoke_invite(
                session, scope, actor_id=ADMIN.id, invite_id=invite.id, now=clock.now()
            )
        calls = await bot.press(LI, "确认提交")
        assert sent_texts(calls) == [t("zh_CN", "invite.withdrawn_while_filling")]
        assert "撤回" in sent_texts(calls)[0] and "过期" not in sent_texts(calls)[0]
    assert (await load_user(sessions, LI.id)).role is None


async def test_invite_expired_while_filling_says_expired(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"], ttl="1h")
    async with running_bot(settings, clock) as bot:
        await to_review(bot, WANG, code, "Wang Wei")
        clock.advance(timedelta(hours=2))
        calls = await bot.press(WANG, "Confirm")
        assert sent_texts(calls) == [t("en", "invite.expired_while_filling")]


@pytest.mark.parametrize(
    "bad_name",
    [" ", "名" * 200, "12345", "2月3日在赛罕区开展科普讲座，50人参加", "王芳13800001111"],
)
async def test_bad_names_repeat_the_step(settings, clock, sessions, tree, bad_name):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, f"/start {code}")
        await bot.press(LI, "是，这是我的组织")
        calls = await bot.text(LI, bad_name)
        text = sent_texts(calls)[0]
        assert (
            "姓名需为 2–40 个字" in text or "不像姓名" in text
        ) and "请输入你的真实姓名" in text
    assert (await load_user(sessions, LI.id)).real_name is None


async def test_old_button_and_command_inside_form(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, f"/start {code}")
        first = bot.keyboard_message(LI.id)
        await bot.press(LI, "是，这是我的组织")
        calls = await bot.press(LI, "是，这是我的组织", message=first)
        assert toasts(calls) == [t("zh_CN", "form.stale")]
        assert not sent_texts(calls)
        calls = await bot.text(LI, "/start")
        assert "还有一个表单没有填完" in sent_texts(calls)[0]
        assert "真实姓名" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/me")  # half-way: what is under way, and the step again
        assert sent_texts(calls)[0].startswith(t("zh_CN", "me.registering"))
        assert "真实姓名" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/cancel")  # an answer was given: asked first
        assert sent_texts(calls) == [t("zh_CN", "form.cancel_confirm")]
        calls = await bot.press(LI, t("zh_CN", "form.button.cancel_yes"))
        assert "已取消" in sent_texts(calls)[0]
        calls = await bot.text(LI, "/cancel")
        assert "没有进行中的操作" in sent_texts(calls)[0]


async def test_restart_in_the_middle_continues(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await to_review(bot, LI, code)
        summary = bot.keyboard_message(LI.id)
    async with running_bot(settings, clock, after=bot) as fresh:
        fresh.api.observe_update({"update_id": 0, "message": summary})
        calls = await fresh.press(LI, "确认提交", message=summary)
        assert "注册成功！李明" in sent_texts(calls)[0]


async def test_same_update_twice_is_handled_once(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        update = bot.factory.command(LI, "/start")
        first = await bot.feed(update)
        again = await bot.feed(update)
    assert sent_texts(first) and again == []


async def test_group_chat_gets_a_pointer_to_private_chat(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        calls = await bot.feed(bot.factory.command(LI, "/start", chat=group))
        assert "私聊" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.message(LI, "大家好", chat=group))
        assert calls == []


async def test_edited_message_inside_a_form(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, f"/start {code}")
        await bot.press(LI, "是，这是我的组织")
        original = bot.factory.message(LI, "李名")
        await bot.feed(original)
        calls = await bot.feed(bot.factory.edited_message(LI, original["message"], "李明"))
        assert "不会改变表单内容" in sent_texts(calls)[0]


async def test_access_request_approved_by_the_orgs_admin(settings, clock, sessions, tree):
    async with transaction(sessions) as session:
        await people.grant_admin(
            session, telegram_id=ADMIN.id, org_id=tree["包头市科协"].id, now=clock.now()
        )
        await people.grant_admin(
            session, telegram_id=OTHER_ADMIN.id, org_id=tree["呼和浩特市科协"].id, now=clock.now()
        )
    async with running_bot(settings, clock) as bot:
        for admin in (ADMIN, OTHER_ADMIN):
            bot.api.register_chat(admin.private_chat())
        await bot.text(WANG, "/start")
        await bot.press(WANG, "Request access")
        await bot.text(WANG, "Wang Wei")
        calls = await bot.text(WANG, "青山")
        assert "青山区科协" in bot.button_texts(WANG.id)
        await bot.press(WANG, "青山区科协")
        await bot.press(WANG, "information officer")
        calls = await bot.press(WANG, "Confirm")
        notices = [
            c for c in calls if c.method == "sendMessage" and c.params["chat_id"] == ADMIN.id
        ]
        assert len(notices) == 1 and "Wang Wei" in notices[0].params["text"]
        notice = bot.api.last_message(ADMIN.id)
        calls = await bot.press(OTHER_ADMIN, "同意", message=notice)
        assert toasts(calls) == [t("zh_CN", "access.not_your_org")]
        calls = await bot.press(ADMIN, "同意", message=notice)
        assert any("approved" in text for text in sent_texts(calls))
    user = await load_user(sessions, WANG.id)
    assert (user.role, user.org_id) == (Role.INFO_OFFICER, tree["青山区科协"].id)


@pytest.mark.parametrize("how", ["/start", "邀请码", "link"])
async def test_an_invite_takes_over_from_an_access_request_being_filled_in(
    settings, clock, sessions, tree, how
):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/start")
        await bot.press(LI, "申请开通")
        await bot.text(LI, "李明")  # the name given; the form goes on to the org
        said = {
            "/start": f"/start {code}",
            "邀请码": f"邀请码 {code}",
            "link": f"https://t.me/{settings.bot_username}?start={code}",
        }[how]
        calls = await bot.text(LI, said)
        shown = "\n".join(sent_texts(calls))
        assert "暂时不能用" not in shown
        assert t("zh_CN", "access.dropped_for_invite") in shown
        assert "青山区科协" in shown  # the invite's org, to confirm
        await bot.press(LI, t("zh_CN", "register.org_yes"))
        await bot.text(LI, "李明")
        await bot.press(LI, t("zh_CN", "form.button.confirm"))
    user = await load_user(sessions, LI.id)
    assert (user.role, user.org_id) == (Role.LIAISON, tree["青山区科协"].id)
    async with transaction(sessions) as session:
        assert await people.pending_request(session, LI.id) is None


async def test_a_bad_invite_leaves_the_access_request_form_open(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/start")
        await bot.press(LI, "申请开通")
        calls = await bot.text(LI, "/start abcdefghjk")
        shown = "\n".join(sent_texts(calls))
        assert "邀请码无效" in shown and "真实姓名" in shown  # the form goes on
        calls = await bot.text(LI, "/start")
        assert "暂时不能用" in "\n".join(sent_texts(calls))


async def test_an_unknown_command_is_answered_as_on_wecom(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        for typed in ("/foo", "/mylog 上周", "/task"):
            calls = await bot.text(LI, typed)
            head = typed.split()[0]
            assert sent_texts(calls) == [t("zh_CN", "command.unknown", command=head)]
        calls = await bot.text(WANG, "/foo")
        assert sent_texts(calls) == [t("en", "command.unknown", command="/foo")]
        await bot.text(LI, f"/start {code}")  # inside a form: told, the form stays
        calls = await bot.text(LI, "/mylog")
        assert sent_texts(calls) == [t("zh_CN", "command.unknown", command="/mylog")]
        calls = await bot.text(LI, "/log")  # a real command inside a form: the form again
        assert "暂时不能用" in "\n".join(sent_texts(calls))
        calls = await bot.text(LI, "/bindgroup")  # Telegram's own: its hint, not "no such"
        assert t("zh_CN", "command.unknown", command="/bindgroup") not in sent_texts(calls)


def _name_of(user: TgUser) -> str:
    """A distinct real name per test user (names carry no digits)."""
    i = user.id % 100
    return f"同事{'甲乙丙丁戊己庚辛壬癸'[i % 10]}{'子丑寅卯辰'[i // 10]}"


async def test_many_users_at_once_keep_the_database_consistent(settings, clock, sessions, tree):
    import asyncio

    code = await make_invite(sessions, clock, tree["青山区科协"], uses=30)
    users = [TgUser(id=40000 + i, first_name=f"用户{i}") for i in range(30)]
    async with running_bot(settings, clock) as bot:
        await asyncio.gather(*(bot.text(user, f"/start {code}") for user in users))
        await asyncio.gather(*(bot.press(user, "是，这是我的组织") for user in users))
        await asyncio.gather(*(bot.text(user, _name_of(user)) for user in users))
        results = await asyncio.gather(*(bot.press(user, "确认提交") for user in users))
    assert all("注册成功" in sent_texts(calls)[0] for calls in results)
    async with transaction(sessions) as session:
        invite = await users_repo.get_invite(session=session, code=code)
    assert invite.used == 30


async def test_old_update_ids_are_pruned_now_and_then(settings, clock, sessions, tree):
    from sqlmodel import select

    from bot.telegram.handlers.guards import KEEP_PROCESSED, PRUNE_EVERY
    from storage.inbox_models import InboxUpdate

    async with running_bot(settings, clock) as bot:
        await bot.feed(bot.factory.command(LI, "/me"))
        clock.advance(KEEP_PROCESSED + timedelta(minutes=1))
        bot.factory.skip_to(PRUNE_EVERY)  # a pruning round
        await bot.feed(bot.factory.command(LI, "/me"))
    async with transaction(sessions) as session:
        ids = (await session.exec(select(InboxUpdate.update_id))).all()
    assert ids == [PRUNE_EVERY]


async def test_editing_from_the_review_offers_a_way_back(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await to_review(bot, LI, code)
        await bot.press(LI, "修改姓名")
        assert bot.button_texts(LI.id) == ["« 返回核对", "取消"]  # not "« 上一步"
        calls = await bot.press(LI, "« 返回核对")
        assert "请核对注册信息" in sent_texts(calls)[0] and "李明" in sent_texts(calls)[0]


async def test_me_while_asking_to_join_says_the_request_is_not_sent_yet(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        await bot.text(WANG, "/start")
        await bot.press(WANG, t("en", "start.button.request"))
        calls = await bot.text(WANG, "/me")
        assert sent_texts(calls)[0].startswith(t("en", "me.requesting"))
        assert t("en", "form.button.cancel") in bot.button_texts(WANG.id)  # the step again


# --- /requests: the access requests waiting in an admin's subtree -----------------------------

THIRD = TgUser(id=20009, first_name="老赵")


async def ask_to_join(bot, user: TgUser, name: str, query: str, org: str) -> list:
    """A stranger's access request through the form (a liaison's, in Chinese)."""
    await bot.text(user, "/start")
    await bot.press(user, t(lang_of(user), "start.button.request"))
    await bot.text(user, name)
    await bot.text(user, query)
    await bot.press(user, org)
    await bot.press(user, t(lang_of(user), "role.liaison"))
    return await bot.press(user, t(lang_of(user), "form.button.confirm"))


def lang_of(user: TgUser) -> str:
    return normalize_locale(user.language_code)


async def test_requests_lists_the_subtrees_waiting_requests_with_their_buttons(
    settings, clock, sessions, tree
):
    async with transaction(sessions) as session:
        for admin, org in ((ADMIN, "包头市科协"), (OTHER_ADMIN, "呼和浩特市科协")):
            await people.grant_admin(
                session, telegram_id=admin.id, org_id=tree[org].id, now=clock.now()
            )
    async with running_bot(settings, clock) as bot:
        for admin in (ADMIN, OTHER_ADMIN):
            bot.api.register_chat(admin.private_chat())
        help_text = sent_texts(await bot.text(ADMIN, "/help"))[0]
        assert "/requests — 待审批的开通申请" in help_text
        assert sent_texts(await bot.text(ADMIN, "/requests")) == ["没有待审批的开通申请。"]
        await ask_to_join(bot, WANG, "Wang Wei", "青山", "青山区科协")
        clock.advance(timedelta(minutes=5))
        await ask_to_join(bot, LI, "李明", "青山", "青山区科协")
        await ask_to_join(bot, THIRD, "赵强", "赛罕", "赛罕区科协")

        listing = sent_texts(await bot.text(ADMIN, "/requests"))[0]
        assert "（共 2 条，先到先列）" in listing and "赛罕" not in listing
        path = "内蒙古自治区科协 › 包头市科协 › 青山区科协"
        assert f"1. <b>Wang Wei</b> · 科协联络员 · {path}" in listing
        assert "2. <b>李明</b>" in listing
        assert bot.button_texts(ADMIN.id) == ["✔ 同意 1", "✖ 拒绝 1", "✔ 同意 2", "✖ 拒绝 2"]
        other = sent_texts(await bot.text(OTHER_ADMIN, "/requests"))[0]
        assert "赵强" in other and "李明" not in other  # each admin their own subtree

        calls = await bot.press(ADMIN, "✖ 拒绝 2")
        assert sent_texts(calls)[0].startswith("确定拒绝 <b>李明</b>")  # asked first
        calls = await bot.press(ADMIN, "拒绝，不写理由")
        outcome, *rest = sent_texts(calls)[0].split("\n")
        assert outcome == "已拒绝 李明 的申请。" and "（共 1 条" in rest[0]
        assert "李明" not in "\n".join(rest)
        assert bot.button_texts(ADMIN.id) == ["✔ 同意 1", "✖ 拒绝 1"]
        assert any(c.params.get("chat_id") == LI.id for c in calls)  # the applicant is told
        listed = bot.keyboard_message(ADMIN.id)  # another subtree's admin presses it: refused
        calls = await bot.press(OTHER_ADMIN, "✔ 同意 1", message=listed)
        assert toasts(calls) == [t("zh_CN", "access.not_your_org")]

        # The notice of a request leads to the same list.
        notice = next(
            m for m in bot.api.sent_messages(OTHER_ADMIN.id) if "赵强" in (m.get("text") or "")
        )
        calls = await bot.press(OTHER_ADMIN, "全部待审批", message=notice)
        assert "1. <b>赵强</b>" in sent_texts(calls)[0]
        calls = await bot.press(OTHER_ADMIN, "✔ 同意 1")
        assert sent_texts(calls)[0] == "已同意 赵强 的申请。\n没有待审批的开通申请。"
        liaison = sent_texts(await bot.text(THIRD, "/requests"))
        assert liaison == [t("zh_CN", "access.requests_admins_only")]
    assert (await load_user(sessions, THIRD.id)).org_id == tree["赛罕区科协"].id
    assert (await load_user(sessions, LI.id)).role is None


async def grant_two_admins(sessions, clock, tree) -> None:
    """ADMIN decides for 包头市科协's subtree, OTHER_ADMIN for 呼和浩特市科协's."""
    async with transaction(sessions) as session:
        for admin, org in ((ADMIN, "包头市科协"), (OTHER_ADMIN, "呼和浩特市科协")):
            await people.grant_admin(
                session, telegram_id=admin.id, org_id=tree[org].id, now=clock.now()
            )


def told_to(calls: list, user: TgUser) -> str:
    """The text the bot sent to ``user`` in these calls (a notice about them)."""
    texts = [c.params["text"] for c in calls if c.params.get("chat_id") == user.id]
    assert len(texts) == 1, texts
    return texts[0]


async def test_rejecting_asks_first_and_the_reason_reaches_the_applicant(
    settings, clock, sessions, tree
):
    await grant_two_admins(sessions, clock, tree)
    async with running_bot(settings, clock) as bot:
        for admin in (ADMIN, OTHER_ADMIN):
            bot.api.register_chat(admin.private_chat())
        await ask_to_join(bot, LI, "李明", "青山", "青山区科协")
        notice = bot.keyboard_message(ADMIN.id)
        # Another subtree's admin pressing reject on it is refused before anything is asked.
        calls = await bot.press(OTHER_ADMIN, "拒绝", message=notice)
        assert toasts(calls) == [t("zh_CN", "access.not_your_org")] and not sent_texts(calls)

        await bot.text(ADMIN, "/requests")
        calls = await bot.press(ADMIN, "✖ 拒绝 1")
        assert sent_texts(calls) == [
            "确定拒绝 <b>李明</b>（科协联络员 · 青山区科协）的开通申请吗？\n"
            "如要告诉申请人原因，请直接发送理由（不超过 200 字，申请人会看到）；"
            "不写理由请点“✖ 拒绝，不写理由”。"
        ]
        assert calls[-1].method == "editMessageText"  # in place of the list
        assert bot.button_texts(ADMIN.id) == ["✖ 拒绝，不写理由", "取消"]
        calls = await bot.press(ADMIN, "取消")  # nothing decided: the list again
        shown = sent_texts(calls)[0]
        assert shown.startswith("没有拒绝：李明 的申请仍在等待审批。\n")
        assert "1. <b>李明</b>" in shown
        assert not any(c.params.get("chat_id") == LI.id for c in calls)  # nobody told

        await bot.press(ADMIN, "✖ 拒绝 1")
        calls = await bot.text(ADMIN, "请用单位名称重新申请，青山区科协已有联络员。")
        summary = sent_texts(calls)[0]
        assert "申请人：李明（科协联络员 · 青山区科协）" in summary
        assert "拒绝理由：请用单位名称重新申请，青山区科协已有联络员。" in summary
        assert "✖ 确认拒绝" in bot.button_texts(ADMIN.id)
        calls = await bot.press(ADMIN, "✖ 确认拒绝")
        assert sent_texts(calls)[0] == (
            "已拒绝 李明 的申请。\n"
            "已告知申请人理由：请用单位名称重新申请，青山区科协已有联络员。\n"
            "没有待审批的开通申请。"
        )
        declined = (
            "很抱歉，你申请以科协联络员身份加入 青山区科协 的开通申请未通过。\n"
            "管理员说明的理由：请用单位名称重新申请，青山区科协已有联络员。\n"
            + t("zh_CN", "access.how_to_reapply")
        )
        assert told_to(calls, LI) == declined

        # What the applicant sees afterwards: /me, any message, /start.
        me = sent_texts(await bot.text(LI, "/me"))[0]
        assert me.startswith("你的开通申请未通过，暂未注册。\n姓名：李明\n")
        assert "审核时间：" in me and "管理员说明的理由：请用单位名称" in me
        assert me.endswith(t("zh_CN", "access.how_to_reapply"))
        for text in ("你好", "什么时候能用"):  # not a passage of the documents either
            assert sent_texts(await bot.text(LI, text)) == [declined]
        start = sent_texts(await bot.text(LI, "/start"))[0]
        assert "未通过" in start and "管理员说明的理由" in start
        assert bot.button_texts(LI.id) == [t("zh_CN", "start.button.request")]
        calls = await bot.press(LI, t("zh_CN", "start.button.request"))  # asking again works
        assert sent_texts(calls)[0].startswith(t("zh_CN", "access.intro"))


async def test_a_rejection_without_a_reason_in_english(settings, clock, sessions, tree):
    await grant_two_admins(sessions, clock, tree)
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(ADMIN.private_chat())
        await bot.text(WANG, "/start")
        await bot.press(WANG, "Request access")
        await bot.text(WANG, "Wang Wei")
        await bot.text(WANG, "青山")
        await bot.press(WANG, "青山区科协")
        await bot.press(WANG, "liaison")
        await bot.press(WANG, "Confirm")
        notice = copy.deepcopy(bot.keyboard_message(ADMIN.id))  # before it is edited
        await bot.press(ADMIN, "拒绝", message=notice)
        calls = await bot.press(ADMIN, "拒绝，不写理由")
        assert sent_texts(calls)[0] == "已拒绝 Wang Wei 的申请。"
        assert told_to(calls, WANG) == (
            "Sorry, your request to join 青山区科协 as liaison was not approved.\n"
            + t("en", "access.how_to_reapply")
        )
        assert "was not approved" in sent_texts(await bot.text(WANG, "hello"))[0]
        calls = await bot.press(ADMIN, "拒绝", message=notice)  # pressed again: decided
        assert toasts(calls) == [t("zh_CN", "access.already_decided")]


async def test_an_applicant_waiting_is_told_whom_it_waits_for_and_what_to_do(
    settings, clock, sessions, tree
):
    await grant_two_admins(sessions, clock, tree)
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(OTHER_ADMIN.private_chat())
        await ask_to_join(bot, THIRD, "赵强", "赛罕", "赛罕区科协")
        waiting = (
            "你申请以科协联络员身份加入 赛罕区科协 的开通申请正在等待审核。\n"
            f"审核人：呼和浩特市科协的管理员（{OTHER_ADMIN.id}）\n"
            "审核后我会在这里通知你。\n" + t("zh_CN", "access.meanwhile")
        )
        for text in ("你好", "什么时候能用", "今天在社区开展了科普讲座"):
            assert sent_texts(await bot.text(THIRD, text)) == [waiting]
        calls = await bot.feed(bot.factory.photo(THIRD, b"a photo of the lecture"))
        assert sent_texts(calls) == [waiting]
        assert sent_texts(await bot.text(THIRD, "/start"))[0].endswith(waiting)
        assert "/me" in waiting and "/help" in waiting


@pytest.mark.parametrize(
    ("typed", "offered"),
    [
        ("呼市", ["呼和浩特市科协"]),  # the city's common short name
        ("土左旗", ["土默特左旗科协"]),  # shortened as people shorten names
        ("内大", ["内蒙古大学科协"]),
        ("呼和浩特市科学技术协会", ["呼和浩特市科协"]),  # 科协 written out in full
        ("赛罕", ["赛罕区科协"]),
    ],
)
async def test_the_org_search_reads_short_names(settings, clock, tree, typed, offered):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/start")
        await bot.press(LI, t("zh_CN", "start.button.request"))
        calls = await bot.text(LI, "李明")
        # The example is a name of the tree (the demo's first county), not a fixed one.
        assert "（如“赛罕区”）" in sent_texts(calls)[0]
        calls = await bot.text(LI, typed)
        assert sent_texts(calls)[0].startswith("找到以下组织，请选择：")
        assert bot.button_texts(LI.id)[: len(offered)] == offered


async def test_a_district_without_an_org_leads_to_its_citys(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/start")
        await bot.press(LI, t("zh_CN", "start.button.request"))
        await bot.text(LI, "李明")
        calls = await bot.text(LI, "玉泉区")
        assert sent_texts(calls)[0].startswith(
            "没有名为“玉泉区”的组织；玉泉区属于呼和浩特市，下面是呼和浩特市的组织，请选择："
        )
        assert bot.button_texts(LI.id)[0] == "呼和浩特市科协"
        calls = await bot.text(LI, "火星区")  # nowhere: said so, the step stays
        assert sent_texts(calls)[0].startswith("没有找到包含 “火星区” 的组织")
