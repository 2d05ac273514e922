"""The inbox: every update as received, until it has been handled; and who handles which chat."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, text
from sqlmodel import Field, SQLModel


class InboxUpdate(SQLModel, table=True):
    """One update from Telegram: stored before Telegram is told it arrived, done with its effects.

    ``payload`` is the update's JSON as received (None for a row written only to mark an update
    handled that never went through the inbox, as in the terminal chat and the tests).
    ``attempts`` counts how often handling began again after a crash or a failure.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        # The pending rows of a chat in order: the dispatcher's and the recovery's one query.
        Index(
            "ix_inbox_pending",
            "chat_id",
            "update_id",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
    )

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chat_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime
    attempts: int = 0
    done_at: datetime | None = Field(default=None, index=True)
    gave_up: bool = False


class ChatLease(SQLModel, table=True):
    """Which worker handles a chat's updates now; it expires unless the worker renews it."""

    __tablename__ = "inbox_lease"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    owner: str = Field(max_length=80)
    expires_at: datetime
