"""Notices to other people, each sent through the adapter of the channel its address is on.

A flow's `Reply.notices` go to someone other than the one who acted: an admin asked to
decide, a requester told the outcome. That person may be on another channel than the update
that made the notice (a WeCom member's request reaches a Telegram admin), so the adapter that
handled the update does not send them itself: it hands each to `Notifiers.send`, which picks
the adapter registered for ``channel_of(notice.chat_id)``. Each adapter registers its sender
when it starts (Telegram in build_application, WeCom when its dispatcher is built).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from bot.flows.base import Notice
from storage.identity_models import Channel, channel_of

log = logging.getLogger(__name__)
# Sends one notice; False when the person cannot get it (blocked the bot, unknown, refused).
NoticeSender = Callable[[Notice], Awaitable[bool]]


class Notifiers:
    """The notice sender of each channel that runs in this process."""

    def __init__(self) -> None:
        self._senders: dict[Channel, NoticeSender] = {}

    def register(self, channel: Channel, sender: NoticeSender) -> None:
        """Have ``sender`` send the notices to addresses on ``channel``."""
        self._senders[channel] = sender

    async def send(self, notice: Notice) -> bool:
        """Send one notice through its channel's adapter; False when none runs here."""
        channel = channel_of(notice.chat_id)
        sender = self._senders.get(channel)
        if sender is None:
            log.warning("notice to an address on %s, which does not run here", channel)
            return False
        return await sender(notice)

    async def send_all(self, notices: Iterable[Notice]) -> None:
        """Send each notice in turn."""
        for notice in notices:
            await self.send(notice)
