"""The durable inbox: stored updates survive a crash and are handled after it, in each chat's
order, exactly once; failures are retried or given up; the store is gated before the offset."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select
from telegram import Update
from telegram.error import NetworkError
from telegram.ext import TypeHandler

from bot.app import build_application
from bot.runtime import KEEP_PROCESSED
from bot.services import orgs
from bot.telegram.handlers import unserved
from bot.telegram.inbox.dispatch import MAX_RETRIES
from bot.telegram.inbox.ingress import PollGate
from bot.telegram.inbox.webhook import register_webhook, release_registrar
from offline.bot_api import OfflineBotAPI
from offline.updates import TgUser
from storage import conversations_repo, inbox_repo
from storage.db import transaction
from storage.inbox_models import InboxUpdate
from tests.harness import inbox_bot, sent_texts
from tests.test_activities import make_member
from tests.test_delivery import scripted_bot

# Before the group that sets aside unserved updates: its handler claims every update there.
FIRST = unserved.GROUP - 1

LI = TgUser(id=32001, first_name="小李")
ZHAO = TgUser(id=32002, first_name="小赵")
QUICK = "昨天在青山区社区开展科普讲座，约120人参加"


@pytest.fixture
async def members(sessions, clock):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
    for user in (LI, ZHAO):
        await make_member(sessions, clock, user, tree["青山区科协"])


async def rows(sessions) -> dict[int, InboxUpdate]:
    async with transaction(sessions) as session:
        found = (await session.exec(select(InboxUpdate))).all()
    return {row.update_id: row for row in found}


async def form_of(sessions, user: TgUser) -> tuple[str, str] | None:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=user.id, user_id=user.id)
    return (row.step, row.data) if row else None


def calls_to_chat(bot, user: TgUser) -> list:
    return [c for c in bot.api.calls if int(c.params.get("chat_id") or 0) == user.id]


def sends_to(bot, user: TgUser) -> list:
    return [c for c in calls_to_chat(bot, user) if c.method == "sendMessage"]


def quick_log_then_title(bot, user: TgUser) -> list[dict]:
    """Two updates whose order shows: the quick log opens the form at the title step, and
    the second text answers it; the other way round the text is a question and the form
    stays at the title."""
    return [bot.factory.message(user, QUICK), bot.factory.message(user, "社区科普讲座")]


async def test_updates_stored_before_a_crash_are_handled_after_it_in_order_once(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock, start=False) as dying:
        updates = quick_log_then_title(dying, LI) + quick_log_then_title(dying, ZHAO)
        for update in updates:
            await dying.receive(update)  # stored: Telegram was told; then the process dies
        assert dying.api.calls_to("sendMessage") == []  # nothing handled
    stored = await rows(sessions)
    assert [r.done_at for r in stored.values()] == [None] * 4
    async with inbox_bot(settings, clock, after=dying) as bot:
        await bot.settle()
        for update in updates:  # Telegram redelivers what was not acknowledged: no effect
            await bot.receive(update)
        await bot.settle()
    after = await rows(sessions)
    assert all(r.done_at is not None and not r.gave_up for r in after.values())
    assert sorted(after) == [u["update_id"] for u in updates]
    for user in (LI, ZHAO):
        step, data = await form_of(sessions, user)
        assert step == "audience" and "社区科普讲座" in data
        assert len(sends_to(bot, user)) == 2  # one answer per update, none twice


async def test_a_restart_goes_on_after_what_was_handled(settings, clock, sessions, members):
    async with inbox_bot(settings, clock) as first:
        done, pending = quick_log_then_title(first, LI)
        await first.receive(done)
        await first.settle()
        first.inbox.dispatcher.open = False  # the process dies before handling the next one
        await first.receive(pending)
    async with inbox_bot(settings, clock, after=first) as bot:
        await bot.settle()
    assert (await form_of(sessions, LI))[0] == "audience"
    assert len(sends_to(bot, LI)) == 2


async def test_an_update_that_keeps_crashing_the_process_is_given_up_and_the_chat_goes_on(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock, start=False) as dying:
        poison, after = quick_log_then_title(dying, LI)
        await dying.receive(poison)
        await dying.receive(after)
    async with transaction(sessions) as session:  # it began, and crashed, this often already
        for _ in range(MAX_RETRIES):
            await inbox_repo.count_attempt(session=session, update_id=poison["update_id"])
    async with inbox_bot(settings, clock, after=dying) as bot:
        await bot.settle()
    stored = await rows(sessions)
    assert stored[poison["update_id"]].gave_up
    assert stored[poison["update_id"]].attempts == MAX_RETRIES + 1
    assert stored[after["update_id"]].done_at is not None
    texts = sent_texts(calls_to_chat(bot, LI))
    assert "请再发一次" in texts[0]  # asked once to try again, then the next update answered
    assert len(texts) == 2


async def test_the_apology_for_an_update_given_up_is_sent_again_when_unconfirmed(
    settings, clock, sessions, members
):
    """The dispatcher's "please send it again" goes through the same `ask_to_try_again` as the
    error handler's: a 502 on it, and it goes again in the chat's next slot."""
    async with inbox_bot(settings, clock, start=False) as dying:
        poison = dying.factory.command(LI, "/me")
        await dying.receive(poison)
    async with transaction(sessions) as session:
        for _ in range(MAX_RETRIES):
            await inbox_repo.count_attempt(session=session, update_id=poison["update_id"])
    async with inbox_bot(settings, clock, after=dying) as bot:
        await scripted_bot(bot, {"sendMessage": [(502, {"description": "Bad Gateway"})]}, clock)
        await bot.settle()
        tries = bot.app.bot.request.inner.texts_tried()
    assert (await rows(sessions))[poison["update_id"]].gave_up
    apology = "抱歉，你刚才发来的消息没能处理成功，请再发一次。"
    assert [text for _, text in tries] == [apology, apology]
    assert tries[1][0] - tries[0][0] >= 1.0
    assert [m["text"] for m in bot.api.sent_messages(LI.id)] == [apology]


async def test_a_failure_that_may_pass_is_tried_again_without_an_apology(
    settings, clock, sessions, members
):
    from sqlalchemy.exc import OperationalError

    failures = []

    async def flaky(update: Update, _context) -> None:
        if len(failures) < 2:
            failures.append(update.update_id)
            raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))

    async def no_wait(_seconds: float) -> None:
        return None

    async with inbox_bot(settings, clock) as bot:
        bot.app.add_handler(TypeHandler(Update, flaky), group=FIRST)
        bot.inbox.dispatcher.sleep = no_wait
        await bot.receive(bot.factory.command(LI, "/me"))
        await bot.settle()
    [update_id] = set(failures)
    row = (await rows(sessions))[update_id]
    assert row.done_at is not None and not row.gave_up and row.attempts == 2
    texts = sent_texts(calls_to_chat(bot, LI))
    assert len(texts) == 1 and "抱歉" not in texts[0]  # the answer to /me, no apology


async def test_a_failing_handler_is_reported_once_and_not_tried_again(
    settings, clock, sessions, members
):
    async def broken(_update: Update, _context) -> None:
        raise ValueError("a bug")

    async with inbox_bot(settings, clock) as bot:
        bot.app.add_handler(TypeHandler(Update, broken), group=FIRST)
        group = bot.factory.group()
        update = bot.factory.message(LI, "大家好", group)  # no other handler takes it
        await bot.receive(update)
        await bot.settle()
    row = (await rows(sessions))[update["update_id"]]
    assert row.done_at is not None and row.gave_up and row.attempts == 0
    texts = sent_texts([c for c in bot.api.calls if c.params.get("chat_id") == group["id"]])
    assert len(texts) == 1 and "抱歉" in texts[0]  # errors.on_error's apology, once


async def test_an_update_no_handler_keeps_anything_for_is_marked_done(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock) as bot:
        group = bot.factory.group()
        update = bot.factory.message(LI, "大家好", group)  # the bot ignores group chatter
        await bot.receive(update)
        await bot.settle()
    row = (await rows(sessions))[update["update_id"]]
    assert row.done_at is not None and not row.gave_up


async def test_done_rows_are_pruned_after_two_days(settings, clock, sessions, members):
    async with inbox_bot(settings, clock) as bot:
        old = bot.factory.command(LI, "/me")
        await bot.receive(old)
        await bot.settle()
        clock.advance(KEEP_PROCESSED + timedelta(minutes=1))
        bot.factory.skip_to(1000)  # a pruning round
        await bot.receive(bot.factory.command(LI, "/me"))
        await bot.settle()
    assert sorted(await rows(sessions)) == [1000]


async def test_the_next_get_updates_waits_until_the_batch_is_stored(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock, start=False) as bot:
        stored_when_polled: list[list[int]] = []

        class Telegram(PollGate):  # what reaches Telegram: the inbox as it was at that moment
            async def do_request(self, url, method, request_data=None, **timeouts):
                stored_when_polled.append(list(await rows(sessions)))
                return await bot.api.do_request(url, method, request_data, **timeouts)

        gate = bot.app.update_queue.gate = PollGate(Telegram(bot.api))  # as wired for polling
        gate.ingress = bot.inbox.ingress
        update = bot.factory.command(LI, "/me")
        # Queued, and its store started; whether it is stored yet is a race, but the next
        # getUpdates must not reach Telegram before it is.
        await bot.app.update_queue.put(Update.de_json(update, bot.app.bot))
        await gate.do_request("http://api/bot0:offline/getUpdates", "POST")
        assert stored_when_polled == [[update["update_id"]]]


class WebhookApi(OfflineBotAPI):
    """The offline API, plus setWebhook: answered 429 (retry after 1 s) the first time."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.webhooks: list[dict] = []

    async def do_request(self, url: str, method: str, request_data=None, **timeouts):
        if url.endswith("/setWebhook"):
            self.webhooks.append(dict(request_data.parameters) if request_data else {})
            if len(self.webhooks) == 1:
                body = {"ok": False, "error_code": 429, "description": "Too Many Requests"}
                return 429, json.dumps(body | {"parameters": {"retry_after": 1}}).encode()
            return 200, b'{"ok": true, "result": true}'
        return await super().do_request(url, method, request_data, **timeouts)


