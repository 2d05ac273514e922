"""merge report tasks and reminders into one head

Revision ID: 0005_merge_tasks_reminders
Revises: 0004_tasks, 0004_reminders
Create Date: 2026-11-22 08:20:00
"""
from collections.abc import Sequence

revision: str = "0005_merge_tasks_reminders"
down_revision: str | Sequence[str] | None = ("0004_tasks", "0004_reminders")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
