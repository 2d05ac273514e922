"""merge the durable inbox into the main line

Revision ID: 0010_merge_inbox
Revises: 0009_merge_groups, 0007_inbox
Create Date: 2026-12-06 22:40:00
"""
from collections.abc import Sequence

revision: str = "0010_merge_inbox"
down_revision: str | Sequence[str] | None = ("0009_merge_groups", "0007_inbox")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
