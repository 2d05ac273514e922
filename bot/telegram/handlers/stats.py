"""/stats and /export, their buttons and the typed custom range; then the charts, and the files
of /export (`bot.telegram.handlers.exports`)."""

from __future__ import annotations

import asyncio
import re

from telegram import InputMediaPhoto, Update
from telegram.constants import ChatAction
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.flows import engine, routes
from bot.flows import stats as flow
from bot.flows.base import FlowContext
from bot.flows.callback_data import StatsButton
from bot.runtime import StabotContext
from bot.services import charts, people
from bot.telegram.handlers import exports as export_files
from bot.telegram.handlers.common import respond_route
from storage.db import transaction

# Every date range has a digit, a Chinese numeral or a word of time (上季度, last month); other
# texts skip the state look-up.
MAYBE_RANGE = re.compile(
    r"[0-9０-９〇零一二两三四五六七八九十周月季年今昨去上本这]|week|month|quarter|year|day",
    re.IGNORECASE,
)
RANGE_MAX = 80


def _args(context: StabotContext) -> str:
    return " ".join(context.args or [])


async def stats_command(update: Update, context: StabotContext) -> None:
    """/stats: the picker for admins, this month against last month for liaisons."""
    await _run(update, context, routes.command("stats", _args(context)))


async def export_command(update: Update, context: StabotContext) -> None:
    """/export: the picker, then an .xlsx of the activities (admins only)."""
    await _run(update, context, routes.command("export", _args(context)))


async def button(update: Update, context: StabotContext) -> None:
    """A period, 自定义, the children of an org, or an org's picker."""
    produce = routes.button(update.callback_query.data)
    if produce is not None:  # the pattern matched the family: the table reads it
        await _run(update, context, produce)


async def typed_range(update: Update, context: StabotContext) -> None:
    """The range typed into the open 自定义 step; every other text passes on to later groups."""
    text = update.effective_message.text or ""
    if not MAYBE_RANGE.search(text) or len(text) > RANGE_MAX:
        return  # no date in it: the form engine answers the open step with its hint, if any
    chat, user = update.effective_chat, update.effective_user
    async with transaction(context.rt.sessions) as session:
        key = await people.person_key(session, user.id)
        open_flow = await engine.open_flow_in(session, chat_id=chat.id, user_id=key)
    if open_flow != flow.RANGE_FORM:
        return
    await _run(update, context, lambda ctx: flow.typed_range(ctx, text))
    raise ApplicationHandlerStop


async def _run(update: Update, context: StabotContext, produce: routes.Producer) -> None:
    """Answer in one transaction, then draw the charts and write the export outside it."""
    locales: list[str] = []

    async def noted(ctx: FlowContext) -> flow.Outcome | None:
        locales.append(ctx.locale)
        return await produce(ctx)

    outcome: flow.Outcome | None = await respond_route(update, context, noted)
    if outcome is None:
        return
    locale = locales[0]
    await _send_charts(update, context, outcome.charts, locale)
    if outcome.export is not None:
        await export_files.send(update, context, outcome.export, locale)


async def _send_charts(
    update: Update, context: StabotContext, drawn: list[charts.Chart], locale: str
) -> None:
    if not drawn:
        return
    chat_id = update.effective_chat.id
    await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
    images = await asyncio.to_thread(lambda: [flow.draw_chart(chart, locale) for chart in drawn])
    if len(images) == 1:
        await context.bot.send_photo(chat_id, images[0])
    else:  # one album: the charts arrive together and scroll as one
        await context.bot.send_media_group(chat_id, [InputMediaPhoto(png) for png in images])


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order (group 0)."""
    return [
        CommandHandler("stats", stats_command),
        CommandHandler("export", export_command),
        CallbackQueryHandler(button, pattern=StatsButton.filter()),
    ]


def early_handlers() -> list[BaseHandler]:
    """Group -1: the typed custom range, before the form engine would take it."""
    text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
    return [MessageHandler(text & filters.UpdateType.MESSAGE, typed_range)]
