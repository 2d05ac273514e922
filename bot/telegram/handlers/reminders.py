"""/remind and the delete buttons of its list."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import routes
from bot.flows.callback_data import ReminderDeleteButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond_route, routed_button


async def remind_command(update: Update, context: StabotContext) -> None:
    """Set a personal reminder (``/remind 明天上午9点 提交照片``), or list mine."""
    args = " ".join(context.args or [])
    await respond_route(update, context, routes.command("remind", args))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("remind", remind_command),
        CallbackQueryHandler(routed_button, pattern=ReminderDeleteButton.filter()),
    ]
