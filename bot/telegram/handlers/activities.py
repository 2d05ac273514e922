"""/log, /mylogs, /pushed, the quick log from free text, and the buttons of activity lists."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import activity_views, routes
from bot.flows.callback_data import QuickLogButton, any_of
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond_route, routed_button


def _args(context: StabotContext) -> str:
    return " ".join(context.args or [])


async def log(update: Update, context: StabotContext) -> None:
    """Start the activity form, pre-filled from any text after the command."""
    await respond_route(update, context, routes.command("log", _args(context)))


async def my_logs(update: Update, context: StabotContext) -> None:
    """The user's activities, paged; with a keyword or a range of days, a search in them."""
    await respond_route(update, context, routes.command("mylogs", _args(context)))


async def pushed(update: Update, context: StabotContext) -> None:
    """Add to today's count of pushed science items."""
    await respond_route(update, context, routes.command("pushed", _args(context)))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("log", log),
        CommandHandler("mylogs", my_logs),
        CommandHandler("pushed", pushed),
        # "Log it" under an offer reads the quoted report (the route gets it as ``quoted``).
        CallbackQueryHandler(routed_button, pattern=QuickLogButton.filter()),
        CallbackQueryHandler(routed_button, pattern=any_of(*activity_views.FAMILIES)),
    ]
