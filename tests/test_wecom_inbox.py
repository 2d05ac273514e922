"""WeCom's callback URL and inbox, end to end over loopback: callbacks made by
offline/wecom_api.py's WeComCallbacks against the real endpoint (bot/wecom/callback.py), stored
in the test database (SQLite, or PostgreSQL in the gate's second run) and handed by the inbox
workers to a recording EventHandler in each member's order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.common.clock import FrozenClock
from bot.wecom.callback import callback_app
from bot.wecom.crypto import WeComCrypto
from bot.wecom.events import EventKind, WeComEvent
from bot.wecom.inbox import MAX_RETRIES, WeComInbox, mark_handled, member_key
from offline.wecom_api import CallbackRequest, WeComCallbacks, serving
from storage.db import SessionFactory, transaction
from storage.wecom_inbox_models import WeComInboxEvent

CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
TOKEN = "callback-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PATH = "/wecom/callback"


@dataclass
class Recorder:
    """An EventHandler that records what it got, and how many of a member's ran at once."""

    events: list[WeComEvent] = field(default_factory=list)
    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    most_at_once: int = 0
    pause: float = 0.0

    async def __call__(self, event: WeComEvent) -> None:
        self.running[event.user_id] += 1
        self.most_at_once = max(self.most_at_once, self.running[event.user_id])
        try:
            await asyncio.sleep(self.pause)  # room for another worker to overlap, if it could
            self.events.append(event)
        finally:
            self.running[event.user_id] -= 1

    def texts(self, user: str | None = None) -> list[str]:
        return [e.text for e in self.events if user is None or e.user_id == user]


@dataclass
class Endpoint:
    url: str
    inbox: WeComInbox
    http: aiohttp.ClientSession
    callbacks: WeComCallbacks

    async def deliver(self, request: CallbackRequest) -> tuple[int, str]:
        return await self.callbacks.deliver(self.http, self.url, request)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def callbacks(crypto: WeComCrypto, clock: FrozenClock) -> WeComCallbacks:
    return WeComCallbacks(CORP_ID, AGENT_ID, crypto, clock)


@asynccontextmanager
async def endpoint(
    sessions: SessionFactory,
    clock: FrozenClock,
    crypto: WeComCrypto,
    callbacks: WeComCallbacks,
    handler,
    *,
    start: bool = True,
) -> AsyncIterator[Endpoint]:
    """One process's callback URL and inbox (started unless ``start`` is False)."""
    inbox = WeComInbox(sessions, clock, handler, sleep=_no_wait)
    async with serving(callback_app(crypto, inbox.receive, PATH), path=PATH) as url:
        if start:
            await inbox.start()
        async with aiohttp.ClientSession() as http:
            try:
                yield Endpoint(url, inbox, http, callbacks)
            finally:
                await inbox.stop()


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


async def _rows(sessions: SessionFactory) -> list[WeComInboxEvent]:
    async with transaction(sessions) as session:
        query = select(WeComInboxEvent).order_by(WeComInboxEvent.id)
        return list((await session.exec(query)).scalars().all())


async def test_the_url_check_answers_the_echo_as_plain_text(sessions, clock, crypto, callbacks):
    async with endpoint(sessions, clock, crypto, callbacks, Recorder()) as ep:
        status, body = await ep.deliver(callbacks.url_check("echo-8127"))
        assert (status, body) == (200, "echo-8127")
        forged = callbacks.url_check("x")
        forged = CallbackRequest({**forged.query, "msg_signature": "0" * 40})
        assert (await ep.deliver(forged))[0] == 403
        health = await ep.http.get(ep.url + "/healthz")
        assert health.status == 200


async def test_an_event_is_stored_before_the_answer(sessions, clock, crypto, callbacks):
    # The worker is not started: what the 200 promises is the stored row alone.
    async with endpoint(sessions, clock, crypto, callbacks, Recorder(), start=False) as ep:
        status, body = await ep.deliver(callbacks.text("zhangsan", "报送 3场讲座", msg_id=1))
        assert (status, body) == (200, "")
        [row] = await _rows(sessions)
        assert (row.user_id, row.dedup_key, row.done_at) == ("zhangsan", "msg:1", None)
        assert "报送 3场讲座" in row.payload and row.member_key == member_key("zhangsan")


async def test_text_card_press_and_image_reach_the_handler_in_order(
    sessions, clock, crypto, callbacks
):
    recorder = Recorder()
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        for request in (
            callbacks.text("zhangsan", "/log", msg_id=1),
            callbacks.card_event("zhangsan", "ack:12", "task-12", "response-msg-3"),
            callbacks.image("zhangsan", "media-7", msg_id=2),
        ):
            assert await ep.deliver(request) == (200, "")
        await ep.inbox.idle()
    kinds = [e.kind for e in recorder.events]
    assert kinds == [EventKind.TEXT, EventKind.CARD_BUTTON, EventKind.IMAGE]
    card, image = recorder.events[1], recorder.events[2]
    assert (card.event_key, card.task_id, card.response_code) == (
        "ack:12",
        "task-12",
        "response-msg-3",
    )
    assert image.media_id == "media-7"
    assert all(row.done_at is not None and not row.gave_up for row in await _rows(sessions))


