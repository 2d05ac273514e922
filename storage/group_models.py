"""Group chats (科协 work groups): the org each one is bound to, and 已阅 receipts made in them."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class GroupChat(SQLModel, table=True):
    """A group or supergroup the bot was added to; an admin binds it to an org of their subtree.

    Removing the bot keeps the row (and its binding) with ``active`` false: added again, the
    group is bound as before.
    """

    __tablename__ = "group_chat"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    kind: str = Field(max_length=16)  # group | supergroup
    title: str = Field(default="", max_length=255)
    org_id: int | None = Field(default=None, foreign_key="org.id", index=True)
    locale: str | None = Field(default=None, max_length=10)  # of notices; the binder's language
    active: bool = True  # the bot is a member
    bound_by: int | None = Field(default=None, sa_type=BigInteger)  # Telegram id of the admin
    bound_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class GroupReceipt(SQLModel, table=True):
    """One member's 已阅 on a notice posted in a group (the notice's root broadcast)."""

    __tablename__ = "group_receipt"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "group_id", "user_id", name="uq_group_receipt"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    group_id: int = Field(foreign_key="group_chat.id")
    user_id: int = Field(foreign_key="tg_user.id")
    acked_at: datetime
