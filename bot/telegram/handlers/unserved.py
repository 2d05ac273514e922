"""Updates the bot does not serve, set aside quietly, and buttons that match no family.

stabot talks with people: their messages (private chats, and groups) and their presses of its
buttons, and it follows its own membership of groups. Everything else Telegram may deliver
stops before the first guard, with a debug line and nothing more (no reply, no error, no
database row): channel posts, messages sent on behalf of a chat (an anonymous group admin, a
channel's automatic forward) or without a sender, service messages (members joined or left, a
message pinned; a group's move to a supergroup is served), and the update kinds the bot never
asked for (inline queries, polls, reactions, other members' changes, join requests, boosts …).
A button whose data no handler claims, or one under a message the bot cannot see (an inline
message), is answered with a toast saying that it no longer works.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    TypeHandler,
    filters,
)

from bot.common.i18n import normalize_locale
from bot.flows.base import Msg
from bot.runtime import StabotContext
from bot.telegram.render import answer_query

log = logging.getLogger(__name__)
STALE = Msg("button.stale")
GROUP = -3  # before the guards (-2, -1): nothing of an unserved update is recorded
# The one service message the bot acts on: a group became a supergroup (its binding follows).
SERVED_STATUS = filters.StatusUpdate.MIGRATE


def why_unserved(update: Update) -> str | None:
    """Why the bot leaves an update alone, or None when it serves it."""
    if update.callback_query is not None:
        if update.callback_query.message is None:
            return "a button under an inline message"
        return None
    if update.my_chat_member is not None:
        return None  # the bot added to or removed from a group (handlers/groups.py)
    message = update.message or update.edited_message
    if message is None:  # channel posts and every kind that is not a message to the bot
        return "not a message to the bot"
    if SERVED_STATUS.check_update(update):
        return None
    if message.from_user is None or message.sender_chat is not None:
        return "not sent by a person"
    if message.from_user.is_bot:
        return "sent by a bot"
    if message.text is not None:  # never a service message; spares the thirty filters below
        return None
    if filters.StatusUpdate.ALL.check_update(update):
        return "a service message"
    return None


async def set_aside(update: Update, context: StabotContext) -> None:
    """Stop an update the bot does not serve before any guard or handler sees it."""
    reason = why_unserved(update)
    if reason is None:
        return
    log.debug("update %s set aside: %s", update.update_id, reason)
    if update.callback_query is not None:
        await stale_button(update, context)
    raise ApplicationHandlerStop


async def stale_button(update: Update, context: StabotContext) -> None:
    """Answer a button no handler claims: its data is old, malformed or forged."""
    query = update.callback_query
    locale = normalize_locale(query.from_user.language_code, context.rt.settings.default_locale)
    log.debug("update %s: no handler for button data %r", update.update_id, query.data)
    await answer_query(query, locale, STALE)


def handlers() -> list[BaseHandler]:
    """The handler that runs before every other (in ``GROUP``)."""
    return [TypeHandler(Update, set_aside)]


def fallback_handlers() -> list[BaseHandler]:
    """The last handler of group 0: any button that no family before it matched."""
    return [CallbackQueryHandler(stale_button)]
