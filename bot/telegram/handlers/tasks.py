"""/newtask, /tasks and the task buttons (report form, status board, export: the route's
.xlsx sent as a document)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import routes
from bot.flows.callback_data import TaskButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond_route, routed_button


async def new_task(update: Update, context: StabotContext) -> None:
    """Start the report task form (admins only)."""
    await respond_route(update, context, routes.command("newtask"))


async def tasks(update: Update, context: StabotContext) -> None:
    """A member's open tasks; an admin's tasks with their counts."""
    await respond_route(update, context, routes.command("tasks"))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("newtask", new_task),
        CommandHandler("tasks", tasks),
        CallbackQueryHandler(routed_button, pattern=TaskButton.filter()),
    ]
