"""Handlers that run before all others: duplicate updates, edited messages, and commands in
the middle of a form."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, MessageHandler, TypeHandler, filters

from bot.flows import engine, onboarding, routes
from bot.flows.menu import ALLOWED_DURING_FORM
from bot.runtime import KEEP_PROCESSED, PRUNE_EVERY, StabotContext, expect_claim
from bot.services import people
from bot.telegram.handlers.common import respond
from bot.telegram.handlers.forms import TELEGRAM_ONLY_COMMANDS
from storage.db import transaction

__all__ = [
    "KEEP_PROCESSED",
    "PRUNE_EVERY",
    "command_in_form",
    "drop_duplicates",
    "edited_message",
    "handlers",
]


async def drop_duplicates(update: Update, _context: StabotContext) -> None:
    """Handle each update id once, even when Telegram or a webhook retry delivers it again.

    Every handler begins with ``Runtime.unit``; the update's first unit records the id in its
    transaction, together with the update's effects (one transaction less per update than a
    guard of its own), and stops the handlers when the id was recorded before. A handler that
    acts without a unit is not covered.
    """
    expect_claim(update)


async def edited_message(update: Update, context: StabotContext) -> None:
    """An edited message runs nothing again: no command, no form step, no quick log.

    PTB's CommandHandler and MessageHandler take edits too, so without this an edited
    "/remind 明天9点 开会" set a second reminder. In a private chat a short note says that
    edits are not read; in a group the edit passes unnoticed.
    """
    if update.effective_chat.type == ChatType.PRIVATE:
        await respond(update, context, onboarding.edited)
    raise ApplicationHandlerStop


async def command_in_form(update: Update, context: StabotContext) -> None:
    """A command that is not allowed inside a form shows the form again instead."""
    command = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
    if command in ALLOWED_DURING_FORM or not await _form_open(update, context):
        return
    if routes.unknown_command(command, TELEGRAM_ONLY_COMMANDS) is not None:
        return  # no such command: told so by the last handler, the form left as it is
    reply = await respond(update, context, lambda ctx: onboarding.busy(ctx, f"/{command}"))
    if reply is not None:
        raise ApplicationHandlerStop


async def _form_open(update: Update, context: StabotContext) -> bool:
    # Most commands come with no form open: one read answers that, where a whole unit would
    # also load the user; the command's own unit then records the update id.
    chat, user = update.effective_chat, update.effective_user
    async with transaction(context.rt.sessions) as session:
        key = await people.person_key(session, user.id)
        return await engine.open_flow_in(session, chat_id=chat.id, user_id=key) is not None


def handlers() -> dict[int, list[BaseHandler]]:
    """Guard handlers by group (lower groups run first)."""
    return {
        -2: [TypeHandler(Update, drop_duplicates)],
        -1: [
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, edited_message),
            MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, command_in_form),
        ],
    }
