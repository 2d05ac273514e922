"""Broadcast tables: one notice (`Broadcast`) and its durable outbox (`BroadcastDelivery`)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class BroadcastStatus(StrEnum):
    """Life of a notice: draft → scheduled → running ⇄ paused → done | cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    """One recipient's row in the outbox."""

    PENDING = "pending"
    CLAIMED = "claimed"  # taken by the sender; no request made yet (a crash puts it back)
    SENDING = "sending"  # the request may be on its way (a crash leaves it unknown)
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # 403: the user blocked the bot
    UNKNOWN = "unknown"  # a timeout, a 5xx or a dropped connection: it may have arrived
    CANCELLED = "cancelled"  # the broadcast was cancelled before this row was sent


class Broadcast(SQLModel, table=True):
    """A notice an admin sends to an audience, with its content and progress message."""

    id: int | None = Field(default=None, primary_key=True)
    created_by: int = Field(sa_type=BigInteger)  # the admin's Telegram id (and chat)
    admin_locale: str = Field(default="zh_CN", max_length=10)
    audience: str = Field(sa_type=Text)  # JSON: how the recipients were chosen
    text: str = Field(sa_type=Text)  # HTML, checked against Telegram's tag subset
    media_kind: str | None = Field(default=None, max_length=16)  # photo | document
    media_file_id: str | None = Field(default=None, sa_type=Text)
    receipt: bool = False
    # Who sent it, as recipients read it (JSON: the admin's org, name, role and time zone),
    # kept as it was when the notice was written: a later move or rename changes no notice.
    sender: str | None = Field(default=None, sa_type=Text)
    paid: bool = False  # allow_paid_broadcast: up to 1,000 messages/s, 0.1 Star a message
    status: BroadcastStatus = Field(default=BroadcastStatus.DRAFT, sa_type=Text, index=True)
    parent_id: int | None = Field(default=None, foreign_key="broadcast.id")  # a reminder's root
    total: int = 0
    scheduled_at: datetime | None = None
    progress_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class BroadcastDelivery(SQLModel, table=True):
    """One recipient of one broadcast: the outbox row the sender drains.

    A recipient is a person (``user_id``) or a bound work group (``group_id``, see
    storage/group_models.py); ``chat_id`` is where the message goes either way: a person's
    address on ``channel`` (one row per channel when they chose to be reached on all).
    """

    __tablename__ = "broadcast_delivery"
    __table_args__ = (
        # One row per person and channel: a person reached on all their channels gets one per
        # channel, never two on one (storage.identities_repo.reach_targets).
        UniqueConstraint(
            "broadcast_id", "user_id", "channel", name="uq_delivery_broadcast_user_channel"
        ),
        UniqueConstraint("broadcast_id", "group_id", name="uq_delivery_broadcast_group"),
        Index("ix_delivery_broadcast_status", "broadcast_id", "status"),
        Index("ix_delivery_status_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id")
    user_id: int | None = Field(default=None, foreign_key="tg_user.id")
    group_id: int | None = Field(default=None, foreign_key="group_chat.id")
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The channel of ``chat_id`` (storage.identity_models.channel_of), chosen when the row is
    # written: a restart sends to the same address, and the report counts per channel.
    channel: str = Field(
        default="telegram", sa_column=Column(Text, nullable=False, server_default="telegram")
    )
    locale: str = Field(default="zh_CN", max_length=10)
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = None
    acked_at: datetime | None = None
