"""Shared plumbing of handlers: one transaction per update, then delivery of the reply."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError

from bot.common.i18n import t
from bot.flows import engine, kept_media, routes
from bot.flows.base import FlowContext, Msg, Reply
from bot.flows.menu import commands_for, role_of
from bot.runtime import StabotContext
from bot.services import people
from bot.telegram.render import deliver
from storage.db import transaction
from storage.models import User

log = logging.getLogger(__name__)
Producer = Callable[[FlowContext], Awaitable[Reply | None]]
T = TypeVar("T")


async def respond(
    update: Update, context: StabotContext, produce: Producer, *, quote: bool = False
) -> Reply | None:
    """Run ``produce`` in one transaction, then show its reply and send its notices.

    ``quote``: a new message replies to the message it answers (groups).
    """
    rt = context.rt
    async with rt.unit(update) as ctx:
        reply = await produce(ctx)
        previous = await engine.form_message_id(ctx) if reply and reply.form_view else None
    if reply is None:
        return None
    reply = await kept_media.loaded(reply, rt.media)  # files kept from WeCom: uploaded
    shown = await deliver(
        context.bot,
        ctx.chat_id,
        ctx.locale,
        reply,
        query=update.callback_query,
        previous_id=previous,
        reply_to=update.message.message_id if (quote or reply.quote) and update.message else None,
    )
    if reply.form_view and shown and shown != previous:  # an edit in place changes nothing
        async with transaction(rt.sessions) as session:
            await engine.remember_message(
                session, rt.forms, chat_id=ctx.chat_id, user_id=ctx.user_id, message_id=shown
            )
    await rt.notifiers.send_all(reply.notices)  # each through its channel's adapter
    return reply


async def respond_route(
    update: Update, context: StabotContext, produce: routes.Producer, *, quote: bool = False
) -> Any:
    """`respond` for a route of bot/flows/routes.py: shows the reply its result carries and
    returns the result (an outcome's charts or menus are the caller's to finish); None when
    the update had no unit."""
    results: list[Any] = []

    async def reply_of(ctx: FlowContext) -> Reply | None:
        result = await produce(ctx)
        results.append(result)
        return routes.reply_of(result)

    await respond(update, context, reply_of, quote=quote)
    return results[0] if results else None


async def respond_and_tell(
    update: Update,
    context: StabotContext,
    produce: Callable[[FlowContext], Awaitable[tuple[Reply, T]]],
) -> T | None:
    """`respond` for a flow that also says what it did (a receipt recorded, a count changed);
    None when the update had no unit (no user or chat)."""
    told: list[T] = []

    async def reply_of(ctx: FlowContext) -> Reply:
        reply, what = await produce(ctx)
        told.append(what)
        return reply

    await respond(update, context, reply_of)
    return told[0] if told else None


async def refresh_menu(update: Update, context: StabotContext) -> None:
    """In a private chat, give a registered user the command menu of their role now."""
    if update.effective_chat is None or update.effective_chat.type != "private":
        return
    async with context.rt.unit(update) as ctx:
        user, locale = ctx.actor, ctx.locale
    if people.is_registered(user):
        await sync_commands(context, user, locale, chat_id=update.effective_chat.id)


async def sync_commands(
    context: StabotContext, user: User, locale: str, *, chat_id: int | None = None
) -> None:
    """Give a registered user the command menu of their role, in their language, in their
    private chat (``chat_id``: this one, when their account is not their key's)."""
    commands = [
        BotCommand(c.command, t(locale, c.description)) for c in commands_for(role_of(user))
    ]
    chat = user.telegram_id if chat_id is None else chat_id
    try:
        await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat))
    except TelegramError as error:  # the menu is a convenience; never fail the reply for it
        log.warning("set_my_commands failed: %s", error)


async def routed_button(update: Update, context: StabotContext) -> Any:
    """A button the route table answers (bot/flows/routes.py): its reply shown, its result
    returned; a press the table does not read gets the stale note."""
    query = update.callback_query
    produce = routes.button(query.data, quoted=_quoted_text(query.message))
    if produce is None:
        produce = _stale
    return await respond_route(update, context, produce)


async def _stale(ctx: FlowContext) -> Reply:
    return Reply([], toast=Msg("button.stale"))


def _quoted_text(message: object) -> str | None:
    # The message a pressed button's message replies to (a quick-log offer quotes the report);
    # None when it is gone or the bot cannot see it.
    quoted = getattr(message, "reply_to_message", None)
    return (quoted.text or quoted.caption) if quoted is not None else None
