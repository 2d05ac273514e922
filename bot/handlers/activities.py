"""/log, /mylogs, /pushed, the quick log from free text, and the buttons of activity lists."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import activity_views, quick_log
from bot.flows.activity_views import MINE, ORG
from bot.flows.base import ID
from bot.handlers.common import Producer, respond
from bot.runtime import StabotContext

# act|same, act|page|N[|SEARCH] (org), act|push|N, act|pics|ID, act|open|ID[|LIST[SEARCH]]
# (edit, del, delok)
RECORD = rf"(?:open|edit|del|delok)\|{ID}(?:\|[{MINE}{ORG}](?:{ID})?)?"
BUTTONS = rf"^act\|(?:same|(?:page|org)\|{ID}(?:\|{ID})?|(?:push|pics)\|{ID}|{RECORD})$"


def _args(context: StabotContext) -> str:
    return " ".join(context.args or [])


def _private(update: Update, produce: Producer) -> Producer:
    # Forms and personal lists live in the private chat; a group only gets a pointer there.
    return produce if update.effective_chat.type == "private" else activity_views.private_only


async def log(update: Update, context: StabotContext) -> None:
    """Start the activity form, pre-filled from any text after the command."""
    text = _args(context)
    await respond(update, context, _private(update, lambda ctx: activity_views.begin(ctx, text)))


async def my_logs(update: Update, context: StabotContext) -> None:
    """The user's activities, paged; with a keyword or a range of days, a search in them."""
    text = _args(context)
    produce = _private(update, lambda ctx: activity_views.search_logs(ctx, text))
    await respond(update, context, produce)


async def pushed(update: Update, context: StabotContext) -> None:
    """Add to today's count of pushed science items."""
    text = _args(context)
    await respond(update, context, _private(update, lambda ctx: activity_views.pushed(ctx, text)))


async def offer_button(update: Update, context: StabotContext) -> None:
    """"Log it" under an offer: the form with what the quoted message says."""
    message = update.callback_query.message
    quoted = getattr(message, "reply_to_message", None)  # None when the message is gone
    text = (quoted.text or quoted.caption) if quoted is not None else None
    await respond(update, context, lambda ctx: quick_log.take_offer(ctx, text))


async def button(update: Update, context: StabotContext) -> None:
    """Buttons of the activity list, the detail view and the push count."""
    data = update.callback_query.data
    await respond(update, context, lambda ctx: activity_views.on_button(ctx, data))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("log", log),
        CommandHandler("mylogs", my_logs),
        CommandHandler("pushed", pushed),
        CallbackQueryHandler(offer_button, pattern=rf"^{re.escape(quick_log.OFFER_BUTTON)}$"),
        CallbackQueryHandler(button, pattern=BUTTONS),
    ]
