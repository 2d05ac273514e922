"""/log, /mylogs, /pushed, the quick log from free text, and the buttons of activity lists."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import activity_views, quick_log
from bot.flows.callback_data import QuickLogButton, any_of, parse_any
from bot.runtime import StabotContext
from bot.telegram.handlers.common import Producer, respond


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
    pressed = parse_any(update.callback_query.data)
    await respond(update, context, lambda ctx: activity_views.on_button(ctx, pressed))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("log", log),
        CommandHandler("mylogs", my_logs),
        CommandHandler("pushed", pushed),
        CallbackQueryHandler(offer_button, pattern=QuickLogButton.filter()),
        CallbackQueryHandler(button, pattern=any_of(*activity_views.FAMILIES)),
    ]
