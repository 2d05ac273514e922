"""merge /members and the /mylogs search into one head

Revision ID: 0008_merge_members_search
Revises: 0007_members, 0007_activity_search
Create Date: 2026-12-06 21:50:00
"""
from collections.abc import Sequence

revision: str = "0008_merge_members_search"
down_revision: str | Sequence[str] | None = ("0007_members", "0007_activity_search")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
