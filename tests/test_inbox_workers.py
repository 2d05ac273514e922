"""Several workers on one PostgreSQL: one chat is handled by one worker at a time, in order,
whichever worker received its updates; a dead worker's chats go on after its lease expires.

Two Applications in this test process share the database (and the offline Bot API, which
stands for Telegram). SQLite serves one process, so these tests run on PostgreSQL only.
"""

from __future__ import annotations

import asyncio

import pytest
from telegram import Update
from telegram.ext import TypeHandler

from bot.app import build_application
from bot.telegram.inbox.dispatch import LEASE_TTL
from bot.telegram.inbox.webhook import register_webhook, release_registrar
from storage import inbox_repo
from storage.db import is_sqlite, transaction
from tests.harness import inbox_bot
from tests.test_inbox import (
    FIRST,
    LI,
    ZHAO,
    WebhookApi,
    form_of,
    members,
    quick_log_then_title,
    rows,
)

__all__ = ["members"]  # the fixture, shared with test_inbox

pytestmark = pytest.mark.usefixtures("postgres_only")


@pytest.fixture
def postgres_only(database_url):
    if is_sqlite(database_url):
        pytest.skip("SQLite serves one process; several workers need PostgreSQL")


class Watch:
    """A handler that runs first for every update: notes who handled what, and how many
    updates of one chat were in hand at once; it can hold one update until released."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.active: dict[int, int] = {}
        self.most = 0
        self.hold: int | None = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def handler(self, worker: str) -> TypeHandler:
        async def watch(update: Update, _context) -> None:
            chat = update.effective_chat.id
            self.seen.append((worker, update.update_id))
            self.active[chat] = self.active.get(chat, 0) + 1
            self.most = max(self.most, self.active[chat])
            try:
                if update.update_id == self.hold:
                    self.entered.set()
                    await self.release.wait()
            finally:
                self.active[chat] -= 1

        return TypeHandler(Update, watch)


async def test_an_update_received_by_another_worker_waits_for_the_chat_s_earlier_one(
    settings, clock, sessions, members
):
    watch = Watch()
    async with inbox_bot(settings, clock) as a, inbox_bot(settings, clock, after=a) as b:
        a.app.add_handler(watch.handler("a"), group=FIRST)
        b.app.add_handler(watch.handler("b"), group=FIRST)
        first, second = quick_log_then_title(a, LI)
        watch.hold = first["update_id"]
        await a.receive(first)
        await watch.entered.wait()  # worker a is in the middle of the chat's first update
        await b.receive(second)  # stored by b, which cannot have the chat now
        await b.settle()
        assert watch.seen == [("a", first["update_id"])]
        watch.release.set()
        await a.settle()
        await b.settle()
    assert watch.seen == [("a", first["update_id"]), ("a", second["update_id"])]
    assert watch.most == 1
    assert (await form_of(sessions, LI))[0] == "audience"  # the order the user sent them


async def test_two_workers_taking_turns_keep_every_chat_s_order(
    settings, clock, sessions, members
):
    watch = Watch()
    async with inbox_bot(settings, clock) as a, inbox_bot(settings, clock, after=a) as b:
        a.app.add_handler(watch.handler("a"), group=FIRST)
        b.app.add_handler(watch.handler("b"), group=FIRST)
        li, zhao = quick_log_then_title(a, LI), quick_log_then_title(a, ZHAO)
        updates = [li[0], zhao[0], li[1], zhao[1]]
        # A load balancer's round robin: each chat's two updates reach different workers. One
        # after another, as Telegram sends them: an update not yet stored cannot be waited for.
        for worker, update in zip([a, b, b, a], updates, strict=True):
            await worker.receive(update)
        for _ in range(2):
            await a.settle()
            await b.settle()
    assert sorted(i for _, i in watch.seen) == sorted(u["update_id"] for u in updates)  # once
    assert watch.most == 1
    for user in (LI, ZHAO):
        assert (await form_of(sessions, user))[0] == "audience"
    assert all(row.done_at is not None for row in (await rows(sessions)).values())


async def test_a_dead_worker_s_chats_go_on_once_its_lease_expires(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock, start=False) as dead:
        first, second = quick_log_then_title(dead, LI)
        await dead.receive(first)  # stored by a worker that took the chat and then died
    async with transaction(sessions) as session:
        now = clock.now()
        await inbox_repo.claim_chat(
            session=session, chat_id=LI.id, owner="dead", now=now, until=now + LEASE_TTL
        )
    async with inbox_bot(settings, clock, after=dead) as live:
        await live.receive(second)
        await live.settle()
        assert (await rows(sessions))[second["update_id"]].done_at is None  # it waits
        clock.advance(LEASE_TTL)
        await live.inbox.dispatcher.sweep()
        await live.settle()
        assert (await rows(sessions))[first["update_id"]].done_at is None  # not yet expired
        clock.advance(LEASE_TTL)
        await live.inbox.dispatcher.sweep()
        await live.settle()
    stored = await rows(sessions)
    assert stored[first["update_id"]].done_at is not None
    assert stored[first["update_id"]].attempts == 1  # resumed: counted as another attempt
    assert stored[second["update_id"]].done_at is not None
    assert (await form_of(sessions, LI))[0] == "audience"


async def test_only_one_worker_registers_the_webhook(settings, clock):
    apis = [WebhookApi(bot_username=settings.bot_username) for _ in range(2)]
    apps = [
        build_application(settings, request=api, clock=clock, migrate=False, inbox=True)
        for api in apis
    ]

    async def no_wait(_seconds: float) -> None:
        return None

    url = "https://bot.example.org/hook"
    async with apps[0], apps[1]:
        first = await register_webhook(apps[0], url, "s", ["message"], sleep=no_wait)
        second = await register_webhook(apps[1], url, "s", ["message"], sleep=no_wait)
        assert first is not None and second is None
        await release_registrar(first)
    assert len(apis[0].webhooks) == 2 and apis[1].webhooks == []  # a 429, then registered
