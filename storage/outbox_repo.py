"""What the delivery pipeline does to any outbox table (broadcast rows, the reminder ledger).

Both tables share the columns these touch (id, status, attempts, error, sent_at, user_id; a
broadcast row may be a work group's, with ``group_id`` instead of ``user_id``) and
the same states: pending → claimed → sending → sent | failed | blocked | unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, true
from sqlmodel import SQLModel, col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.group_models import GroupChat
from storage.models import User

PENDING, CLAIMED, SENDING, UNKNOWN = "pending", "claimed", "sending", "unknown"
INTERRUPTED = "interrupted"  # the error of a row a crash left in flight


@dataclass(frozen=True)
class Channels:
    """Which rows a claim takes by their channel: one (``only``), or every one but some
    (``excluding``: the channels whose own loop claims them); all by default."""

    only: str | None = None
    excluding: tuple[str, ...] = ()

    def clause(self, column: Any) -> ColumnElement[bool]:
        """The WHERE clause on an outbox's ``channel`` column."""
        if self.only is not None:
            return column == self.only
        if self.excluding:
            return column.not_in(list(self.excluding))
        return true()


EVERY_CHANNEL = Channels()


async def mark_sending(
    *, session: AsyncSession, model: type[SQLModel], ids: Sequence[int]
) -> None:
    """Claimed rows whose requests start now: from here a crash leaves them unknown."""
    if ids:
        table = model.__table__  # type: ignore[attr-defined]
        statement = (
            table.update()
            .where(table.c.id.in_(list(ids)), table.c.status == CLAIMED)
            .values(status=SENDING)
        )
        await session.exec(statement)  # type: ignore[call-overload]


async def release(
    *,
    session: AsyncSession,
    model: type[SQLModel],
    ids: Sequence[int],
    due_column: str,
    at: datetime | None = None,
) -> None:
    """Rows whose request was never made go back to pending (due at ``at`` when given)."""
    if not ids:
        return
    table = model.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"status": PENDING}
    if at is not None:
        values[due_column] = at
    statement = (
        table.update()
        .where(table.c.id.in_(list(ids)), table.c.status.in_([CLAIMED, SENDING]))
        .values(**values)
    )
    await session.exec(statement)  # type: ignore[call-overload]


async def recover(*, session: AsyncSession, model: type[SQLModel]) -> tuple[int, int]:
    """After a restart: claimed rows go back to pending (provably never requested); rows
    ``sending`` may have reached Telegram and become unknown ("interrupted"). Returns both counts.
    """
    table = model.__table__  # type: ignore[attr-defined]
    back = await session.exec(  # type: ignore[call-overload]
        table.update().where(table.c.status == CLAIMED).values(status=PENDING)
    )
    lost = await session.exec(  # type: ignore[call-overload]
        table.update().where(table.c.status == SENDING).values(status=UNKNOWN, error=INTERRUPTED)
    )
    return back.rowcount, lost.rowcount


async def record(
    *, session: AsyncSession, model: type[SQLModel], outcomes: Sequence[dict[str, Any]]
) -> None:
    """Write many outcomes in few statements: one executemany UPDATE per shape of values.

    Each outcome is ``{"id": row id, column: value, …}``; outcomes with the same columns go
    together, so a paid broadcast's 1,000 answers a second cost a handful of statements.
    """
    table = model.__table__  # type: ignore[attr-defined]
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        columns = tuple(sorted(k for k in outcome if k != "id"))
        shapes[columns].append(
            {"row_id": outcome["id"], **{f"v_{k}": outcome[k] for k in columns}}
        )
    connection = await session.connection()
    for columns, params in shapes.items():
        statement = (
            table.update()
            .where(table.c.id == bindparam("row_id"))
            .values(**{k: bindparam(f"v_{k}") for k in columns})
        )
        await connection.execute(statement, params)


async def mark_users_blocked(*, session: AsyncSession, user_ids: Sequence[int]) -> None:
    """Users who blocked the bot (403): no more sends until they come back."""
    if user_ids:
        statement = (
            update(User)
            .where(col(User.id).in_(list(set(user_ids))))
            .values(active=False, blocked_bot=True)
        )
        await session.exec(statement)  # type: ignore[call-overload]


async def mark_unreachable(*, session: AsyncSession, rows: Sequence[Any]) -> None:
    """403s for outbox rows: the people blocked the bot, or the work groups removed it."""
    group_ids = {row.group_id for row in rows if getattr(row, "group_id", None) is not None}
    user_ids = [row.user_id for row in rows if getattr(row, "group_id", None) is None]
    await mark_users_blocked(session=session, user_ids=[u for u in user_ids if u is not None])
    if group_ids:
        statement = update(GroupChat).where(col(GroupChat.id).in_(group_ids)).values(active=False)
        await session.exec(statement)  # type: ignore[call-overload]
