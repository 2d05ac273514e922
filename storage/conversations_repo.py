"""Form state per (chat, user).

A form that ended (confirmed or cancelled) keeps its row as a small marker, its step ``done``
or ``cancelled`` and its data only the form's instance, until the next form takes the row: a
button of that form pressed later can then say what became of it. `get_state` reads the open
form only; `get_last` reads the row whatever it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ConversationState

ENDED_STEPS = ("done", "cancelled")  # the engine's end states (bot.flows.base.DONE, CANCELLED)


@dataclass(slots=True)
class FormRow:
    """A form row as read: plain values. Read at every form step, where building an ORM
    object (its loader set up per query) cost half again as much as the query itself."""

    id: int
    chat_id: int
    user_id: int
    flow: str
    step: str
    data: str
    updated_at: datetime


# Core statements on the table, built once: building one took longer than running it (about
# 0.1 ms each), and SQLAlchemy's compiled cache then finds them at once. With parameters, an
# ORM insert or update would turn into a bulk operation without a row count.
_TABLE = ConversationState.__table__
_KEY = (_TABLE.c.chat_id == bindparam("chat"), _TABLE.c.user_id == bindparam("user"))
_LAST = select(*(_TABLE.c[name] for name in FormRow.__slots__)).where(*_KEY)
_STATE = _LAST.where(_TABLE.c.step.not_in(ENDED_STEPS))
_REPLACE = update(_TABLE).where(*_KEY, _TABLE.c.data == bindparam("old")).values(
    data=bindparam("new")
)
_VALUES = {
    "flow": bindparam("new_flow"),
    "step": bindparam("new_step"),
    "data": bindparam("new_data"),
    "updated_at": bindparam("at"),
}
_OVERWRITE = update(_TABLE).where(_TABLE.c.id == bindparam("row_id")).values(**_VALUES)
_OVERWRITE_KEY = update(_TABLE).where(*_KEY).values(**_VALUES)
_INSERT = insert(_TABLE).values(
    chat_id=bindparam("chat"), user_id=bindparam("user"), **_VALUES
)


async def get_state(*, session: AsyncSession, chat_id: int, user_id: int) -> FormRow | None:
    """The open form of a user in a chat, if any."""
    return await _read(session, _STATE, chat_id, user_id)


async def get_last(*, session: AsyncSession, chat_id: int, user_id: int) -> FormRow | None:
    """The form row of a user in a chat: the open form, or the marker of the one that ended."""
    return await _read(session, _LAST, chat_id, user_id)


async def _read(session: AsyncSession, statement, chat_id: int, user_id: int) -> FormRow | None:
    params = {"chat": chat_id, "user": user_id}
    row = (await session.exec(statement, params=params)).first()  # type: ignore[call-overload]
    return FormRow(*row) if row is not None else None


def has_ended(row: FormRow) -> bool:
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
    loaded: FormRow | None = None,
) -> None:
    """Insert or overwrite the form state (or the end marker) of a user in a chat.

    ``loaded``: the row this session already read for the same chat and user; it is updated
    by its id (and told its new values), unless it was deleted meanwhile.
    """
    params = {"new_flow": flow, "new_step": step, "new_data": data, "at": now}
    by_id = {**params, "row_id": loaded.id} if loaded is not None else None
    if by_id is not None and await _rowcount(session, _OVERWRITE, by_id) == 1:
        loaded.flow, loaded.step, loaded.data, loaded.updated_at = flow, step, data, now
        return
    params |= {"chat": chat_id, "user": user_id}
    if await _rowcount(session, _OVERWRITE_KEY, params) == 0:
        await session.exec(_INSERT, params=params)  # type: ignore[call-overload]


async def _rowcount(session: AsyncSession, statement, params: dict) -> int:
    return (await session.exec(statement, params=params)).rowcount  # type: ignore[call-overload]


async def replace_data(
    *, session: AsyncSession, chat_id: int, user_id: int, old: str, new: str
) -> bool:
    """Swap a form's JSON for ``new`` if it still is ``old``; False when it changed or is gone."""
    params = {"chat": chat_id, "user": user_id, "old": old, "new": new}
    return await _rowcount(session, _REPLACE, params) == 1


async def delete_state(*, session: AsyncSession, chat_id: int, user_id: int) -> None:
    """Forget a user's form in a chat, open or ended."""
    await session.exec(
        delete(ConversationState).where(
            col(ConversationState.chat_id) == chat_id, col(ConversationState.user_id) == user_id
        )
    )
