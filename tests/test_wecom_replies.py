"""Replies and direct notices to WeCom members in WeCom's budget (bot/wecom/sender.py's
`WeComReplies` on the lane of bot/delivery/budget.py): a member's burst then the sustained
rate, the application's pace shared with a broadcast's bulk, WeCom's refusals waited out."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta

import pytest

from bot.delivery.budget import Place, QuotaPacer
from bot.delivery.outcome import Outcome
from bot.delivery.settings import DeliverySettings
from bot.wecom.client import Text, WeComClient
from bot.wecom.sender import WeComReplies
from offline.wecom_api import FakeWeComAPI, SentMessage, WeComFaults, WeComLimits, serving
from storage import users_repo
from storage.db import transaction
from storage.identity_models import Channel
from tests.harness import ClockSleep
from tests.test_broadcast import tree  # noqa: F401 - a fixture
from tests.test_wecom_dispatch import ZHANG, log_up_to_photos, register, stored
from tests.test_wecom_sender import (
    AGENT,
    CORP,
    SECRET,
    TelegramFake,
    running_broadcast,
    two_channel_pipeline,
)
from tests.test_wecom_sender import wecom as wecom
from tests.wecom_support import wecom_bot


def most_in(times: list[float], seconds: float) -> int:
    """The most of ``times`` (sorted) within any ``seconds``."""
    window: deque[float] = deque()
    most = 0
    for at in times:
        window.append(at)
        while window[0] <= at - seconds:
            window.popleft()
        most = max(most, len(window))
    return most


def times_of(sent: list[SentMessage], user: str | None = None) -> list[float]:
    return [m.at.timestamp() for m in sent if user is None or user in m.users]


def test_a_member_gets_a_burst_then_the_sustained_rate_and_never_more_than_29_a_minute():
    pacer = QuotaPacer(per_minute=25, per_hour=900, per_day=10_000, burst=4)
    member, now, went = 1 << 56, 0.0, []
    while now < 300:
        while pacer.wait(member, now) <= 0:  # as many as may go at this moment
            pacer.take(Place(member, now, answered=now))
            went.append(now)
        now = round(now + 0.1, 1)
    assert went[:4] == [0.0, 0.0, 0.0, 0.0]  # a reply of several messages goes at once
    assert went[4:6] == pytest.approx([2.4, 4.8], abs=0.11)  # then 60 / 25 s apart
    assert 28 <= most_in(went, 60.0) <= 29  # WeCom drops what passes 30 in a minute
    pacer.give_back(Place(member, went[-1]))  # never reached WeCom: its token comes back
    assert pacer.wait(member, went[-1]) <= 0


async def test_a_member_pressing_fast_through_forms_gets_every_reply_in_order(
    settings,
    clock,
    sessions,
    tree,  # noqa: F811
):
    async with wecom_bot(settings, clock, {ZHANG}) as wecom:
        wecom.api.limits = WeComLimits()  # WeCom's 30 a minute per member, the rest dropped
        start = clock.now()
        await register(wecom, sessions, clock, tree)
        for _ in range(5):  # a step a second, 1-3 messages each
            await log_up_to_photos(wecom, "青山区")
            await wecom.press(ZHANG, "跳过")
            confirm = await wecom.press(ZHANG, "确认提交")
            assert any("已记录" in s.text for s in confirm)  # each step saw its own reply
        sent = wecom.api.sent
    assert wecom.api.dropped == []
    assert len(sent) > 45  # well past a minute of WeCom's per-member limit
    assert most_in(times_of(sent, ZHANG), 60.0) <= 29
    assert len(await stored(sessions)) == 5
    # A step waited for its member's rate only when the burst was spent.
    assert (clock.now() - start).total_seconds() < 3 * len(sent)


async def members(sessions, clock, tree, api: FakeWeComAPI, count: int) -> None:  # noqa: F811
    org = tree["呼和浩特市科协"]
    async with transaction(sessions) as session:
        for n in range(count):
            userid = f"m{n:03d}"
            api.users.add(userid)
            person, _ = await users_repo.meet(session, Channel.WECOM, userid, now=clock.now())
            person.org_id, person.role = org.id, "info_officer"
        await running_broadcast(session, clock, by=7000)


async def test_a_broadcast_and_members_replies_together_keep_the_applications_rate(
    sessions,
    engine,
    clock,
    wecom,
    tree,  # noqa: F811
):
    # An application held to 60 messages a minute: WeCom's lane at one a second (its window
    # of one), the fake refusing the 61st in a minute with 45009.
    await members(sessions, clock, tree, wecom.api, 50)
    wecom.api.limits = WeComLimits(app_per_minute=60)
    config = DeliverySettings(wecom_rate=0.9, wecom_limit=1)
    pipeline = two_channel_pipeline(TelegramFake(), wecom, sessions, engine, clock, config)
    pipeline.sleep = ClockSleep(clock)
    lane = pipeline.lanes["wecom"]
    replies = WeComReplies(wecom.sender.client, lane)
    order: list[str] = []

    async def member_in_a_form(userid: str) -> None:
        for step in range(10):  # a step of a text and a card, pressed as fast as they come
            for part in ("text", "card"):
                line = f"{userid} {step} {part}"
                result = await replies.send(Text(line), userid, wecom.address[userid])
                assert result.outcome is Outcome.SENT
                order.append(line)
            await asyncio.sleep(0)

    await asyncio.gather(pipeline.drain(), member_in_a_form("zhang"), member_in_a_form("li"))
    assert wecom.api.refused_45009 == 0 and wecom.api.dropped == []
    everyone = times_of(wecom.api.sent)
    assert len(everyone) == 50 + 2 * 20
    assert most_in(everyone, 60.0) <= 60
    for userid in ("zhang", "li"):
        shown = [m.body["content"] for m in wecom.api.sent if m.users == (userid,)]
        assert shown == [line for line in order if line.startswith(userid)]


async def test_a_reply_wecom_refuses_with_45009_goes_after_the_pause(
    sessions, engine, clock, wecom
):
    pipeline = two_channel_pipeline(TelegramFake(), wecom, sessions, engine, clock)
    pipeline.sleep = ClockSleep(clock)
    lane = pipeline.lanes["wecom"]
    replies = WeComReplies(wecom.sender.client, lane, pause=60.0)
    wecom.api.fail_next(45009)
    start = clock.now()
    result = await replies.send(Text("第 1/5 栏"), "zhang", wecom.address["zhang"])
    assert result.outcome is Outcome.SENT
    assert [m.body["content"] for m in wecom.api.sent] == ["第 1/5 栏"]
    assert clock.now() - start >= timedelta(seconds=60)
    assert lane.retry_after_hits == 1
    assert lane.chats.day.used(clock.now().timestamp()) == 1  # the refused one counts nowhere


async def test_a_reply_whose_answer_was_lost_is_not_sent_again(sessions, clock):
    api = FakeWeComAPI(CORP, SECRET, AGENT, clock, users={"zhang"})
    api.faults = WeComFaults(error_5xx=1.0, after_5xx=1.0)  # processed, then a 502
    async with transaction(sessions) as session:
        _, address = await users_repo.meet(session, Channel.WECOM, "zhang", now=clock.now())
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP, SECRET, AGENT, base_url=base_url, clock=clock)
        result = await WeComReplies(client).send(Text("已记录"), "zhang", address)
        await client.close()
    assert result.outcome is Outcome.UNKNOWN
    assert len(api.sent) == 1  # went once; not repeated
