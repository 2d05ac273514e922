"""delivery: the shared send budget, and paid broadcasts

Revision ID: 0007_delivery
Revises: 0006_activity_totals_index
Create Date: 2026-11-30 09:00:00

``send_budget`` holds one row per sending lane (the free 30/s lane and the paid one): every
process reserves its send slots there, so Telegram's per-bot limit holds across processes.
``broadcast.paid`` marks a notice sent with allow_paid_broadcast. The new outbox states
(claimed, unknown) need no schema change: status columns are text.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate refers to it, alembic#1647)
from alembic import op


revision: str = '0007_delivery'
down_revision: str | None = '0006_activity_totals_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'send_budget',
        sa.Column('lane', sa.Text(), nullable=False),
        sa.Column('next_at', sa.Float(), nullable=False),
        sa.Column('paused_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('lane'),
    )
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('paid', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('paid')
    op.drop_table('send_budget')
