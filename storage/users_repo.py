"""Queries on users, invites and access requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AccessRequest, AccessRequestStatus, Invite, Role, User

SEEN_EVERY = timedelta(hours=1)  # last_seen_at is refreshed at most this often
# Read at every update: built once, as building it took longer than running it.
_USER = select(User).where(col(User.telegram_id) == bindparam("telegram_id"))


async def get_user(*, session: AsyncSession, telegram_id: int) -> User | None:
    """A user by Telegram id."""
    return (await session.exec(_USER, params={"telegram_id": telegram_id})).first()


async def upsert_user(
    *,
    session: AsyncSession,
    telegram_id: int,
    username: str | None,
    now: datetime,
    language_code: str | None = None,
    seen: bool = True,
) -> User:
    """The user row for a Telegram id, created on first sight, with its latest details.

    ``seen``: the update came from this user (not an admin or the CLI acting on them).
    """
    user = await get_user(session=session, telegram_id=telegram_id)
    if user is None:
        user = User(
            telegram_id=telegram_id,
            username=username,
            language_code=language_code,
            created_at=now,
            last_seen_at=now if seen else None,
        )
        session.add(user)
        await session.flush()
        return user
    if username and user.username != username:
        user.username = username
    if language_code and user.language_code != language_code:
        user.language_code = language_code
    if seen:
        _seen(user, now)
    return user


def _seen(user: User, now: datetime) -> None:
    """Note that the user wrote to the bot: last seen, and no longer blocking it."""
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


async def decide_request(
    *,
    session: AsyncSession,
    request_id: int,
    status: AccessRequestStatus,
    admin_id: int,
    now: datetime,
) -> bool:
    """Settle a pending request once; False if another admin settled it first."""
    statement = (
        update(AccessRequest)
        .where(
            col(AccessRequest.id) == request_id,
            AccessRequest.status == AccessRequestStatus.PENDING,
        )
        .values(status=status, decided_by=admin_id, decided_at=now)
    )
    return (await session.exec(statement)).rowcount == 1
