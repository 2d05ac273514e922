"""merge work groups and members into one head

Revision ID: 0008_merge_groups_members
Revises: 0007_groups, 0007_members
Create Date: 2026-12-06 21:40:00

Made when main (with 0007_members) was merged into the groups branch; the lead may fold it into
the merge revision of every 0007 head.
"""
from collections.abc import Sequence

revision: str = "0008_merge_groups_members"
down_revision: str | Sequence[str] | None = ("0007_groups", "0007_members")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
