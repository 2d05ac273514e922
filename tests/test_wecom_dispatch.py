"""WeCom members through the dispatcher and the loopback WeCom API: an invite typed as
``/start CODE``, an activity logged through card buttons, a policy question, old cards,
redelivered events, and notices that cross from one channel to the other."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.common.i18n import t
from bot.services import orgs, people
from bot.wecom.events import EventKind, WeComEvent
from offline.updates import TgUser
from storage import identities_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.identity_models import Channel, Reach, channel_of
from storage.models import Role, User
from tests.wecom_support import WeComHarness, wecom_bot

ZHANG = "zhangsan"  # a liaison's WeCom UserID
ADMIN = TgUser(id=30001, first_name="管理员")


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def make_invite(sessions, clock, org) -> str:
    async with transaction(sessions) as session:
        invite = await people.create_invite(
            session,
            org_id=org.id,
            role=Role.LIAISON,
            now=clock.now(),
            uses=1,
            ttl=people.parse_duration("7d"),
        )
        return invite.code


async def person_on_wecom(sessions, userid: str) -> User | None:
    async with transaction(sessions) as session:
        identity = await identities_repo.find_identity(session, Channel.WECOM, userid)
        return await session.get(User, identity.user_id) if identity else None


async def register(
    wecom: WeComHarness, sessions, clock, tree, org: str = "青山区科协", typed: str = "/start {}"
) -> None:
    """ZHANG registers with an invite of ``org``, sent as ``typed`` with the code in it."""
    code = await make_invite(sessions, clock, tree[org])
    shown = await wecom.text(ZHANG, typed.format(code))
    assert org in shown[-1].text and shown[-1].kind == "card"
    await wecom.press(ZHANG, "是，这是我的组织")
    assert "真实姓名" in wecom.last_text(ZHANG)
    await wecom.text(ZHANG, "张三")
    shown = await wecom.press(ZHANG, "确认提交")
    assert any("注册成功" in s.text for s in shown)


async def test_a_wecom_member_registers_with_an_invite_typed_as_a_message(
    settings, clock, sessions, tree
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
    person = await person_on_wecom(sessions, ZHANG)
    assert person is not None
    assert (person.real_name, person.role, person.org_id) == (
        "张三",
        Role.LIAISON,
        tree["青山区科协"].id,
    )
    assert channel_of(person.telegram_id) == Channel.WECOM  # a WeCom-first person's key


async def stored(sessions) -> list[Activity]:
    async with transaction(sessions) as session:
        return list((await session.exec(select(Activity))).all())


async def log_up_to_photos(wecom: WeComHarness, district: str) -> None:
    """ZHANG's /log of a talk yesterday in ``district``'s community, up to the photos."""
    shown = await wecom.text(ZHANG, "/log")
    assert any("活动类型" in s.text for s in shown)
    await wecom.press(ZHANG, "科普讲座")
    await wecom.text(ZHANG, "科技助力乡村振兴")
    await wecom.press(ZHANG, "昨天")
    await wecom.text(ZHANG, f"{district}社区")
    await wecom.press(ZHANG, f"{district}科协")
    await wecom.text(ZHANG, "约120人")
    await wecom.press(ZHANG, "社区居民")
    await wecom.press(ZHANG, "完成")
    await wecom.text(ZHANG, "讲解了节能知识。")


async def test_an_activity_logged_through_cards_is_stored_once(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
        await log_up_to_photos(wecom, "青山区")
        shown = await wecom.press(ZHANG, "跳过")
        summary = "\n".join(s.text for s in shown)
        for part in ("科普讲座/报告", "2026-03-15", "青山区社区", "120 人"):
            assert part in summary
        summary_view = wecom.latest(ZHANG)
        confirm = await wecom.press(ZHANG, "确认提交")
        assert any("已记录" in s.text for s in confirm)
        # The summary's buttons again: the form is over, nothing is stored twice.
        again = await wecom.press(ZHANG, "确认提交", card=summary_view)
        assert not any("已记录" in s.text for s in again)
    [activity] = await stored(sessions)
    assert (activity.title, activity.place, activity.participants) == (
        "科技助力乡村振兴",
        "青山区社区",
        120,
    )


async def test_a_policy_question_gets_the_cited_passage(kb_settings, clock, sessions, tree):
    async with wecom_bot(kb_settings, clock, {ZHANG}) as wecom:
        shown = await wecom.text(ZHANG, "企业科技人员多少人要单独成立科协？")
    text = "\n".join(s.text for s in shown)
    assert "30人以上（含30人）" in text.replace("**", "")
    assert "《关于加强企业科协组织建设的意见》" in text
    assert shown[0].kind == "markdown" and "**" in shown[0].text  # question words in bold
    card = shown[-1]
    assert card.kind == "card"
    assert [b["text"] for b in card.buttons] == ["更多来源", "查看全文"]


async def test_an_old_card_gets_the_stale_note(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        code = await make_invite(sessions, clock, tree["青山区科协"])
        await wecom.text(ZHANG, f"/start {code}")
        first = wecom.latest(ZHANG)
        await wecom.press(ZHANG, "是，这是我的组织")
        shown = await wecom.press(ZHANG, "是，这是我的组织", card=first)
        assert [s.text for s in shown] == [t("zh_CN", "form.stale")]
        forged = WeComEvent(EventKind.CARD_BUTTON, ZHANG, 1, event_key="nonsense:1")
        shown = await wecom.event(forged)
        assert [s.text for s in shown] == [t("zh_CN", "button.stale")]


async def test_a_redelivered_event_changes_nothing(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        code = await make_invite(sessions, clock, tree["青山区科协"])
        event = WeComEvent(EventKind.TEXT, ZHANG, 100, text=f"/start {code}", msg_id="42")
        first = await wecom.event(event)
        again = await wecom.event(event)
    assert len(first) == 1 and again == []


async def test_notices_cross_channels_both_ways(settings, clock, sessions, tree):
    """A WeCom member's access request reaches the Telegram admin, whose decision reaches
    the member on WeCom: each notice through the adapter of its address's channel."""
    async with transaction(sessions) as session:
        await people.grant_admin(
            session, telegram_id=ADMIN.id, org_id=tree["包头市科协"].id, now=clock.now()
        )
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        telegram = wecom.telegram
        telegram.api.register_chat(ADMIN.private_chat())
        await wecom.text(ZHANG, "/start")
        await wecom.press(ZHANG, "申请开通")
        await wecom.text(ZHANG, "王伟")
        await wecom.text(ZHANG, "青山")
        await wecom.press(ZHANG, "青山区科协")
        await wecom.press(ZHANG, "科普信息员")
        before = len(telegram.api.calls)
        shown = await wecom.press(ZHANG, "确认提交")
        assert any(t("zh_CN", "access.sent") in s.text for s in shown)
        notices = [
            c
            for c in telegram.api.calls[before:]
            if c.method == "sendMessage" and c.params["chat_id"] == ADMIN.id
        ]
        assert len(notices) == 1 and "王伟" in notices[0].params["text"]
        await telegram.press(ADMIN, "同意", message=telegram.api.last_message(ADMIN.id))
        assert wecom.last_text(ZHANG) == t("zh_CN", "access.you_are_approved")
    person = await person_on_wecom(sessions, ZHANG)
    assert (person.role, person.org_id) == (Role.INFO_OFFICER, tree["青山区科协"].id)


