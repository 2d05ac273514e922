"""``stabot chat``: the real Application, every handler, on the in-process offline Bot API."""

from __future__ import annotations

import sys

from bot.app import build_application
from bot.chat_cli import run_terminal_chat
from bot.config import Settings
from bot.i18n import normalize_locale, t
from bot.offline_api import OfflineBotAPI
from bot.updates import TgUser


async def run_offline_chat(settings: Settings, *, user_id: int, name: str, language: str) -> None:
    """Chat with the bot in the terminal as the given Telegram user."""
    api = OfflineBotAPI(bot_username=settings.bot_username)
    application = build_application(settings, request=api)
    user = TgUser(id=user_id, first_name=name, language_code=language)
    locale = normalize_locale(language, settings.default_locale)
    print(t(locale, "cli.chat_banner", user_id=user_id, name=name), file=sys.stdout, flush=True)
    async with application:
        await application.start()
        try:
            await run_terminal_chat(application, api, user)
        finally:
            await application.stop()
