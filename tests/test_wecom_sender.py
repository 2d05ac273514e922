"""The WeCom sender of the delivery pipeline: WeCom's answers in the pipeline's outcomes,
against the loopback fake (its limits and faults), and a broadcast across both channels."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.delivery import service
from bot.delivery.budget import Place, QuotaPacer
from bot.delivery.outcome import Outcome, Outgoing, Result
from bot.delivery.settings import DeliverySettings
from bot.flows.base import Album, Button, Media, Msg, Reply
from bot.services import broadcasts
from bot.services.media_store import MediaStore
from bot.services.photo_export import Located
from bot.wecom import outcomes
from bot.wecom.client import Message as WeComMessage
from bot.wecom.client import SendResult, WeComClient
from bot.wecom.render import messages as wecom_messages
from bot.wecom.sender import WeComSender, classify
from offline.wecom_api import FakeWeComAPI, WeComFaults, WeComLimits, serving
from storage import broadcasts_repo, identities_repo, users_repo
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastStatus
from storage.db import transaction
from storage.identity_models import Channel, Reach
from storage.models import User
from tests.harness import ClockSleep
from tests.test_broadcast import tree  # noqa: F401 - a fixture

CORP, SECRET, AGENT = "ww-test", "secret", 1000002
ZONE = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"errcode": 0, "msgid": "m1"}, Outcome.SENT),
        ({"errcode": 0, "invaliduser": "zhang"}, Outcome.FAILED),  # WeCom dropped the member
        ({"errcode": 0, "invaliduser": "li"}, Outcome.SENT),  # someone else
        ({"errcode": 45009, "errmsg": "api freq out of limit"}, Outcome.RETRY_AFTER),
        ({"errcode": 45033, "errmsg": "api concurrent out of limit"}, Outcome.RETRY_AFTER),
        ({"errcode": 42001, "errmsg": "access_token expired"}, Outcome.NOT_SENT),
        ({"errcode": 40014, "errmsg": "invalid access_token"}, Outcome.NOT_SENT),
        ({"errcode": -1, "errmsg": "system busy"}, Outcome.UNKNOWN),
        ({"errcode": 40003, "errmsg": "invalid userid"}, Outcome.FAILED),
        ({"errcode": 81013, "errmsg": "user & party & tag all invalid"}, Outcome.FAILED),
        ({"errcode": 60020, "errmsg": "not allow to access from your ip"}, Outcome.FAILED),
        ({"errcode": 45002, "errmsg": "content size out of limit"}, Outcome.FAILED),
    ],
)
def test_wecom_answers_read_as_outcomes(answer, outcome):
    result = classify(SendResult.from_json(answer), "zhang", pause=60.0)
    assert result.outcome is outcome
    if outcome is Outcome.RETRY_AFTER:
        assert result.retry_after == (60.0 if answer["errcode"] == 45009 else 1.0)


@dataclass
class WeCom:
    api: FakeWeComAPI
    sender: WeComSender
    address: dict[str, int]  # UserID → address


@pytest.fixture
async def wecom(sessions, clock) -> AsyncIterator[WeCom]:
    api = FakeWeComAPI(CORP, SECRET, AGENT, clock, users={"zhang", "li"})
    address = {}
    async with transaction(sessions) as session:
        for userid in ("zhang", "li", "gone"):
            _, address[userid] = await users_repo.meet(
                session, Channel.WECOM, userid, now=clock.now()
            )
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP, SECRET, AGENT, base_url=base_url, clock=clock)
        try:
            yield WeCom(api, WeComSender(client, wecom_messages, sessions=sessions), address)
        finally:
            await client.close()


def notice(data: str = "read|7") -> Reply:
    return Reply([Msg("broadcast.channel.wecom")], [[Button("已阅", data)]])


async def test_a_notice_reaches_its_member_as_a_card_whose_button_keeps_the_receipt(wecom):
    result = await wecom.sender.send(Outgoing(wecom.address["zhang"], "zh_CN", notice()))
    assert result.outcome is Outcome.SENT
    [sent] = wecom.api.sent
    assert sent.users == ("zhang",) and sent.msgtype == "template_card"
    assert sent.body["button_list"][0]["key"] == "read|7"


async def test_a_member_wecom_does_not_know_fails_for_good(wecom):
    result = await wecom.sender.send(Outgoing(wecom.address["gone"], "zh_CN", notice()))
    assert (result.outcome, result.error[:5]) == (Outcome.FAILED, "81013")
    telegram_address = 123456
    result = await wecom.sender.send(Outgoing(telegram_address, "zh_CN", notice()))
    assert result.outcome is Outcome.FAILED  # not a WeCom identity


async def test_an_expired_token_is_fetched_again_and_the_message_goes_once(wecom):
    await wecom.sender.send(Outgoing(wecom.address["zhang"], "zh_CN", notice()))
    wecom.api.expire_tokens()
    result = await wecom.sender.send(Outgoing(wecom.address["li"], "zh_CN", notice()))
    assert result.outcome is Outcome.SENT
    assert wecom.api.token_fetches == 2 and len(wecom.api.sent) == 2


async def test_past_the_application_limit_wecom_refuses_and_the_sender_says_wait(wecom):
    wecom.api.limits = WeComLimits(app_per_minute=1)
    first = await wecom.sender.send(Outgoing(wecom.address["zhang"], "zh_CN", notice()))
    refused = await wecom.sender.send(Outgoing(wecom.address["li"], "zh_CN", notice()))
    assert first.outcome is Outcome.SENT
    assert (refused.outcome, refused.retry_after) == (Outcome.RETRY_AFTER, 60.0)
    assert len(wecom.api.sent) == 1 and wecom.api.refused_45009 == 1


async def test_past_a_member_limit_wecom_answers_ok_and_drops_the_message(wecom):
    wecom.api.limits = WeComLimits(member_per_minute=2)
    results = [
        await wecom.sender.send(Outgoing(wecom.address["zhang"], "zh_CN", notice()))
        for _ in range(3)
    ]
    assert [r.outcome for r in results] == [Outcome.SENT] * 3  # WeCom says nothing
    assert len(wecom.api.sent) == 2 and len(wecom.api.dropped) == 1


@pytest.mark.parametrize(("kind", "when"), [("5xx", "before"), ("drop", "after")])
async def test_a_5xx_or_a_dropped_connection_leaves_it_unknown(sessions, clock, kind, when):
    faults = WeComFaults(
        error_5xx=1.0 if kind == "5xx" else 0.0,
        drop=1.0 if kind == "drop" else 0.0,
        after_5xx=1.0 if when == "after" else 0.0,
        after_drop=1.0 if when == "after" else 0.0,
    )
    api = FakeWeComAPI(CORP, SECRET, AGENT, clock, users={"zhang"}, faults=faults)
    async with transaction(sessions) as session:
        _, address = await users_repo.meet(session, Channel.WECOM, "zhang", now=clock.now())
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP, SECRET, AGENT, base_url=base_url, clock=clock)
        sender = WeComSender(client, wecom_messages, sessions=sessions)
        result = await sender.send(Outgoing(address, "zh_CN", notice()))
        await client.close()
    assert result.outcome is Outcome.UNKNOWN
    assert len(api.sent) == (1 if when == "after" else 0)
    assert faults.log == {(kind, when): 1}


async def test_a_connection_never_made_is_provably_not_sent(sessions, clock):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with transaction(sessions) as session:
        _, address = await users_repo.meet(session, Channel.WECOM, "zhang", now=clock.now())
    client = WeComClient(CORP, SECRET, AGENT, base_url=f"http://127.0.0.1:{port}", clock=clock)
    sender = WeComSender(client, wecom_messages, sessions=sessions)
    result = await sender.send(Outgoing(address, "zh_CN", notice()))
    await client.close()
    assert result.outcome is Outcome.NOT_SENT


def test_a_members_minute_hour_and_the_applications_day_are_kept_before_sending():
    pacer = QuotaPacer(per_minute=25, per_hour=3, per_day=4)
    member, other = 1 << 56, (1 << 56) + 1
    waits = []
    for at in (0.0, 10.0, 20.0):
        assert pacer.wait(member, at) <= 0
        pacer.take(Place(member, at, answered=at))
        waits.append(pacer.wait(member, at))
    # Evenly spread within a minute (60 / 25 s apart), until the member's hour is full.
    assert waits == pytest.approx([60 / 25, 60 / 25, 3600 - 20])
    pacer.take(Place(other, 50.0, answered=50.0))
    assert pacer.wait(other + 1, 60.0) == pytest.approx(86_400 - 60)  # the day is full
    pacer.give_back(Place(other, 50.0))  # never reached WeCom: it counts nowhere
    assert pacer.wait(other + 1, 60.0) <= 0


class TelegramFake:
    """Telegram's side in this test: every send arrives."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.posts: list[tuple[int, Reply]] = []
        self.ids = itertools.count(1)

    async def send(self, out: Outgoing) -> Result:
        self.sent.append(out.chat_id)
        return Result(Outcome.SENT, message_id=next(self.ids))

    async def post(self, chat_id: int, locale: str, reply: Reply) -> int | None:
        self.posts.append((chat_id, reply))
        return next(self.ids)

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Reply) -> None:
        """Nothing to do."""


