"""``stabot chat``: the real Application, every handler, on the in-process offline Bot API."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from bot.app import build_application
from bot.chat_cli import run_terminal_chat
from bot.config import Settings
from bot.offline_api import OfflineBotAPI
from bot.updates import TgUser, UpdateFactory


async def run_offline_chat(
    settings: Settings,
    *,
    user_id: int,
    name: str,
    language: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    files_dir: Path | None = None,
) -> None:
    """Chat with the bot in the terminal as the given Telegram user; the photos and documents
    the bot sends are saved into ``files_dir``."""
    # Without a token the delivery pipeline stays off by default; offline, its lane is this API.
    if settings.delivery.autostart is None:
        delivery = settings.delivery.model_copy(update={"autostart": True})
        settings = settings.model_copy(update={"delivery": delivery})
    api = OfflineBotAPI(bot_username=settings.bot_username)
    application = build_application(settings, request=api)
    user = TgUser(id=user_id, first_name=name, language_code=language)
    # Update ids must grow across sessions, as Telegram's do, or the duplicate guard would
    # drop a new session's updates as already handled.
    factory = UpdateFactory(api, first_update_id=int(time.time() * 1000))
    # run_terminal_chat initialises the app and runs post_init, as run_polling would.
    await run_terminal_chat(
        application, api, user, factory=factory, stdin=stdin, stdout=stdout, files_dir=files_dir
    )
