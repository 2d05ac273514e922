"""Queries on users, invites and access requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import identities_repo
from storage.identity_models import Channel, ChannelIdentity, address_of
from storage.models import AccessRequest, AccessRequestStatus, Invite, Org, Role, User

SEEN_EVERY = timedelta(hours=1)  # last_seen_at is refreshed at most this often
# Read at every update: built once, as building it took longer than running it.
_USER = select(User).where(col(User.telegram_id) == bindparam("telegram_id"))


async def get_user(*, session: AsyncSession, telegram_id: int) -> User | None:
    """A user by Telegram id."""
    return (await session.exec(_USER, params={"telegram_id": telegram_id})).first()


_KEY_OF_TELEGRAM = (
    select(User.telegram_id)
    .join(ChannelIdentity, col(ChannelIdentity.user_id) == col(User.id))
    .where(
        ChannelIdentity.channel == Channel.TELEGRAM,
        col(ChannelIdentity.external_id) == bindparam("external_id"),
    )
)


async def key_of_telegram(*, session: AsyncSession, telegram_id: int) -> int:
    """The person key behind a Telegram id: the id itself, unless the account was linked to
    a person who first came on another channel (or another account)."""
    found = await session.exec(_KEY_OF_TELEGRAM, params={"external_id": str(telegram_id)})
    key = found.first()
    return telegram_id if key is None else key


async def person_at(session: AsyncSession, address: int) -> User | None:
    """The person an address belongs to: by key first (most people, one prepared query), else
    by their identity (an account linked to a person who first came on another channel)."""
    user = await get_user(session=session, telegram_id=address)
    if user is not None:
        return user
    identity = await identities_repo.identity_at(session, address)
    if identity is None or identity.user_id is None:
        return None
    return await session.get(User, identity.user_id)


async def upsert_user(
    *,
    session: AsyncSession,
    telegram_id: int,
    username: str | None,
    now: datetime,
    language_code: str | None = None,
    seen: bool = True,
) -> User:
    """The person behind a Telegram id, created on first sight, with its latest details.

    ``seen``: the update came from this user (not an admin or the CLI acting on them).
    """
    user = await person_at(session, telegram_id)
    if user is None:
        user, _ = await create_person(
            session,
            Channel.TELEGRAM,
            str(telegram_id),
            now=now,
            seen=seen,
            username=username,
            language_code=language_code,
        )
        return user
    if username and user.username != username:
        user.username = username
    if language_code and user.language_code != language_code:
        user.language_code = language_code
    if seen:
        _seen(user, now, Channel.TELEGRAM)
    return user


async def create_person(
    session: AsyncSession,
    channel: Channel,
    external_id: str,
    *,
    now: datetime,
    seen: bool = True,
    username: str | None = None,
    language_code: str | None = None,
    display_name: str | None = None,
) -> tuple[User, ChannelIdentity]:
    """A new person with one identity, whose address becomes the person's key."""
    identity = await identities_repo.add_identity(
        session, channel=channel, external_id=external_id, now=now, display_name=display_name
    )
    user = User(
        telegram_id=address_of(identity),
        username=username,
        language_code=language_code,
        created_at=now,
        last_seen_at=now if seen else None,
        last_channel=channel if seen else None,
    )
    session.add(user)
    await session.flush()
    identity.user_id = user.id
    return user, identity


async def meet(
    session: AsyncSession,
    channel: Channel,
    external_id: str,
    *,
    now: datetime,
    display_name: str | None = None,
) -> tuple[User, int]:
    """The person behind an identity on any channel, created on first sight, and its address."""
    identity = await identities_repo.find_identity(session, channel, external_id)
    if identity is None or identity.user_id is None:
        user, identity = await create_person(
            session, channel, external_id, now=now, display_name=display_name
        )
        return user, address_of(identity)
    user = await session.get(User, identity.user_id)
    assert user is not None  # the foreign key holds
    _seen(user, now, channel)
    return user, address_of(identity)


def _seen(user: User, now: datetime, channel: Channel) -> None:
    """Note that the user wrote to the bot on a channel: last seen, and no longer blocking it."""
    if user.last_channel != channel:
        user.last_channel = channel
    if user.last_seen_at is None or now - user.last_seen_at >= SEEN_EVERY:
        user.last_seen_at = now
    if user.blocked_bot:  # they could not write to a bot they block: they unblocked it
        user.blocked_bot = False
        user.active = user.deactivated_at is None


async def admins_of(*, session: AsyncSession, org_ids: Sequence[int]) -> Sequence[User]:
    """Active admins attached to any of these orgs."""
    query = select(User).where(
        col(User.org_id).in_(list(org_ids)),
        User.role == Role.ADMIN,
        col(User.active).is_(True),
    )
    return (await session.exec(query.order_by(col(User.id)))).all()


async def get_invite(*, session: AsyncSession, code: str) -> Invite | None:
    """An invite by its code."""
    return (await session.exec(select(Invite).where(Invite.code == code))).first()


async def consume_invite(*, session: AsyncSession, invite_id: int, now: datetime) -> bool:
    """Use one of an invite's uses, atomically; False when it expired or ran out meanwhile."""
    statement = (
        update(Invite)
        .where(
            col(Invite.id) == invite_id,
            col(Invite.used) < col(Invite.max_uses),
            col(Invite.expires_at) > now,
            col(Invite.revoked_at).is_(None),
        )
        .values(used=col(Invite.used) + 1)
    )
    result = await session.exec(statement)
    return result.rowcount == 1


async def pending_request(*, session: AsyncSession, telegram_id: int) -> AccessRequest | None:
    """The user's access request still waiting for an admin, if any."""
    query = select(AccessRequest).where(
        AccessRequest.telegram_id == telegram_id,
        AccessRequest.status == AccessRequestStatus.PENDING,
    )
    return (await session.exec(query)).first()


async def latest_request(*, session: AsyncSession, telegram_id: int) -> AccessRequest | None:
    """The user's most recent access request, in any state."""
    query = (
        select(AccessRequest)
        .where(AccessRequest.telegram_id == telegram_id)
        .order_by(col(AccessRequest.created_at).desc(), col(AccessRequest.id).desc())
    )
    return (await session.exec(query.limit(1))).first()


async def pending_requests_within(
    *, session: AsyncSession, within: Org | None, limit: int
) -> tuple[list[AccessRequest], int]:
    """Up to ``limit`` access requests still waiting, oldest first, to orgs in the subtree of
    ``within`` (None: anywhere), and how many wait in all."""
    pending = col(AccessRequest.status) == AccessRequestStatus.PENDING
    query = (
        select(AccessRequest)
        .join(Org, col(Org.id) == col(AccessRequest.org_id))
        .where(pending)
    )
    if within is not None:
        query = query.where(col(Org.path).startswith(within.path))
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    ordered = query.order_by(col(AccessRequest.created_at), col(AccessRequest.id)).limit(limit)
    return list((await session.exec(ordered)).all()), total


async def decide_request(
    *,
    session: AsyncSession,
    request_id: int,
    status: AccessRequestStatus,
    admin_id: int,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Settle a pending request once; False if another admin settled it first."""
    statement = (
        update(AccessRequest)
        .where(
            col(AccessRequest.id) == request_id,
            AccessRequest.status == AccessRequestStatus.PENDING,
        )
        .values(status=status, decided_by=admin_id, decided_at=now, reason=reason)
    )
    return (await session.exec(statement)).rowcount == 1
