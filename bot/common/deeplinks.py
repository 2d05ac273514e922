"""Deep links into the private chat: ``https://t.me/<bot>?start=<payload>``.

A group never runs a form; it gets a button whose link opens the private chat with the bot and
starts the form there. The payload names what to open: ``go_<command>`` (``go_log``,
``go_stats``) or ``go_fill_<cycle id>`` (the report form of a task's cycle). Payloads are short
(Telegram allows 64 characters of ``A-Za-z0-9_-``) and always contain ``_``, which invite codes
never do (their alphabet is lower-case letters and digits), so ``/start <payload>`` is never
read as an invite code and an invite code is never read as a payload.

The handlers that open each payload register in `ROUTES`
(bot/telegram/handlers/groups.py wires them); this module imports nothing from Telegram, so
flows build their link buttons with it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.services.people import InviteLinks

PREFIX = "go"
FILL = "fill"
_PAYLOAD = re.compile(r"^go_([a-z]{1,24})(?:_(\d{1,18}))?$")

# payload name -> async handler(update, context, arg); arg is "" or the digits after the name.
ROUTES: dict[str, Callable[..., Any]] = {}


def payload(name: str, arg: int | None = None) -> str:
    """The start payload that opens ``name`` (with a numeric argument) in the private chat."""
    text = f"{PREFIX}_{name}" if arg is None else f"{PREFIX}_{name}_{arg}"
    if not _PAYLOAD.match(text):
        raise ValueError(f"not a deep-link payload: {text!r}")
    return text


def parse(text: str) -> tuple[str, str] | None:
    """(name, argument) of a payload, or None when the text is no payload (an invite code)."""
    match = _PAYLOAD.match(text)
    return (match.group(1), match.group(2) or "") if match else None


def link(links: InviteLinks | None, name: str, arg: int | None = None) -> str:
    """``https://t.me/<BOT_USERNAME>?start=<payload>``: opens the private chat at ``name``.

    ``links``: the runtime's invite links (``FlowContext.invite_links``), which know the bot's
    username; an invite's link and this one differ only in the payload.
    """
    if links is None:
        raise ValueError("no invite links: the flow context was built without the runtime")
    return links.link(payload(name, arg))


def find(text: str) -> tuple[Callable[..., Any], str] | None:
    """The registered handler of a payload and its argument, or None (an invite code)."""
    parsed = parse(text)
    if parsed is None or parsed[0] not in ROUTES:
        return None
    return ROUTES[parsed[0]], parsed[1]
