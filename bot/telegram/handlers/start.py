"""/start, /help, /me, /lang, /cancel, /requests, and the buttons that belong to them."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.common import deeplinks
from bot.flows import routes
from bot.flows.callback_data import (
    AccessDecisionButton,
    AccessListButton,
    AccessRequestButton,
    LanguageButton,
    LinkNewButton,
    ReachButton,
)
from bot.runtime import StabotContext
from bot.telegram.handlers.common import refresh_menu, respond_route, routed_button


async def start(update: Update, context: StabotContext) -> None:
    """Welcome, invite registration, the way to ask for access, or a group's deep link."""
    payload = context.args[0] if context.args else ""
    found = deeplinks.find(payload) if update.effective_chat.type == "private" else None
    if found is not None:  # a group's button: open that form or command here
        route, arg = found
        await route(update, context, arg)
        return
    await respond_route(update, context, routes.command("start", payload))
    await refresh_menu(update, context)


async def help_command(update: Update, context: StabotContext) -> None:
    """The commands of the user's role."""
    await respond_route(update, context, routes.command("help"))
    await refresh_menu(update, context)


async def me(update: Update, context: StabotContext) -> None:
    """Who the bot thinks you are."""
    await respond_route(update, context, routes.command("me"))


async def lang(update: Update, context: StabotContext) -> None:
    """Offer the languages."""
    await respond_route(update, context, routes.command("lang"))


async def cancel(update: Update, context: StabotContext) -> None:
    """End the active form."""
    await respond_route(update, context, routes.command("cancel"))


async def requests_command(update: Update, context: StabotContext) -> None:
    """An admin's list of the access requests waiting in their subtree."""
    await respond_route(update, context, routes.command("requests"))


async def language_button(update: Update, context: StabotContext) -> None:
    """Switch the language and refresh the menu in it."""
    await routed_button(update, context)
    await refresh_menu(update, context)


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("me", me),
        CommandHandler("lang", lang),
        CommandHandler("cancel", cancel),
        CommandHandler("requests", requests_command),
        CallbackQueryHandler(language_button, pattern=LanguageButton.filter()),
        CallbackQueryHandler(routed_button, pattern=AccessRequestButton.filter()),
        CallbackQueryHandler(routed_button, pattern=AccessDecisionButton.filter()),
        CallbackQueryHandler(routed_button, pattern=AccessListButton.filter()),
        CallbackQueryHandler(routed_button, pattern=LinkNewButton.filter()),  # /me: link code
        CallbackQueryHandler(routed_button, pattern=ReachButton.filter()),  # /me: reach
    ]
