"""merge the WeCom dispatcher's tables into the main line

Revision ID: 0016_merge_wecom_dispatch
Revises: 0015_merge_wecom_inbox, 0015_wecom_dispatch
Create Date: 2026-12-07 04:20:00
"""
from collections.abc import Sequence

revision: str = "0016_merge_wecom_dispatch"
down_revision: str | Sequence[str] | None = ("0015_merge_wecom_inbox", "0015_wecom_dispatch")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
