"""Everything a user sends while a form is open: text, photos, files, and form buttons."""

from __future__ import annotations

from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from bot.flows import routes
from bot.flows.base import FlowContext, Input, InputKind, Reply
from bot.flows.callback_data import FormButton
from bot.flows.menu import role_of
from bot.runtime import StabotContext
from bot.telegram.handlers.common import refresh_menu, respond, respond_route


def to_input(message: Message) -> Input:
    """What kind of input a message is, for a form step."""
    if message.photo:
        return Input(InputKind.PHOTO, message.caption or "", file_id=message.photo[-1].file_id)
    if message.document:
        return Input(
            InputKind.DOCUMENT, message.document.file_name or "", file_id=message.document.file_id
        )
    if message.sticker:
        return Input(InputKind.STICKER)
    if message.text is not None:
        # Bold, italics or links set with the app's formatting menu arrive as entities.
        formatted = any(e.type != MessageEntity.BOT_COMMAND for e in message.entities)
        return Input(InputKind.TEXT, message.text, html=message.text_html if formatted else None)
    return Input(InputKind.OTHER)


async def message_input(update: Update, context: StabotContext) -> None:
    """A private message: the active form's answer, or else a routed text."""
    inp = to_input(update.effective_message)

    async def produce(ctx: FlowContext) -> Reply:
        return await routes.user_input(ctx, inp, context.rt.text_routes)

    watch = MenuWatch()
    reply = await respond(update, context, watch.wrap(produce))
    await _after_form(update, context, reply, watch)


async def form_button(update: Update, context: StabotContext) -> None:
    """A button of a form; an old one only gets a note that the form moved on."""
    produce = routes.button(update.callback_query.data)
    if produce is None:  # the pattern matched the family: the table reads it
        return
    watch = MenuWatch()
    reply = await respond_route(update, context, watch.wrap(produce))
    await _after_form(update, context, reply, watch)


class MenuWatch:
    """Notes whether an update changed what the user's command menu shows (role, language)."""

    def __init__(self) -> None:
        self.changed = False

    def wrap(self, produce: routes.Producer) -> routes.Producer:
        """``produce``, noting the menu's inputs before and after it."""

        async def watched(ctx: FlowContext) -> Any:
            before = _menu_inputs(ctx)
            result = await produce(ctx)
            self.changed = _menu_inputs(ctx) != before
            return result

        return watched


def _menu_inputs(ctx: FlowContext) -> tuple[str, str | None, str | None]:
    user = ctx.actor
    return role_of(user), user.locale if user else None, user.language_code if user else None


async def _after_form(
    update: Update, context: StabotContext, reply: Reply | None, watch: MenuWatch
) -> None:
    # A finished form may have changed the role (registration, a grant); most forms change
    # nothing the menu shows, and then the menu is not sent again.
    if reply is not None and reply.finished and watch.changed:
        await refresh_menu(update, context)


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    private = filters.ChatType.PRIVATE
    return [
        CallbackQueryHandler(form_button, pattern=FormButton.filter()),
        MessageHandler(private & filters.UpdateType.MESSAGE & ~filters.COMMAND, message_input),
        # Last: a command no handler took (/foo, /mylog) is told so, as on WeCom.
        MessageHandler(private & filters.UpdateType.MESSAGE & filters.COMMAND, unknown_command),
    ]


async def unknown_command(update: Update, context: StabotContext) -> None:
    """A private command that no handler serves: say there is no such command."""
    head = update.effective_message.text.split()[0]
    reply = routes.unknown_command(head, TELEGRAM_ONLY_COMMANDS)
    if reply is not None:
        await respond(update, context, lambda ctx: _same(reply))


async def _same(reply: Reply) -> Reply:
    return reply


# Commands only Telegram has (its work groups); in private they answer with a hint.
TELEGRAM_ONLY_COMMANDS = frozenset({"bindgroup", "unbindgroup"})
