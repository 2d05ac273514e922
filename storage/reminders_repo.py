"""Queries on the reminder ledger and personal reminders; all work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, not_, true, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import identities_repo
from storage.identity_models import channel_of
from storage.models import User
from storage.outbox_repo import EVERY_CHANNEL, Channels
from storage.reminder_models import (
    LedgerStatus,
    PersonalReminder,
    PersonalStatus,
    ReminderLedger,
)

Ledger = ReminderLedger
INSERT_CHUNK = 2000  # parameter sets per execute: bounds the RETURNING rows held at once
KEY = ["cycle_id", "user_id", "kind", "channel"]


async def insert_new(*, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ledger rows whose key is not there yet (ON CONFLICT DO NOTHING); returns how many.

    A row for a person goes to the channel(s) their reach chooses (one row per channel), a row
    for a group chat stays in the group (``_on_their_channels``).
    """
    if not rows:
        return 0
    rows = await _on_their_channels(session, rows)
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # One statement with many parameter sets: SQLAlchemy batches them ("insertmanyvalues")
    # and compiles the statement once; RETURNING counts what was new on both databases.
    statement = (
        insert(Ledger.__table__)  # type: ignore[attr-defined]
        .on_conflict_do_nothing(index_elements=KEY)
        .returning(Ledger.__table__.c.id)  # type: ignore[attr-defined]
    )
    added = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        result = await session.exec(statement, params=list(rows[start : start + INSERT_CHUNK]))  # type: ignore[call-overload]
        added += len(result.all())
    return added


async def _on_their_channels(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each row for a person once per (channel, address) of their reach; a group's row (a
    negative chat id: a personal reminder set in a group) as it is, on the group's channel."""
    people = [row["user_id"] for row in rows if row["chat_id"] > 0]
    targets = await identities_repo.targets_of(session, people)
    spread: list[dict[str, Any]] = []
    for row in rows:
        if row["chat_id"] < 0 or row["user_id"] not in targets:
            spread.append({**row, "channel": channel_of(row["chat_id"]).value})
            continue
        for channel, address in targets[row["user_id"]]:
            spread.append({**row, "chat_id": address, "channel": channel.value})
    return spread


