"""/remind and the delete buttons of its list."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import remind as flow
from bot.flows.callback_data import ReminderDeleteButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond


async def remind_command(update: Update, context: StabotContext) -> None:
    """Set a personal reminder (``/remind 明天上午9点 提交照片``), or list mine."""
    args = " ".join(context.args or [])
    await respond(update, context, lambda ctx: flow.remind(ctx, args))


async def delete_button(update: Update, context: StabotContext) -> None:
    """Delete one reminder from the list."""
    pressed = ReminderDeleteButton.parse(update.callback_query.data)
    await respond(update, context, lambda ctx: flow.delete(ctx, pressed.reminder))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("remind", remind_command),
        CallbackQueryHandler(delete_button, pattern=ReminderDeleteButton.filter()),
    ]
