"""/ask, /docs, questions in free text, and documents sent by admins."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.flows import engine, routes
from bot.flows import library as library_flow
from bot.flows.base import FlowContext, Reply
from bot.flows.callback_data import (
    AskMoreButton,
    AskSectionButton,
    DocumentButton,
    any_of,
)
from bot.runtime import StabotContext
from bot.services.policy import PolicyLibrary, readable_suffix
from bot.telegram.handlers import forms
from bot.telegram.handlers.common import respond, respond_route, routed_button

MB = 1024 * 1024
ASK_BUTTONS = any_of(AskMoreButton, AskSectionButton)  # more sources; a section, page by page


def _library(context: StabotContext) -> PolicyLibrary:
    return context.rt.policy


async def ask(update: Update, context: StabotContext) -> None:
    """Answer the question after /ask."""
    await respond_route(update, context, routes.command("ask", " ".join(context.args or [])))


async def docs(update: Update, context: StabotContext) -> None:
    """List the indexed documents."""
    await respond_route(update, context, routes.command("docs"))


async def document(update: Update, context: StabotContext) -> None:
    """A file from a library manager outside a form is offered for indexing."""
    async with context.rt.unit(update) as ctx:
        in_form = await engine.active_flow(ctx) is not None
        manager = await library_flow.may_manage(ctx)
    if in_form or not manager:
        await forms.message_input(update, context)
        return
    sent = update.effective_message.document
    name = sent.file_name or "document"
    if not readable_suffix(name):
        await respond(update, context, _refusal("unsupported_type", name))
    elif (sent.file_size or 0) > library_flow.MAX_UPLOAD_MB * MB:
        await respond(update, context, _refusal("too_large", name))
    else:
        path = _library(context).upload_path(sent.file_unique_id, name)
        await (await sent.get_file()).download_to_drive(path)
        await respond(
            update,
            context,
            lambda ctx: library_flow.receive_upload(ctx, _library(context), path, name),
        )


def _refusal(code: str, name: str):
    async def produce(ctx: FlowContext) -> Reply:
        return library_flow.refuse_upload(code, name)

    return produce


def handlers() -> list[BaseHandler]:
    """The handlers of this module."""
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("ask", ask),
        CommandHandler("docs", docs),
        CallbackQueryHandler(routed_button, pattern=ASK_BUTTONS),
        CallbackQueryHandler(routed_button, pattern=DocumentButton.filter()),
        MessageHandler(private & filters.UpdateType.MESSAGE & filters.Document.ALL, document),
    ]
