"""A flow's `Reply` as WeCom messages, within WeCom's sizes.

- Text without buttons: a markdown message when the reply has formatting (bold, links,
  quotes), else a text message; over 2048 bytes, several, cut at line ends.
- Buttons: a template card of card_type ``button_interaction`` (its text in the card, each
  button's ``key`` our callback data), when the card can hold them: at most 6 buttons, each
  label at most 10 characters, the text short enough for the card. Otherwise the text with
  numbered choices ("回复数字选择：1. …"): the dispatcher reads a number typed next as a press
  of that button (`Rendered.choices`). Link buttons become links in the text.
- An edit of a pressed card (``reply.edit``, and the press gave a response_code): the new
  card replaces it (``update_template_card``) when the reply is one card; else new messages.
- A toast: a short text of its own, or the card update's title line.
- Albums: the caption as text, then each file uploaded (`Upload`: media/upload, then an image
  or file message): files the bot made (a QR code, a chart) and files kept in the media store
  (bot/services/media_store.py). A jpg/png photo of up to 10 MB is an image, anything else of
  up to 20 MB a file; a file Telegram holds by its id, or a larger one, is counted in a note.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.common.i18n import t
from bot.common.markup import html_to_plain
from bot.flows.base import Button, Media, Reply
from bot.flows.labels import SEPARATOR, Style, render_label, render_texts
from bot.services.media_store import MediaStore
from bot.wecom.client import Markdown, MediaType, Message, TemplateCard, Text, Upload

# WeCom's limits (developer.work.weixin.qq.com, message/send and the template card types).
TEXT_MAX_BYTES = 2048  # text and markdown content
CARD_BUTTONS_MAX = 6  # button_interaction's button_list
BUTTON_TEXT_MAX = 10  # characters of a button's text
BUTTON_KEY_MAX_BYTES = 1024
TASK_ID_MAX_BYTES = 128  # unique per card: digits, letters, _-@
CARD_TITLE_MAX = 26  # main_title.title, characters
CARD_TEXT_MAX = 112  # sub_title_text, characters
CARD_TYPE = "button_interaction"
IMAGE_MAX_BYTES = 10 * 1024 * 1024  # media/upload: an image, jpg or png
FILE_MAX_BYTES = 20 * 1024 * 1024  # media/upload: a file
MEDIA_MIN_BYTES = 6  # WeCom takes no file of 5 bytes or less
IMAGE_FORMATS = frozenset({"jpg", "jpeg", "png"})
_COLON = re.compile("([：:])")


@dataclass
class Rendered:
    """What to send for one reply: messages in order, or the card that replaces the pressed
    one; ``choices``: the callback data of numbered choices (number n is ``choices[n - 1]``),
    empty when the reply offered none (the earlier numbers then mean nothing)."""

    messages: list[Message] = field(default_factory=list)
    card_update: TemplateCard | None = None
    choices: list[str] = field(default_factory=list)


def new_task_id() -> str:
    """A card's task id: unique, well under 128 bytes."""
    return f"stabot-{secrets.token_hex(12)}"


def render(
    locale: str | None,
    reply: Reply,
    *,
    response_code: str | None = None,
    task_id: Callable[[], str] = new_task_id,
    media: MediaStore | None = None,
) -> Rendered:
    """The WeCom messages of ``reply``; ``response_code``: the pressed card's, when the reply
    came from a press (its card may be replaced); ``media``: where kept files are read."""
    toast = render_label(locale, reply.toast, markup=False) if reply.toast else None
    buttons = [button for row in reply.buttons for button in row]
    if not reply.texts:
        return Rendered([*([Text(toast)] if toast else []), *_albums(locale, reply, media)])
    messages: list[Message] = [Text(toast)] if toast else []
    rendered = Rendered(messages)
    if not buttons:
        messages.extend(_texts(locale, reply))
    elif not _card_holds(locale, buttons):
        rendered.choices = _numbered(locale, reply, buttons, messages)
    else:
        text = render_texts(locale, reply.texts, Style.PLAIN).strip()
        card = _card(locale, buttons, _card_text(text), task_id)
        if card is not None and reply.edit and response_code:
            return Rendered(card_update=_with_desc(card, toast) if toast else card)
        if card is None:  # too much text for a card: the text, then a card of the buttons
            messages.extend(_texts(locale, reply))
            card = _card(locale, buttons, (t(locale, "wecom.choose"), ""), task_id)
            assert card is not None  # a card with a title and no text always holds
        messages.append(card)
    messages.extend(_albums(locale, reply, media))
    return rendered


def messages(locale: str, reply: Reply) -> list[Message]:
    """The messages of a reply the bot sends on its own (the delivery pipeline's renderer,
    bot/wecom/sender.py): nothing was pressed, so nothing is updated."""
    return render(locale, reply).messages


# --- cards -----------------------------------------------------------------------------------


def _card_holds(locale: str | None, buttons: list[Button]) -> bool:
    """Whether one button card can carry these buttons (count, label and key sizes)."""
    if len(buttons) > CARD_BUTTONS_MAX:
        return False
    labels = [render_label(locale, button.label, markup=False) for button in buttons]
    if any(len(label) > BUTTON_TEXT_MAX for label in labels):
        return False
    return all(len(b.data.encode()) <= BUTTON_KEY_MAX_BYTES for b in buttons if not b.url)


