"""/members and its buttons: an admin's people, their changes, and invites."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import members as flow
from bot.flows.base import FlowContext, Reply
from bot.flows.callback_data import any_of, parse_any
from bot.runtime import StabotContext
from bot.services import people
from bot.telegram.handlers.common import respond, sync_commands
from storage.models import User

MakeOutcome = Callable[[FlowContext], Awaitable[flow.Outcome]]


async def members_command(update: Update, context: StabotContext) -> None:
    """/members: the admin's people, first page (private chats only)."""
    private = update.effective_chat.type == "private"
    await _run(update, context, flow.begin if private else flow.private_only)


async def button(update: Update, context: StabotContext) -> None:
    """A button of /members: paging, filters, a person, a change, invites."""
    pressed = parse_any(update.callback_query.data)
    await _run(update, context, lambda ctx: flow.on_button(ctx, pressed))


async def _run(update: Update, context: StabotContext, make: MakeOutcome) -> None:
    """Answer in one transaction; then give every changed person the menu of their new role."""
    changed: list[User] = []

    async def produce(ctx: FlowContext) -> Reply:
        outcome = await make(ctx)
        changed.extend(outcome.menus)
        return outcome.reply

    await respond(update, context, produce)
    for user in changed:
        await sync_commands(
            context, user, people.user_locale(user, context.rt.settings.default_locale)
        )


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("members", members_command),
        CallbackQueryHandler(button, pattern=any_of(*flow.FAMILIES)),
    ]
