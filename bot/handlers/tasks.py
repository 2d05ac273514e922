"""/newtask, /tasks and the ``task:`` buttons (report form, status board, export)."""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import task_new, task_report, task_views
from bot.flows.base import ID, FlowContext, Msg, said
from bot.handlers.common import respond
from bot.handlers.render import answer_query
from bot.runtime import StabotContext
from bot.services import people
from bot.services.task_export import task_workbook
from bot.services.tasks import TaskError, viewable_task

ROUTES = {
    "fill": lambda ctx, a: task_report.start_report(ctx, a[0]),
    "board": lambda ctx, a: task_views.board(ctx, a[0], a[1] if len(a) > 1 else 0, edit=True),
    "subs": lambda ctx, a: task_views.submissions(ctx, a[0], a[1]),
    "sub": lambda ctx, a: task_views.submission(ctx, a[0], a[1]),
    "remind": lambda ctx, a: task_views.remind(ctx, a[0]),
    "move": lambda ctx, a: task_views.move(ctx, a[0]),
    "del": lambda ctx, a: task_views.ask_delete(ctx, a[0]),
    "delok": lambda ctx, a: task_views.delete(ctx, a[0]),
    "files": lambda ctx, a: task_views.files(ctx, a[0], a[1] if len(a) > 1 else None),
}
# How many numbers each action takes after ``task:<action>:`` (the export and files too).
ARITY = {"fill": "1", "board": "1,2", "subs": "2", "sub": "2", "remind": "1", "move": "1",
         "del": "1", "delok": "1", "export": "1", "files": "1,2"}
BUTTONS = "^task:(?:{})$".format(
    "|".join(rf"{action}(?::{ID}){{{count}}}" for action, count in ARITY.items())
)


async def new_task(update: Update, context: StabotContext) -> None:
    """Start the report task form (admins only)."""
    await respond(update, context, task_new.begin)


async def tasks(update: Update, context: StabotContext) -> None:
    """A member's open tasks; an admin's tasks with their counts."""
    await respond(update, context, task_views.my_tasks)


async def button(update: Update, context: StabotContext) -> None:
    """``task:<action>:<id>[:<arg>]`` buttons; the export sends a file."""
    _, action, *raw = update.callback_query.data.split(":")
    args = [int(part) for part in raw]
    if action == "export":
        await _export(update, context, args[0])
        return
    await respond(update, context, lambda ctx: ROUTES[action](ctx, args))


async def _export(update: Update, context: StabotContext, task_id: int) -> None:
    """Send the task's submissions as an .xlsx file, within the admin's subtree."""
    async with context.rt.unit(update) as ctx:
        data, toast = await _workbook(ctx, task_id)
        chat_id, locale = ctx.chat_id, ctx.locale
    await answer_query(update.callback_query, locale, toast)
    if data is not None:
        await context.bot.send_document(chat_id, InputFile(data, filename=f"task-{task_id}.xlsx"))


async def _workbook(ctx: FlowContext, task_id: int) -> tuple[bytes | None, Msg | None]:
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    try:
        await viewable_task(ctx.session, task_id, scope)
    except TaskError as error:
        return None, said(error)
    return await task_workbook(ctx.session, task_id, scope, ctx.tz, ctx.locale), None  # type: ignore[arg-type]


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("newtask", new_task),
        CommandHandler("tasks", tasks),
        CallbackQueryHandler(button, pattern=BUTTONS),
    ]
