"""The delivery package: classifying answers, the reply policy, and the budget shared through
the database by two senders (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx
import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationHandlerStop, TypeHandler
from telegram.request import HTTPXRequest

from bot.delivery.budget import ChatPacer, SharedBudget
from bot.delivery.outcome import Outcome
from bot.telegram.replies import TRY_AGAIN_REPEATS, ReplyPolicy
from bot.telegram.sender import classify
from offline.updates import TgUser
from storage.db import transaction
from storage.inbox_models import InboxUpdate
from tests.harness import (
    Arrived,
    ClockSleep,
    ScriptedRequest,
    inbox_bot,
    running_bot,
    sent_texts,
    toasts,
)

USER = TgUser(id=41001, first_name="用户")
EN_USER = TgUser(id=41002, first_name="User", language_code="en")
TRY_AGAIN = "网络不稳定，刚才的回复可能没有发出，请再试一次。"
TRY_AGAIN_EN = "The connection failed and my reply may not have arrived. Please try again."
BAD_GATEWAY = (502, {"description": "Bad Gateway"})


def caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RetryAfter(3), Outcome.RETRY_AFTER),
        (Forbidden("bot was blocked by the user"), Outcome.BLOCKED),
        (BadRequest("chat not found"), Outcome.FAILED),
        (caused(NetworkError("x"), httpx.ConnectError("refused")), Outcome.NOT_SENT),
        (caused(TimedOut(), httpx.ConnectTimeout("slow")), Outcome.NOT_SENT),
        (caused(TimedOut(), httpx.PoolTimeout("busy")), Outcome.NOT_SENT),
        (caused(TimedOut(), httpx.ReadTimeout("late")), Outcome.UNKNOWN),
        (TimedOut("Connect or pool timeout: the request was not sent"), Outcome.NOT_SENT),
        (caused(NetworkError("x"), httpx.RemoteProtocolError("gone")), Outcome.UNKNOWN),
        (NetworkError("Bad Gateway"), Outcome.UNKNOWN),
    ],
)
def test_only_what_provably_did_not_arrive_is_retryable(error, outcome):
    assert classify(error).outcome is outcome


async def test_ptb_wraps_a_refused_connection_so_that_it_reads_as_never_sent():
    """Through PTB's own HTTPXRequest: what reaches the pipeline from httpx's errors."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    for handler, outcome in ((refuse, Outcome.NOT_SENT), (drop, Outcome.UNKNOWN)):
        request = HTTPXRequest(httpx_kwargs={"transport": httpx.MockTransport(handler)})
        bot = Bot("1:x", request=request, get_updates_request=request)
        await request.initialize()
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(1, "x")
        assert classify(raised.value).outcome is outcome
        await request.shutdown()


async def scripted_bot(bot, script: dict[str, list[Any]], clock) -> list[float]:
    """Put the scripted answers under the application's reply policy; returns its waits (each
    moves the frozen clock instead of sleeping)."""
    policy: ReplyPolicy = bot.app.bot.request
    policy.inner = ScriptedRequest(bot.api, script, now=lambda: clock.now().timestamp())
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    policy.sleep = no_wait
    policy.budget.sleep = no_wait
    return waits


async def test_a_reply_that_got_429_waits_and_is_sent(settings, clock):
    too_many = (429, {"description": "Too Many Requests", "parameters": {"retry_after": 4}})
    async with running_bot(settings, clock) as bot:
        waits = await scripted_bot(bot, {"sendMessage": [too_many]}, clock)
        calls = await bot.text(USER, "/help")
        assert waits == [4.0]
        assert len(bot.api.sent_messages(USER.id)) == 1
        assert sent_texts(calls)


async def test_a_reply_whose_connection_was_never_made_is_sent_again(settings, clock):
    refused = caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused"))
    async with running_bot(settings, clock) as bot:
        waits = await scripted_bot(bot, {"sendMessage": [refused, refused]}, clock)
        await bot.text(USER, "/help")
        assert len(waits) == 2
        assert len(bot.api.sent_messages(USER.id)) == 1


async def test_a_reply_that_may_have_arrived_is_not_repeated_the_user_is_told_once(
    settings, clock
):
    async with running_bot(settings, clock) as bot:
        await scripted_bot(bot, {"sendMessage": [(502, {"description": "Bad Gateway"})]}, clock)
        calls = await bot.text(USER, "/help")
        messages = bot.api.sent_messages(USER.id)
        assert [m["text"] for m in messages] == [TRY_AGAIN]
        assert len([c for c in calls if c.method == "sendMessage"]) == 1


def tried(bot) -> ScriptedRequest:
    """The scripted request under the bot's reply policy (see `scripted_bot`)."""
    return bot.app.bot.request.inner


def dropped_after_sending() -> Exception:
    return caused(NetworkError("x"), httpx.RemoteProtocolError("gone"))


