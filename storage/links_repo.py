"""Link codes, and folding the empty person a newly met identity made into the person it joins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import SQLModel, col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.identity_models import ChannelIdentity
from storage.knowledge_models import QuestionLog
from storage.link_models import LinkCode
from storage.models import AccessRequest, AccessRequestStatus, ConversationState, User

# Rows that name a person by row id and may be moved with the identity, not counted as records.
_NOT_RECORDS = ("channel_identity", "link_code")


async def add_link_code(
    session: AsyncSession, *, user_id: int, code_hash: str, now: datetime, expires_at: datetime
) -> LinkCode:
    """A new open code of a person; their earlier open codes end now (one open code each)."""
    await session.exec(
        update(LinkCode)
        .where(
            col(LinkCode.user_id) == user_id,
            col(LinkCode.used_at).is_(None),
            col(LinkCode.expires_at) > now,
        )
        .values(expires_at=now)
    )
    row = LinkCode(user_id=user_id, code_hash=code_hash, created_at=now, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row


async def replaced(session: AsyncSession, code: LinkCode) -> bool:
    """Whether a newer code of the same person ended this one (before its own expiry)."""
    query = select(LinkCode.id).where(
        col(LinkCode.user_id) == code.user_id,
        col(LinkCode.id) > (code.id or 0),
        col(LinkCode.created_at) <= code.expires_at,
    )
    return (await session.exec(query.limit(1))).first() is not None


async def find_link_code(session: AsyncSession, code_hash: str) -> LinkCode | None:
    """The code with this hash, open or not."""
    query = select(LinkCode).where(LinkCode.code_hash == code_hash)
    return (await session.exec(query)).first()


async def claim_link_code(
    session: AsyncSession, *, code_id: int, identity_id: int, now: datetime
) -> bool:
    """Use a code once, atomically; False when it was used or expired meanwhile."""
    statement = (
        update(LinkCode)
        .where(
            col(LinkCode.id) == code_id,
            col(LinkCode.used_at).is_(None),
            col(LinkCode.expires_at) > now,
        )
        .values(used_at=now, used_by=identity_id)
    )
    return (await session.exec(statement)).rowcount == 1


async def has_records(session: AsyncSession, user_id: int) -> bool:
    """Whether any table other than the identities' names this person by row id.

    Read from the schema, so a table added later (with a foreign key to the person) counts
    without a change here.
    """
    for table in SQLModel.metadata.sorted_tables:
        if table.name in _NOT_RECORDS:
            continue
        for key in table.foreign_keys:
            if key.column.table.name != User.__tablename__:
                continue
            query = select(func.count()).select_from(table).where(key.parent == user_id)
            if (await session.exec(query)).one():
                return True
    return False


async def fold_person(session: AsyncSession, *, newcomer: User, into: User) -> bool:
    """Move an unregistered person's identities and traces into another person, then delete it;
    True when a pending access request of the newcomer was withdrawn.

    The newcomer is the person an identity made on first sight: its questions and decided
    access requests move; a pending request is withdrawn (approving it would change the
    person it joins), and a half-filled form of its own is dropped.
    """
    old_key, new_key = newcomer.telegram_id, into.telegram_id
    await session.exec(
        update(ChannelIdentity)
        .where(col(ChannelIdentity.user_id) == newcomer.id)
        .values(user_id=into.id)
    )
    await session.exec(
        update(QuestionLog)
        .where(col(QuestionLog.telegram_id) == old_key)
        .values(telegram_id=new_key)
    )
    requests = col(AccessRequest.telegram_id) == old_key
    pending = AccessRequest.status == AccessRequestStatus.PENDING
    withdrawn = await session.exec(delete(AccessRequest).where(requests, pending))
    await session.exec(update(AccessRequest).where(requests).values(telegram_id=new_key))
    await session.exec(delete(ConversationState).where(col(ConversationState.user_id) == old_key))
    await session.delete(newcomer)
    await session.flush()
    return withdrawn.rowcount >= 1  # type: ignore[attr-defined]
