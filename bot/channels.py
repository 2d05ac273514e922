"""``stabot run``: every configured channel in one process, each stopping cleanly.

- Telegram (``BOT_TOKEN``): long polling, or the webhook (``--webhook-url``), as before;
- WeCom (``WECOM_*``, ``settings.wecom.configured``): the callback server and the inbox's
  workers (bot/wecom/channel.py), with the EventHandler made by the WeCom handler factory;
- both: one Application's runtime (database, clock, forms) serves both; WeCom stops first,
  since Telegram's shutdown closes the database.

A process with WeCom alone builds the runtime without an Application (``build_runtime``);
the schedulers and the delivery pipeline start with Telegram's Application (post_init) and
so run only where Telegram does; there the pipeline sends to WeCom members through the WeCom
sender (``wecom_sender``) on WeCom's own lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest

from bot.app import build_application, build_runtime
from bot.common.clock import Clock
from bot.config import Settings
from bot.flows.base import Album
from bot.runtime import Runtime, runtime_of
from bot.telegram.inbox.webhook import WebhookOptions, webhook_running
from bot.wecom import outcomes
from bot.wecom.channel import wecom_running
from bot.wecom.client import Message, WeComClient
from bot.wecom.events import EventHandler
from bot.wecom.inbox import WeComInbox
from bot.wecom.render import messages
from bot.wecom.sender import WeComSender
from storage.identity_models import Channel
from storage.migrate import upgrade_to_head

# Makes the WeCom EventHandler (the dispatcher) of a runtime and the application's API client.
WeComHandlerFactory = Callable[[Runtime, WeComClient], EventHandler]


@dataclass(frozen=True)
class Serving:
    """What a ``serve`` runs, once every channel is up: for tests and benchmarks to wait on
    (each inbox's ``idle``) and to reach the runtime, as the process itself never needs to."""

    runtime: Runtime
    telegram: Application | None
    wecom: WeComInbox | None


def wecom_sender(rt: Runtime, client: WeComClient) -> WeComSender:
    """The delivery pipeline's sender to WeCom members: notices, reminders and tasks rendered
    as WeCom messages, on WeCom's own lane and budget."""
    async def attach(locale: str, shown: list[Album]) -> list[Message]:
        return await outcomes.albums(locale, shown, rt.media, rt.file_sources)

    return WeComSender(
        client,
        messages,
        sessions=rt.sessions,
        pause=rt.settings.delivery.wecom_pause,
        attach=attach,
    )


@dataclass(frozen=True)
class TelegramMode:
    """How Telegram's updates come in: the webhook's options, or None for long polling."""

    webhook: WebhookOptions | None = None


def run(
    settings: Settings, telegram: TelegramMode | None, wecom: WeComHandlerFactory | None
) -> None:
    """Serve the channels until SIGINT or SIGTERM."""
    asyncio.run(_until_signalled(settings, telegram, wecom))


async def _until_signalled(
    settings: Settings, telegram: TelegramMode | None, wecom: WeComHandlerFactory | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, telegram=telegram, wecom=wecom, stop=stop)


async def serve(
    settings: Settings,
    *,
    telegram: TelegramMode | None,
    wecom: WeComHandlerFactory | None,
    stop: asyncio.Event,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    started: Callable[[Serving], None] | None = None,
) -> None:
    """Run Telegram (when ``telegram`` is given) and WeCom (when configured, with the handler
    ``wecom`` makes) until ``stop`` is set; then stop both, WeCom first. ``request``: the Bot
    API transport (tests pass the offline API); ``started``: told what runs, once it does."""
    if settings.wecom.configured and wecom is None:
        raise ValueError("WeCom is configured but this build has no WeCom handler")
    async with contextlib.AsyncExitStack() as stack:
        application: Application | None = None
        inbox: WeComInbox | None = None
        client: WeComClient | None = None
        if settings.wecom.configured and wecom is not None:
            client = WeComClient.from_settings(settings.wecom, clock)
            stack.push_async_callback(client.close)
        if telegram is not None:
            application = build_application(
                settings,
                request=request,
                clock=clock,
                polling=telegram.webhook is None,
                inbox=True,
            )
            rt = runtime_of(application)
            if client is not None:  # before post_init, which starts the delivery pipeline
                rt.channel_senders[Channel.WECOM] = wecom_sender(rt, client)
            running = (
                polling_running(application)
                if telegram.webhook is None
                else webhook_running(application, telegram.webhook)
            )
            await stack.enter_async_context(running)
        else:
            rt = build_runtime(settings, clock)
            stack.push_async_callback(rt.engine.dispose)
            await upgrade_to_head(rt.engine)
        if client is not None and wecom is not None:
            handler = wecom(rt, client)
            inbox = await stack.enter_async_context(
                wecom_running(settings.wecom, rt.sessions, rt.clock, handler)
            )
        if started is not None:
            started(Serving(rt, application, inbox))
        await stop.wait()


@contextlib.asynccontextmanager
async def polling_running(application: Application) -> AsyncIterator[Application]:
    """The Application started and polling until the block ends, then stopped and shut down
    (what ``Application.run_polling`` does, inside a loop that serves other channels too)."""
    updater = application.updater
    assert updater is not None  # build_application(polling=True) has one

    def polling_failed(error: Exception) -> None:
        application.create_task(application.process_error(error=error, update=None))

    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await updater.start_polling(
            allowed_updates=Update.ALL_TYPES, error_callback=polling_failed
        )
        await application.start()
        yield application
    finally:
        if updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
