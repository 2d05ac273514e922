"""Queries on channel identities: who an identity is, and where a person can be reached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, cast, func, literal, or_, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.identity_models import (
    CHANNEL_BASE,
    Channel,
    ChannelIdentity,
    Reach,
    address_of,
    channel_of,
    row_id_of,
)
from storage.models import User


async def find_identity(
    session: AsyncSession, channel: Channel, external_id: str
) -> ChannelIdentity | None:
    """The identity a channel's own id names, if the bot has met it."""
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
    )
    return (await session.exec(query)).first()


async def identity_at(session: AsyncSession, address: int) -> ChannelIdentity | None:
    """The identity an address belongs to."""
    row_id = row_id_of(address)
    if row_id is None:
        return await find_identity(session, Channel.TELEGRAM, str(address))
    return await session.get(ChannelIdentity, row_id)


async def identities_of(session: AsyncSession, user_id: int) -> Sequence[ChannelIdentity]:
    """A person's identities, oldest first."""
    query = (
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user_id)
        .order_by(col(ChannelIdentity.id))
    )
    return (await session.exec(query)).all()


async def add_identity(
    session: AsyncSession,
    *,
    channel: Channel,
    external_id: str,
    now: datetime,
    user_id: int | None = None,
    display_name: str | None = None,
) -> ChannelIdentity:
    """A new identity, stored (flushed) so that it has its address."""
    identity = ChannelIdentity(
        user_id=user_id,
        channel=channel,
        external_id=external_id,
        display_name=display_name,
        created_at=now,
    )
    session.add(identity)
    await session.flush()
    return identity


async def addresses_of(session: AsyncSession, user: User) -> list[tuple[Channel, int]]:
    """Every address of a person, their key's first.

    The key is always one of them: it is the address of the identity the person was created
    from, even where that identity's row was never written (people stored before
    0012_channel_identity by code other than the migration, or directly by tests).
    """
    identities = await identities_of(session, user.id or 0)
    key = user.telegram_id
    others = [(i.channel, address_of(i)) for i in identities if address_of(i) != key]
    return [(channel_of(key), key), *others]


async def identities_of_people(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, list[ChannelIdentity]]:
    """The identities of several people at once (a page of /members), oldest first each."""
    query = (
        select(ChannelIdentity)
        .where(col(ChannelIdentity.user_id).in_(list(user_ids)))
        .order_by(col(ChannelIdentity.id))
    )
    found: dict[int, list[ChannelIdentity]] = {user_id: [] for user_id in user_ids}
    for identity in (await session.exec(query)).all():
        found[identity.user_id or 0].append(identity)
    return found


# --- where what the bot sends on its own goes ---------------------------------------------------


def _key_channel() -> Any:
    """The channel of a person's key (the address of the identity that first met the bot)."""
    bases = sorted(((base, channel) for channel, base in CHANNEL_BASE.items()), reverse=True)
    ranges = [(col(User.telegram_id) >= base, channel.value) for base, channel in bases]
    return case(*ranges, else_=Channel.TELEGRAM.value)


def _identity_address() -> Any:
    """An identity's address in SQL, as address_of computes it."""
    others = [
        (
            col(ChannelIdentity.channel) == channel.value,
            literal(base, BigInteger) + col(ChannelIdentity.id),
        )
        for channel, base in CHANNEL_BASE.items()
    ]
    telegram = cast(col(ChannelIdentity.external_id), BigInteger)
    return case(*others, else_=telegram)


def _every_address() -> Any:
    """One row per person and channel: (user_id, channel, address). The key stands for its
    channel (it may have no identity row: see addresses_of); on another channel the person's
    oldest identity does."""
    key_channel = _key_channel()
    keys = select(
        col(User.id).label("user_id"),
        key_channel.label("channel"),
        col(User.telegram_id).label("address"),
    )
    others = (
        select(
            col(ChannelIdentity.user_id).label("user_id"),
            col(ChannelIdentity.channel).label("channel"),
            func.min(_identity_address()).label("address"),
        )
        .join(User, col(User.id) == ChannelIdentity.user_id)
        .where(col(ChannelIdentity.channel) != key_channel)
        .group_by(col(ChannelIdentity.user_id), col(ChannelIdentity.channel))
    )
    return union_all(keys, others).subquery("every_address")


def reach_targets() -> Any:
    """Where the bot's own messages go, one row per (user_id, channel, address) to send to:
    every channel of a person whose reach is "all"; otherwise the channel they last wrote from,
    or their key's when that is unknown or they have no address there (never nobody)."""
    every = _every_address()
    key_channel = _key_channel()
    last = func.coalesce(col(User.last_channel), key_channel)
    identity_there = (
        select(col(ChannelIdentity.id))
        .where(col(ChannelIdentity.user_id) == User.id, col(ChannelIdentity.channel) == last)
        .exists()
    )
    has_last = or_(key_channel == last, identity_there)
    chosen = or_(
        col(User.reach) == Reach.ALL.value,
        every.c.channel == last,
        and_(every.c.address == col(User.telegram_id), ~has_last),
    )
    query = (
        select(every.c.user_id, every.c.channel, every.c.address)
        .join(User, col(User.id) == every.c.user_id)
        .where(chosen)
    )
    return query.subquery("reach_targets")


async def targets_of(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, list[tuple[Channel, int]]]:
    """Each person's (channel, address) pairs to send to, by their reach (reach_targets)."""
    if not user_ids:
        return {}
    targets = reach_targets()
    query = (
        select(targets.c.user_id, targets.c.channel, targets.c.address)
        .where(targets.c.user_id.in_(list(set(user_ids))))
        .order_by(targets.c.user_id, targets.c.channel)
    )
    found: dict[int, list[tuple[Channel, int]]] = {}
    for user_id, channel, address in (await session.exec(query)).all():  # type: ignore[call-overload]
        found.setdefault(int(user_id), []).append((Channel(channel), int(address)))
    return found
