"""What the WeCom dispatcher keeps: the events it handled, and each member's latest reply.

WeCom repeats a callback it thinks went unanswered, so an event is recorded as handled in the
transaction of its effects (by `WeComEvent.dedup_key`): a redelivery changes nothing. A reply
whose buttons could not go on a card lists them as numbers; the number a member types next
presses that button, so the choices of each address's latest reply are kept (one row an
address, replaced by every reply), and with them the member's words the reply answered when
its buttons read them back (the quick log's "记下来" offer; Telegram quotes the message).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel


class WeComHandled(SQLModel, table=True):
    """One event the dispatcher handled."""

    __tablename__ = "wecom_handled"

    dedup_key: str = Field(primary_key=True, max_length=200)
    handled_at: datetime = Field(index=True)


class WeComChoices(SQLModel, table=True):
    """An address's latest reply: its numbered choices (callback data, number n at n - 1) and
    the member's words it quoted."""

    __tablename__ = "wecom_choices"

    address: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    data: str = Field(sa_type=Text)  # a JSON list of callback data
    quoted: str | None = Field(default=None, sa_type=Text)
    offered_at: datetime
