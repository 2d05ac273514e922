"""``stabot run``'s channels (bot/channels.py): WeCom alone, and Telegram polling beside WeCom
in one process, over loopback against the fake APIs; each stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from telegram import Update

from bot.channels import TelegramMode, serve
from bot.common.clock import FrozenClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.telegram.inbox.webhook import SECRET_HEADER, WebhookOptions
from bot.wecom.client import Recipients, Text, WeComClient
from bot.wecom.crypto import WeComCrypto
from bot.wecom.events import EventHandler, WeComEvent
from offline.bot_api import OfflineBotAPI
from offline.updates import TgUser, UpdateFactory
from offline.wecom_api import FakeWeComAPI, WeComCallbacks, serving
from storage.db import transaction
from storage.wecom_inbox_models import WeComInboxEvent
from tests.wecom_e2e_support import AES_KEY, PATH, TOKEN, free_port, until, wecom_configured
from tests.wecom_support import AGENT_ID, CORP_ID, SECRET


def echo_handler(seen: list[Runtime]) -> Callable[[Runtime, WeComClient], EventHandler]:
    """A handler factory standing in for the dispatcher: answers each text through the API."""

    def factory(rt: Runtime, client: WeComClient) -> EventHandler:
        seen.append(rt)

        async def handle(event: WeComEvent) -> None:
            await client.send(Text(f"收到：{event.text}"), Recipients(users=[event.user_id]))

        return handle

    return factory


@asynccontextmanager
async def wecom_settings(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple]:
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, users={"zhangsan"})
    async with serving(api.app()) as base_url:
        port = free_port()
        configured = wecom_configured(settings, base_url, port)
        callbacks = WeComCallbacks(CORP_ID, AGENT_ID, WeComCrypto(TOKEN, AES_KEY, CORP_ID), clock)
        yield configured, api, callbacks, f"http://127.0.0.1:{port}{PATH}"


async def _stopped(task: asyncio.Task, stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_wecom_alone_receives_handles_and_replies(settings, clock, sessions) -> None:
    seen: list[Runtime] = []
    async with wecom_settings(settings, clock) as (configured, api, callbacks, url):
        stop = asyncio.Event()
        run = serve(configured, telegram=None, wecom=echo_handler(seen), stop=stop, clock=clock)
        task = asyncio.create_task(run)
        async with aiohttp.ClientSession() as http:
            await until(lambda: bool(seen), task)
            await _wait_listening(http, url, task)
            status, _ = await callbacks.deliver(http, url, callbacks.text("zhangsan", "你好", 1))
            assert status == 200
            await until(lambda: len(api.sent) == 1, task)
        await _stopped(task, stop)
    assert api.sent[0].body == {"content": "收到：你好"} and api.sent[0].users == ("zhangsan",)
    async with transaction(sessions) as session:
        [row] = (await session.exec(select(WeComInboxEvent))).scalars().all()
    assert row.done_at is not None


async def _wait_listening(http: aiohttp.ClientSession, url: str, task: asyncio.Task) -> None:
    async def up() -> bool:
        try:
            async with http.get(url + "/healthz") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    for _ in range(500):
        if await up():
            return
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    raise AssertionError("the callback server did not start")


def _both(
    configured: Settings,
    telegram: TelegramMode,
    seen: list[Runtime],
    clock: FrozenClock,
    bot_api: OfflineBotAPI,
) -> tuple[Settings, asyncio.Event, asyncio.Task]:
    """Telegram (with a token, through ``bot_api``) and WeCom served by one task."""
    both = configured.model_copy(update={"bot_token": SecretStr("123456:both")})
    stop = asyncio.Event()
    run = serve(
        both, telegram=telegram, wecom=echo_handler(seen), stop=stop, clock=clock, request=bot_api
    )
    return both, stop, asyncio.create_task(run)


async def test_telegram_polling_and_wecom_run_in_one_process(settings, clock) -> None:
    seen: list[Runtime] = []
    bot_api = OfflineBotAPI(bot_username=settings.bot_username)
    user = TgUser(id=4242, first_name="王")
    async with wecom_settings(settings, clock) as (configured, api, callbacks, url):
        # Long polling, against the offline Bot API in process.
        both, stop, task = _both(configured, TelegramMode(), seen, clock, bot_api)
        async with aiohttp.ClientSession() as http:
            await _wait_listening(http, url, task)
            bot_api.enqueue_update(UpdateFactory(bot_api).message(user, "/help"))
            await callbacks.deliver(http, url, callbacks.text("zhangsan", "在吗", 1))
            await until(lambda: bool(bot_api.sent_messages(user.id)) and bool(api.sent), task)
        await _stopped(task, stop)
    assert api.sent[0].body == {"content": "收到：在吗"}
    [rt] = seen  # WeCom's handler got the Telegram Application's runtime: one database
    assert rt.settings is both


async def test_the_telegram_webhook_and_wecom_run_in_one_process(settings, clock) -> None:
    seen: list[Runtime] = []
    bot_api = OfflineBotAPI(bot_username=settings.bot_username)
    user = TgUser(id=4343, first_name="李")
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    options = WebhookOptions("127.0.0.1", port, hook, "s3cret", Update.ALL_TYPES)
    async with wecom_settings(settings, clock) as (configured, api, callbacks, url):
        _, stop, task = _both(configured, TelegramMode(options), seen, clock, bot_api)
        async with aiohttp.ClientSession() as http:
            await _wait_listening(http, url, task)
            await _wait_listening(http, hook, task)
            update = UpdateFactory(bot_api).message(user, "/help")
            headers = {SECRET_HEADER: "s3cret"}
            async with http.post(hook, json=update, headers=headers) as response:
                assert response.status == 200
            await callbacks.deliver(http, url, callbacks.text("zhangsan", "在吗", 1))
            await until(lambda: bool(bot_api.sent_messages(user.id)) and bool(api.sent), task)
        await _stopped(task, stop)
    # (Whether this process registered the webhook depends on the PostgreSQL lock of the
    # registrar, which tests/test_inbox.py checks; here it served the hook either way.)
    assert api.sent[0].body == {"content": "收到：在吗"}


async def test_a_configured_wecom_without_a_handler_does_not_start(settings, clock) -> None:
    async with wecom_settings(settings, clock) as (configured, _api, _callbacks, _url):
        with pytest.raises(ValueError, match="no WeCom handler"):
            await serve(configured, telegram=None, wecom=None, stop=asyncio.Event())


def test_stabot_run_refuses_a_configured_wecom_it_cannot_handle(
    monkeypatch, database_url, engine, tmp_path, capsys
) -> None:
    from bot import app
    from bot.cli import main

    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_AGENT_ID": str(AGENT_ID),
        "WECOM_SECRET": SECRET,
        "WECOM_TOKEN": TOKEN,
        "WECOM_AES_KEY": AES_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    monkeypatch.setattr(app, "WECOM_HANDLER", None)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "WECOM_*" in err and SECRET not in err and AES_KEY not in err


def test_the_callbacks_address_and_path_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("WECOM_LISTEN", "0.0.0.0:9091")
    monkeypatch.setenv("WECOM_CALLBACK_PATH", "/hooks/wecom")
    wecom = Settings(_env_file=None).wecom
    assert (wecom.listen_address, wecom.callback_path) == (("0.0.0.0", 9091), "/hooks/wecom")
    assert Settings(_env_file=None, wecom={"listen": "[::]:8081"}).wecom.listen_address == (
        "::",
        8081,
    )
    with pytest.raises(ValueError, match="WECOM_LISTEN"):
        Settings(_env_file=None, wecom={"listen": "0.0.0.0"})
    assert not Settings(_env_file=None).wecom.partly_set
    assert Settings(_env_file=None, wecom={"corp_id": CORP_ID}).wecom.partly_set