BOTH_LOCALES = pytest.mark.parametrize(
    ("user", "try_again"), [(USER, TRY_AGAIN), (EN_USER, TRY_AGAIN_EN)], ids=["zh", "en"]
)


@BOTH_LOCALES
async def test_a_try_again_that_failed_unconfirmed_is_sent_again_in_the_chats_next_slot(
    settings, clock, user, try_again
):
    """The reply is lost (502), so is the first "please try again": it goes again, a second
    later (the chat's slot), and the user reads it once; the reply itself is never repeated."""
    async with running_bot(settings, clock) as bot:
        await scripted_bot(bot, {"sendMessage": [BAD_GATEWAY, BAD_GATEWAY]}, clock)
        await bot.text(user, "/help")
        sends = tried(bot).texts_tried()
    assert [m["text"] for m in bot.api.sent_messages(user.id)] == [try_again]
    assert [text for _, text in sends[1:]] == [try_again, try_again]
    assert sends[2][0] - sends[1][0] >= 1.0  # the chat's 1/s, not a burst


@BOTH_LOCALES
async def test_a_try_again_that_arrived_unconfirmed_may_be_read_twice_never_not_at_all(
    settings, clock, user, try_again
):
    """Its connection dropped after Telegram took it: sent again all the same (the trade-off:
    two short notes rather than the risk of silence)."""
    async with running_bot(settings, clock) as bot:
        lost = [BAD_GATEWAY, Arrived(dropped_after_sending())]
        await scripted_bot(bot, {"sendMessage": lost}, clock)
        await bot.text(user, "/help")
    assert [m["text"] for m in bot.api.sent_messages(user.id)] == [try_again, try_again]


@BOTH_LOCALES
async def test_a_try_again_that_got_429_waits_its_retry_after_and_is_sent_once(
    settings, clock, user, try_again
):
    too_many = (429, {"description": "Too Many Requests", "parameters": {"retry_after": 3}})
    async with running_bot(settings, clock) as bot:
        waits = await scripted_bot(bot, {"sendMessage": [BAD_GATEWAY, too_many]}, clock)
        await bot.text(user, "/help")
        sends = tried(bot).texts_tried()
    assert 3.0 in waits
    assert sends[2][0] - sends[1][0] >= 3.0
    assert [m["text"] for m in bot.api.sent_messages(user.id)] == [try_again]


async def test_a_try_again_whose_connection_was_never_made_is_sent_again(settings, clock):
    refused = caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused"))
    async with running_bot(settings, clock) as bot:
        await scripted_bot(bot, {"sendMessage": [BAD_GATEWAY, refused]}, clock)
        await bot.text(USER, "/help")
    assert [m["text"] for m in bot.api.sent_messages(USER.id)] == [TRY_AGAIN]


@pytest.mark.parametrize(
    "refusal",
    [
        (403, {"description": "Forbidden: bot was blocked by the user"}),
        (400, {"description": "Bad Request: chat not found"}),  # PTB: a NetworkError too
    ],
    ids=["403", "400"],
)
async def test_a_try_again_is_repeated_at_most_twice_and_never_after_a_refusal(
    settings, clock, refusal
):
    """Bounded: three attempts in all; a refusal for good ends it at once."""
    async with running_bot(settings, clock) as bot:
        await scripted_bot(bot, {"sendMessage": [BAD_GATEWAY] * 6}, clock)
        await bot.text(USER, "/help")
        assert len(tried(bot).texts_tried()) == 1 + 1 + TRY_AGAIN_REPEATS
        assert bot.api.sent_messages(USER.id) == []
        await scripted_bot(bot, {"sendMessage": [BAD_GATEWAY, refusal, BAD_GATEWAY]}, clock)
        await bot.text(USER, "/help")
        assert len(tried(bot).texts_tried()) == 2


@BOTH_LOCALES
async def test_a_press_whose_edit_fails_past_its_retries_gets_a_try_again_message(
    settings, clock, user, try_again
):
    """Its query is answered already, so a toast would not show: one "please try again"."""
    async with running_bot(settings, clock) as bot:
        await bot.text(user, "/lang")
        retries = bot.app.bot.request.retries
        await scripted_bot(bot, {"editMessageText": [BAD_GATEWAY] * (retries + 1)}, clock)
        calls = await bot.press(user, "English")
    assert [c.method for c in calls if c.method != "setMyCommands"] == [
        "answerCallbackQuery",
        "sendMessage",
    ]
    assert sent_texts(calls) == [try_again]
    assert toasts(calls) == [""]  # the press's own answer, no second one


async def reply_inside_its_transaction(update: Update, context) -> None:
    """A handler that replies before its transaction commits: a failed send undoes it."""
    async with context.rt.unit(update) as ctx:
        await context.bot.send_message(ctx.chat_id, "好的")
    raise ApplicationHandlerStop


