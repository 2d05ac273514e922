"""WeCom's inbox: events stored once, read in each member's order, marked done.

The members' leases are the chat leases of ``storage.inbox_repo`` (one table; one claim,
renewal, release and sweep for both channels); what differs is where a member's pending
events are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, Row, bindparam, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import inbox_repo
from storage.wecom_inbox_models import WeComInboxEvent

EVENTS = WeComInboxEvent.__table__
PENDING = EVENTS.c.done_at.is_(None)
_COLUMNS = (EVENTS.c.id, EVENTS.c.user_id, EVENTS.c.payload, EVENTS.c.attempts)
_MEMBER_PENDING = (
    select(*_COLUMNS)
    .where(EVENTS.c.member_key == bindparam("member"), PENDING)
    .order_by(EVENTS.c.id)
    .limit(bindparam("limit"))
)
_COUNT_ATTEMPT = (
    update(EVENTS)
    .where(EVENTS.c.id == bindparam("event"), PENDING)
    .values(attempts=EVENTS.c.attempts + 1)
    .returning(EVENTS.c.attempts)
)
_FINISH = (
    update(EVENTS)
    .where(EVENTS.c.id == bindparam("event"), PENDING)
    .values(done_at=bindparam("at"), gave_up=bindparam("gave_up"))
)
# The parameter is ``chat``: inbox_repo.release_lease passes the lease key by that name.
_MEMBER_HAS_PENDING = select(exists().where(EVENTS.c.member_key == bindparam("chat"), PENDING))


@cache
def _store_statement(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(EVENTS)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(EVENTS.c.dedup_key)
    )


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def store(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Store received events (``dedup_key``, ``user_id``, ``member_key``, ``payload``,
    ``received_at``) in one statement; the dedup keys that were new (a redelivery is stored
    once)."""
    if not rows:
        return set()
    values = [row | {"attempts": 0, "gave_up": False} for row in rows]
    result = await session.exec(_store_statement(_dialect(session)), params=values)
    return set(result.scalars().all())


async def pending_of_member(
    *, session: AsyncSession, member_key: int, limit: int
) -> Sequence[Row]:
    """A member's pending events in arrival order, at most ``limit``."""
    params = {"member": member_key, "limit": limit}
    return (await session.exec(_MEMBER_PENDING, params=params)).all()


async def count_attempt(*, session: AsyncSession, event_id: int) -> int | None:
    """Add one to a pending event's attempts; the new count, or None when it is done."""
    return (await session.exec(_COUNT_ATTEMPT, params={"event": event_id})).scalar()


async def finish(
    *, session: AsyncSession, event_id: int, now: datetime, gave_up: bool = False
) -> bool:
    """Mark a pending event done (in the caller's transaction); False when it already was."""
    params = {"event": event_id, "at": now, "gave_up": gave_up}
    return (await session.exec(_FINISH, params=params)).rowcount == 1


async def release_member(*, session: AsyncSession, member_key: int, owner: str) -> bool:
    """Give a member's lease up; True when events of the member are pending all the same."""
    return await inbox_repo.release_lease(
        session=session, key=member_key, owner=owner, still_pending=_MEMBER_HAS_PENDING
    )


async def orphaned_members(*, session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Members with pending events and no live lease (their worker died, or none started)."""
    return await inbox_repo.orphaned_keys(
        session=session,
        key=EVENTS.c.member_key,
        order=EVENTS.c.id,
        pending=PENDING,
        now=now,
        limit=limit,
    )


async def forget_done_before(*, session: AsyncSession, moment: datetime) -> None:
    """Drop events handled before ``moment`` (WeCom redelivers within seconds, not days)."""
    await session.exec(delete(EVENTS).where(EVENTS.c.done_at < moment))
