"""/newtask, /tasks and the task buttons (report form, status board, export)."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import task_new, task_report, task_views
from bot.flows.callback_data import TaskButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond
from bot.telegram.render import answer_query

ROUTES = {
    "fill": lambda ctx, b: task_report.start_report(ctx, b.target),
    "board": lambda ctx, b: task_views.board(ctx, b.target, b.arg or 0, edit=True),
    "submissions": lambda ctx, b: task_views.submissions(ctx, b.target, b.arg),
    "submission": lambda ctx, b: task_views.submission(ctx, b.target, b.arg),
    "remind": lambda ctx, b: task_views.remind(ctx, b.target),
    "move": lambda ctx, b: task_views.move(ctx, b.target),
    "delete": lambda ctx, b: task_views.ask_delete(ctx, b.target),
    "delete-yes": lambda ctx, b: task_views.delete(ctx, b.target),
    "files": lambda ctx, b: task_views.files(ctx, b.target, b.arg),
}


async def new_task(update: Update, context: StabotContext) -> None:
    """Start the report task form (admins only)."""
    await respond(update, context, task_new.begin)


async def tasks(update: Update, context: StabotContext) -> None:
    """A member's open tasks; an admin's tasks with their counts."""
    await respond(update, context, task_views.my_tasks)


async def button(update: Update, context: StabotContext) -> None:
    """A task button (`TaskButton`); the export sends a file."""
    pressed = TaskButton.parse(update.callback_query.data)
    if pressed.action == "export":
        await _export(update, context, pressed.target)
        return
    await respond(update, context, lambda ctx: ROUTES[pressed.action](ctx, pressed))


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