@pytest.mark.parametrize("inside", [False, True])
async def test_through_the_inbox_an_unconfirmed_reply_is_done_not_retried(
    settings, clock, sessions, inside
):
    """The inbox retries only what may pass (the database); an update whose reply may have
    arrived is not handled again (that would send the reply twice), and the user is told once,
    whether the reply went after its transaction (/help) or inside it (rolled back)."""
    async with inbox_bot(settings, clock) as bot:
        if inside:  # group chatter no other handler answers, so this one is the only reply
            bot.app.add_handler(TypeHandler(Update, reply_inside_its_transaction), group=-9)
            chat = bot.factory.group()
            update = bot.factory.message(USER, "大家好", chat)
        else:
            chat, update = USER.private_chat(), bot.factory.command(USER, "/help")
        await scripted_bot(bot, {"sendMessage": [(502, {"description": "Bad Gateway"})]}, clock)
        await bot.receive(update)
        await bot.settle()
    async with transaction(sessions) as session:
        row = await session.get(InboxUpdate, update["update_id"])
    assert row.done_at is not None and row.attempts == 0
    assert [m["text"] for m in bot.api.sent_messages(chat["id"])] == [TRY_AGAIN]


async def test_edits_and_answers_are_retried_after_transient_failures(settings, clock):
    dropped = caused(NetworkError("x"), httpx.RemoteProtocolError("gone"))
    async with running_bot(settings, clock) as bot:
        await bot.text(USER, "/lang")
        waits = await scripted_bot(
            bot,
            {
                "answerCallbackQuery": [(500, {"description": "Internal"}), dropped],
                "editMessageText": [(502, {"description": "Bad Gateway"})],
            },
            clock,
        )
        calls = await bot.press(USER, "English")
        assert len(waits) == 3
        assert [c.method for c in calls].count("answerCallbackQuery") == 1
        assert any(c.method == "editMessageText" for c in calls)
        assert not any("try again" in t or "再试" in t for t in sent_texts(calls))


async def test_a_press_whose_answer_fails_past_its_retries_still_gets_its_edit(settings, clock):
    """The callback answer only stops the button's spinner: its failure does not cost the
    user the reply (the edit that follows)."""
    async with running_bot(settings, clock) as bot:
        await bot.text(USER, "/lang")
        policy: ReplyPolicy = bot.app.bot.request
        failing = [(500, {"description": "Internal"})] * (policy.retries + 1)
        await scripted_bot(bot, {"answerCallbackQuery": failing}, clock)
        calls = await bot.press(USER, "English")
    assert not failing  # every attempt made, and each failed
    assert [c.method for c in calls if c.method != "setMyCommands"] == ["editMessageText"]
    assert "English" in bot.last_text(USER.id)


async def test_two_senders_share_one_budget_and_one_pause(sessions, clock):
    """Two processes' budgets on one database: their slots interleave, never closer than the
    rate allows, and a 429 met by one holds the other back."""
    now = lambda: clock.now().timestamp()  # noqa: E731
    lanes = [
        SharedBudget(
            sessions=sessions,
            lane="free",
            reserve_ahead=0.2,
            rate=30,
            limit=30,
            window=1.0,
            now=now,
            chats=ChatPacer(1.0, 3.0),
        )
        for _ in range(2)
    ]
    slots: list[float] = []
    for turn in range(24):
        lane = lanes[turn % 2]
        wait = await lane.ready()
        slots.append(now() + max(0.0, wait))
        lane.take(turn)
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1 / 30 - 1e-6  # together never above 30 a second
    assert sum(1 for s in slots if s < slots[0] + 1.0) <= 30

    clock.advance(timedelta(seconds=10))
    await lanes[0].pause(5)  # the first meets a 429 asking for 5 seconds
    lanes[1]._slots.clear()  # its slots reserved before the pause are used up
    assert await lanes[1].ready() >= 5 - 1e-6
    assert lanes[1].paused_for() == pytest.approx(5)


async def test_replies_of_one_process_take_their_slots_before_the_others_bulk(sessions, clock):
    """A reply reserves its slot on the shared timeline before it goes, so the replies of one
    worker are counted before the leader's bulk sends, not paid for after them."""
    now = lambda: clock.now().timestamp()  # noqa: E731
    common = {"lane": "free", "reserve_ahead": 0.1, "rate": 10, "limit": 30, "window": 1.0}
    sleep = ClockSleep(clock)
    replies = SharedBudget(
        sessions=sessions, now=now, chats=ChatPacer(1, 3), sleep=sleep, **common
    )
    bulk = SharedBudget(sessions=sessions, now=now, chats=ChatPacer(1, 3), **common)
    start = now()
    for chat in range(5):
        await replies.reply(chat)  # five replies, one slot each, 0.1 s apart at 10/s
    assert now() - start == pytest.approx(0.4)
    assert now() + await bulk.ready() == pytest.approx(start + 0.5)  # bulk starts after them
