"""The inbox of updates and the chat leases of the workers that handle them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Row,
    Select,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.inbox_models import ChatLease, InboxUpdate

INBOX = InboxUpdate.__table__
LEASE = ChatLease.__table__
PENDING = INBOX.c.done_at.is_(None)
# Columns the dispatcher needs of a pending row.
_PENDING_COLUMNS = (INBOX.c.update_id, INBOX.c.chat_id, INBOX.c.payload, INBOX.c.attempts)
_CHAT_PENDING = (
    select(*_PENDING_COLUMNS)
    .where(INBOX.c.chat_id == bindparam("chat"), PENDING)
    .order_by(INBOX.c.update_id)
    .limit(bindparam("limit"))
)
_ALL_PENDING = select(*_PENDING_COLUMNS).where(PENDING).order_by(INBOX.c.update_id)
_COUNT_ATTEMPT = (
    update(INBOX)
    .where(INBOX.c.update_id == bindparam("id"), PENDING)
    .values(attempts=INBOX.c.attempts + 1)
    .returning(INBOX.c.attempts)
)
_FINISH = (
    update(INBOX)
    .where(INBOX.c.update_id == bindparam("id"), PENDING)
    .values(done_at=bindparam("at"), gave_up=bindparam("gave_up"))
)


# Built once per dialect: these run for every update.
@cache
def _store_statement(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(INBOX)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(INBOX.c.update_id)
    )


@cache
def _done_statement(dialect: str) -> Insert:
    # One statement whether or not the update came through the inbox: a pending row becomes
    # done, a missing one is written done; a row already done changes nothing (a duplicate).
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(INBOX).values(
        update_id=bindparam("id"),
        chat_id=bindparam("chat"),
        received_at=bindparam("at"),
        done_at=bindparam("at"),
        attempts=0,
        gave_up=False,
    )
    return statement.on_conflict_do_update(
        index_elements=["update_id"],
        set_={"done_at": statement.excluded.done_at},
        where=INBOX.c.done_at.is_(None),
    )


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def store_received(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[int]:
    """Insert received updates (``update_id``, ``chat_id``, ``payload``, ``received_at``);
    returns the ids that were new (a redelivered update is stored once)."""
    if not rows:
        return set()
    values = [row | {"attempts": 0, "gave_up": False} for row in rows]
    result = await session.exec(_store_statement(_dialect(session)), params=values)
    return set(result.scalars().all())


async def mark_done(*, session: AsyncSession, update_id: int, chat_id: int, now: datetime) -> bool:
    """Mark an update handled in this transaction; False when it was handled before."""
    params = {"id": update_id, "chat": chat_id, "at": now}
    result = await session.exec(_done_statement(_dialect(session)), params=params)
    return result.rowcount == 1


async def finish(
    *, session: AsyncSession, update_id: int, now: datetime, gave_up: bool = False
) -> bool:
    """Mark a pending update done without effects (nothing to keep, or given up)."""
    params = {"id": update_id, "at": now, "gave_up": gave_up}
    return (await session.exec(_FINISH, params=params)).rowcount == 1


async def count_attempt(*, session: AsyncSession, update_id: int) -> int | None:
    """Add one to a pending update's attempts; the new count, or None when it is done."""
    return (await session.exec(_COUNT_ATTEMPT, params={"id": update_id})).scalar()


async def pending(*, session: AsyncSession) -> Sequence[Row]:
    """Every pending update in arrival order (update id)."""
    return (await session.exec(_ALL_PENDING)).all()


async def pending_of_chat(*, session: AsyncSession, chat_id: int, limit: int) -> Sequence[Row]:
    """A chat's pending updates in order, at most ``limit``."""
    return (await session.exec(_CHAT_PENDING, params={"chat": chat_id, "limit": limit})).all()


async def forget_done_before(*, session: AsyncSession, moment: datetime) -> None:
    """Drop rows handled before ``moment`` (older than Telegram would ever redeliver)."""
    await session.exec(delete(INBOX).where(INBOX.c.done_at < moment))


# --- chat leases (several workers on one PostgreSQL) -------------------------------------------


@cache
def _claim_statement(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(LEASE).values(
        chat_id=bindparam("chat"), owner=bindparam("owner"), expires_at=bindparam("until")
    )
    return statement.on_conflict_do_update(
        index_elements=["chat_id"],
        set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
        where=(LEASE.c.owner == statement.excluded.owner)
        | (LEASE.c.expires_at < bindparam("now")),
    ).returning(LEASE.c.chat_id)


_RELEASE = delete(LEASE).where(
    LEASE.c.chat_id == bindparam("chat"), LEASE.c.owner == bindparam("owner")
)
_CHAT_HAS_PENDING = select(exists().where(INBOX.c.chat_id == bindparam("chat"), PENDING))


async def claim_chat(
    *, session: AsyncSession, chat_id: int, owner: str, now: datetime, until: datetime
) -> bool:
    """Take (or renew) the lease of a chat unless another live worker holds it."""
    params = {"chat": chat_id, "owner": owner, "until": until, "now": now}
    result = await session.exec(_claim_statement(_dialect(session)), params=params)
    return result.first() is not None


async def release_chat(*, session: AsyncSession, chat_id: int, owner: str) -> bool:
    """Give a chat's lease up; True when updates of the chat are pending all the same.

    The pending check reads after the lease row is deleted (and locked): a worker that stored
    an update and failed to claim the chat did so while this lease lived, so its row is seen.
    """
    return await release_lease(
        session=session, key=chat_id, owner=owner, still_pending=_CHAT_HAS_PENDING
    )


async def release_lease(
    *, session: AsyncSession, key: int, owner: str, still_pending: Select
) -> bool:
    """Give the lease of ``key`` (a chat, a WeCom member) up; then ``still_pending`` (an
    EXISTS with a ``:chat`` parameter) says whether work of the key waits all the same."""
    await session.exec(_RELEASE, params={"chat": key, "owner": owner})
    return bool((await session.exec(still_pending, params={"chat": key})).scalar())


async def renew_leases(
    *, session: AsyncSession, owner: str, chat_ids: Sequence[int], until: datetime
) -> int:
    """Extend the leases this worker holds on ``chat_ids``; how many it still held."""
    if not chat_ids:
        return 0
    statement = (
        update(LEASE)
        .where(LEASE.c.owner == owner, LEASE.c.chat_id.in_(list(chat_ids)))
        .values(expires_at=until)
    )
    return (await session.exec(statement)).rowcount


async def orphaned_chats(*, session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Chats with pending updates and no live lease (their worker died, or never claimed)."""
    return await orphaned_keys(
        session=session,
        key=INBOX.c.chat_id,
        order=INBOX.c.update_id,
        pending=PENDING,
        now=now,
        limit=limit,
    )


async def orphaned_keys(
    *,
    session: AsyncSession,
    key: ColumnElement[int],
    order: ColumnElement[int],
    pending: ColumnElement[bool],
    now: datetime,
    limit: int,
) -> list[int]:
    """The lease keys of ``pending`` rows with no live lease, oldest work first (``order``):
    the chats or members whose worker died, or that no worker claimed."""
    live = exists().where(LEASE.c.chat_id == key, LEASE.c.expires_at >= now)
    query = (
        select(key.label("key"), func.min(order).label("first"))
        .where(pending, ~live)
        .group_by(key)
        .order_by("first")
        .limit(limit)
    )
    return [row.key for row in (await session.exec(query)).all()]
