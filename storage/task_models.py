"""Report tasks (报送任务), their cycles and the orgs' progress reports (落实情况报告)."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
DESCRIPTION_MAX = 3000
SECTION_MAX = 2000  # characters of one section of a progress report
NAME_MAX = 40  # a section or indicator name


class Recurrence(StrEnum):
    """How often a task asks again."""

    NONE = "none"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class TaskStatus(StrEnum):
    """A task is published when saved; drafts live in the form state."""

    PUBLISHED = "published"
    DELETED = "deleted"


class ReportTask(SQLModel, table=True):
    """A report request an admin sends to a set of orgs."""

    __tablename__ = "report_task"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_MAX)
    description: str = Field(default="", sa_type=Text)
    org_id: int = Field(foreign_key="org.id", index=True)  # the issuing admin's org
    created_by: int = Field(sa_type=BigInteger)
    sections: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    indicators: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # [{file_id, kind, name}]: the notice itself stays on Telegram's servers.
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    recurrence: Recurrence = Field(default=Recurrence.NONE, sa_type=Text)
    status: TaskStatus = Field(default=TaskStatus.PUBLISHED, sa_type=Text, index=True)
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class TaskTarget(SQLModel, table=True):
    """One org a task asks to report."""

    __tablename__ = "task_target"
    __table_args__ = (UniqueConstraint("task_id", "org_id", name="uq_task_target"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="report_task.id")
    org_id: int = Field(foreign_key="org.id", index=True)


class TaskCycle(SQLModel, table=True):
    """One round of a task: its reporting period and deadline (a one-off task has one)."""

    __tablename__ = "task_cycle"
    __table_args__ = (
        UniqueConstraint("task_id", "seq", name="uq_task_cycle_seq"),
        Index("ix_task_cycle_deadline", "deadline"),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="report_task.id")
    seq: int = 1
    period_start: date
    period_end: date
    deadline: datetime  # aware, stored in UTC


class ReportSubmission(SQLModel, table=True):
    """One org's progress report for one cycle; a resubmission supersedes the previous one."""

    __tablename__ = "report_submission"
    __table_args__ = (
        Index("ix_submission_cycle_org", "cycle_id", "org_id"),
        # At most one current submission per (cycle, org); older versions stay as history.
        Index(
            "uq_submission_current",
            "cycle_id",
            "org_id",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="task_cycle.id")
    org_id: int = Field(foreign_key="org.id")
    submitted_by: int = Field(sa_type=BigInteger)
    submitted_at: datetime
    late: bool = False
    sections: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    indicators: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    version: int = 1
    superseded_at: datetime | None = None
