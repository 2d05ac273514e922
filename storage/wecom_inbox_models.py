"""WeCom's inbox: every callback event as decrypted, stored before WeCom gets its 200."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel


class WeComInboxEvent(SQLModel, table=True):
    """One member's message or event: stored once however often WeCom delivers it
    (``dedup_key`` is unique), handled in the member's order (``id``), done with its effects.

    ``member_key`` names the member's lease in ``inbox_lease`` (bot/wecom/inbox.py): the same
    leases as Telegram's chats, in a range of keys no Telegram chat has.
    """

    __tablename__ = "wecom_inbox"
    __table_args__ = (
        # A member's pending events in order: the worker's one query.
        Index(
            "ix_wecom_inbox_pending",
            "member_key",
            "id",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    dedup_key: str = Field(sa_column=Column(String(160), nullable=False, unique=True))
    user_id: str = Field(sa_column=Column(String(64), nullable=False))
    member_key: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the decrypted XML
    received_at: datetime
    attempts: int = 0
    done_at: datetime | None = Field(default=None, index=True)
    gave_up: bool = False
