"""The delivery pipeline's own loop (`Pipeline.run`, as the app starts it), not `drain()`.

The loop's waits are injected: the budget's through ``sleep`` (a wait moves the frozen clock),
its idle poll through ``poll`` (`IdlePoll` below: the test says when a poll's second passes).
So the test knows when the loop has nothing left to do, and no test waits for real time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.common.clock import FrozenClock
from bot.delivery.pipeline import IDLE_POLL, Pipeline
from bot.runtime import runtime_of
from offline.updates import TgUser
from storage.broadcast_models import DeliveryStatus
from tests.harness import ClockSleep, running_bot
from tests.test_broadcast import (  # noqa: F401 - people_tree and tree are fixtures
    ADMIN,
    OFFICERS,
    deliveries,
    launch_direct,
    notices_to,
    people_tree,
    register_chats,
    tree,
)
from tests.test_scheduler import (  # noqa: F401 - scheduled and world are fixtures
    local,
    publish,
    scheduled,
    sent_reminders,
    service_of,
    world,
)

SAFETY_NET = 30.0  # seconds: only a hung loop ever meets it (it fails the test, never times it)


class IdlePoll:
    """The pipeline's idle wait in a test: it tells the test the loop went idle, then holds
    until the test lets a poll's time pass (`tick`, which moves the clock) or the loop is woken."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.polls = 0
        self._idle = asyncio.Event()
        self._tick = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.polls += 1
        self._idle.set()
        await self._tick.wait()
        self._tick.clear()
        self.clock.advance(timedelta(seconds=seconds))

    async def idled(self) -> None:
        """Until the loop has nothing to do and waits for its next poll."""
        await asyncio.wait_for(self._idle.wait(), SAFETY_NET)
        self._idle.clear()

    async def tick(self) -> None:
        """Let one poll's time pass, and wait until the loop is idle again."""
        self._tick.set()
        await self.idled()


async def started(bot, clock: FrozenClock, *users: TgUser) -> tuple[Pipeline, IdlePoll]:
    """The app's pipeline with the test's waits (``users`` have chats with the bot), started as
    the service starts it, once it has recovered and found nothing to send."""
    register_chats(bot, *users)
    pipeline: Pipeline = runtime_of(bot.app).delivery
    pipeline.sleep = ClockSleep(clock)
    pipeline.poll = poll = IdlePoll(clock)
    pipeline.start()
    await poll.idled()
    return pipeline, poll


async def shut_down(bot, pipeline: Pipeline) -> None:
    """The app's own stop (post_shutdown): the loop ends."""
    await bot.app.post_shutdown(bot.app)
    assert not pipeline.running


@pytest.mark.usefixtures("people_tree")
async def test_the_running_loop_sends_a_launched_broadcast_once_woken(settings, clock, sessions):
    async with running_bot(settings, clock) as bot:
        pipeline, poll = await started(bot, clock, ADMIN, *OFFICERS)
        before = clock.now()
        await launch_direct(sessions, clock)
        pipeline.wake()  # as a launch from the form does
        await poll.idled()
        assert all(len(notices_to(bot, officer)) == 1 for officer in OFFICERS)
        # No poll's second passed: the wake-up, not the poll, started the sending.
        assert clock.now() - before < timedelta(seconds=IDLE_POLL)
        await poll.tick()  # the outcomes are written within ``flush_every``
        assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.SENT}
        assert "送达 4/4" in bot.last_text(ADMIN.id)
        await shut_down(bot, pipeline)


@pytest.mark.usefixtures("people_tree")
async def test_the_running_loop_starts_a_scheduled_broadcast_when_its_time_comes(
    settings, clock, sessions
):
    async with running_bot(settings, clock) as bot:
        pipeline, poll = await started(bot, clock, ADMIN, *OFFICERS)
        await launch_direct(sessions, clock, scheduled_at=clock.now() + timedelta(seconds=3))
        for _ in range(2):  # two polls pass: not yet
            await poll.tick()
            assert not notices_to(bot, OFFICERS[0])
        for _ in range(2):  # the third poll finds it due; the fourth writes the outcomes
            await poll.tick()
        assert all(len(notices_to(bot, officer)) == 1 for officer in OFFICERS)
        assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.SENT}
        await shut_down(bot, pipeline)


@pytest.mark.usefixtures("people_tree")
async def test_a_loop_stopped_while_it_waits_for_the_lane_puts_the_claimed_rows_back(
    settings, clock, sessions
):
    async with running_bot(settings, clock) as bot:
        pipeline, _ = await started(bot, clock, ADMIN, *OFFICERS)
        waiting = asyncio.Event()

        async def never(_seconds: float) -> None:  # the lane's wait never ends
            waiting.set()
            await asyncio.Event().wait()

        pipeline.sleep = never
        await pipeline.budget.pause(60)
        await launch_direct(sessions, clock)
        pipeline.wake()
        await asyncio.wait_for(waiting.wait(), SAFETY_NET)
        assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.CLAIMED}
        await shut_down(bot, pipeline)
    assert {r.status for r in await deliveries(sessions)} == {DeliveryStatus.PENDING}
    assert not any(notices_to(bot, officer) for officer in OFFICERS)


@pytest.mark.usefixtures("scheduled")
async def test_reminders_the_scheduler_hands_over_go_out_through_the_running_loop(
    settings, clock, sessions, world  # noqa: F811
):
    await publish(sessions, clock, world)
    async with running_bot(settings, clock) as bot:
        service = service_of(bot, clock)
        pipeline, poll = await started(bot, clock)
        clock.set(local(2026, 3, 18, 9))
        assert await service.tick() == 3  # handed over; the tick wakes the loop
        await poll.idled()
        await poll.tick()  # the outcomes are written within ``flush_every``
        sent = await sent_reminders(sessions)
        await shut_down(bot, pipeline)
    assert len(sent) == 3
    assert all(bot.api.sent_messages(chat_id) for chat_id, _, _ in sent)
