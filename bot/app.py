"""Wiring: build the `telegram.ext.Application` with every handler and the shared runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import BotCommand, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

from bot import scheduler
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery import service as delivery
from bot.delivery.settings import DeliverySettings
from bot.handlers import activities, ask, broadcast, errors, forms, guards, start
from bot.handlers import reminders as reminder_handlers
from bot.handlers import stats as stats_handlers
from bot.handlers import tasks as task_handlers
from bot.i18n import SUPPORTED, t
from bot.menu import GUEST, commands_for
from bot.processor import PerChatUpdateProcessor
from bot.runtime import RUNTIME_KEY, Runtime, StabotContext, runtime_of
from bot.services.policy import PolicyLibrary
from storage.db import create_engine, session_factory
from storage.migrate import upgrade_to_head

log = logging.getLogger(__name__)
OFFLINE_TOKEN = "0:offline"
MAX_CONCURRENT_UPDATES = 64
WARMUP_KEY = "stabot.knowledge_warmup"


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Clock | None = None,
    polling: bool = False,
    migrate: bool = True,
) -> Application:
    """The bot: real handlers, our update processor, and the runtime in ``bot_data``."""
    builder = (
        ApplicationBuilder()
        .token(settings.token or OFFLINE_TOKEN)
        .context_types(ContextTypes(context=StabotContext))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    # Replies go through one policy (429s waited out, safe retries; bot/delivery/replies.py).
    builder = delivery.with_reply_policy(builder, request, DeliverySettings())
    if request is None:
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(
            settings.telegram_file_base_url
        )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    engine = create_engine(settings.database_url)
    application.bot_data[RUNTIME_KEY] = Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock or SystemClock(),
        services={"policy": PolicyLibrary(settings.data_dir, settings.corpus_dir)},
    )
    application.bot_data["stabot.migrate"] = migrate
    _register_handlers(application)
    return application


def _register_handlers(application: Application) -> None:
    # Guards first (duplicate updates, commands inside forms), then commands and their
    # buttons, and last the catch-all for form input and free text.
    for group, group_handlers in guards.handlers().items():
        application.add_handlers(group_handlers, group=group)
    application.add_handlers(start.handlers())
    application.add_handlers(activities.handlers())  # /log, /mylogs, /pushed, quick log
    application.add_handlers(broadcast.handlers())  # /broadcast, its buttons, 已阅 receipts
    application.add_handlers(reminder_handlers.handlers())  # /remind and its delete buttons
    application.add_handlers(task_handlers.handlers())  # /newtask, /tasks, report form, board
    application.add_handlers(stats_handlers.handlers())  # /stats, /export and their buttons
    # The typed 自定义 range is caught in group -1, before the form engine would parse it.
    application.add_handlers(stats_handlers.early_handlers(), group=-1)
    application.add_handlers(ask.handlers())  # /ask, /docs, questions, documents from admins
    application.add_handlers(forms.handlers())
    application.add_error_handler(errors.on_error)


async def _post_init(application: Application) -> None:
    rt = runtime_of(application)
    if application.bot_data.get("stabot.migrate", True):
        await upgrade_to_head(rt.engine)
    await _set_default_commands(application)
    if rt.settings.knowledge_warmup:
        # Index the bundled corpus and load jieba now, off the first question's clock.
        # post_init runs before the application counts as running, so the task is ours to
        # keep and to cancel at shutdown.
        warmup = asyncio.get_running_loop().create_task(rt.services["policy"].knowledge_base())
        application.bot_data[WARMUP_KEY] = warmup
    await delivery.start_service(application)  # broadcasts and reminders, on their own lane
    await scheduler.start_service(application)  # reminders: the jobs that hand them over


async def _set_default_commands(application: Application) -> None:
    for locale in SUPPORTED:
        commands = [BotCommand(c.command, t(locale, c.description)) for c in commands_for(GUEST)]
        # The default language (no code) gets zh_CN; English clients get their own list.
        language = None if locale == "zh_CN" else locale
        try:
            await application.bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(), language_code=language
            )
        except TelegramError as error:
            log.warning("set_my_commands (%s) failed: %s", locale, error)


async def _post_shutdown(application: Application) -> None:
    warmup = application.bot_data.pop(WARMUP_KEY, None)
    if warmup is not None and not warmup.done():
        warmup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warmup
    await scheduler.stop_service(application)
    await delivery.stop_service(application)
    await runtime_of(application).engine.dispose()
