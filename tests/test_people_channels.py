"""One person, several channels: invite codes typed as messages, invite QR codes, link codes
that add a second channel to a person, and the channels /me and /members show.

Two Telegram ids stand in for a person's two channels where a second channel is needed: what
links, folds and reaches is channel-neutral (storage/identities_repo.py), and the WeCom
dispatcher runs the same flows.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import segno
from sqlmodel import select

from bot.app import FORMS
from bot.common.i18n import t
from bot.flows import channels, engine, onboarding
from bot.flows.base import FlowContext, Input, InputKind, Msg
from bot.services import linking, orgs, people, qr
from offline.updates import TgUser
from storage import identities_repo, users_repo
from storage.db import transaction
from storage.identity_models import Channel
from storage.knowledge_models import QuestionLog
from storage.member_models import MemberAction, MemberAudit
from storage.models import ConversationState, Role
from tests.harness import running_bot, sent_texts

LI = TgUser(id=21001, first_name="小李")
WANG = TgUser(id=21002, first_name="Wang", language_code="en")
MEMBER = TgUser(id=21003, first_name="老张")


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def make_invite(sessions, clock, org, role=Role.LIAISON, ttl="7d") -> str:
    async with transaction(sessions) as session:
        invite = await people.create_invite(
            session, org_id=org.id, role=role, now=clock.now(), ttl=people.parse_duration(ttl)
        )
        return invite.code


async def load_user(sessions, telegram_id):
    async with transaction(sessions) as session:
        return await users_repo.get_user(session=session, telegram_id=telegram_id)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("k7m2p9qrst", "k7m2p9qrst"),
        ("  K7M2P9QRST ", "k7m2p9qrst"),
        ("邀请码 k7m2p9qrst", "k7m2p9qrst"),
        ("邀请码：K7M2P9QRST", "k7m2p9qrst"),
        ("邀请码nosuchcode", "nosuchcode"),
        ("invite code abc", "abc"),
        ("/start k7m2p9qrst", "k7m2p9qrst"),
        ("/start@stabot_bot k7m2p9qrst", "k7m2p9qrst"),
        ("https://t.me/stabot_bot?start=k7m2p9qrst", "k7m2p9qrst"),
        ("helloworld", None),  # l and o are not in the alphabet
        ("k7m2p9qrs", None),  # one short
        ("k7m2p9qrst 谢谢", None),
        ("什么是科普日？", None),
        ("邀请码是什么", None),
        ("k7m2p9qrst。", "k7m2p9qrst"),  # the IME's full stop
        ("ｋ７ｍ２ｐ９ｑｒｓｔ", "k7m2p9qrst"),  # full-width
        ("k7m2 p9qr st", "k7m2p9qrst"),  # in groups
        ("邀请码【k7m2p9qrst】", "k7m2p9qrst"),
        ("我的邀请码是k7m2p9qrst", "k7m2p9qrst"),
        ("t.me/stabot_bot?start=k7m2p9qrst", "k7m2p9qrst"),
        ("“k7m2p9qrst”", "k7m2p9qrst"),
        ("happy new year", None),  # words are not run together into a code
        ("好的。", None),
        ("明天 9点 开会", None),
    ],
)
def test_what_reads_as_a_typed_invite_code(typed, read):
    assert people.typed_invite_code(typed) == read


@pytest.mark.parametrize(
    "spelling",
    [
        lambda c: f"{c}。",
        lambda c: c.translate({i: i + 0xFEE0 for i in range(0x21, 0x7F)}),  # full-width
        lambda c: f"{c[:4]} {c[4:8]} {c[8:]}",
        lambda c: f"邀请码【{c}】",
        lambda c: f"我的邀请码是{c}",
        lambda c: f"t.me/stabot_test_bot?start={c}",
        lambda c: f"/start {c}。",
    ],
)
async def test_an_invite_code_as_a_phone_spells_it_registers(
    settings, clock, sessions, tree, spelling
):
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, spelling(code))
        assert "呼和浩特市科协 › 赛罕区科协" in sent_texts(calls)[-1]


async def test_the_bots_own_link_code_line_pasted_links(settings, clock, sessions, tree):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with running_bot(settings, clock) as bot:
        code = await link_code_of(bot, LI)
        calls = await bot.text(SECOND, f"关联码：{code}。")
        assert "已关联" in sent_texts(calls)[0]
    assert (await person_of(sessions, SECOND.id)).real_name == "李明"


async def test_a_members_ordinary_messages_are_not_read_as_codes(
    settings, clock, sessions, tree
):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with running_bot(settings, clock) as bot:
        for typed in ("好的。", "happy new year", "strawberry。", "（收到）"):
            texts = sent_texts(await bot.text(LI, typed))
            assert not any("邀请" in text or "关联码" in text for text in texts), typed


async def test_an_invite_code_sent_as_a_message_registers(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, code.upper())
        assert "呼和浩特市科协 › 赛罕区科协" in sent_texts(calls)[-1]
        await bot.press(LI, "是，这是我的组织")
        await bot.text(LI, "李明")
        calls = await bot.press(LI, "确认提交")
        assert "注册成功" in sent_texts(calls)[0]
    user = await load_user(sessions, LI.id)
    assert (user.real_name, user.org_id, user.role) == ("李明", tree["赛罕区科协"].id, "liaison")


async def test_a_code_after_its_word_registers_in_english_too(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["青山区科协"], role=Role.INFO_OFFICER)
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(WANG, f"invite code: {code}")
        assert "information officer" in sent_texts(calls)[-1].lower()


async def test_a_wrong_or_expired_typed_code_is_explained(settings, clock, sessions, tree):
    expired = await make_invite(sessions, clock, tree["青山区科协"], ttl="1h")
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "邀请码 nosuchcode")
        assert "邀请码无效" in sent_texts(calls)[0]
        assert "申请开通" in bot.button_texts(LI.id)[0]
        clock.advance(timedelta(hours=2))
        calls = await bot.text(LI, expired)
        assert "已过期" in sent_texts(calls)[0]
    assert (await load_user(sessions, LI.id)).role is None


async def test_a_member_typing_something_code_like_changes_nothing(
    settings, clock, sessions, tree
):
    code = await make_invite(sessions, clock, tree["青山区科协"])
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session, telegram_id=MEMBER.id, username=None, now=clock.now()
        )
        user.real_name, user.org_id, user.role = "老张", tree["赛罕区科协"].id, Role.LIAISON
        user.registered_at = clock.now()
    async with running_bot(settings, clock) as bot:
        # A code-shaped word no invite has is chatter; a real invite's code is answered as
        # /start CODE answers a member: not used, nothing changed.
        texts = sent_texts(await bot.text(MEMBER, "k7m2p9qrst"))
        assert texts and not any("邀请" in text or "注册" in text for text in texts)
        texts = sent_texts(await bot.text(MEMBER, code))
        (text,) = texts
        assert text.startswith("欢迎回来，老张") and "没有被使用" in text
    async with transaction(sessions) as session:
        invite = await users_repo.get_invite(session=session, code=code)
        assert invite.used == 0
    user = await load_user(sessions, MEMBER.id)
    assert user.org_id == tree["赛罕区科协"].id


# --- an invite's QR code ---------------------------------------------------------------------

ADMIN = TgUser(id=21010, first_name="王")


async def register_directly(sessions, clock, tg, org, role, name):
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session,
            telegram_id=tg.id,
            username=None,
            now=clock.now(),
            language_code=tg.language_code,
        )
        user.real_name, user.org_id, user.role = name, org.id, role
        user.registered_at = clock.now()


def qr_text_matrix(png: bytes) -> list[list[bool]]:
    """The dark modules of a QR image segno drew (scale 8, border 4), read back pixel by pixel."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    size = image.width // qr.SCALE
    return [
        [image.getpixel((x * qr.SCALE + 4, y * qr.SCALE + 4)) < 128 for x in range(size)]
        for y in range(size)
    ]