async def running_broadcast(session, clock, *, by: int) -> Broadcast:
    """A running notice to every info officer, its rows written as a launch writes them."""
    broadcast = Broadcast(
        created_by=by,
        audience="{}",
        text="通知：测试",
        status=BroadcastStatus.RUNNING,
        created_at=clock.now(),
        started_at=clock.now(),
    )
    session.add(broadcast)
    await session.flush()
    where = [col(User.role) == "info_officer"]
    broadcast.total = await broadcasts_repo.enqueue(
        session=session, broadcast_id=broadcast.id, where=where, default_locale="zh_CN"
    )
    return broadcast


def two_channel_pipeline(
    telegram: TelegramFake, wecom: WeCom, sessions, engine, clock, config=None
):
    """The pipeline as the app builds it with WeCom's sender beside Telegram's."""
    return service.build_pipeline(
        telegram,
        sessions=sessions,
        engine=engine,
        clock=clock,
        tz=ZoneInfo(ZONE),
        config=config or DeliverySettings(),
        others={"wecom": wecom.sender},
    )


async def test_a_broadcast_reaches_telegram_and_wecom_people_once_each_on_their_lanes(
    sessions, engine, clock, wecom, tree  # noqa: F811
):
    org = tree["呼和浩特市科协"]
    async with transaction(sessions) as session:
        for n in range(3):
            person = await users_repo.upsert_user(
                session=session, telegram_id=6000 + n, username=None, now=clock.now()
            )
            person.org_id, person.role = org.id, "info_officer"
        for userid in ("zhang", "li"):
            person = await users_repo.person_at(session, wecom.address[userid])
            person.org_id, person.role = org.id, "info_officer"
        both = await users_repo.upsert_user(
            session=session, telegram_id=6100, username=None, now=clock.now()
        )
        wang = await identities_repo.add_identity(
            session, channel=Channel.WECOM, external_id="wang", now=clock.now(), user_id=both.id
        )
        wecom.api.users.add("wang")
        both.org_id, both.role, both.reach = org.id, "info_officer", Reach.ALL.value
        broadcast = await running_broadcast(session, clock, by=6000)
    assert broadcast.total == 7  # 3 on Telegram, 2 on WeCom, one person on both
    telegram = TelegramFake()
    pipeline = two_channel_pipeline(telegram, wecom, sessions, engine, clock)
    pipeline.sleep = ClockSleep(clock)
    await pipeline.drain()
    assert sorted(telegram.sent) == [6000, 6001, 6002, 6100]
    assert sorted(u for m in wecom.api.sent for u in m.users) == ["li", "wang", "zhang"]
    # WeCom's went on WeCom's own lane (its day counts them), Telegram's on the free lane.
    assert pipeline.lanes["wecom"].chats.day.used(clock.now().timestamp()) == 3
    async with transaction(sessions) as session:
        figures = await broadcasts.progress(session, broadcast.id)
        rows = (await session.exec(select(BroadcastDelivery))).all()
    assert {(c.channel, c.sent, c.total) for c in figures.channels} == {
        ("telegram", 4, 4),
        ("wecom", 3, 3),
    }
    assert {r.chat_id for r in rows if r.channel == "wecom"} == {
        wecom.address["zhang"], wecom.address["li"], identities_repo.address_of(wang)
    }
    report = telegram.posts[-1][1]
    assert [m.key for m in report.texts if m.key == "broadcast.report_channel"] == [
        "broadcast.report_channel"
    ] * 2


