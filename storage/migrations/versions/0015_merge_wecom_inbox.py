"""merge the WeCom inbox into the main line

Revision ID: 0015_merge_wecom_inbox
Revises: 0014_merge_channels, 0013_wecom_inbox
Create Date: 2026-12-07 04:10:00
"""
from collections.abc import Sequence

revision: str = "0015_merge_wecom_inbox"
down_revision: str | Sequence[str] | None = ("0014_merge_channels", "0013_wecom_inbox")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this only joins the branches into one head."""


def downgrade() -> None:
    """Nothing to undo."""
