"""merge link codes and delivery channels into one line

Revision ID: 0014_merge_channels
Revises: 0013_link_codes, 0013_delivery_channels
Create Date: 2026-12-07 04:00:00
"""
from collections.abc import Sequence

revision: str = "0014_merge_channels"
down_revision: str | Sequence[str] | None = ("0013_link_codes", "0013_delivery_channels")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