async def test_a_45009_holds_wecom_for_a_minute_and_telegram_goes_on(
    sessions, engine, clock, wecom, tree  # noqa: F811
):
    org = tree["呼和浩特市科协"]
    extra = ["wu", "zhou"]
    wecom.api.users.update(extra)
    async with transaction(sessions) as session:
        for n in range(2):
            person = await users_repo.upsert_user(
                session=session, telegram_id=7000 + n, username=None, now=clock.now()
            )
            person.org_id, person.role = org.id, "info_officer"
        for userid in ("zhang", "li", *extra):
            person, _ = await users_repo.meet(session, Channel.WECOM, userid, now=clock.now())
            person.org_id, person.role = org.id, "info_officer"
        await running_broadcast(session, clock, by=7000)
    wecom.api.limits = WeComLimits(app_per_minute=2)
    telegram = TelegramFake()
    pipeline = two_channel_pipeline(telegram, wecom, sessions, engine, clock)
    pipeline.sleep = sleep = ClockSleep(clock)
    start = clock.now()
    await pipeline.drain()
    assert sorted(telegram.sent) == [7000, 7001]
    assert wecom.api.refused_45009 >= 1
    assert pipeline.lanes["wecom"].retry_after_hits >= 1
    assert pipeline.budget.retry_after_hits == 0  # Telegram's lane never paused
    assert sorted(u for m in wecom.api.sent for u in m.users) == ["li", "wu", "zhang", "zhou"]
    assert (clock.now() - start).total_seconds() >= 60  # two went, the rest a minute later
    assert max(sleep.calls) <= 60.0 + 1