async def dispatched(
    *, session: AsyncSession, keys: Iterable[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which (cycle, kind) pairs have ledger rows (a pair is handed over in one transaction)."""
    wanted = list(keys)
    if not wanted:
        return set()
    query = (
        select(col(Ledger.cycle_id), col(Ledger.kind))
        .where(tuple_(col(Ledger.cycle_id), col(Ledger.kind)).in_(wanted))
        .distinct()
    )
    return {(int(c), str(k)) for c, k in (await session.exec(query)).all()}


def _kind_filter(prefix: str | None, matching: bool) -> Any:
    """Rows whose kind starts (or, ``matching`` False, does not start) with ``prefix``."""
    if prefix is None:
        return true()
    starts = col(Ledger.kind).startswith(prefix, autoescape=True)
    return starts if matching else not_(starts)


async def claim(
    *,
    session: AsyncSession,
    now: datetime,
    limit: int,
    skip_locked: bool,
    only_prefix: str | None = None,
    channels: Channels = EVERY_CHANNEL,
) -> list[ReminderLedger]:
    """Mark up to ``limit`` due pending rows as claimed, and return them (oldest first).

    ``only_prefix``: claim only rows of kinds starting with it (quiet hours: personal ones);
    ``channels``: only rows on these channels.
    """
    query = (
        select(Ledger)
        .where(
            col(Ledger.status) == LedgerStatus.PENDING,
            col(Ledger.due_at) <= now,
            _kind_filter(only_prefix, True),
            channels.clause(col(Ledger.channel)),
        )
        .order_by(col(Ledger.due_at), col(Ledger.id))
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.exec(query)).all())
    for row in rows:
        row.status = LedgerStatus.CLAIMED
    await session.flush()
    return rows


async def next_due(
    *, session: AsyncSession, prefix: str | None = None, matching: bool = True
) -> datetime | None:
    """When the earliest pending row (of kinds with or without ``prefix``) becomes due."""
    query = select(func.min(col(Ledger.due_at))).where(
        col(Ledger.status) == LedgerStatus.PENDING, _kind_filter(prefix, matching)
    )
    return (await session.exec(query)).one()


async def set_row(*, session: AsyncSession, row_id: int, **values: Any) -> None:
    """Record the outcome of one send."""
    await session.exec(update(Ledger).where(col(Ledger.id) == row_id).values(**values))  # type: ignore[call-overload]


async def prune(*, session: AsyncSession, before: datetime) -> int:
    """Forget finished rows written before ``before``; returns how many."""
    statement = delete(Ledger).where(
        col(Ledger.created_at) < before,
        col(Ledger.status).not_in(
            [LedgerStatus.PENDING, LedgerStatus.CLAIMED, LedgerStatus.SENDING]
        ),
    )
    return (await session.exec(statement)).rowcount  # type: ignore[call-overload]


async def rows(
    *, session: AsyncSession, statuses: Sequence[LedgerStatus] = ()
) -> Sequence[ReminderLedger]:
    """Ledger rows (in a status), in the order they were written."""
    query = select(Ledger).order_by(col(Ledger.id))
    if statuses:
        query = query.where(col(Ledger.status).in_(list(statuses)))
    return (await session.exec(query)).all()


# --- personal reminders ------------------------------------------------------------------------


async def add_personal(*, session: AsyncSession, reminder: PersonalReminder) -> PersonalReminder:
    """Store a new personal reminder."""
    session.add(reminder)
    await session.flush()
    return reminder


async def personal_of(
    *, session: AsyncSession, user_id: int, limit: int
) -> Sequence[PersonalReminder]:
    """A user's waiting personal reminders, soonest first."""
    query = (
        select(PersonalReminder)
        .where(
            col(PersonalReminder.user_id) == user_id,
            col(PersonalReminder.status) == PersonalStatus.ACTIVE,
        )
        .order_by(col(PersonalReminder.remind_at), col(PersonalReminder.id))
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def count_personal(*, session: AsyncSession, user_id: int) -> int:
    """How many personal reminders a user has waiting."""
    query = select(func.count()).where(
        col(PersonalReminder.user_id) == user_id,
        col(PersonalReminder.status) == PersonalStatus.ACTIVE,
    )
    return int((await session.exec(query)).one())


async def delete_personal(*, session: AsyncSession, reminder_id: int, user_id: int) -> bool:
    """The owner deletes a waiting reminder; False when it is not theirs or no longer waits."""
    statement = (
        update(PersonalReminder)
        .where(
            col(PersonalReminder.id) == reminder_id,
            col(PersonalReminder.user_id) == user_id,
            col(PersonalReminder.status) == PersonalStatus.ACTIVE,
        )
        .values(status=PersonalStatus.DELETED)
    )
    return (await session.exec(statement)).rowcount == 1  # type: ignore[call-overload]


async def take_due_personal(
    *, session: AsyncSession, now: datetime
) -> list[tuple[PersonalReminder, User]]:
    """Due personal reminders with their owners, marked done (their ledger rows follow)."""
    query = (
        select(PersonalReminder, User)
        .join(User, col(User.id) == PersonalReminder.user_id)
        .where(
            col(PersonalReminder.status) == PersonalStatus.ACTIVE,
            col(PersonalReminder.remind_at) <= now,
        )
        .order_by(col(PersonalReminder.id))
    )
    found = [(reminder, user) for reminder, user in (await session.exec(query)).all()]
    if found:
        ids = [reminder.id for reminder, _ in found]
        await session.exec(  # type: ignore[call-overload]
            update(PersonalReminder)
            .where(col(PersonalReminder.id).in_(ids))
            .values(status=PersonalStatus.DONE)
        )
    return found
