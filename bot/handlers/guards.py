"""Handlers that run before all others: duplicate updates, and commands in the middle of a form."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, MessageHandler, TypeHandler, filters

from bot.flows import onboarding
from bot.handlers.common import respond
from bot.menu import ALLOWED_DURING_FORM
from bot.runtime import StabotContext
from storage import conversations_repo
from storage.db import transaction

log = logging.getLogger(__name__)
KEEP_PROCESSED = timedelta(days=2)  # Telegram keeps an unconfirmed update for 24 hours
PRUNE_EVERY = 1000  # update ids are sequential, so this prunes about once per 1000 updates


async def drop_duplicates(update: Update, context: StabotContext) -> None:
    """Handle each update id once, even when Telegram or a webhook retry delivers it again."""
    rt = context.rt
    now = rt.clock.now()
    async with transaction(rt.sessions) as session:
        fresh = await conversations_repo.mark_processed(
            session=session, update_id=update.update_id, now=now
        )
        if fresh and update.update_id % PRUNE_EVERY == 0:
            await conversations_repo.forget_processed_before(
                session=session, moment=now - KEEP_PROCESSED
            )
    if not fresh:
        log.info("update %s delivered again; ignored", update.update_id)
        raise ApplicationHandlerStop


async def command_in_form(update: Update, context: StabotContext) -> None:
    """A command that is not allowed inside a form shows the form again instead."""
    command = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
    if command in ALLOWED_DURING_FORM:
        return
    reply = await respond(update, context, lambda ctx: onboarding.busy(ctx, f"/{command}"))
    if reply is not None:
        raise ApplicationHandlerStop


def handlers() -> dict[int, list[BaseHandler]]:
    """Guard handlers by group (lower groups run first)."""
    return {
        -2: [TypeHandler(Update, drop_duplicates)],
        -1: [MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, command_in_form)],
    }
