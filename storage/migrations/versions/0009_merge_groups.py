"""merge work groups into the one head of main

Revision ID: 0009_merge_groups
Revises: 0007_groups, 0008_merge_members_search
Create Date: 2026-12-06 21:50:00
"""
from collections.abc import Sequence

revision: str = "0009_merge_groups"
down_revision: str | Sequence[str] | None = ("0007_groups", "0008_merge_members_search")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
