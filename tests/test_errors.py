"""The Application's error handler (bot/telegram/handlers/errors.py ``on_error``), reached as
PTB reaches it: a handler of the running app raises while it processes a real Update."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler, TypeHandler

from bot.common.i18n import t
from offline.updates import TgUser
from tests.harness import ScriptedRequest, running_bot, sent_texts, toasts

ZH = TgUser(id=42001, first_name="用户")
EN = TgUser(id=42002, first_name="User", language_code="en")
FIRST = -100  # a handler group ahead of the app's own


async def broken(_update: Update, _context: object) -> None:
    """A handler with a bug."""
    raise ValueError("a bug")


async def test_a_failing_message_handler_is_logged_and_the_user_gets_an_apology(
    settings, clock, caplog
):
    async with running_bot(settings, clock) as bot:
        bot.app.add_handler(TypeHandler(Update, broken), group=FIRST)
        with caplog.at_level(logging.ERROR, logger="bot.telegram.handlers.errors"):
            calls = await bot.text(ZH, "/help")
    # The apology, once; PTB goes on to the app's own handler in the next group (the help).
    texts = sent_texts(calls)
    assert texts[0] == t("zh_CN", "error.generic") and texts.count(texts[0]) == 1
    assert "/help" in texts[1]
    [record] = [r for r in caplog.records if r.name == "bot.telegram.handlers.errors"]
    assert record.exc_info and record.exc_info[0] is ValueError


async def test_a_failing_button_is_answered_with_the_apology_in_the_users_language(
    settings, clock
):
    async with running_bot(settings, clock) as bot:
        await bot.text(EN, "/lang")
        bot.app.add_handler(CallbackQueryHandler(broken), group=FIRST)
        calls = await bot.press(EN, "English")
    # A toast, not a message; then PTB goes on to the app's own handler of the press.
    assert toasts(calls)[0] == t("en", "error.generic")
    assert t("en", "error.generic") not in sent_texts(calls)


async def test_an_apology_that_cannot_be_sent_is_logged_and_goes_no_further(
    settings, clock, caplog
):
    too_old = (400, {"description": "Bad Request: query is too old and response timeout expired"})
    async with running_bot(settings, clock) as bot:
        await bot.text(ZH, "/lang")
        bot.app.bot.request.inner = ScriptedRequest(bot.api, {"answerCallbackQuery": [too_old]})
        bot.app.add_handler(CallbackQueryHandler(broken), group=FIRST)
        with caplog.at_level(logging.WARNING, logger="bot.telegram.handlers.errors"):
            calls = await bot.press(ZH, "English")
        # The refused apology never reached the API; the app's own handler still ran.
        assert t("zh_CN", "error.generic") not in toasts(calls)
        assert "editMessageText" in [c.method for c in calls]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"could not tell chat {ZH.id} about the failure"]
