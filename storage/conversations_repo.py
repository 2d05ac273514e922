"""Form state per (chat, user).

A form that ended (confirmed or cancelled) keeps its row as a small marker, its step ``done``
or ``cancelled`` and its data only the form's instance, until the next form takes the row: a
button of that form pressed later can then say what became of it. `get_state` reads the open
form only; `get_last` reads the row whatever it holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ConversationState

ENDED_STEPS = ("done", "cancelled")  # the engine's end states (bot.flows.base.DONE, CANCELLED)

# Statements run at every update are built once: building one took longer than running it
# (about 0.1 ms each), and SQLAlchemy's compiled cache then finds them at once.
_LAST = select(ConversationState).where(
    col(ConversationState.chat_id) == bindparam("chat"),
    col(ConversationState.user_id) == bindparam("user"),
)
_STATE = _LAST.where(col(ConversationState.step).not_in(ENDED_STEPS))

# Core statements on the tables: with parameters, an ORM insert or update would turn into
# a bulk operation without a row count.
_TABLE = ConversationState.__table__
_REPLACE = (
    update(_TABLE)
    .where(
        _TABLE.c.chat_id == bindparam("chat"),
        _TABLE.c.user_id == bindparam("user"),
        _TABLE.c.data == bindparam("old"),
    )
    .values(data=bindparam("new"))
)
_OVERWRITE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("row_id"))
    .values(
        flow=bindparam("new_flow"),
        step=bindparam("new_step"),
        data=bindparam("new_data"),
        updated_at=bindparam("at"),
    )
)


async def get_state(
    *, session: AsyncSession, chat_id: int, user_id: int
) -> ConversationState | None:
    """The open form of a user in a chat, if any."""
    return (await session.exec(_STATE, params={"chat": chat_id, "user": user_id})).first()


async def get_last(
    *, session: AsyncSession, chat_id: int, user_id: int
) -> ConversationState | None:
    """The form row of a user in a chat: the open form, or the marker of the one that ended."""
    return (await session.exec(_LAST, params={"chat": chat_id, "user": user_id})).first()


def has_ended(row: ConversationState) -> bool:
    """Whether the row is the marker of a form that ended."""
    return row.step in ENDED_STEPS


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
    """Insert or overwrite the form state (or the end marker) of a user in a chat.

    ``loaded``: the row this session already read for the same chat and user; it is updated
    without reading it again, unless it was deleted meanwhile.
    """
    values = {"flow": flow, "step": step, "data": data, "updated_at": now}
    fresh = loaded is not None and inspect(loaded).persistent
    if fresh and await _overwrite(session, loaded, values):
        return loaded
    row = await get_last(session=session, chat_id=chat_id, user_id=user_id)
    if row is None:
        row = ConversationState(
            chat_id=chat_id, user_id=user_id, flow=flow, step=step, data=data, updated_at=now
        )
        session.add(row)
    else:
        row.flow, row.step, row.data, row.updated_at = flow, step, data, now
    await session.flush()
    return row


async def _overwrite(session: AsyncSession, row: ConversationState, values: dict) -> bool:
    # One UPDATE by id instead of the ORM's flush, which cost more than the statement (this
    # runs at every form step); the loaded object is told its new values as committed ones.
    params = {"row_id": row.id, "at": values["updated_at"]}
    params.update({f"new_{name}": values[name] for name in ("flow", "step", "data")})
    result = await session.exec(_OVERWRITE, params=params)  # type: ignore[call-overload]
    if result.rowcount != 1:  # deleted meanwhile by a statement the session did not see
        return False
    for name, value in values.items():
        set_committed_value(row, name, value)
    return True


async def replace_data(
    *, session: AsyncSession, chat_id: int, user_id: int, old: str, new: str
) -> bool:
    """Swap a form's JSON for ``new`` if it still is ``old``; False when it changed or is gone."""
    params = {"chat": chat_id, "user": user_id, "old": old, "new": new}
    return (await session.exec(_REPLACE, params=params)).rowcount == 1  # type: ignore[call-overload]


async def delete_state(*, session: AsyncSession, chat_id: int, user_id: int) -> None:
    """Forget a user's form in a chat, open or ended."""
    await session.exec(
        delete(ConversationState).where(
            col(ConversationState.chat_id) == chat_id, col(ConversationState.user_id) == user_id
        )
    )
