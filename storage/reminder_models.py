"""Reminder tables: the ledger of every reminder handed to the sender, and personal reminders.

The ledger is also the reminders' outbox: a row is written ``pending`` before anything is sent,
under a unique key (cycle, recipient, kind, channel), so a restart, a misfire catch-up or a second
scheduler can never hand the same reminder over twice.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    LargeBinary,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

NO_CYCLE = 0  # the ledger's cycle for reminders of no task cycle (digests, personal ones)
PERSONAL_TEXT_MAX = 500


class LedgerStatus(StrEnum):
    """One reminder's way through the sender."""

    PENDING = "pending"
    CLAIMED = "claimed"  # taken by the sender; no request made yet (a crash puts it back)
    SENDING = "sending"  # the request may be on its way (a crash leaves it unknown)
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # 403: the user blocked the bot
    UNKNOWN = "unknown"  # a timeout, a 5xx or a dropped connection: it may have arrived
    SKIPPED = "skipped"  # no longer true when its turn came (submitted, task deleted)


class ReminderLedger(SQLModel, table=True):
    """One reminder for one recipient; the unique key makes sending it twice impossible."""

    __tablename__ = "reminder_ledger"
    __table_args__ = (
        UniqueConstraint("cycle_id", "user_id", "kind", "channel", name="uq_reminder_key"),
        Index("ix_reminder_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = NO_CYCLE  # task_cycle.id, no foreign key: the ledger outlives deletions
    user_id: int = Field(foreign_key="tg_user.id")
    # d7 | d3 | d1 | d0 | overdue1..3 (each "@<deadline date>"), manual:<date>,
    # digest:<iso week>, personal:<id>
    kind: str = Field(max_length=40)
    org_id: int | None = None
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The channel of ``chat_id``, chosen when the row is written (one row per channel for a
    # person reached on all): part of the key, so a restart neither loses nor doubles one.
    channel: str = Field(
        default="telegram", sa_column=Column(Text, nullable=False, server_default="telegram")
    )
    locale: str = Field(default="zh_CN", max_length=10)
    payload: str = Field(default="{}", sa_type=Text)  # JSON: what the message says
    status: LedgerStatus = Field(default=LedgerStatus.PENDING, sa_type=Text)
    due_at: datetime  # not sent before (quiet hours push manual reminders to the morning)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime
    sent_at: datetime | None = None


class PersonalStatus(StrEnum):
    """A personal reminder waits, is handed to the sender, or was deleted by its owner."""

    ACTIVE = "active"
    DONE = "done"
    DELETED = "deleted"


class PersonalReminder(SQLModel, table=True):
    """A reminder a user set for themselves with /remind."""

    __tablename__ = "personal_reminder"
    __table_args__ = (Index("ix_personal_status_at", "status", "remind_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="tg_user.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    text: str = Field(max_length=PERSONAL_TEXT_MAX)
    remind_at: datetime
    status: PersonalStatus = Field(default=PersonalStatus.ACTIVE, sa_type=Text)
    created_at: datetime


# APScheduler's own job table (the columns of SQLAlchemyJobStore's), declared here so that the
# migration creates it and the schema check knows it. The PostgreSQL job store finds it in
# place; on SQLite the jobs live in a file of their own (bot.scheduler.job_store_url).
scheduler_jobs = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
