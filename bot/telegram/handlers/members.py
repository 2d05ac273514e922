"""/members and its buttons: an admin's people, their changes, and invites."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.flows import members as flow
from bot.flows import routes
from bot.flows.callback_data import any_of
from bot.runtime import StabotContext
from bot.services import people
from bot.telegram.handlers.common import respond_route, routed_button, sync_commands


async def members_command(update: Update, context: StabotContext) -> None:
    """/members: the admin's people, first page (private chats only)."""
    await _sync_menus(context, await respond_route(update, context, routes.command("members")))


async def button(update: Update, context: StabotContext) -> None:
    """A button of /members: paging, filters, a person, a change, invites."""
    outcome = await routed_button(update, context)
    await _sync_menus(context, outcome)


async def _sync_menus(context: StabotContext, outcome: flow.Outcome | None) -> None:
    """After the answer's transaction: every changed person gets the menu of their new role."""
    for user in outcome.menus if outcome is not None else ():
        await sync_commands(
            context, user, people.user_locale(user, context.rt.settings.default_locale)
        )


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("members", members_command),
        CallbackQueryHandler(button, pattern=any_of(*flow.FAMILIES)),
    ]
