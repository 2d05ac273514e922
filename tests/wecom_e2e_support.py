"""The whole stack as ``stabot run`` starts it (bot/channels.py ``serve``): Telegram polling the
offline Bot API and WeCom's callback server, one runtime, one database, the delivery pipeline
and the reminder scheduler; WeCom's API is the loopback fake and its members' messages and
presses reach the callback URL as WeCom sends them, encrypted, over HTTP.

Each step returns once its effects are done: a WeCom callback once WeCom got its 200 and the
inbox's workers are idle, a Telegram update once the poller stored it, its row is done and
the dispatcher is idle. What the pipeline sends on its own (announcements, reminders, notices)
is waited for by what it shows (``until``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from pydantic import SecretStr

from bot.app import wecom_dispatcher
from bot.channels import Serving, TelegramMode, serve
from bot.common.clock import FrozenClock
from bot.config import Settings
from bot.telegram.inbox import inbox_of
from bot.wecom.crypto import WeComCrypto
from bot.wecom.events import EventKind, WeComEvent
from offline.bot_api import ApiCall, OfflineBotAPI
from offline.updates import TgUser, UpdateFactory
from offline.wecom_api import CallbackRequest, FakeWeComAPI, WeComCallbacks, serving
from storage.db import transaction
from storage.inbox_models import InboxUpdate
from tests.harness import JSON, BotHarness, ClockSleep
from tests.wecom_support import AGENT_ID, CORP_ID, SECRET, WeComHarness

TOKEN = "callback-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PATH = "/wecom/callback"
WAIT = 10.0  # seconds of loopback work a step may take before the test says it hung


async def until(done: Callable[[], bool], task: asyncio.Task, what: str = "") -> None:
    """Wait for loopback work (not for time: the clock is frozen) until ``done``."""
    for _ in range(int(WAIT / 0.01)):
        if done():
            return
        if task.done():
            task.result()  # the process ended early: show why
        await asyncio.sleep(0.01)
    raise AssertionError(f"not done in {WAIT:.0f} s: {what}")


class PolledBot(BotHarness):
    """Telegram users talking to the running process through ``getUpdates``."""

    def __init__(self, running: Running, api: OfflineBotAPI, factory: UpdateFactory) -> None:
        assert running.serving.telegram is not None
        super().__init__(running.serving.telegram, api, factory)
        self.running = running

    async def feed(self, update: JSON) -> list[ApiCall]:
        """Queue the update for the poller; the calls made once it is handled."""
        before = len(self.api.calls)
        self.api.enqueue_update(update)
        await self.running.settle_telegram(update["update_id"])
        return self.api.calls[before:]


@dataclass
class Running:
    """The running process and the means to talk to it on both channels."""

    serving: Serving
    task: asyncio.Task
    http: aiohttp.ClientSession
    url: str  # the WeCom callback URL
    callbacks: WeComCallbacks
    clock: FrozenClock
    telegram: PolledBot | None = None
    wecom: WeComHarness | None = None

    async def settle_telegram(self, update_id: int) -> None:
        """Wait until the poller stored the update, its row is done (with its effects) and
        Telegram's dispatcher is idle (its replies sent)."""
        for _ in range(int(WAIT / 0.01)):
            if self.task.done():
                self.task.result()
            async with transaction(self.serving.runtime.sessions) as session:
                row = await session.get(InboxUpdate, update_id)
            if row is not None and row.done_at is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"update {update_id} not handled")
        assert self.serving.telegram is not None
        await inbox_of(self.serving.telegram).dispatcher.idle()

    async def callback(self, request: CallbackRequest) -> None:
        """Make one WeCom callback; return once it is stored (200) and handled."""
        status, _ = await self.callbacks.deliver(self.http, self.url, request)
        assert status == 200
        assert self.serving.wecom is not None
        await self.serving.wecom.idle()

    async def wecom_event(self, event: WeComEvent) -> None:
        """The event as WeCom would call back with it (WeComHarness's handler)."""
        await self.callback(self.request_of(event))

    def request_of(self, event: WeComEvent) -> CallbackRequest:
        callbacks = self.callbacks
        if event.kind is EventKind.TEXT:
            return callbacks.text(event.user_id, event.text, int(event.msg_id or 0))
        if event.kind is EventKind.IMAGE:
            return callbacks.image(event.user_id, event.media_id or "", int(event.msg_id or 0))
        if event.kind is EventKind.CARD_BUTTON:
            key, task_id = event.event_key or "", event.task_id or ""
            return callbacks.card_event(event.user_id, key, task_id, event.response_code or "")
        raise ValueError(f"no callback for {event.kind}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wecom_configured(settings: Settings, base_url: str, port: int) -> Settings:
    """``settings`` with WeCom configured against the fake at ``base_url``, listening on
    ``port`` of the loopback."""
    wecom = {
        "corp_id": CORP_ID,
        "agent_id": AGENT_ID,
        "secret": SECRET,
        "token": TOKEN,
        "aes_key": AES_KEY,
        "api_base_url": base_url,
        "listen": f"127.0.0.1:{port}",
        "callback_path": PATH,
    }
    return settings.model_copy(update={"wecom": type(settings.wecom)(**wecom)})


def two_channel_settings(settings: Settings, base_url: str, port: int) -> Settings:
    """``settings`` with a bot token and WeCom configured (``wecom_configured``)."""
    configured = wecom_configured(settings, base_url, port)
    return configured.model_copy(update={"bot_token": SecretStr("123456:e2e")})


@asynccontextmanager
async def running_stack(
    settings: Settings, clock: FrozenClock, wecom_users: set[str], telegram_users: list[TgUser]
) -> AsyncIterator[Running]:
    """``serve`` with both channels until the block ends, then stopped as SIGTERM stops it."""
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, users=set(wecom_users))
    ticks = lambda: clock.now().timestamp()  # noqa: E731
    bot_api = OfflineBotAPI(bot_username=settings.bot_username, clock=ticks)
    for user in telegram_users:
        bot_api.register_chat(user.private_chat())
    async with serving(api.app()) as base_url, aiohttp.ClientSession() as http:
        port = free_port()
        configured = two_channel_settings(settings, base_url, port)
        up: list[Serving] = []
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(
                configured,
                telegram=TelegramMode(),
                wecom=wecom_dispatcher,
                stop=stop,
                clock=clock,
                request=bot_api,
                started=up.append,
            )
        )
        try:
            await until(lambda: bool(up), task, "the channels to start")
            running = _running(up[0], task, http, port, clock)
            running.telegram = PolledBot(running, bot_api, UpdateFactory(bot_api, clock=ticks))
            running.wecom = WeComHarness(api, running.wecom_event, clock)
            yield running
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=WAIT)


def _running(
    up: Serving, task: asyncio.Task, http: aiohttp.ClientSession, port: int, clock: FrozenClock
) -> Running:
    # The pipeline's waits for its budget move the frozen clock instead of passing real time.
    assert up.runtime.delivery is not None
    up.runtime.delivery.sleep = ClockSleep(clock)
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    return Running(
        serving=up,
        task=task,
        http=http,
        url=f"http://127.0.0.1:{port}{PATH}",
        callbacks=WeComCallbacks(CORP_ID, AGENT_ID, crypto, clock),
        clock=clock,
    )
