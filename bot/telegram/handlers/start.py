"""/start, /help, /me, /lang, /cancel, and the buttons that belong to them."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.common import deeplinks
from bot.flows import channels, onboarding
from bot.flows.callback_data import (
    AccessDecisionButton,
    AccessRequestButton,
    LanguageButton,
    LinkNewButton,
    ReachButton,
)
from bot.runtime import StabotContext
from bot.telegram.handlers.common import refresh_menu, respond


async def start(update: Update, context: StabotContext) -> None:
    """Welcome, invite registration, the way to ask for access, or a group's deep link."""
    payload = context.args[0] if context.args else ""
    private = update.effective_chat.type == "private"
    found = deeplinks.find(payload) if private else None
    if found is not None:  # a group's button: open that form or command here
        route, arg = found
        await route(update, context, arg)
        return
    await respond(update, context, lambda ctx: onboarding.start(ctx, payload, private=private))
    await refresh_menu(update, context)


async def help_command(update: Update, context: StabotContext) -> None:
    """The commands of the user's role."""
    await respond(update, context, onboarding.help_reply)
    await refresh_menu(update, context)


async def me(update: Update, context: StabotContext) -> None:
    """Who the bot thinks you are."""
    await respond(update, context, onboarding.me)


async def lang(update: Update, context: StabotContext) -> None:
    """Offer the languages."""
    await respond(update, context, onboarding.language_menu)


async def cancel(update: Update, context: StabotContext) -> None:
    """End the active form."""
    await respond(update, context, onboarding.cancel)


async def language_button(update: Update, context: StabotContext) -> None:
    """Switch the language and refresh the menu in it."""
    code = LanguageButton.parse(update.callback_query.data).code
    await respond(update, context, lambda ctx: onboarding.set_language(ctx, code))
    await refresh_menu(update, context)


async def request_button(update: Update, context: StabotContext) -> None:
    """Start the access-request form."""
    await respond(update, context, onboarding.begin_access_request)


async def decision_button(update: Update, context: StabotContext) -> None:
    """An admin approves or rejects an access request."""
    pressed = AccessDecisionButton.parse(update.callback_query.data)
    await respond(
        update, context, lambda ctx: onboarding.decide(ctx, pressed.request, pressed.approve)
    )


async def link_button(update: Update, context: StabotContext) -> None:
    """/me's "link another channel": a one-time code."""
    await respond(update, context, channels.offer_link)


async def reach_button(update: Update, context: StabotContext) -> None:
    """/me's choice of where reminders and notices go."""
    reach = ReachButton.parse(update.callback_query.data).reach
    await respond(update, context, lambda ctx: onboarding.choose_reach(ctx, reach))


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("me", me),
        CommandHandler("lang", lang),
        CommandHandler("cancel", cancel),
        CallbackQueryHandler(language_button, pattern=LanguageButton.filter()),
        CallbackQueryHandler(request_button, pattern=AccessRequestButton.filter()),
        CallbackQueryHandler(decision_button, pattern=AccessDecisionButton.filter()),
        CallbackQueryHandler(link_button, pattern=LinkNewButton.filter()),
        CallbackQueryHandler(reach_button, pattern=ReachButton.filter()),
    ]
