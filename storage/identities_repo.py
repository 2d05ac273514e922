"""Queries on channel identities: who an identity is, and where a person can be reached."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.identity_models import (
    Channel,
    ChannelIdentity,
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


async def person_at(session: AsyncSession, address: int) -> User | None:
    """The person an address belongs to: by key first (most people), else by their identity."""
    query = select(User).where(User.telegram_id == address)
    user = (await session.exec(query)).first()
    if user is not None:
        return user
    identity = await identity_at(session, address)
    if identity is None or identity.user_id is None:
        return None
    return await session.get(User, identity.user_id)


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
