"""The duplicate guard records an update id in the first transaction of the update's handlers."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select
from telegram.ext import ApplicationHandlerStop

from bot.runtime import expect_claim, runtime_of
from bot.services import orgs
from offline.updates import TgUser, to_update
from storage import conversations_repo, users_repo
from storage.db import transaction
from storage.inbox_models import InboxUpdate
from storage.models import Role
from tests.harness import running_bot, sent_texts

LI = TgUser(id=31001, first_name="小李")


@pytest.fixture
async def li(sessions, clock):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        row = await users_repo.upsert_user(
            session=session, telegram_id=LI.id, username=None, now=clock.now()
        )
        row.real_name, row.org_id, row.role = "李明", tree["青山区科协"].id, Role.LIAISON
        row.registered_at = clock.now()


async def recorded_ids(sessions) -> list[int]:
    async with transaction(sessions) as session:
        return list((await session.exec(select(InboxUpdate.update_id))).all())


async def form_step(sessions) -> str | None:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=LI.id, user_id=LI.id)
        return row.step if row else None


async def test_a_command_seen_by_two_handlers_is_recorded_once_and_redelivery_dropped(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        update = bot.factory.command(LI, "/log")  # the in-form check, then /log: two units
        assert sent_texts(await bot.feed(update))
        step = await form_step(sessions)
        assert await bot.feed(update) == []
    assert await recorded_ids(sessions) == [update["update_id"]]
    assert step == "type" and await form_step(sessions) == "type"


async def test_the_same_update_delivered_twice_at_once_is_handled_once(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        update = bot.factory.command(LI, "/mylogs")
        before = len(bot.api.calls)
        await asyncio.gather(bot.feed(update), bot.feed(update))
        assert len(sent_texts(bot.api.calls[before:])) == 1
    assert await recorded_ids(sessions) == [update["update_id"]]


async def test_an_update_whose_transaction_failed_is_not_recorded(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        rt = runtime_of(bot.app)
        raw = bot.factory.command(LI, "/mylogs")
        first = to_update(raw, bot.app.bot)
        expect_claim(first)
        with pytest.raises(RuntimeError):
            async with rt.unit(first):
                raise RuntimeError("the handler failed")
        assert await recorded_ids(sessions) == []  # rolled back with the handler's work
        async with rt.unit(first):  # the same delivery tries again and records it
            pass
        async with rt.unit(first):  # a later unit of the same delivery passes
            pass
        again = to_update(raw, bot.app.bot)  # a redelivery is another object
        expect_claim(again)
        with pytest.raises(ApplicationHandlerStop):
            async with rt.unit(again):
                pass
    assert await recorded_ids(sessions) == [raw["update_id"]]
