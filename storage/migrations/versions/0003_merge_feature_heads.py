"""merge the feature heads (activities, broadcasts, question log)

Revision ID: 0003
Revises: 0002_activities, 0002_broadcasts, 0002_questions
Create Date: 2026-11-22 07:00:00
"""
from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = ("0002_activities", "0002_broadcasts", "0002_questions")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
