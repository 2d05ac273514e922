"""Acknowledgements (收到, 好的, 谢谢, 👍, a sticker): never an error. A reply to a notice that
asks for a 已阅 receipt counts as 已阅, as the button does; so does a bare 收到 / 已阅 in the
private chat when one such notice of the last days waits for it (with several, the member picks
which); any other acknowledgement gets no answer, as in the work groups. What reads as one is
`bot.flows.ask.acknowledges`, the same test the question route and the groups use."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.common.markup import html_to_plain
from bot.flows.ask import acknowledges
from bot.flows.base import Button, FlowContext, Input, InputKind, Msg, Reply
from bot.flows.callback_data import ReceiptButton
from bot.services import broadcasts
from storage.broadcast_models import Broadcast

# Words that say "I read it", not only "thanks": 收到, 收到了, 好的收到, 已阅, noted.
_READ = re.compile(r"收到|已阅|已读|收悉|知悉|received|noted|got it", re.IGNORECASE)
NOTICE_EXCERPT = 24  # characters of a notice that name it in a line or on a button


def receipt_asked(button_data: Iterable[str]) -> int | None:
    """The notice whose 已阅 button is among a message's buttons (their callback data)."""
    for data in button_data:
        if (pressed := ReceiptButton.find(data)) is not None:
            return pressed.broadcast
    return None


def acknowledging(text: str | None, sticker: bool = False) -> bool:
    """Whether a message only acknowledges: a sticker, or 收到 / 好的 / 谢谢 / 👍 …"""
    return sticker or (text is not None and acknowledges(text))


async def by_reply(ctx: FlowContext, broadcast_id: int) -> tuple[Reply, bool]:
    """A reply acknowledging a notice: 已阅 recorded, said in a line; True when recorded now."""
    done = await broadcasts.acknowledge(
        ctx.session, broadcast_id=broadcast_id, telegram_id=ctx.user_id, now=ctx.now
    )
    return Reply([Msg("broadcast.acked_by_reply" if done else "broadcast.acked_before")]), done


async def quiet_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route: a bare 收到 may be a notice's receipt; any other acknowledgement or a
    sticker outside a form gets no answer."""
    if inp.kind is InputKind.TEXT and acknowledges(inp.text):
        return await _receipt_by_text(ctx, inp.text) or Reply([])
    if inp.kind is InputKind.STICKER:
        return Reply([])  # nothing to send, and nothing for the routes after this one
    return None


async def _receipt_by_text(ctx: FlowContext, text: str) -> Reply | None:
    """收到 in the private chat: the one notice waiting for 已阅 recorded, or which of several
    (buttons that press as the notices' own); None when none waits or it is not a receipt."""
    if ctx.in_group or not _READ.search(text):
        return None
    waiting = await broadcasts.awaiting_receipt(ctx.session, telegram_id=ctx.user_id, now=ctx.now)
    if not waiting:
        return None
    if len(waiting) > 1:
        buttons = [
            [Button(Msg("broadcast.button.ack_this", notice=_name(b)), _receipt_data(b))]
            for b in waiting
        ]
        return Reply([Msg("broadcast.ack_which", count=len(waiting))], buttons)
    notice = waiting[0]
    await broadcasts.acknowledge(
        ctx.session, broadcast_id=notice.id or 0, telegram_id=ctx.user_id, now=ctx.now
    )
    return Reply([Msg("broadcast.acked_by_text", notice=_name(notice))])


def _name(notice: Broadcast) -> str:
    """The start of a notice's text, in plain words: enough to tell notices apart."""
    plain = " ".join(html_to_plain(notice.text).split())
    return plain if len(plain) <= NOTICE_EXCERPT else plain[: NOTICE_EXCERPT - 1] + "…"


def _receipt_data(notice: Broadcast) -> str:
    return ReceiptButton(notice.id or 0).pack()
