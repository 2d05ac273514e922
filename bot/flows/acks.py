"""Acknowledgements (收到, 好的, 谢谢, 👍, a sticker): never an error. A reply to a notice that
asks for a 已阅 receipt counts as 已阅, as the button does; any other acknowledgement gets no
answer, as in the work groups. What reads as one is `bot.flows.ask.acknowledges`, the same
test the question route and the groups use."""

from __future__ import annotations

from collections.abc import Iterable

from bot.flows.ask import acknowledges
from bot.flows.base import FlowContext, Input, InputKind, Msg, Reply
from bot.flows.callback_data import ReceiptButton
from bot.services import broadcasts


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
    """A free-text route: an acknowledgement or a sticker outside a form gets no answer."""
    if inp.kind is InputKind.STICKER or (inp.kind is InputKind.TEXT and acknowledges(inp.text)):
        return Reply([])  # nothing to send, and nothing for the routes after this one
    return None
