"""Work groups through the real Application, with group and supergroup Update JSON: binding,
/ask, /tasks, forms pointed to the private chat by deep links, and notices with 已阅 counts."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.common import deeplinks
from bot.common.i18n import normalize_locale, t
from bot.runtime import runtime_of
from bot.services import people
from bot.services import tasks as task_service
from offline.updates import TgUser
from storage import groups_repo, users_repo
from storage.db import transaction
from storage.group_models import GroupChat
from storage.models import ConversationState, Role
from tests import test_ask_tasks
from tests.conftest import SUPERADMIN_ID
from tests.harness import BotHarness, demo_tree, running_bot, sent_texts, toasts
from tests.test_tasks_bot import ADMIN as TASK_ADMIN
from tests.test_tasks_bot import local, new_county_task

TZ = ZoneInfo("Asia/Shanghai")
BOT = "stabot_test_bot"
ADMIN = TgUser(id=60001, first_name="呼市管理员")
SAIHAN = TgUser(id=60002, first_name="赛罕联络员")
TUMOTE = TgUser(id=60003, first_name="土左联络员")
BAOTOU = TgUser(id=60004, first_name="包头管理员")
STRANGER = TgUser(id=60005, first_name="路人")
EN_ADMIN = TgUser(id=60006, first_name="Admin", language_code="en")
EN_MEMBER = TgUser(id=60007, first_name="Member", language_code="en")
SECRET = "本单位内部材料甲乙丙"  # a report's words that must never reach a group


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        members = (
            (ADMIN, "呼和浩特市科协", Role.ADMIN),
            (TASK_ADMIN, "呼和浩特市科协", Role.ADMIN),
            (SAIHAN, "赛罕区科协", Role.LIAISON),
            (TUMOTE, "土默特左旗科协", Role.LIAISON),
            (BAOTOU, "包头市科协", Role.ADMIN),
            (EN_ADMIN, "呼和浩特市科协", Role.ADMIN),
            (EN_MEMBER, "赛罕区科协", Role.INFO_OFFICER),
        )
        return await demo_tree(session, members, clock.now())


async def publish(sessions, clock, tree, admin: TgUser, title: str, *targets: str) -> int:
    """A one-off task of ``admin``'s subtree, due 2026-03-30 18:00; returns its cycle id."""
    async with transaction(sessions) as session:
        actor = await users_repo.get_user(session=session, telegram_id=admin.id)
        scope = await people.admin_scope(session, actor, False)
        draft = task_service.TaskDraft(
            title=title,
            deadline=local(2026, 3, 30, 18, 0),
            org_ids=[tree[name].id for name in targets],
        )
        task = await task_service.publish_task(
            session, draft, actor=actor, scope=scope, now=clock.now(), tz=TZ
        )
        cycles = await task_service.open_cycles(session, clock.now())
        return next(c.id for c in cycles if c.task_id == task.id)


async def submit(sessions, clock, member: TgUser, cycle_id: int) -> None:
    async with transaction(sessions) as session:
        user = await users_repo.get_user(session=session, telegram_id=member.id)
        await task_service.submit_report(
            session,
            cycle_id=cycle_id,
            user=user,
            sections={"工作抓手": SECRET},
            indicators={},
            attachments=[],
            now=clock.now(),
        )


async def open_forms(sessions, chat_id: int) -> list[ConversationState]:
    async with transaction(sessions) as session:
        query = select(ConversationState).where(ConversationState.chat_id == chat_id)
        return list((await session.exec(query)).all())


async def bind(bot: BotHarness, group: dict, admin: TgUser, org: str) -> None:
    await bot.feed(bot.factory.command(admin, "bindgroup", None, group, mention=True))
    calls = await bot.press(admin, org, message=bot.keyboard_message(group["id"]))
    locale = normalize_locale(admin.language_code, "zh_CN")
    assert toasts(calls) == [t(locale, "group.bound_toast")]  # in the admin's language


