"""Form state per (chat, user), and the ledger of processed updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ConversationState, ProcessedUpdate


async def get_state(
    *, session: AsyncSession, chat_id: int, user_id: int
) -> ConversationState | None:
    """The saved form of a user in a chat, if any."""
    query = select(ConversationState).where(
        ConversationState.chat_id == chat_id, ConversationState.user_id == user_id
    )
    return (await session.exec(query)).first()


async def save_state(
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    flow: str,
    step: str,
    data: str,
    now: datetime,
    loaded: ConversationState | None = None,
) -> ConversationState:
    """Insert or overwrite the form state of a user in a chat.

    ``loaded``: the row this session already read for the same chat and user; it is updated
    without reading it again, unless it was deleted meanwhile.
    """
    row = loaded if loaded is not None and inspect(loaded).persistent else None
    if row is None:
        row = await get_state(session=session, chat_id=chat_id, user_id=user_id)
    if row is None:
        row = ConversationState(
            chat_id=chat_id, user_id=user_id, flow=flow, step=step, data=data, updated_at=now
        )
        session.add(row)
    else:
        row.flow, row.step, row.data, row.updated_at = flow, step, data, now
    await session.flush()
    return row


async def delete_state(*, session: AsyncSession, chat_id: int, user_id: int) -> None:
    """Forget a finished or cancelled form."""
    await session.exec(
        delete(ConversationState).where(
            col(ConversationState.chat_id) == chat_id, col(ConversationState.user_id) == user_id
        )
    )


async def mark_processed(*, session: AsyncSession, update_id: int, now: datetime) -> bool:
    """Record an update id; False when it was already recorded (a duplicate delivery)."""
    # One INSERT … ON CONFLICT DO NOTHING instead of a savepoint around an ORM insert: this
    # runs for every update, and both databases speak the same statement.
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ProcessedUpdate)
        .values(update_id=update_id, processed_at=now)
        .on_conflict_do_nothing(index_elements=["update_id"])
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    return result.rowcount == 1


async def forget_processed_before(*, session: AsyncSession, moment: datetime) -> None:
    """Drop ledger rows older than Telegram would ever redeliver."""
    await session.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < moment))