async def test_the_webhook_is_registered_with_its_secret_after_a_429(settings, clock):
    api = WebhookApi(bot_username=settings.bot_username)
    app = build_application(settings, request=api, clock=clock, migrate=False, inbox=True)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async with app:
        lock = await register_webhook(
            app, "https://bot.example.org/hook", "s3cret", ["message"], sleep=no_wait
        )
        await release_registrar(lock)
    assert len(api.webhooks) == 2  # the 429, then the same call again
    assert waits == [1.0]  # as long as Telegram's retry_after said
    assert api.webhooks[-1]["secret_token"] == "s3cret"
    assert api.webhooks[-1]["url"] == "https://bot.example.org/hook"


async def test_updates_that_could_not_be_stored_are_not_acknowledged_until_they_are(
    tmp_path, clock
):
    from bot.telegram.inbox.ingress import Ingress
    from storage.db import create_engine, session_factory
    from storage.migrate import upgrade_to_head

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}")  # no tables yet
    delivered: list[int] = []
    ingress = Ingress(
        session_factory(engine), clock, lambda items: delivered.extend(i.update_id for i in items)
    )
    gate = PollGate(OfflineBotAPI())
    gate.ingress = ingress
    update = Update.de_json(
        {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "你好",
                "chat": {"id": 5, "type": "private"},
            },
        },
        None,
    )
    ingress.receive(update)
    with pytest.raises(NetworkError):  # PTB's poller retries; the offset does not move
        await gate.do_request("http://api/bot0:offline/getUpdates", "POST")
    assert delivered == []
    await upgrade_to_head(engine)  # the database is back
    await ingress.flushed()
    assert delivered == [7]
    await engine.dispose()
