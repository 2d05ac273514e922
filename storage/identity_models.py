"""People across channels: the channel identities (a Telegram account, a WeCom member) of a person.

A person is a ``tg_user`` row (the table keeps its historical name). Its ``telegram_id`` column
is the person's key, which every older table stores: the *address* of the identity that first
met the bot. An address is the one number flows use as a chat id and a user key, whatever the
channel: a Telegram identity's address is its Telegram id (below 2**53, Telegram's own bound);
another channel's identities get addresses from their own range, above 2**56, by row id. So a
person who first wrote on WeCom has a WeCom address as key, and every int-keyed table, the
form engine and the callback data keep working unchanged.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Channel(StrEnum):
    """Where an identity lives."""

    TELEGRAM = "telegram"
    WECOM = "wecom"


class Reach(StrEnum):
    """Which of a person's channels get what the bot sends on its own (reminders, notices)."""

    LAST = "last"  # the channel the person last wrote from
    ALL = "all"  # every channel they use


# The first address of each non-Telegram channel's range; a new channel takes the next power.
# Telegram ids have at most 52 significant bits; group ids are negative.
CHANNEL_BASE: dict[Channel, int] = {Channel.WECOM: 1 << 56}
_BASES = sorted(((base, channel) for channel, base in CHANNEL_BASE.items()), reverse=True)


class ChannelIdentity(SQLModel, table=True):
    """One identity of a person on one channel, by that channel's own id for them."""

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    # Set in the transaction that creates the row; None only until the person's row exists
    # (a WeCom-first person's key is this row's address, so the row comes first).
    user_id: int | None = Field(default=None, foreign_key="tg_user.id", index=True)
    channel: Channel = Field(sa_type=Text)
    external_id: str = Field(max_length=64)  # a Telegram id in decimal, a WeCom UserID
    display_name: str | None = Field(default=None, max_length=64)  # the channel's name for them
    created_at: datetime


def address_of(identity: ChannelIdentity) -> int:
    """The number flows use for this identity as chat id and user key."""
    if identity.channel == Channel.TELEGRAM:
        return int(identity.external_id)
    if identity.id is None:
        raise ValueError("an identity has an address once it is stored")
    return CHANNEL_BASE[identity.channel] + identity.id


def channel_of(address: int) -> Channel:
    """The channel an address belongs to (Telegram for its chats and groups)."""
    for base, channel in _BASES:
        if address >= base:
            return channel
    return Channel.TELEGRAM


def row_id_of(address: int) -> int | None:
    """The identity row of a non-Telegram address (Telegram's are found by external id)."""
    channel = channel_of(address)
    return None if channel == Channel.TELEGRAM else address - CHANNEL_BASE[channel]
