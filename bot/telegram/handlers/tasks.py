"""/newtask, /tasks and the task buttons (report form, status board, export)."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import routes, task_views
from bot.flows.callback_data import TaskButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond_route, routed_button
from bot.telegram.render import answer_query


async def new_task(update: Update, context: StabotContext) -> None:
    """Start the report task form (admins only)."""
    await respond_route(update, context, routes.command("newtask"))


async def tasks(update: Update, context: StabotContext) -> None:
    """A member's open tasks; an admin's tasks with their counts."""
    await respond_route(update, context, routes.command("tasks"))


async def button(update: Update, context: StabotContext) -> None:
    """A task button (`TaskButton`); the export sends a file."""
    pressed = TaskButton.parse(update.callback_query.data)
    if pressed.action == "export":
        await _export(update, context, pressed.target)
        return
    await routed_button(update, context)


async def _export(update: Update, context: StabotContext, task_id: int) -> None:
    """Send the task's submissions as an .xlsx file, within the admin's subtree."""
    async with context.rt.unit(update) as ctx:
        data, toast = await task_views.export_workbook(ctx, task_id)
        chat_id, locale = ctx.chat_id, ctx.locale
    await answer_query(update.callback_query, locale, toast)
    if data is not None:
        await context.bot.send_document(chat_id, InputFile(data, filename=f"task-{task_id}.xlsx"))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("newtask", new_task),
        CommandHandler("tasks", tasks),
        CallbackQueryHandler(button, pattern=TaskButton.filter()),
    ]
