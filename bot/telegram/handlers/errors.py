"""The last resort: log the failure and tell the user, in their language, that it failed."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.common.i18n import normalize_locale, t
from bot.runtime import StabotContext
from bot.telegram.replies import ask_to_try_again, failed_in_transit

log = logging.getLogger(__name__)


async def on_error(update: object, context: StabotContext) -> None:
    """Log the exception with the update id, and apologise to the user."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    locale = normalize_locale(
        user.language_code if user else None, context.rt.settings.default_locale
    )
    if context.error is not None and failed_in_transit(context.error):
        # Telegram could not be reached, or not confirm, even after the reply policy's retries
        # (bot/telegram/replies.py): a send that may have arrived (UnconfirmedSend), an edit
        # whose retries ran out. A toast would not do for a press: its query was answered.
        await tell_to_try_again(update, context, locale)
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(t(locale, "error.generic"))
        else:
            await context.bot.send_message(
                update.effective_chat.id, t(locale, "error.generic"), parse_mode=ParseMode.HTML
            )
    except TelegramError:
        log.warning("could not tell chat %s about the failure", update.effective_chat.id)


async def tell_to_try_again(update: Update, context: StabotContext, locale: str) -> None:
    """A reply may not have arrived: a short "please try again", never the reply twice."""
    await ask_to_try_again(context.bot, update.effective_chat.id, t(locale, "error.try_again"))
