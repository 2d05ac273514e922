"""Everything a user sends while a form is open: text, photos, files, and form buttons."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Message, MessageEntity, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from bot.flows import engine
from bot.flows.base import FlowContext, Input, InputKind, Msg, Reply, TextRoute
from bot.flows.callback_data import FormButton
from bot.flows.menu import role_of
from bot.runtime import StabotContext
from bot.services import people
from bot.telegram.handlers.common import Producer, refresh_menu, respond


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


async def _outside_form(ctx: FlowContext, inp: Input, routes: Sequence[TextRoute]) -> Reply:
    # The routes build_application lists (quick log, questions …): the first reply wins.
    for route in routes:
        reply = await route(ctx, inp)
        if reply is not None:
            return reply
    if not people.is_registered(ctx.actor):
        return Reply([Msg("start.not_registered")])
    return Reply([Msg("fallback.unknown")])


async def message_input(update: Update, context: StabotContext) -> None:
    """A private message: the active form's answer, or else a routed text."""
    inp = to_input(update.effective_message)

    async def produce(ctx: FlowContext) -> Reply:
        return await engine.handle(ctx, inp) or await _outside_form(
            ctx, inp, context.rt.text_routes
        )

    watch = MenuWatch()
    reply = await respond(update, context, watch.wrap(produce))
    await _after_form(update, context, reply, watch)


async def form_button(update: Update, context: StabotContext) -> None:
    """A button of a form; an old one only gets a note that the form moved on."""
    pressed = FormButton.parse(update.callback_query.data)
    inp = Input(InputKind.ACTION, action=pressed.action, arg=pressed.arg, token=pressed.token)

    async def produce(ctx: FlowContext) -> Reply:
        return await engine.handle(ctx, inp) or Reply([], toast=Msg("form.stale"))

    watch = MenuWatch()
    reply = await respond(update, context, watch.wrap(produce))
    await _after_form(update, context, reply, watch)


class MenuWatch:
    """Notes whether an update changed what the user's command menu shows (role, language)."""

    def __init__(self) -> None:
        self.changed = False

    def wrap(self, produce: Producer) -> Producer:
        """``produce``, noting the menu's inputs before and after it."""

        async def watched(ctx: FlowContext) -> Reply | None:
            before = _menu_inputs(ctx)
            reply = await produce(ctx)
            self.changed = _menu_inputs(ctx) != before
            return reply

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
    ]
