"""The shared send budget: one row per lane, read and moved by every process of the bot."""

from sqlalchemy import Column, Float, Text
from sqlmodel import Field, SQLModel


class SendBudget(SQLModel, table=True):
    """One lane's schedule (GCRA): the next free send slot and the end of a 429 pause.

    Times are seconds since the epoch. A process reserves k slots in one UPDATE … RETURNING
    (``next_at`` moves by k intervals), so slots are spaced evenly across every process.
    """

    __tablename__ = "send_budget"

    lane: str = Field(sa_column=Column(Text, primary_key=True))
    next_at: float = Field(default=0.0, sa_column=Column(Float, nullable=False, default=0.0))
    paused_until: float = Field(default=0.0, sa_column=Column(Float, nullable=False, default=0.0))
