"""Turn flow `Reply` objects into Telegram messages, in the reader's language.

The labels are rendered by the channel-neutral bot/flows/labels.py (``render_label`` is
imported from there by the Telegram modules that need it).
"""

from __future__ import annotations

import html
import logging

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.common.i18n import t
from bot.common.markup import html_to_plain
from bot.flows.base import Album, Button, Media, Msg, Reply
from bot.flows.labels import render_label, render_texts

log = logging.getLogger(__name__)


def render_text(locale: str | None, reply: Reply) -> str:
    """The message text of a reply."""
    text = render_texts(locale, reply.texts)
    if len(text) > MessageLimit.MAX_TEXT_LENGTH:
        # Forms cap every field, so this only guards against a catalog or data surprise.
        log.warning("reply text of %d characters cut to Telegram's limit", len(text))
        text = html.escape(html_to_plain(text))[: MessageLimit.MAX_TEXT_LENGTH - 1]
    return text


def render_markup(locale: str | None, buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a reply, or None when it has no buttons."""
    rows = [[_inline_button(locale, b) for b in row] for row in buttons if row]
    return InlineKeyboardMarkup(rows) if rows else None


def _inline_button(locale: str | None, button: Button) -> InlineKeyboardButton:
    text = render_label(locale, button.label, markup=False)
    if button.url:
        return InlineKeyboardButton(text, url=button.url)
    return InlineKeyboardButton(text, callback_data=button.data)


async def answer_query(query: CallbackQuery | None, locale: str | None, toast: Msg | None) -> None:
    """Answer a pressed button (with a toast when there is one), once."""
    if query is None:
        return
    try:
        await query.answer(render_label(locale, toast, markup=False) if toast else None)
    except BadRequest as error:  # the query is too old: nothing left to answer
        log.info("callback answer failed: %s", error)
    except TelegramError as error:
        # Still failing after the reply policy's retries: the button's spinner stops by itself
        # within seconds, and the edit or message that follows is the reply the user waits for.
        log.warning("callback answer failed after retries: %s", error)


async def deliver(
    bot: Bot,
    chat_id: int,
    locale: str | None,
    reply: Reply,
    *,
    query: CallbackQuery | None = None,
    previous_id: int | None = None,
    reply_to: int | None = None,
) -> int | None:
    """Show a reply: edit the pressed message when the reply says so, else send a new one.

    Returns the id of the message that now shows the reply. When a new message replaces an
    older form message, the older one loses its keyboard so stale buttons do not pile up.
    """
    await answer_query(query, locale, reply.toast)
    shown = await _show_text(bot, chat_id, locale, reply, query, previous_id, reply_to)
    if reply.albums:
        await send_albums(bot, chat_id, locale, reply.albums)
    return shown


async def _show_text(
    bot: Bot,
    chat_id: int,
    locale: str | None,
    reply: Reply,
    query: CallbackQuery | None,
    previous_id: int | None,
    reply_to: int | None = None,
) -> int | None:
    if not reply.texts:
        return None
    text = render_text(locale, reply)
    markup = render_markup(locale, reply.buttons)
    # A message the bot can no longer see (PTB gives it date 0) is not edited: a new one is sent.
    pressed = query.message if query and isinstance(query.message, Message) else None
    if pressed is not None and not pressed.is_accessible:
        pressed = None
    if reply.edit and pressed is not None and await _edit(pressed, text, markup):
        return pressed.message_id
    # In a group the answer quotes the message it answers, so busy chats can follow it.
    quoted = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    sent = await bot.send_message(
        chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, reply_parameters=quoted
    )
    stale = previous_id or (pressed.message_id if pressed and reply.edit else None)
    if stale and stale != sent.message_id:
        await _drop_keyboard(bot, chat_id, stale)
    return sent.message_id


async def send_albums(bot: Bot, chat_id: int, locale: str | None, albums: list[Album]) -> None:
    """Send files Telegram holds as albums (a lone file on its own), each with its caption."""
    for album in albums:
        caption = render_label(locale, album.caption) if album.caption is not None else None
        try:
            await _send_album(bot, chat_id, album.items, caption)
        except BadRequest as error:  # a file id this bot cannot send (another bot's, or gone)
            log.info("album of %d files not sent: %s", len(album.items), error)
            unavailable = t(locale, "media.unavailable", count=len(album.items))
            await bot.send_message(chat_id, unavailable, parse_mode=ParseMode.HTML)


async def _send_album(
    bot: Bot, chat_id: int, items: tuple[Media, ...], caption: str | None
) -> None:
    html = ParseMode.HTML
    if len(items) == 1:
        item = items[0]
        send = bot.send_photo if item.kind == "photo" else bot.send_document
        await send(chat_id, _file(item, attach=False), caption=caption, parse_mode=html)
        return
    kinds = {"photo": InputMediaPhoto, "document": InputMediaDocument}
    media = [
        kinds[item.kind](_file(item), caption=caption if n == 0 else None, parse_mode=html)
        for n, item in enumerate(items)
    ]
    await bot.send_media_group(chat_id, media)


def _file(item: Media, *, attach: bool = True) -> str | InputFile:
    """What Telegram is sent for a file: its id, or the upload of a file the bot made (a lone
    one as the method's own field, one of an album by an attach:// name)."""
    if item.data is None:
        return item.file_id
    return InputFile(item.data, filename=item.filename, attach=attach)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as error:
        if "not modified" in str(error).lower():
            return True
        log.info("edit failed, sending instead: %s", error)
        return False
    return True


async def _drop_keyboard(bot: Bot, chat_id: int, message_id: int) -> None:
    try:
        await bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except TelegramError as error:  # already without keyboard, deleted, or too old
        log.debug("could not drop keyboard of %s: %s", message_id, error)


async def notify(bot: Bot, chat_id: int, locale: str | None, reply: Reply) -> bool:
    """Send a message to someone other than the current user; False if they can't get it."""
    try:
        await bot.send_message(
            chat_id,
            render_text(locale, reply),
            parse_mode=ParseMode.HTML,
            reply_markup=render_markup(locale, reply.buttons),
        )
    except Forbidden:
        return False
    except BadRequest as error:
        log.warning("notice to %s failed: %s", chat_id, error)
        return False
    return True
