"""merge the delivery pipeline (send budget, paid broadcasts) into the main line

Revision ID: 0011_merge_delivery
Revises: 0010_merge_inbox, 0007_delivery
Create Date: 2026-12-08 10:00:00
"""
from collections.abc import Sequence

revision: str = "0011_merge_delivery"
down_revision: str | Sequence[str] | None = ("0010_merge_inbox", "0007_delivery")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
