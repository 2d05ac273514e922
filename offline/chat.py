"""``stabot chat``: the real Application, every handler, on the in-process offline Bot API."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.app import build_application
from bot.config import Settings
from offline.bot_api import OfflineBotAPI
from offline.terminal import run_terminal_chat
from offline.updates import TgUser, UpdateFactory


async def run_offline_chat(
    settings: Settings,
    *,
    user_id: int,
    name: str,
    language: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    files_dir: Path | None = None,
    history: Path | None = None,
) -> None:
    """Chat with the bot in the terminal as the given Telegram user; the photos and documents
    the bot sends are saved into ``files_dir``; the chat's messages are kept in ``history``
    between sessions, as Telegram keeps them, so a form left half filled goes on where it
    stopped, its buttons included."""
    api = OfflineBotAPI(bot_username=settings.bot_username)
    application = build_application(chat_settings(settings), request=api)
    user = TgUser(id=user_id, first_name=name, language_code=language)
    # Update ids must grow across sessions, as Telegram's do, or the duplicate guard would
    # drop a new session's updates as already handled.
    factory = UpdateFactory(api, first_update_id=int(time.time() * 1000))
    resumed = _restore_history(api, user_id, history)
    # run_terminal_chat initialises the app and runs post_init, as run_polling would.
    try:
        await run_terminal_chat(
            application,
            api,
            user,
            factory=factory,
            stdin=stdin,
            stdout=stdout,
            files_dir=files_dir,
            show_last=resumed,
        )
    finally:
        _save_history(api, user_id, history)


def chat_settings(settings: Settings) -> Settings:
    """The settings with what a bot token would turn on: the delivery pipeline and the
    reminder scheduler (its lane is the offline API), so /remind and notices arrive in the chat
    as they would from ``stabot run``; a value set explicitly (DELIVERY_AUTOSTART,
    REMINDERS_SCHEDULER) is kept."""
    update: dict[str, object] = {}
    if settings.delivery.autostart is None:
        update["delivery"] = settings.delivery.model_copy(update={"autostart": True})
    if settings.reminders.scheduler is None:
        update["reminders"] = settings.reminders.model_copy(update={"scheduler": True})
    return settings.model_copy(update=update) if update else settings


def _restore_history(api: OfflineBotAPI, chat_id: int, history: Path | None) -> bool:
    """Load an earlier session's messages; True when there were any."""
    if history is None or not history.is_file():
        return False
    try:
        state = json.loads(history.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # a damaged history only costs the old buttons
    api.import_chat(chat_id, state)
    return bool(state.get("messages"))


def _save_history(api: OfflineBotAPI, chat_id: int, history: Path | None) -> None:
    if history is None:
        return
    history.parent.mkdir(parents=True, exist_ok=True)
    state = api.export_chat(chat_id)
    history.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