def segno_matrix(text: str) -> list[list[bool]]:
    code = segno.make(text, micro=False)
    return [[bool(bit) for bit in row] for row in code.matrix_iter(scale=1, border=qr.BORDER)]


async def test_an_invite_comes_with_its_code_and_a_qr_image(settings, clock, sessions, tree):
    await register_directly(sessions, clock, ADMIN, tree["呼和浩特市科协"], Role.ADMIN, "王建国")
    async with running_bot(settings, clock) as bot:
        await bot.text(ADMIN, "/members")
        for label in ("生成邀请链接", "赛罕区科协", "科协联络员", "1 次", "7 天"):
            await bot.press(ADMIN, label)
        calls = await bot.press(ADMIN, "确认提交")
        text = sent_texts(calls)[0]
        code = text.split("\n")[1].rsplit("=", 1)[1]
        assert f"在 stabot 应用里发送 <code>邀请码 {code}</code>" in text
        photo = next(c for c in calls if c.method == "sendPhoto")
        assert f"发送：邀请码 {code}" in photo.params["caption"]
        assert "呼和浩特市科协 › 赛罕区科协" in photo.params["caption"]
        png = next(iter(photo.files.values()))
        assert png.startswith(b"\x89PNG")
        assert qr_text_matrix(png) == segno_matrix(f"邀请码 {code}")

        # What a scan gives, sent as a message, registers as the deep link does.
        calls = await bot.text(LI, f"邀请码 {code}")
        assert "呼和浩特市科协 › 赛罕区科协" in sent_texts(calls)[-1]