async def test_a_bad_signature_is_403_and_nothing_is_stored(sessions, clock, crypto, callbacks):
    recorder = Recorder()
    stranger = WeComCallbacks(CORP_ID, AGENT_ID, WeComCrypto("other", AES_KEY, CORP_ID), clock)
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        request = callbacks.text("zhangsan", "hi", msg_id=1)
        forged = CallbackRequest({**request.query, "msg_signature": "f" * 40}, request.body)
        assert (await ep.deliver(forged))[0] == 403
        assert (await ep.deliver(stranger.text("zhangsan", "hi", msg_id=2)))[0] == 403
        garbled = CallbackRequest(request.query, "<xml><Encrypt>a</Encrypt>")
        assert (await ep.deliver(garbled))[0] in (400, 403)
        await ep.inbox.idle()
    assert await _rows(sessions) == [] and recorder.events == []


async def test_a_redelivered_event_is_200_and_handled_once(sessions, clock, crypto, callbacks):
    recorder = Recorder()
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        text = callbacks.text("zhangsan", "收到", msg_id=5)
        press = callbacks.card_event("lisi", "ack:1", "task-1", "rc-1")
        for _ in range(3):  # WeCom tries an unanswered callback three times
            assert await ep.deliver(text) == (200, "")
            assert await ep.deliver(press) == (200, "")
        await ep.inbox.idle()
    assert len(await _rows(sessions)) == 2
    assert sorted(e.user_id for e in recorder.events) == ["lisi", "zhangsan"]


async def test_stored_events_are_handled_after_a_restart(sessions, clock, crypto, callbacks):
    # A process that stored and answered, then died before its worker ran them.
    async with endpoint(sessions, clock, crypto, callbacks, Recorder(), start=False) as ep:
        for n in range(1, 4):
            assert (await ep.deliver(callbacks.text("zhangsan", f"第{n}条", msg_id=n)))[0] == 200
        assert (await ep.deliver(callbacks.text("lisi", "另一个人", msg_id=9)))[0] == 200
    recorder = Recorder()
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        await ep.inbox.idle()
    assert recorder.texts("zhangsan") == ["第1条", "第2条", "第3条"]
    assert recorder.texts("lisi") == ["另一个人"]
    assert all(row.done_at is not None for row in await _rows(sessions))


async def test_two_workers_keep_each_members_order_and_never_overlap(
    sessions, clock, crypto, callbacks
):
    """Two processes on one database, WeCom's callbacks spread over both (a load balancer):
    each member's events run one at a time, in order, and each exactly once."""
    recorder = Recorder(pause=0.002)
    async with (
        endpoint(sessions, clock, crypto, callbacks, recorder) as one,
        endpoint(sessions, clock, crypto, callbacks, recorder) as two,
    ):
        users = ["zhangsan", "lisi", "wangwu"]
        sends = [
            (one if n % 2 else two).deliver(callbacks.text(users[n % 3], f"{n:02d}", msg_id=n))
            for n in range(30)
        ]
        for send in sends:  # in order: WeCom posts a member's messages as they were sent
            assert (await send)[0] == 200
        for _ in range(500):  # a runner that gave a member up may hand it to the other
            if len(recorder.events) >= 30:
                break
            await one.inbox.idle()
            await two.inbox.idle()
            await asyncio.sleep(0.01)
    assert recorder.most_at_once == 1
    for i, user in enumerate(users):
        assert recorder.texts(user) == [f"{n:02d}" for n in range(30) if n % 3 == i]


async def test_a_failure_that_may_pass_is_tried_again(sessions, clock, crypto, callbacks):
    calls: list[str] = []

    async def flaky(event: WeComEvent) -> None:
        calls.append(event.text)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, ConnectionError("database restarting"))

    async with endpoint(sessions, clock, crypto, callbacks, flaky) as ep:
        await ep.deliver(callbacks.text("zhangsan", "a", msg_id=1))
        await ep.inbox.idle()
    assert calls == ["a", "a", "a"]
    [row] = await _rows(sessions)
    assert row.done_at is not None and not row.gave_up