def _card_text(text: str) -> tuple[str, str] | None:
    """The card's title and text, or None when the text is too long for a card."""
    title, _, rest = text.partition(SEPARATOR)
    if len(title) > CARD_TITLE_MAX:
        # A prompt names its field first ("活动日期：点按钮…"): the name is the title.
        parts = _COLON.split(title, maxsplit=1)  # [name, colon, what follows] or [title]
        if len(parts) == 3 and 0 < len(parts[0]) <= CARD_TITLE_MAX:
            title, rest = parts[0], f"{parts[2]}{SEPARATOR}{rest}"
        else:
            title, rest = title[: CARD_TITLE_MAX - 1] + "…", text
    rest = rest.strip()
    return (title, rest) if len(rest) <= CARD_TEXT_MAX else None


def _card(
    locale: str | None,
    buttons: list[Button],
    text: tuple[str, str] | None,
    task_id: Callable[[], str],
) -> TemplateCard | None:
    """A button card with this title and text (None: no card, the text is too long)."""
    if text is None:
        return None
    title, rest = text
    labels = [render_label(locale, button.label, markup=False) for button in buttons]
    card: dict[str, Any] = {
        "card_type": CARD_TYPE,
        "main_title": {"title": title},
        "task_id": _checked_task_id(task_id()),
        "button_list": [_card_button(b, label) for b, label in zip(buttons, labels, strict=True)],
    }
    if rest:
        card["sub_title_text"] = rest
    return TemplateCard(card)


def _card_button(button: Button, label: str) -> dict[str, Any]:
    if button.url:
        return {"type": 1, "text": label, "url": button.url}
    return {"text": label, "style": 1, "key": button.data}


def _checked_task_id(task_id: str) -> str:
    if not task_id or len(task_id.encode()) > TASK_ID_MAX_BYTES:
        raise ValueError(f"a card's task id is 1-{TASK_ID_MAX_BYTES} bytes: {task_id!r}")
    return task_id


def _with_desc(card: TemplateCard, desc: str) -> TemplateCard:
    body = dict(card.card)
    body["main_title"] = {**body["main_title"], "desc": desc}
    return TemplateCard(body)


# --- text ------------------------------------------------------------------------------------


def _texts(locale: str | None, reply: Reply, extra: list[str] | None = None) -> list[Message]:
    """The reply's text as markdown (when formatted) or text messages, each within 2048 bytes."""
    markdown = render_texts(locale, reply.texts, Style.MARKDOWN)
    plain = render_texts(locale, reply.texts, Style.PLAIN)
    formatted = markdown != plain
    body = SEPARATOR.join([markdown if formatted else plain, *(extra or [])])
    kind = Markdown if formatted else Text
    return [kind(part) for part in split_text(body)]


def _numbered(
    locale: str | None, reply: Reply, buttons: list[Button], messages: list[Message]
) -> list[str]:
    """The text with its buttons as numbered choices (links as links); the choices' data."""
    lines, choices = ["", t(locale, "wecom.choices")], []
    for button in buttons:
        label = render_label(locale, button.label, markup=False)
        if button.url:
            lines.append(f"{label}: {button.url}")
        else:
            choices.append(button.data)
            lines.append(f"{len(choices)}. {label}")
    messages.extend(_texts(locale, reply, lines))
    return choices


def split_text(text: str, limit: int = TEXT_MAX_BYTES) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes, cut at line ends where it can."""
    parts: list[str] = []
    current = ""
    for line in text.split(SEPARATOR):
        candidate = f"{current}{SEPARATOR}{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode()) > limit:  # one line longer than a message: cut inside it
            head = line.encode()[:limit].decode(errors="ignore")
            parts.append(head)
            line = line[len(head) :]
        current = line
    if current.strip():
        parts.append(current)
    return parts


def _albums(locale: str | None, reply: Reply, media: MediaStore | None) -> list[Message]:
    """Each album's caption, then its files uploaded (made ones, and those kept in the media
    store); a note counts the files WeCom cannot be sent (another channel's ids, too big)."""
    messages: list[Message] = []
    for album in reply.albums:
        uploads = [upload for item in album.items if (upload := _upload(item, media))]
        caption = render_label(locale, album.caption) if album.caption is not None else ""
        missing = len(album.items) - len(uploads)
        note = t(locale, "wecom.media_pending", count=missing) if missing else ""
        text = html_to_plain(SEPARATOR.join(part for part in (caption, note) if part))
        messages.extend(Text(part) for part in split_text(text))
        messages.extend(uploads)
    return messages


def _upload(item: Media, media: MediaStore | None) -> Upload | None:
    """A file as WeCom takes it: a jpg/png photo of up to 10 MB as an image, anything else
    of up to 20 MB as a file; None when WeCom cannot be sent it."""
    if item.data is not None:
        data, filename = item.data, item.filename
    elif media is not None and (stored := media.get(item.file_id)) is not None:
        data, filename = stored.data, stored.filename
    else:
        return None  # a file another channel holds by its own id
    if not MEDIA_MIN_BYTES <= len(data) <= FILE_MAX_BYTES:
        return None
    image = filename.rsplit(".", 1)[-1].lower() in IMAGE_FORMATS
    if item.kind == "photo" and image and len(data) <= IMAGE_MAX_BYTES:
        return Upload(MediaType.IMAGE, data, filename)
    return Upload(MediaType.FILE, data, filename or "file")
