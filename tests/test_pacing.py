"""The send budget's pacing rules, on a clock that only moves when told (no sleeps): the window
over actual sends (each from its start until a second after its answer), the absolute
timeline, replies ahead of the bulk lane, per-chat slots, and which 429s hold one chat rather
than the whole bot."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.delivery.budget import POLL, ChatPacer, Place, SendBudget

RTT = 0.003  # the round trip of a send on loopback: its answer comes this long after its start


class VirtualTime:
    """A clock and a sleep that moves it (plus a fixed oversleep, as a loaded machine has)."""

    def __init__(self, late: float = 0.0) -> None:
        self.now = 0.0
        self.late = late
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds) + self.late
        await asyncio.sleep(0)


def lane(time: VirtualTime, *, rate: float = 29.5, margin: float | None = None) -> SendBudget:
    return SendBudget(
        rate=rate,
        limit=30,
        window=1.0,
        margin=margin,
        now=lambda: time.now,
        chats=ChatPacer(1.0, 3.0, margin),
        sleep=time.sleep,
    )


def answer(place: Place, rtt: float = RTT) -> Place:
    """The answer came ``rtt`` after the start (as the fake Bot API answers on loopback)."""
    place.answered = place.started + rtt
    return place


async def bulk_sends(budget: SendBudget, time: VirtualTime, until: float) -> list[Place]:
    """The bulk lane as the pipeline drives it: wait for ``ready``, then take; every wake-up
    oversleeps by ``time.late``."""
    places: list[Place] = []
    chat = itertools.count(1000)
    while time.now < until:
        while (wait := await budget.ready()) > 0.0005:
            await time.sleep(wait)
        places.append(answer(budget.take(next(chat))))
    return places


def never_31_in_a_second(places: list[Place]) -> bool:
    """Telegram counts a send when it arrives, between its start and its answer: however the
    delays fall, no second holds 31 arrivals when each send starts a second or more after the
    answer to the send 30 before it."""
    ordered = sorted(places, key=lambda p: p.started)
    return all(
        later.started - earlier.answered >= 1.0
        for earlier, later in zip(ordered, ordered[30:], strict=False)
    )


def rate_of(places: list[Place]) -> float:
    return (len(places) - 1) / (places[-1].started - places[0].started)


async def test_lateness_of_a_wake_up_is_not_lost():
    """Every wake-up 3 ms late: spacing each send 1/rate after the previous actual one would
    lose 3 ms per send (27.1/s at 29.5); on the timeline the next slot is already due."""
    time = VirtualTime(late=0.003)
    places = await bulk_sends(lane(time), time, until=20.0)
    assert rate_of(places) >= 29.4
    assert never_31_in_a_second(places)


async def test_where_the_window_binds_lateness_costs_once_per_30_sends():
    """A timeline faster than the window allows: the window decides, and a late wake-up
    (3 ms) is lost once per 30 sends: 30 / (1 s + 3 ms round trip + 3 ms) = 29.8/s."""
    time = VirtualTime(late=0.003)
    places = await bulk_sends(lane(time, rate=40), time, until=20.0)
    assert 29.7 <= rate_of(places) <= 30 / 1.006
    assert never_31_in_a_second(places)


@pytest.mark.parametrize("stall", [0.2, 0.7])  # a slow claim; the event loop of a loaded host
async def test_a_stalled_lane_catches_up_without_ever_filling_a_window_past_30(stall):
    time = VirtualTime()
    budget = lane(time)
    places = await bulk_sends(budget, time, until=2.0)
    time.now += stall  # six or twenty slots missed
    after = await bulk_sends(budget, time, until=6.0)
    assert never_31_in_a_second(places + after)
    assert after[1].started - after[0].started < 0.005  # made up at once, not 1/rate apart
    assert len(places + after) >= int(6.0 * 29.5) - 1  # the stall cost no sends


async def test_the_timeline_spreads_sends_evenly_after_an_idle_lane():
    time = VirtualTime()
    budget = lane(time)
    time.now = 100.0  # idle for long: the timeline does not owe a burst
    places = await bulk_sends(budget, time, until=101.0)
    gaps = [b.started - a.started for a, b in itertools.pairwise(places)]
    assert min(gaps) == pytest.approx(1 / 29.5)


async def test_a_slow_answer_holds_its_place_in_the_window():
    """A send still in flight may arrive any moment: it counts until a second after its answer."""
    time = VirtualTime()
    budget = lane(time, rate=1000)
    in_flight = [budget.take(chat) for chat in range(30)]
    time.now = 5.0
    assert await budget.ready() == POLL  # nothing fits until one of them is answered
    budget.answered(in_flight[0])  # answered now, at 5 s: it may have arrived just now
    assert await budget.ready() == pytest.approx(1.0, abs=0.001)


async def test_a_margin_caps_how_long_a_send_may_take_to_arrive():
    time = VirtualTime()
    budget = lane(time, rate=1000, margin=0.025)
    for chat in range(30):
        budget.take(chat)  # never answered
    assert await budget.ready() == pytest.approx(1.025, abs=0.001)


async def test_replies_count_in_the_same_window():
    time = VirtualTime()
    budget = lane(time)
    for chat in range(20):
        answer(await budget.reply(chat))  # twenty replies at one instant: the window has room
    assert time.slept == []
    places = await bulk_sends(budget, time, until=1.0)
    starts = [p.started for p in places]
    assert len([t for t in starts if t < 1.0]) == 10  # the bulk lane fills what replies left
    assert starts[10] >= 1.0 + RTT  # its eleventh send waited for the first reply to age out


async def test_a_waiting_reply_gets_the_next_place_before_the_bulk_lane():
    time = VirtualTime()
    budget = lane(time)
    await bulk_sends(budget, time, until=1.0)  # the window is full
    assert budget.window_wait(time.now) > 0
    woken = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        time.slept.append(seconds)
        await woken.wait()

    budget.sleep = held_sleep
    time.slept.clear()
    reply = asyncio.create_task(budget.reply(42))
    await asyncio.sleep(0)
    (waited,) = time.slept
    time.now += waited  # the next place frees: it is the reply's
    assert await budget.ready() > 0  # the bulk lane leaves it
    woken.set()
    place = await reply
    assert place.started == pytest.approx(time.now) and place.previous is None


async def test_a_private_reply_waits_for_its_chats_slot_a_group_reply_does_not():
    time = VirtualTime()
    budget = lane(time)
    answer(await budget.reply(7))
    place = await budget.reply(7)  # "please try again" right after a lost reply
    assert sum(time.slept) == pytest.approx(1.0 + RTT)  # a second after the answer
    assert place.previous == 0.0
    time.slept.clear()
    answer(await budget.reply(-100))
    answer(await budget.reply(-100))  # groups allow bursts of replies (20 a minute)
    assert time.slept == []
    assert budget.chat_wait(-100) == pytest.approx(3.0, abs=RTT)  # the bulk lane paces groups


async def test_a_place_given_back_frees_the_chat_and_the_window():
    """A reply whose connection was never made (or that met a 429) did not reach Telegram."""
    time = VirtualTime()
    budget = lane(time)
    budget.give_back(await budget.reply(7))
    answer(await budget.reply(7))
    assert time.slept == []  # no second of waiting for a message that never went
    assert budget.window_wait(time.now, reserve=28) == 0  # one place used, not two


@pytest.mark.parametrize(
    ("chat", "sent_before", "retry_after", "scoped"),
    [
        (7, 0.5, 1, True),  # "please try again" right after a lost reply that had arrived
        (7, None, 1, False),  # a chat we did not write to lately: the bot's limit
        (7, 3.0, 1, False),  # written to long ago: its own limit cannot be the reason
        (7, 0.5, 30, False),  # a private chat's own limit does not ask for 30 s: the bot's
        (-100, 20.0, 40, True),  # a group's 20 a minute asks for up to a minute
        (-100, 90.0, 40, False),
    ],
)
async def test_which_429s_hold_one_chat(chat, sent_before, retry_after, scoped):
    time = VirtualTime()
    time.now = 100.0
    budget = lane(time)
    previous = None if sent_before is None else time.now - sent_before
    assert budget.chat_scoped(chat, retry_after, previous) is scoped
    await budget.refused(chat, retry_after, previous)
    if scoped:  # only that chat waits; the rest of the bot goes on
        assert budget.paused_for() == 0 and budget.retry_after_hits == 0
        assert budget.chat_wait(chat) == pytest.approx(retry_after)
        assert await budget.ready() <= 0
    else:
        assert budget.paused_for() == pytest.approx(retry_after)
        assert budget.retry_after_hits == 1
