"""/broadcast, the buttons of a broadcast's preview and status message, and 已阅 receipts."""

from __future__ import annotations

import logging
from typing import TypeGuard

from telegram import MaybeInaccessibleMessage, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.flows import acks, routes
from bot.flows import broadcast_actions as actions
from bot.flows.base import Button, Msg
from bot.flows.callback_data import NoticeButton, ReceiptButton
from bot.runtime import StabotContext
from bot.telegram.handlers.common import respond_and_tell, respond_route, routed_button
from bot.telegram.render import render_markup
from bot.telegram.sender import send_notice

log = logging.getLogger(__name__)


async def broadcast_command(update: Update, context: StabotContext) -> None:
    """Start the broadcast form (admins only)."""
    await respond_route(update, context, routes.command("broadcast"))


async def preview_button(update: Update, context: StabotContext) -> None:
    """Show the draft exactly as recipients will get it, then ask to send."""
    broadcast_id = NoticeButton.parse(update.callback_query.data).broadcast
    async with context.rt.unit(update) as ctx:
        draft = await actions.draft_for_preview(ctx, broadcast_id)
        chat_id, locale = ctx.chat_id, ctx.locale
    if draft is not None:
        await send_notice(context.bot, chat_id, locale, draft)
    await routed_button(update, context)


async def control_button(update: Update, context: StabotContext) -> None:
    """Send, pause, resume, cancel, receipts, remind or resend; the pipeline learns at once."""
    pressed = NoticeButton.parse(update.callback_query.data)
    broadcast_id, action = pressed.broadcast, pressed.action
    await routed_button(update, context)
    sender = context.rt.delivery
    if sender is not None and action in ("pause", "cancel"):
        sender.halt(broadcast_id)
    elif sender is not None:
        sender.wake()


async def ack_button(update: Update, context: StabotContext) -> None:
    """A recipient acknowledges a notice; the button then shows it was read."""
    broadcast_id = ReceiptButton.parse(update.callback_query.data).broadcast
    told: routes.Told | None = await routed_button(update, context)
    recorded = told is not None and told.what
    notice = update.callback_query.message
    # A notice the bot can no longer see (deleted, or too old: PTB gives it date 0) keeps its
    # button; the receipt still counts.
    if not recorded or not _visible(notice):
        return
    await _show_read(update, context, notice, broadcast_id)


async def ack_reply(update: Update, context: StabotContext) -> None:
    """A reply to a notice that asks for 已阅 (收到, 好的, 👍, a sticker): it counts as 已阅,
    as the button does; a reply that says more goes on to the other handlers."""
    message = update.effective_message
    if not acks.acknowledging(message.text, sticker=message.sticker is not None):
        return
    notice = message.reply_to_message
    broadcast_id = acks.receipt_asked(_button_data(notice)) or 0  # the filter found one
    read = await respond_and_tell(update, context, lambda ctx: acks.by_reply(ctx, broadcast_id))
    if read and _visible(notice):
        await _show_read(update, context, notice, broadcast_id)
    raise ApplicationHandlerStop


async def _show_read(
    update: Update, context: StabotContext, notice: Message, broadcast_id: int
) -> None:
    """The notice's button now says it was read."""
    async with context.rt.unit(update) as ctx:
        locale = ctx.locale
    done = [[Button(Msg("broadcast.button.acked"), ReceiptButton(broadcast_id).pack())]]
    try:
        await notice.edit_reply_markup(render_markup(locale, done))
    except TelegramError as error:  # the message is too old to edit: the receipt still counts
        log.info("could not mark the notice as read: %s", error)


def _button_data(message: Message | None) -> list[str]:
    markup = message.reply_markup if message is not None else None
    rows = markup.inline_keyboard if markup is not None else ()
    return [button.callback_data for row in rows for button in row if button.callback_data]


class RepliesToReceipt(filters.MessageFilter):
    """A message replying to one of the bot's notices that asks for a 已阅 receipt."""

    def filter(self, message: Message) -> bool:
        """Whether the replied message is the bot's and carries a 已阅 button."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or not replied.from_user.is_bot:
            return False
        return acks.receipt_asked(_button_data(replied)) is not None


def _visible(message: MaybeInaccessibleMessage | None) -> TypeGuard[Message]:
    return isinstance(message, Message) and message.is_accessible


def early_handlers() -> list[BaseHandler]:
    """Group -1: replies acknowledging a notice, before a form or the quick log reads them."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    said = (filters.TEXT & ~filters.COMMAND) | filters.Sticker.ALL
    return [MessageHandler(private & said & RepliesToReceipt(), ack_reply)]


def _previews(pressed: NoticeButton) -> bool:
    return pressed.action == "preview"


def _controls(pressed: NoticeButton) -> bool:
    return pressed.action != "preview"


def handlers() -> list[BaseHandler]:
    """The handlers of this module, in match order."""
    return [
        CommandHandler("broadcast", broadcast_command),
        CallbackQueryHandler(preview_button, pattern=NoticeButton.filter(_previews)),
        CallbackQueryHandler(control_button, pattern=NoticeButton.filter(_controls)),
        CallbackQueryHandler(ack_button, pattern=ReceiptButton.filter()),
    ]
