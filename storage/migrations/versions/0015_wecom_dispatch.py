"""the WeCom dispatcher: wecom_handled (events handled once) and wecom_choices (numbered choices)

Revision ID: 0015_wecom_dispatch
Revises: 0014_merge_channels
Create Date: 2026-12-07 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0015_wecom_dispatch"
down_revision: str | None = "0014_merge_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wecom_handled",
        sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("handled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dedup_key"),
    )
    with op.batch_alter_table("wecom_handled", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wecom_handled_handled_at"), ["handled_at"])
    op.create_table(
        "wecom_choices",
        sa.Column("address", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("quoted", sa.Text(), nullable=True),
        sa.Column("offered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("wecom_choices")
    with op.batch_alter_table("wecom_handled", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wecom_handled_handled_at"))
    op.drop_table("wecom_handled")