class TelegramFiles:
    """Telegram's files as the runtime's file source holds them: one photo, downloads counted."""

    def __init__(self, data: bytes) -> None:
        self.data, self.downloads = data, 0

    async def locate(self, file_id: str) -> Located:
        return Located(len(self.data), SimpleNamespace(file_path=f"photos/{file_id}.jpg"))

    async def download(self, located: Located) -> bytes:
        self.downloads += 1
        return self.data


async def test_a_notices_attachment_held_by_telegram_reaches_members_fetched_and_uploaded_once(
    wecom, tmp_path
):
    photo = b"\xff\xd8\xff" + bytes(2000)  # a JPEG's start; the fake checks only the name
    files = TelegramFiles(photo)

    async def attach(locale: str, shown: list[Album]) -> list[WeComMessage]:
        return await outcomes.albums(locale, shown, MediaStore(tmp_path), {"telegram": files})

    sender = WeComSender(wecom.sender.client, wecom_messages, sessions=wecom.sender.sessions)
    sender.attach = attach
    reply = replace(notice(), albums=[Album((Media("photo", "tg-photo-1"),))])
    for member in ("zhang", "li"):
        result = await sender.send(Outgoing(wecom.address[member], "zh_CN", reply))
        assert result.outcome is Outcome.SENT
    images = [sent for sent in wecom.api.sent if sent.msgtype == "image"]
    assert [sent.users for sent in images] == [("zhang",), ("li",)]
    assert images[0].body["media_id"] == images[1].body["media_id"]
    assert wecom.api.media[images[0].body["media_id"]].content == photo
    assert (files.downloads, len(wecom.api.media)) == (1, 1)  # one fetch, one upload