def group_texts(bot: BotHarness, group: dict) -> str:
    """Everything the bot shows in a group: texts and button labels, edits applied."""
    parts = []
    for message in bot.api.sent_messages(group["id"]):
        parts.append(message.get("text") or message.get("caption") or "")
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            parts += [button["text"] for button in row]
    return "\n".join(parts)


def url_buttons(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["url"] for row in rows for button in row if "url" in button]


def start_payload(url: str) -> str:
    parts = urlsplit(url)
    assert parts.netloc == "t.me" and parts.path == f"/{BOT}", url
    (payload,) = parse_qs(parts.query)["start"]
    assert len(payload) <= 64 and payload.replace("_", "").replace("-", "").isalnum()
    return payload


def forged_press(bot: BotHarness, user: TgUser, data: str, message: dict) -> dict:
    """A callback with ``data`` under ``message``, as a modified client could send it."""
    forged = copy.deepcopy(message)
    forged["reply_markup"] = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
    return bot.factory.callback(user, data, forged)


# --- membership and binding ----------------------------------------------------------------


async def test_added_by_an_admin_the_bot_says_how_to_bind(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("呼市科协工作群")
        calls = await bot.feed(bot.factory.bot_added(ADMIN, group))
        assert "/bindgroup" in sent_texts(calls)[0] and "管理员请发送" in sent_texts(calls)[0]
        other = bot.factory.group("另一个群", supergroup=True)
        calls = await bot.feed(bot.factory.bot_added(STRANGER, other))
        assert "还没有绑定组织" in sent_texts(calls)[0]
        members = bot.api.my_commands({"type": "all_group_chats"})
        admins = bot.api.my_commands({"type": "all_chat_administrators"}, "en")
        assert [c["command"] for c in members] == ["ask", "tasks", "docs", "help"]
        assert admins[-1] == {
            "command": "bindgroup",
            "description": "Link this group to an organisation (admins)",
        }


async def test_removed_bot_keeps_the_binding_inactive_and_finds_it_again(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("赛罕区工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        await bind(bot, group, ADMIN, "赛罕区科协")
        assert await bot.feed(bot.factory.bot_removed(ADMIN, group)) == []
        async with transaction(sessions) as session:
            row = await groups_repo.get_group(session=session, chat_id=group["id"])
            assert row.active is False and row.org_id == tree["赛罕区科协"].id
        calls = await bot.feed(bot.factory.bot_added(SAIHAN, group))
        assert "本群已绑定：<b>赛罕区科协</b>" in sent_texts(calls)[0]


async def test_bindgroup_offers_the_admins_subtree_and_checks_every_press(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("呼市科协工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        calls = await bot.feed(bot.factory.command(SAIHAN, "bindgroup", None, group))
        assert "只有管理员" in sent_texts(calls)[0]
        await bot.feed(bot.factory.command(ADMIN, "bindgroup", None, group, mention=True))
        offered = bot.button_texts(group["id"])
        assert offered[0] == "呼和浩特市科协" and "赛罕区科协" in offered
        assert "包头市科协" not in offered and "青山区科协" not in offered
        picker = bot.keyboard_message(group["id"])
        calls = await bot.press(SAIHAN, "赛罕区科协", message=picker)  # not an admin
        assert "只有管理员" in toasts(calls)[0] and not sent_texts(calls)
        baotou_id = tree["包头市科协"].id
        calls = await bot.feed(forged_press(bot, ADMIN, f"group-bind:{baotou_id}", picker))
        assert "只能绑定到你所辖的组织" in toasts(calls)[0]
        calls = await bot.press(ADMIN, "呼和浩特市科协", message=picker)
        assert "本群已绑定到 <b>呼和浩特市科协</b>" in sent_texts(calls)[0]
        # An admin of another city may neither take the group over nor unbind it.
        calls = await bot.feed(bot.factory.command(BAOTOU, "bindgroup", None, group))
        assert "本群已绑定到呼和浩特市科协" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.command(BAOTOU, "unbindgroup", None, group))
        assert "只有该组织或其上级的管理员" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.command(ADMIN, "bindgroup", "伊利", group))
        assert bot.button_texts(group["id"]) == ["伊利集团科协"]
        calls = await bot.feed(bot.factory.command(ADMIN, "unbindgroup", None, group))
        assert "已解除与呼和浩特市科协的绑定" in sent_texts(calls)[0]
        bot.api.register_chat(ADMIN.private_chat())
        calls = await bot.text(ADMIN, "/bindgroup")
        assert "在群里发送 /bindgroup" in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        row = await groups_repo.get_group(session=session, chat_id=group["id"])
        assert row.org_id is None


async def test_a_group_upgraded_to_a_supergroup_keeps_its_binding(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("赛罕区工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        await bind(bot, group, ADMIN, "赛罕区科协")
        update, supergroup = bot.factory.upgrade_to_supergroup(ADMIN, group)
        assert await bot.feed(update) == []
        calls = await bot.feed(bot.factory.command(SAIHAN, "help", None, supergroup))
        assert "本群已绑定：<b>赛罕区科协</b>" in sent_texts(calls)[0]


# --- /tasks --------------------------------------------------------------------------------


async def test_tasks_in_an_unbound_group_say_how_to_bind(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        calls = await bot.feed(bot.factory.command(SAIHAN, "tasks", None, group))
        assert "/bindgroup" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.command(EN_MEMBER, "tasks", None, group))
        assert "An admin can link it with /bindgroup" in sent_texts(calls)[0]


async def test_tasks_in_a_bound_group_count_orgs_of_its_subtree_only(
    settings, clock, sessions, tree
):
    counties = await publish(
        sessions, clock, tree, ADMIN, "一季度科普工作落实情况", "赛罕区科协", "土默特左旗科协"
    )
    await publish(sessions, clock, tree, BAOTOU, "包头市专项统计", "青山区科协")
    await submit(sessions, clock, SAIHAN, counties)
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("呼市科协工作群", supergroup=True)
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        await bind(bot, group, ADMIN, "呼和浩特市科协")
        calls = await bot.feed(bot.factory.command(TUMOTE, "tasks", None, group, mention=True))
        (text,) = sent_texts(calls)
        assert "呼和浩特市科协的报送任务" in text
        assert "一季度科普工作落实情况｜截止 2026-03-30 18:00｜还剩 14 天" in text
        assert "已交 1，逾期交 0，未交 1" in text
        assert "包头市专项统计" not in text
        (sent,) = [c for c in calls if c.method == "sendMessage"]
        assert sent.params["reply_parameters"]["message_id"] > 0  # answers the /tasks message
        (link,) = url_buttons(bot.api.last_message(group["id"]))
        assert start_payload(link) == f"go_fill_{counties}"

        # The county group sees its own org only.
        county = bot.factory.group("土左旗工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, county))
        await bind(bot, county, ADMIN, "土默特左旗科协")
        calls = await bot.feed(bot.factory.command(EN_MEMBER, "tasks", None, county))
        assert "submitted 0, late 0, missing 1" in sent_texts(calls)[0]

        # The 填报 link opens the report form in the private chat of whoever presses it.
        bot.api.register_chat(TUMOTE.private_chat())
        calls = await bot.text(TUMOTE, f"/start go_fill_{counties}")
        assert "一季度科普工作落实情况" in "".join(sent_texts(calls))
        assert [f.flow for f in await open_forms(sessions, TUMOTE.id)] == ["task_report"]
        assert SECRET not in group_texts(bot, group) + group_texts(bot, county)


@pytest.mark.parametrize("night", [False, True])
async def test_a_new_task_is_announced_in_the_groups_it_asks(
    settings, clock, sessions, tree, night
):
    if night:
        clock.set(local(2026, 3, 16, 23, 0))
    async with running_bot(settings, clock) as bot:
        hohhot, baotou = bot.factory.group("呼市科协工作群"), bot.factory.group("包头群")
        await bind(bot, hohhot, ADMIN, "呼和浩特市科协")
        await bind(bot, baotou, BAOTOU, "包头市科协")
        for user in (TASK_ADMIN, SAIHAN, TUMOTE):
            bot.api.register_chat(user.private_chat())
        calls = await new_county_task(bot)
        published = "".join(sent_texts(calls))
        announced = [m for m in bot.api.sent_messages(hohhot["id"]) if "报送任务：" in m["text"]]
        if night:  # groups are not woken up; their /tasks lists it
            assert not announced and "工作群" not in published
            return
        assert "已同时发到 1 个工作群" in published
        (message,) = announced
        assert "2026年一季度科普工作落实情况" in message["text"]
        (link,) = url_buttons(message)
        cycle = int(start_payload(link).rsplit("_", 1)[1])
        assert start_payload(link) == f"go_fill_{cycle}"
        assert "2026年一季度" not in group_texts(bot, baotou)
        calls = await bot.text(SAIHAN, f"/start {start_payload(link)}")
        assert [f.flow for f in await open_forms(sessions, SAIHAN.id)] == ["task_report"]


async def test_a_fill_button_pressed_in_a_group_opens_the_private_chat(
    settings, clock, sessions, tree
):
    cycle = await publish(sessions, clock, tree, ADMIN, "月报", "赛罕区科协")
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        await bot.feed(bot.factory.command(SAIHAN, "help", None, group))
        notice = bot.api.last_message(group["id"])
        calls = await bot.feed(forged_press(bot, SAIHAN, f"task:fill:{cycle}", notice))
        (answer,) = [c for c in calls if c.method == "answerCallbackQuery"]
        assert start_payload(answer.params["url"]) == f"go_fill_{cycle}"
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert await open_forms(sessions, group["id"]) == []


# --- forms and personal commands -----------------------------------------------------------

REDIRECTED = [
    "log",
    "mylogs",
    "pushed",
    "newtask",
    "broadcast",
    "remind",
    "stats",
    "export",
    "me",
    "lang",
    "cancel",
    "members",
]


@pytest.mark.parametrize("command", REDIRECTED)
async def test_forms_in_a_group_open_in_private_through_a_deep_link(
    settings, clock, sessions, tree, command
):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("呼市科协工作群", supergroup=True)
        bot.api.register_chat(ADMIN.private_chat())
        calls = await bot.feed(bot.factory.command(ADMIN, command, None, group, mention=True))
        assert [c.method for c in calls] == ["sendMessage"]
        assert f"/{command} 涉及个人信息" in sent_texts(calls)[0]
        (link,) = url_buttons(bot.api.last_message(group["id"]))
        payload = start_payload(link)
        assert await open_forms(sessions, group["id"]) == []

        # /start <payload> in private does what the command does there.
        opened = sent_texts(await bot.text(ADMIN, f"/start {payload}"))
        await bot.text(ADMIN, "/cancel")
        typed = sent_texts(await bot.text(ADMIN, f"/{command}"))
        assert opened and opened == typed


async def test_english_members_get_the_pointer_in_english(settings, clock, tree):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group("Work group")
        calls = await bot.feed(bot.factory.command(EN_MEMBER, "log", None, group))
        assert "/log is personal or a form" in sent_texts(calls)[0]
        assert bot.button_texts(group["id"]) == ["🔒 Open private chat"]
        (link,) = url_buttons(bot.api.last_message(group["id"]))
        assert start_payload(link) == "go_log"


async def test_payloads_and_invite_codes_never_collide(settings, clock, sessions, tree):
    async with transaction(sessions) as session:
        invite = await people.create_invite(
            session, org_id=tree["赛罕区科协"].id, role=Role.LIAISON, now=clock.now()
        )
    assert deeplinks.parse(invite.code) is None
    assert deeplinks.parse(deeplinks.payload("fill", 12)) == ("fill", "12")
    assert deeplinks.parse("go_log") == ("log", "")
    newcomer = TgUser(id=60100, first_name="新人")
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(newcomer, f"/start {invite.code}")
        assert "赛罕区科协" in "".join(sent_texts(calls))  # the invite's registration form
        calls = await bot.text(STRANGER, "/start go_nosuchthing")
        assert "邀请" in "".join(sent_texts(calls))  # unknown payload: read as a bad invite


async def test_buttons_of_private_chats_do_nothing_in_a_group(settings, clock, sessions, tree):
    cycle = await publish(sessions, clock, tree, ADMIN, "月报", "赛罕区科协")
    await submit(sessions, clock, SAIHAN, cycle)
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        await bot.feed(bot.factory.command(ADMIN, "help", None, group))
        message = bot.api.last_message(group["id"])
        sub = f"task:submission:{cycle}:{tree['赛罕区科协'].id}"
        for data in (f"task:board:{cycle}", sub, "logs:mine:0", "notice:1:who", "form:abcd0:back"):
            calls = await bot.feed(forged_press(bot, ADMIN, data, message))
            assert toasts(calls) == ["请在与我的私聊中操作。"]
            assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert SECRET not in group_texts(bot, group)



async def test_forged_group_buttons_do_nothing(settings, clock, sessions, tree):
    # ask|x failed to unpack; huge or odd ids (²) reached int() and the database.
    # (bcg| and grp| are the data of buttons from before the typed families.)
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        await bot.feed(bot.factory.command(ADMIN, "help", None, group))
        message = bot.api.last_message(group["id"])
        huge = "9" * 40
        for data in ("ask-more:x", "ask-section:", f"ask-more:{huge}", f"group-read:{huge}",
                     "group-read:²", f"group-bind:{huge}", "group-bind:²", f"task:fill:{huge}",
                     f"bcg|{huge}", "bcg|²", "grp|b|1", "ask|x"):
            calls = await bot.feed(forged_press(bot, ADMIN, data, message))
            assert toasts(calls) == ["请在与我的私聊中操作。"], data
            assert [c.method for c in calls] == ["answerCallbackQuery"], data

# --- questions -----------------------------------------------------------------------------


async def test_ask_in_a_group_answers_for_everyone(kb_settings, clock, sessions, tree):
    async with running_bot(kb_settings, clock) as bot:
        group = bot.factory.group("呼市科协工作群")
        question = "企业科技人员多少人要单独成立科协？"
        calls = await bot.feed(bot.factory.command(SAIHAN, "ask", question, group, mention=True))
        text = sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")
        assert "30人以上（含30人）" in text
        answer = bot.keyboard_message(group["id"])
        assert answer["reply_to_message"]["from"]["id"] == SAIHAN.id
        # Anyone in the group may press the answer's buttons.
        calls = await bot.press(TUMOTE, "更多来源", message=answer)
        assert "的其他相关内容" in sent_texts(calls)[0]
        calls = await bot.press(STRANGER, "查看全文", message=answer)
        assert sent_texts(calls)

        # A question asked in private stays there: its id pressed in the group shows nothing.
        await bot.text(SAIHAN, "/ask 科普e站的建设标准是什么？")
        private = bot.keyboard_message(SAIHAN.id)
        more = private["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        assert more.startswith("ask-more:")
        calls = await bot.feed(forged_press(bot, SAIHAN, more, answer))
        assert toasts(calls) and not sent_texts(calls)

        calls = await bot.feed(bot.factory.command(SAIHAN, "ask", None, group))
        assert "请在 /ask 后面写上问题" in sent_texts(calls)[0]


async def test_an_answer_in_a_group_names_nobodys_task(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        await test_ask_tasks.publish_with_the_notice(bot)  # a task of 赛罕区科协, among others
        group = bot.factory.group()
        question = test_ask_tasks.QUESTION
        calls = await bot.feed(bot.factory.command(SAIHAN, "ask", question, group))
        text = sent_texts(calls)[0]
        assert "12月9日" in text and "2026年一季度" not in text
        # The note on the old date is the document's, for everyone; no org's tasks are.
        assert text.endswith(test_ask_tasks.PASSED)
        assert bot.button_texts(group["id"]) == ["更多来源", "查看全文"]
        bot.api.register_chat(SAIHAN.private_chat())
        calls = await bot.text(SAIHAN, f"/ask {question}")
        assert test_ask_tasks.HINT in sent_texts(calls)[0]  # in private, the asker's own task


async def test_ask_in_a_supergroup_in_english(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        group = bot.factory.group("Work group", supergroup=True)
        calls = await bot.feed(
            bot.factory.command(EN_MEMBER, "ask", "企业科技人员多少人要单独成立科协？", group)
        )
        assert "30人以上" in sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")
        assert bot.button_texts(group["id"]) == ["More sources", "Full section"]
        calls = await bot.feed(bot.factory.command(EN_MEMBER, "docs", None, group))
        assert "reply_markup" not in bot.api.last_message(group["id"])


async def test_free_text_is_left_alone_with_privacy_mode_on(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock) as bot:
        group = bot.factory.group()
        plain = bot.factory.message(SAIHAN, "科普e站的建设标准是什么？", group)
        assert await bot.feed(plain) == []
        mention = bot.factory.message(
            SAIHAN,
            f"@{BOT} 科普e站的建设标准是什么？",
            group,
            entities=[{"type": "mention", "offset": 0, "length": len(BOT) + 1}],
        )
        assert await bot.feed(mention) == []  # privacy mode: Telegram does not deliver it
        await bot.feed(bot.factory.command(SAIHAN, "help", None, group))
        ours = bot.api.last_message(group["id"])
        calls = await bot.feed(
            bot.factory.message(TUMOTE, "企业科技人员多少人要单独成立科协？", group, reply_to=ours)
        )
        assert "30人以上" in sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")
        calls = await bot.feed(bot.factory.message(TUMOTE, "收到", group, reply_to=ours))
        assert calls == []


async def test_free_text_with_privacy_mode_off_answers_mentions_only(kb_settings, clock, tree):
    async with running_bot(kb_settings, clock, group_privacy=False) as bot:
        group = bot.factory.group()
        calls = await bot.feed(bot.factory.message(SAIHAN, "科普e站的建设标准是什么？", group))
        assert calls == []  # delivered, and left alone: groups are busy
        mention = bot.factory.message(
            SAIHAN,
            f"请问 @{BOT} 企业科技人员多少人要单独成立科协？",
            group,
            entities=[{"type": "mention", "offset": 3, "length": len(BOT) + 1}],
        )
        calls = await bot.feed(mention)
        assert "30人以上" in sent_texts(calls)[0].replace("<b>", "").replace("</b>", "")
        other_bot = bot.factory.message(
            SAIHAN,
            "@other_bot 企业科技人员多少人要单独成立科协？",
            group,
            entities=[{"type": "mention", "offset": 0, "length": 10}],
        )
        assert await bot.feed(other_bot) == []
        calls = await bot.feed(bot.factory.command(SAIHAN, "/ask@other_bot", "问题", group))
        assert calls == []


# --- notices -------------------------------------------------------------------------------


class HeldSleep:
    """Sleeps until the test lets time pass, then moves the frozen clock that far."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.calls: list[float] = []
        self.passed = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await self.passed.wait()
        self.clock.advance(timedelta(seconds=seconds))


def count_edits(bot: BotHarness, group: dict) -> list:
    return [
        c for c in bot.api.calls_to("editMessageReplyMarkup") if c.params["chat_id"] == group["id"]
    ]


async def post_notice(bot: BotHarness, clock, admin: TgUser, group_label: str) -> None:
    """/broadcast to one work group with a 已阅 receipt, sent."""
    zh = admin.language_code != "en"
    await bot.text(admin, "/broadcast")
    await bot.press(admin, "工作群" if zh else "Work groups")
    await bot.press(admin, group_label)
    await bot.press(admin, "完成" if zh else "Done")
    bold = {"type": "bold", "offset": 0, "length": 2}  # set with the app's formatting menu
    text = "通知：请于3月20日前报送一季度工作总结"
    await bot.feed(bot.factory.message(admin, text, entities=[bold]))
    await bot.press(admin, "跳过" if zh else "Skip")
    await bot.press(admin, "要求回执" if zh else "Ask for")
    await bot.press(admin, "立即发送" if zh else "Now")
    await bot.press(admin, "确认提交" if zh else "Confirm")
    await bot.press(admin, "预览" if zh else "Preview")
    await bot.press(admin, "确认发送" if zh else "Send")
    await runtime_of(bot.app).delivery.drain()  # waits move the frozen clock


async def test_a_group_notice_counts_receipts_without_names(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(ADMIN.private_chat())
        group = bot.factory.group("呼市科协工作群")
        await bot.feed(bot.factory.bot_added(ADMIN, group))
        await bind(bot, group, ADMIN, "呼和浩特市科协")
        await bot.text(ADMIN, "/broadcast")
        assert "工作群（1 个已绑定的群）" in bot.button_texts(ADMIN.id)
        counts = runtime_of(bot.app).group_counts
        counts.sleep = HeldSleep(clock)
        await bot.text(ADMIN, "/cancel")
        await post_notice(bot, clock, ADMIN, "呼市科协工作群（呼和浩特市科协）")
        notice = bot.keyboard_message(group["id"])
        assert notice["text"].startswith(  # who sent it and when, then the notice
            "📢 来自：呼和浩特市科协 · 呼市管理员（管理员）· 2026-03-16 10:00\n通知：请于3月20日前"
        )
        assert bot.button_texts(group["id"]) == ["✅ 已阅"]
        assert "送达 1/1" in "".join(sent_texts(bot.api.calls))

        calls = await bot.press(STRANGER, "已阅", message=notice)
        assert toasts(calls) == ["请先私聊我完成注册，再确认已阅。"]
        calls = await bot.press(SAIHAN, "已阅", message=notice)
        assert toasts(calls) == ["已记录，谢谢！"]
        assert bot.button_texts(group["id"]) == ["✅ 已阅 1 人"]
        calls = await bot.press(SAIHAN, "已阅", message=bot.api.last_message(group["id"]))
        assert toasts(calls) == ["你已经确认过了。"]
        assert not [c for c in calls if c.method == "editMessageReplyMarkup"]

        # A burst: the first press after the last edit waits for the group's slot (3 s); the
        # presses behind it join that one edit, which shows them all.
        before = len(count_edits(bot, group))
        for member in (TUMOTE, EN_MEMBER, BAOTOU):
            await bot.press(member, "已阅", message=bot.api.last_message(group["id"]))
        assert len(count_edits(bot, group)) == before  # all three wait for the slot
        counts.sleep.passed.set()
        await counts.settle()
        assert len(count_edits(bot, group)) - before == 1
        assert counts.sleep.calls == [pytest.approx(3.0)]
        assert bot.button_texts(group["id"]) == ["✅ 已阅 4 人"]

        shown = group_texts(bot, group)
        for person in (SAIHAN, TUMOTE, EN_MEMBER, BAOTOU):
            assert person.first_name not in shown
        # The admin sees who, in private.
        calls = await bot.press(ADMIN, "谁已阅", message=bot.keyboard_message(ADMIN.id))
        text = sent_texts(calls)[0]
        assert "共 4 人已阅" in text and "赛罕联络员" in text and "呼市科协工作群：4 人" in text


async def test_a_group_notice_in_english_and_a_group_that_removed_the_bot(
    settings, clock, sessions, tree
):
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(EN_ADMIN.private_chat())
        group = bot.factory.group("Sainhan work group", supergroup=True)
        gone = bot.factory.group("Old group")
        for chat in (group, gone):
            await bot.feed(bot.factory.bot_added(EN_ADMIN, chat))
            await bind(bot, chat, EN_ADMIN, "赛罕区科协")
        await bot.feed(bot.factory.bot_removed(EN_ADMIN, gone))
        await bot.text(EN_ADMIN, "/broadcast")
        assert "Work groups (linked: 1)" in bot.button_texts(EN_ADMIN.id)
        await bot.text(EN_ADMIN, "/cancel")
        # Removed while the bot was down (no update came): the notice's 403 tells.
        missed = bot.factory.group("Missed group")
        await bind(bot, missed, EN_ADMIN, "土默特左旗科协")
        bot.api.block(missed["id"])
        await post_notice(bot, clock, EN_ADMIN, "Missed group (土默特左旗科协)")
        async with transaction(sessions) as session:
            row = await groups_repo.get_group(session=session, chat_id=missed["id"])
            assert row.active is False and row.org_id == tree["土默特左旗科协"].id
        await bot.text(EN_ADMIN, "/broadcast")
        assert "Work groups (linked: 1)" in bot.button_texts(EN_ADMIN.id)
        await bot.text(EN_ADMIN, "/cancel")
        await post_notice(bot, clock, EN_ADMIN, "Sainhan work group (赛罕区科协)")
        notice = bot.keyboard_message(group["id"])
        assert bot.button_texts(group["id"]) == ["✅ Read"]
        calls = await bot.press(EN_MEMBER, "Read", message=notice)
        assert toasts(calls) == ["Recorded, thank you!"]
        assert bot.button_texts(group["id"]) == ["✅ Read by 1"]
        assert "请于3月20日前" not in group_texts(bot, gone)  # the bot left: no notice there


async def test_only_groups_of_the_admins_subtree_can_get_a_notice(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        baotou = bot.factory.group("包头群")
        await bot.feed(bot.factory.bot_added(BAOTOU, baotou))
        await bind(bot, baotou, BAOTOU, "包头市科协")
        bot.api.register_chat(ADMIN.private_chat())
        await bot.text(ADMIN, "/broadcast")
        assert not any("工作群" in label for label in bot.button_texts(ADMIN.id))
    async with transaction(sessions) as session:
        from bot.services import broadcasts

        admin = await users_repo.get_user(session=session, telegram_id=ADMIN.id)
        scope = await people.admin_scope(session, admin, False)
        group = await groups_repo.get_group(session=session, chat_id=baotou["id"])
        audience = broadcasts.Audience("groups", group_ids=[group.id])
        with pytest.raises(broadcasts.BroadcastError) as refusal:
            await broadcasts.count_audience(session, scope, audience)
        assert refusal.value.key == "broadcast.group_out_of_scope"
        superadmin = await people.admin_scope(session, None, True)
        assert await broadcasts.count_audience(session, superadmin, audience) == 1


def test_offline_api_delivers_to_groups_what_telegram_would():
    from offline.bot_api import OfflineBotAPI
    from offline.updates import UpdateFactory

    api = OfflineBotAPI(bot_username=BOT)
    factory = UpdateFactory(api)
    group = factory.group()
    assert api.receives(factory.command(SAIHAN, "ask", "问题", group))
    assert api.receives(factory.command(SAIHAN, "ask", "问题", group, mention=True))
    assert not api.receives(factory.command(SAIHAN, "/ask@other_bot", "问题", group))
    assert not api.receives(factory.message(SAIHAN, "大家好", group))
    assert api.receives(factory.message(SAIHAN, "大家好"))  # a private chat gets everything
    factory.bot_added(ADMIN, group, admin=True)
    assert api.receives(factory.message(SAIHAN, "大家好", group))  # an admin bot sees it all
    assert json.loads(json.dumps(api.bot_user))["can_read_all_group_messages"] is False


async def test_superadmin_binds_any_group(settings, clock, sessions, tree):
    boss = TgUser(id=SUPERADMIN_ID, first_name="超级管理员")
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        await bot.feed(bot.factory.command(boss, "bindgroup", None, group))
        assert bot.button_texts(group["id"]) == ["内蒙古自治区科协"]
        await bot.feed(bot.factory.command(boss, "bindgroup", "青山", group))
        calls = await bot.press(boss, "青山区科协", message=bot.keyboard_message(group["id"]))
        assert "青山区科协" in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        row = (await session.exec(select(GroupChat))).one()
        assert row.org_id == tree["青山区科协"].id and row.bound_by == SUPERADMIN_ID