async def test_the_quick_log_offer_reads_back_what_the_member_said(
    settings, clock, sessions, tree
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
        shown = await wecom.text(ZHANG, "今天搞了个活动")
        assert "要把它记下来吗" in shown[0].text and shown[0].kind == "card"
        shown = await wecom.press(ZHANG, "记录这次活动")
        text = "\n".join(s.text for s in shown)
        assert "2026-03-16" in text and "活动类型" in text
    assert await stored(sessions) == []


async def test_commands_inside_a_form_and_unknown_ones(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        code = await make_invite(sessions, clock, tree["青山区科协"])
        shown = await wecom.text(ZHANG, f"/start\u3000{code}")  # a full-width space
        assert "青山区科协" in shown[0].text
        shown = await wecom.text(ZHANG, "/log")
        assert "/log" in shown[0].text and "青山区科协" in shown[0].text  # the form again
        shown = await wecom.text(ZHANG, "/nosuch")
        assert shown[0].text == t("zh_CN", "command.unknown", command="/nosuch")
        shown = await wecom.text(ZHANG, "/cancel")
        assert shown  # /cancel may run inside a form


async def test_an_invite_takes_over_from_an_access_request_on_wecom(
    settings, clock, sessions, tree
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        code = await make_invite(sessions, clock, tree["青山区科协"])
        await wecom.text(ZHANG, "/start")
        await wecom.press(ZHANG, "申请开通")
        shown = await wecom.text(ZHANG, f"邀请码 {code}")  # not taken as the name
        text = "\n".join(s.text for s in shown)
        assert t("zh_CN", "access.dropped_for_invite") in text and "青山区科协" in text


async def test_me_of_someone_not_registered_shows_their_wecom_userid(
    settings, clock, sessions, tree
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        shown = await wecom.text(ZHANG, "/me")
        assert "Telegram" not in shown[0].text and "企业微信（zhangsan）" in shown[0].text
        assert not re.search(r"\d{10,}", shown[0].text)  # no address shown as an id


async def test_a_telegram_member_links_wecom_and_chooses_reach_there(
    settings, clock, sessions, tree
):
    """/me's buttons through the route table on both channels: a link code asked for on
    Telegram, typed on WeCom, joins the WeCom member to the person (told on Telegram); on
    WeCom, /me then offers where notices go, and the choice is kept."""
    li = TgUser(id=30002, first_name="李明")
    async with transaction(sessions) as session:
        user = await users_repo.upsert_user(
            session=session, telegram_id=li.id, username=None, now=clock.now()
        )
        user.real_name, user.org_id, user.role = "李明", tree["青山区科协"].id, Role.LIAISON
        user.registered_at = clock.now()
    async with wecom_bot(settings, clock, {"liming"}) as wecom:
        telegram = wecom.telegram
        await telegram.text(li, "/me")
        calls = await telegram.press(li, "关联另一个渠道")
        offer = next(c.params["text"] for c in calls if c.method == "sendMessage")
        code = re.search(r"<code>([^<]+)</code>", offer).group(1)
        before = len(telegram.api.calls)
        shown = await wecom.text("liming", f"关联 {code}")
        assert "已关联" in shown[0].text and "李明" in shown[0].text
        told = [c for c in telegram.api.calls[before:] if c.method == "sendMessage"]
        assert len(told) == 1 and "企业微信" in told[0].params["text"]
        shown = await wecom.text("liming", "/me")
        assert any("提醒和通知发到：最近使用的渠道" in s.text for s in shown)
        await wecom.press("liming", "发到所有渠道")
        assert "提醒和通知发到：所有渠道" in wecom.last_text("liming")
    async with transaction(sessions) as session:
        person = await users_repo.get_user(session=session, telegram_id=li.id)
        assert person.reach == Reach.ALL
        assert await identities_repo.find_identity(session, Channel.WECOM, "liming") is not None


async def test_a_photo_that_cannot_be_fetched_or_is_too_big_is_refused(
    settings, clock, sessions, tree
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
        await log_up_to_photos(wecom, "青山区")
        gone = await wecom.image(ZHANG, "media-expired")  # WeCom answers 40007
        huge = wecom.api.add_media(bytes(20 * 1024 * 1024 + 1), "大图.png")
        too_big = await wecom.image(ZHANG, huge)
        kept = await wecom.image(ZHANG, wecom.api.add_media(b"\xff\xd8\xff" + bytes(40), "a.jpg"))
        summary = await wecom.press(ZHANG, "完成")
    assert [s.text for s in gone] == [t("zh_CN", "wecom.media_failed")]
    assert [s.text for s in too_big] == [
        t("zh_CN", "docs.refused.too_large", name="大图.png", limit=20)
    ]
    assert kept and any("1 张" in s.text for s in summary)  # only the one that was kept


async def logged_without_photos(wecom: WeComHarness, sessions, clock, tree) -> None:
    """ZHANG registers and logs an activity of 2026-03-15 without photos."""
    await register(wecom, sessions, clock, tree)
    await log_up_to_photos(wecom, "青山区")
    await wecom.press(ZHANG, "跳过")
    await wecom.press(ZHANG, "确认提交")


async def test_stats_charts_reach_wecom_as_uploaded_images(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await logged_without_photos(wecom, sessions, clock, tree)
        shown = await wecom.text(ZHANG, "/stats")
    [image] = [s for s in shown if s.kind == "image"]
    chart = wecom.api.media[image.text]
    assert chart.kind == "image" and chart.content.startswith(b"\x89PNG")
    assert shown[0].kind in ("text", "markdown") and shown[-1] == image  # the figures, then it


async def test_an_admins_export_reaches_wecom_as_an_xlsx_file(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await logged_without_photos(wecom, sessions, clock, tree)
        async with transaction(sessions) as session:
            person = await person_on_wecom(sessions, ZHANG)
            person.role = Role.ADMIN
            session.add(person)
        shown = await wecom.text(ZHANG, "/export 2026-03-01 至 2026-03-31")
    [file] = [s for s in shown if s.kind == "file"]
    workbook = wecom.api.media[file.text]
    assert workbook.kind == "file" and workbook.content.startswith(b"PK")
    assert workbook.file_name == "activities_20260301-20260331.xlsx"
    caption = t("zh_CN", "stats.export_caption", count=1, start="2026-03-01", end="2026-03-31")
    assert caption in [s.text for s in shown]


async def test_a_library_managers_file_on_wecom_is_offered_for_indexing(
    kb_settings, clock, sessions, tree
):
    doc = "# 关于开展科普月活动的通知\n\n一、活动时间\n\n2026年9月全月开展科普月活动。\n".encode()
    async with wecom_bot(kb_settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
        async with transaction(sessions) as session:
            person = await person_on_wecom(sessions, ZHANG)
            root = next(org for org in tree.values() if org.parent_id is None)
            person.role, person.org_id = Role.ADMIN, root.id
            session.add(person)
        refused = await wecom.file(ZHANG, wecom.api.add_media(b"MZ" * 9, "a.exe", "file"), "a.exe")
        shown = await wecom.file(ZHANG, wecom.api.add_media(doc, "科普月.md", "file"), "科普月.md")
    assert [s.text for s in refused] == [
        t("zh_CN", "docs.refused.unsupported_type", name="a.exe", limit=20)
    ]
    assert any("科普月.md" in s.text for s in shown)  # read: its title and date to confirm
    assert any("关于开展科普月活动的通知" in s.text for s in shown)


async def test_a_link_code_asked_for_on_wecom_points_to_telegram(settings, clock, sessions, tree):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        await register(wecom, sessions, clock, tree)
        await wecom.text(ZHANG, "/me")
        offer = "\n".join(s.text for s in await wecom.press(ZHANG, "关联另一个渠道"))
    assert "Telegram 里打开" in offer and "t.me/" in offer
    assert "企业微信里在 stabot 应用发送" not in offer  # not "send it on WeCom" while on WeCom
