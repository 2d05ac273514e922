"""A reply's labels rendered in the reader's language, for any channel.

A `Label` is a message key with its parameters (nested messages included), a user's own
words, or `Html` a flow built. `render_label` gives Telegram HTML (``markup=True``: user words
escaped) or plain text (buttons, toasts); `render_texts` joins a reply's texts in a `Style`:
HTML for Telegram, markdown or plain text for a channel without HTML (bot/common/markup.py).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.common.i18n import t
from bot.common.markup import html_to_markdown, html_to_plain
from bot.flows.base import Html, Label, Msg

SEPARATOR = "\n"


class Style(StrEnum):
    """The markup a channel shows."""

    HTML = "html"  # Telegram's HTML
    MARKDOWN = "markdown"  # WeCom's markdown subset
    PLAIN = "plain"


def render_label(locale: str | None, label: Label, *, markup: bool = True) -> str:
    """A message key (with nested parameters) or a literal, rendered for HTML or a button."""
    if isinstance(label, Html):
        return str(label) if markup else html_to_plain(label)
    if isinstance(label, str):
        return html.escape(label, quote=False) if markup else label
    params = {name: _param(locale, value, markup) for name, value in label.params.items()}
    return t(locale, label.key, **params)


def _param(locale: str | None, value: Any, markup: bool) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a count stays a number: a plural message picks its form by it
    if isinstance(value, Msg | str):
        return render_label(locale, value, markup=markup)
    if isinstance(value, list | tuple):
        return t(locale, "form.list_separator").join(_param(locale, v, markup) for v in value)
    return str(value)


def render_texts(locale: str | None, texts: Iterable[Label], style: Style = Style.HTML) -> str:
    """Messages joined line by line, in ``style``."""
    joined = SEPARATOR.join(render_label(locale, text) for text in texts)
    if style == Style.MARKDOWN:
        return html_to_markdown(joined)
    if style == Style.PLAIN:
        return html_to_plain(joined)
    return joined


# Zones people in China call 北京时间 (the default TIMEZONE, and its old aliases).
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"})


def zone_label(tz: ZoneInfo) -> Label:
    """The time zone as every message names it: 北京时间 / Beijing time, else its IANA name."""
    return Msg("tz.beijing") if tz.key in BEIJING_ZONES else tz.key