# --- linking a second channel ----------------------------------------------------------------

SECOND = TgUser(id=21020, first_name="Li on another channel")  # stands in for a WeCom identity
THIRD = TgUser(id=21030, first_name="第三个账号")
CODE_SHOWN = re.compile(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>")


async def link_code_of(bot, tg) -> str:
    """The code /me's link button gives ``tg``."""
    await bot.text(tg, "/me")
    calls = await bot.press(tg, "关联另一个渠道")
    found = CODE_SHOWN.search(sent_texts(calls)[0])
    assert found is not None, sent_texts(calls)
    return found.group(1)


async def person_of(sessions, address):
    async with transaction(sessions) as session:
        return await users_repo.person_at(session, address)


async def test_a_link_code_typed_on_another_channel_joins_the_person(
    settings, clock, sessions, tree
):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    li = await load_user(sessions, LI.id)
    async with running_bot(settings, clock) as bot:
        me = sent_texts(await bot.text(LI, "/me"))[0]
        assert f"渠道：Telegram（{LI.id}）" in me and "发到所有渠道" not in " ".join(
            bot.button_texts(LI.id)
        )
        await bot.text(SECOND, "你好")  # met: an empty person of its own
        await bot.text(SECOND, "/start")
        assert await load_user(sessions, SECOND.id) is not None
        code = await link_code_of(bot, LI)
        assert "15 分钟内有效" in bot.last_text(LI.id)
        assert f"https://t.me/stabot_test_bot?start={code.replace('-', '')}" in bot.last_text(
            LI.id
        )

        calls = await bot.text(SECOND, f"关联 {code.upper()}")
        assert (
            "已关联：这个Telegram账号现在属于 李明（内蒙古自治区科协 › 呼和浩特市科协 › 赛罕区科协"
            in (sent_texts(calls)[0])
        )
        told = [c.params["text"] for c in calls if c.params.get("chat_id") == LI.id]
        assert told and "关联了一个Telegram账号" in told[0]
        menu = bot.api.my_commands({"type": "chat", "chat_id": SECOND.id})
        assert "log" in [c["command"] for c in menu]  # the member's menu, in the new chat

        me = sent_texts(await bot.text(SECOND, "/me"))[0]
        assert "李明" in me and "Telegram ID" not in me
        assert (
            f"渠道：Telegram（{LI.id}）、Telegram（{SECOND.id}）" in me and "最近使用的渠道" in me
        )
        await bot.press(SECOND, "发到所有渠道")
        assert "提醒和通知发到：所有渠道" in bot.last_text(SECOND.id)

        calls = await bot.text(THIRD, code)
        assert "已经用过" in sent_texts(calls)[0]
    assert await load_user(sessions, SECOND.id) is None  # the empty person was folded
    person = await person_of(sessions, SECOND.id)
    assert (person.id, person.reach, person.org_id) == (li.id, "all", tree["赛罕区科协"].id)
    async with transaction(sessions) as session:
        assert [c for c, _ in await identities_repo.addresses_of(session, person)] == [
            Channel.TELEGRAM,
            Channel.TELEGRAM,
        ]


async def test_a_link_codes_deep_link_joins_too(settings, clock, sessions, tree):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with running_bot(settings, clock) as bot:
        code = (await link_code_of(bot, LI)).replace("-", "")
        calls = await bot.text(SECOND, f"/start {code}")
        assert "已关联" in sent_texts(calls)[0]
    assert (await person_of(sessions, SECOND.id)).real_name == "李明"


async def test_link_codes_that_cannot_link_are_explained(settings, clock, sessions, tree):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    await register_directly(sessions, clock, MEMBER, tree["青山区科协"], Role.LIAISON, "老张")
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(SECOND, "关联 abcd-efgh-jkmn")
        assert "关联码无效" in sent_texts(calls)[0]
        code = await link_code_of(bot, LI)
        calls = await bot.text(LI, code)  # one's own code, in one's own chat
        assert "已经是你的了" in sent_texts(calls)[0]
        calls = await bot.text(MEMBER, f"关联 {code}")  # a registered person of its own
        assert "已经注册过" in sent_texts(calls)[0]
        texts = sent_texts(await bot.text(MEMBER, "abcd-efgh-jkmn"))  # chatter: not a code
        assert not any("关联" in text for text in texts)

        await bot.text(THIRD, "/start")
        async with transaction(sessions) as session:  # a record of its own (an admin's note)
            third = await users_repo.get_user(session=session, telegram_id=THIRD.id)
            session.add(
                MemberAudit(
                    at=clock.now(),
                    actor_id=MEMBER.id,
                    action=MemberAction.DEACTIVATED,
                    user_id=third.id,
                )
            )
        calls = await bot.text(THIRD, code)
        assert "已有自己的记录" in sent_texts(calls)[0]

        newer = await link_code_of(bot, LI)  # a new code ends the older one
        calls = await bot.text(SECOND, code)
        assert sent_texts(calls) == [t("zh_CN", "link.replaced")]
        clock.advance(timedelta(minutes=16))
        calls = await bot.text(SECOND, newer)
        assert "已过期" in sent_texts(calls)[0]
    assert (await person_of(sessions, SECOND.id)).real_name is None


async def test_folding_moves_questions_and_withdraws_a_pending_request(sessions, clock, tree):
    async with transaction(sessions) as session:
        await register_directly_in(session, clock, LI, tree["赛罕区科协"], "李明")
        person = await users_repo.get_user(session=session, telegram_id=LI.id)
        code, _ = await linking.new_code(session, person, clock.now())
        newcomer = await users_repo.upsert_user(
            session=session, telegram_id=SECOND.id, username=None, now=clock.now()
        )
        await asks_to_join(session, clock, tree, SECOND, Role.ADMIN)
        session.add(
            QuestionLog(
                telegram_id=SECOND.id,
                question="科普日是哪天？",
                answered=True,
                created_at=clock.now(),
            )
        )
        await session.flush()
        linked = await linking.use_code(
            session, code, actor=newcomer, address=SECOND.id, now=clock.now()
        )
        assert linked.person.id == person.id
    async with transaction(sessions) as session:
        assert await people.pending_request(session, SECOND.id) is None
        asked = (await session.exec(select(QuestionLog))).one()
        assert asked.telegram_id == LI.id
        person = await users_repo.get_user(session=session, telegram_id=LI.id)
        assert (person.org_id, person.role) == (tree["赛罕区科协"].id, Role.LIAISON)


async def test_linking_says_that_the_identitys_pending_request_was_withdrawn(
    settings, clock, sessions, tree
):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with running_bot(settings, clock) as bot:
        await bot.text(SECOND, "/start")  # met: an empty person, who then asks to join
        async with transaction(sessions) as session:
            await asks_to_join(session, clock, tree, SECOND, Role.LIAISON)
        code = await link_code_of(bot, LI)
        calls = await bot.text(SECOND, code)
        said = sent_texts(calls)[0]
        assert "已关联" in said and t("zh_CN", "link.request_withdrawn") in said
        other = await link_code_of(bot, LI)
        calls = await bot.text(THIRD, other)  # no request of its own: nothing said of one
        assert t("zh_CN", "link.request_withdrawn") not in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        assert await people.pending_request(session, SECOND.id) is None


async def asks_to_join(session, clock, tree, tg, role):
    """``tg`` asks to join 青山区科协 as 李明 (an access request waiting for an admin)."""
    await people.request_access(
        session,
        telegram_id=tg.id,
        real_name="李明",
        org_id=tree["青山区科协"].id,
        role=role,
        now=clock.now(),
    )


async def register_directly_in(session, clock, tg, org, name):
    user = await users_repo.upsert_user(
        session=session, telegram_id=tg.id, username=None, now=clock.now()
    )
    user.real_name, user.org_id, user.role = name, org.id, Role.LIAISON
    user.registered_at = clock.now()
    await session.flush()


# --- channels in /me and /members ------------------------------------------------------------


async def test_members_shows_each_persons_channels(settings, clock, sessions, tree):
    await register_directly(sessions, clock, ADMIN, tree["呼和浩特市科协"], Role.ADMIN, "王建国")
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with transaction(sessions) as session:
        li = await users_repo.get_user(session=session, telegram_id=LI.id)
        await identities_repo.add_identity(
            session, channel=Channel.WECOM, external_id="LiMing", now=clock.now(), user_id=li.id
        )
        zhang, _ = await users_repo.meet(session, Channel.WECOM, "ZhangSan", now=clock.now())
        zhang.real_name, zhang.org_id, zhang.role = "张三", tree["赛罕区科协"].id, Role.LIAISON
        zhang.registered_at = clock.now()
    async with running_bot(settings, clock) as bot:
        rows = sent_texts(await bot.text(ADMIN, "/members"))[0].split("\n")

        def second_line_of(name: str) -> str:  # a person's line is two: name, then status
            return rows[next(n for n, row in enumerate(rows) if f"<b>{name}</b>" in row) + 1]

        assert second_line_of("李明").endswith("· Telegram、企业微信")
        assert second_line_of("张三").endswith("· 企业微信")
        assert second_line_of("王建国").endswith("· Telegram")
        calls = await bot.press(ADMIN, "李明")
        assert f"渠道：Telegram（{LI.id}）、企业微信（LiMing）" in sent_texts(calls)[0]


async def test_me_in_english_with_two_channels(settings, clock, sessions, tree):
    await register_directly(sessions, clock, WANG, tree["青山区科协"], Role.LIAISON, "Wang Wei")
    async with transaction(sessions) as session:
        wang = await users_repo.get_user(session=session, telegram_id=WANG.id)
        await identities_repo.add_identity(
            session, channel=Channel.WECOM, external_id="WangWei", now=clock.now(), user_id=wang.id
        )
    async with running_bot(settings, clock) as bot:
        me = sent_texts(await bot.text(WANG, "/me"))[0]
        assert f"Channels: Telegram ({WANG.id}), WeCom (WangWei)" in me
        assert "the channel you used last (now Telegram)" in me
        assert bot.button_texts(WANG.id) == [
            "✅ To the channel I used last",
            "To all my channels",
            "🔗 Link another channel",
        ]
        calls = await bot.press(WANG, "To all my channels")
        assert "Reminders and notices go to: all your channels" in sent_texts(calls)[0]
        assert "Saved" in [
            c.params.get("text") for c in calls if c.method == "answerCallbackQuery"
        ]
    assert (await load_user(sessions, WANG.id)).reach == "all"


# --- a WeCom identity through the same flows -------------------------------------------------
# The WeCom dispatcher builds its FlowContext from `users_repo.meet` (wecom_design.md); these
# call the flows as it will, with a WeCom address as chat id.


def wecom_context(session, clock, settings, person, address) -> FlowContext:
    return FlowContext(
        session=session,
        now=clock.now(),
        tz=settings.tz,
        chat_id=address,
        user_id=person.telegram_id,
        actor=person,
        invite_links=people.InviteLinks(settings.bot_username),
        forms=engine.by_name(FORMS),
    )


async def test_an_invite_code_typed_on_wecom_starts_registration(settings, clock, sessions, tree):
    code = await make_invite(sessions, clock, tree["赛罕区科协"])
    async with transaction(sessions) as session:
        person, address = await users_repo.meet(session, Channel.WECOM, "ZhaoLiu", now=clock.now())
        ctx = wecom_context(session, clock, settings, person, address)
        reply = await onboarding.invite_route(ctx, Input(InputKind.TEXT, text=f"邀请码 {code}"))
        assert reply is not None and reply.texts[0].key == "register.intro"
        assert await engine.active_flow(ctx) == "register"
        wrong = await onboarding.invite_route(ctx, Input(InputKind.TEXT, text="邀请码 nosuchcode"))
        assert wrong is not None and wrong.texts[0].key == "invite.unknown"


async def test_a_wecom_identity_links_to_a_telegram_person(settings, clock, sessions, tree):
    await register_directly(sessions, clock, LI, tree["赛罕区科协"], Role.LIAISON, "李明")
    async with transaction(sessions) as session:
        li = await users_repo.get_user(session=session, telegram_id=LI.id)
        code, _ = await linking.new_code(session, li, clock.now())
        newcomer, address = await users_repo.meet(
            session, Channel.WECOM, "LiMing", now=clock.now()
        )
        ctx = wecom_context(session, clock, settings, newcomer, address)
        typed = Input(InputKind.TEXT, text=f"关联 {linking.shown(code)}")
        reply = await channels.link_route(ctx, typed)
        assert reply is not None and reply.texts[0].key == "link.done"
        assert reply.texts[0].params["channel"] == Msg("channel.wecom")
        assert [n.chat_id for n in reply.notices] == [LI.id]  # told on Telegram
        assert (ctx.actor.id, ctx.user_id) == (li.id, LI.id)
    async with transaction(sessions) as session:
        again, same = await users_repo.meet(session, Channel.WECOM, "LiMing", now=clock.now())
        assert (again.id, same) == (li.id, address)
        assert again.last_channel == Channel.WECOM
        assert await users_repo.get_user(session=session, telegram_id=address) is None


async def test_a_telegram_account_linked_to_a_wecom_person_acts_as_them(
    settings, clock, sessions, tree
):
    async with transaction(sessions) as session:
        zhang, address = await users_repo.meet(session, Channel.WECOM, "ZhangSan", now=clock.now())
        zhang.real_name, zhang.org_id, zhang.role = "张三", tree["赛罕区科协"].id, Role.LIAISON
        zhang.registered_at = clock.now()
        await session.flush()
        code, _ = await linking.new_code(session, zhang, clock.now())
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(SECOND, code)
        assert "已关联：这个Telegram账号现在属于 张三" in sent_texts(calls)[0]
        me = sent_texts(await bot.text(SECOND, "/me"))[0]
        assert f"渠道：企业微信（ZhangSan）、Telegram（{SECOND.id}）" in me
        assert "现在是Telegram" in me  # the channel used last
        await bot.text(SECOND, "/log")  # a form, kept under the person's key
        calls = await bot.text(SECOND, "/stats")
        assert "你还有一个表单没有填完，/stats 暂时不能用" in sent_texts(calls)[0]
    async with transaction(sessions) as session:
        person = await users_repo.person_at(session, SECOND.id)
        assert person.telegram_id == address
        state = (await session.exec(select(ConversationState))).one()
        assert (state.chat_id, state.user_id, state.flow) == (SECOND.id, address, "activity")