async def test_a_broken_event_is_given_up_and_the_next_goes_on(
    sessions, clock, crypto, callbacks, caplog
):
    handled: list[str] = []

    async def broken_on_b(event: WeComEvent) -> None:
        if event.text == "secret b":
            raise ValueError("bug")
        handled.append(event.text)

    async with endpoint(sessions, clock, crypto, callbacks, broken_on_b) as ep:
        for n, text in enumerate(["a", "secret b", "c"], start=1):
            await ep.deliver(callbacks.text("zhangsan", text, msg_id=n))
        await ep.inbox.idle()
    assert handled == ["a", "c"]
    assert [row.gave_up for row in await _rows(sessions)] == [False, True, False]
    assert "secret b" not in caplog.text  # the member's words stay out of the log


async def test_an_event_that_keeps_crashing_the_process_is_given_up(
    sessions, clock, crypto, callbacks
):
    async with endpoint(sessions, clock, crypto, callbacks, Recorder(), start=False) as ep:
        await ep.deliver(callbacks.text("zhangsan", "poison", msg_id=1))
    async with transaction(sessions) as session:  # as if it had crashed MAX_RETRIES + 1 times
        row = (await session.exec(select(WeComInboxEvent))).scalars().one()
        row.attempts = MAX_RETRIES + 1
        session.add(row)
    recorder = Recorder()
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        await ep.inbox.idle()
    assert recorder.events == []
    assert (await _rows(sessions))[0].gave_up


async def test_a_handler_marks_the_event_done_with_its_effects(sessions, clock, crypto, callbacks):
    seen: list[bool] = []

    async def transactional(event: WeComEvent) -> None:
        async with transaction(sessions) as session:
            seen.append(await mark_handled(session, clock.now()))
            count = select(func.count()).select_from(WeComInboxEvent)
            count = count.where(WeComInboxEvent.done_at.is_not(None))
            seen.append((await session.exec(count)).scalar() == 1)  # marked, not yet committed

    async with endpoint(sessions, clock, crypto, callbacks, transactional) as ep:
        await ep.deliver(callbacks.text("zhangsan", "a", msg_id=1))
        await ep.inbox.idle()
    assert seen == [True, True]
    [row] = await _rows(sessions)
    assert row.done_at is not None and not row.gave_up


def test_member_keys_are_apart_from_telegram_chats_and_addresses() -> None:
    keys = {member_key(f"user{n}") for n in range(1000)}
    assert len(keys) == 1000
    assert all(key < -(1 << 62) for key in keys)
    assert member_key("zhangsan") == member_key("zhangsan")


async def test_callbacks_arriving_together_are_stored_once_each(
    sessions, clock, crypto, callbacks
):
    """A burst is stored in one group commit: an event retried while its first delivery is
    still being stored is one row, and every callback of the burst is answered 200."""
    recorder = Recorder()
    async with endpoint(sessions, clock, crypto, callbacks, recorder) as ep:
        same = callbacks.text("zhangsan", "重复", msg_id=1)
        others = [callbacks.text(f"user{n}", f"{n}", msg_id=100 + n) for n in range(20)]
        answers = await asyncio.gather(*(ep.deliver(r) for r in [same, *others, same, same]))
        assert {status for status, _ in answers} == {200}
        await ep.inbox.idle()
    assert len(await _rows(sessions)) == 21
    assert recorder.texts("zhangsan") == ["重复"] and len(recorder.events) == 21


async def test_an_event_not_stored_is_500_so_that_wecom_tries_again(crypto, callbacks, caplog):
    async def database_away(event: WeComEvent, plain_xml: str) -> bool:
        raise OperationalError("INSERT …", {"payload": plain_xml}, ConnectionError("gone"))

    async with (
        serving(callback_app(crypto, database_away, PATH), path=PATH) as url,
        aiohttp.ClientSession() as http,
    ):
        request = callbacks.text("zhangsan", "联系电话13800000000", msg_id=1)
        status, _ = await callbacks.deliver(http, url, request)
    assert status == 500
    assert "OperationalError" in caplog.text and "13800000000" not in caplog.text


async def test_the_answer_does_not_wait_for_the_handler(sessions, clock, crypto, callbacks):
    """WeCom gets its 200 once the event is stored, while the member's earlier event is
    still being handled (the reply goes out later through message/send)."""
    release = asyncio.Event()
    started: list[str] = []

    async def slow(event: WeComEvent) -> None:
        started.append(event.text)
        await release.wait()

    async with endpoint(sessions, clock, crypto, callbacks, slow) as ep:
        assert (await ep.deliver(callbacks.text("zhangsan", "一", msg_id=1)))[0] == 200
        while not started:
            await asyncio.sleep(0)
        for n, text in ((2, "二"), (3, "三")):
            assert await ep.deliver(callbacks.text("zhangsan", text, msg_id=n)) == (200, "")
        assert started == ["一"]  # the member's next events wait their turn
        release.set()
        await ep.inbox.idle()
    assert started == ["一", "二", "三"]
