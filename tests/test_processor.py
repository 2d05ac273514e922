"""Updates run concurrently across chats but in arrival order within a chat."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.telegram.processor import PerChatUpdateProcessor, chat_key
from offline.updates import TgUser, UpdateFactory, to_update

A = TgUser(id=1, first_name="A")
B = TgUser(id=2, first_name="B")


def _updates(factory: UpdateFactory, user: TgUser, count: int) -> list[Update]:
    return [to_update(factory.message(user, f"{user.first_name}{i}"), None) for i in range(count)]


async def test_order_within_a_chat_and_overlap_across_chats():
    processor = PerChatUpdateProcessor(8)
    factory = UpdateFactory()
    log: list[str] = []
    running: set[int] = set()
    overlap = asyncio.Event()
    gates = {A.id: asyncio.Event(), B.id: asyncio.Event()}

    async def handle(update: Update) -> None:
        key = chat_key(update)
        assert key not in running, "two updates of one chat ran at once"
        running.add(key)
        if len(running) == 2:
            overlap.set()
        log.append(update.message.text)
        # The first update of each chat waits for the other chat: only possible concurrently.
        if not gates[key].is_set():
            gates[key].set()
            await asyncio.wait_for(overlap.wait(), timeout=5)
        await asyncio.sleep(0)
        running.discard(key)

    updates = [u for pair in zip(_updates(factory, A, 5), _updates(factory, B, 5), strict=True)
               for u in pair]
    await asyncio.gather(*(processor.process_update(u, handle(u)) for u in updates))
    assert [t for t in log if t.startswith("A")] == [f"A{i}" for i in range(5)]
    assert [t for t in log if t.startswith("B")] == [f"B{i}" for i in range(5)]
    assert overlap.is_set()
    assert processor._locks == {}  # idle chats are forgotten


async def test_a_burst_from_one_chat_leaves_slots_for_others():
    processor = PerChatUpdateProcessor(2)
    factory = UpdateFactory()
    release = asyncio.Event()
    done: list[str] = []

    async def slow(update: Update) -> None:
        await release.wait()
        done.append(update.message.text)

    async def fast(update: Update) -> None:
        done.append(update.message.text)
        release.set()

    burst = _updates(factory, A, 6)
    other = _updates(factory, B, 1)[0]
    tasks = [asyncio.create_task(processor.process_update(u, slow(u))) for u in burst]
    tasks.append(asyncio.create_task(processor.process_update(other, fast(other))))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert done[0] == "B0" and done[1:] == [f"A{i}" for i in range(6)]
