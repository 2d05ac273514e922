"""wecom_inbox: WeCom's callback events stored before WeCom is answered, done with their effects

Revision ID: 0013_wecom_inbox
Revises: 0012_channel_identity
Create Date: 2026-12-07 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate refers to it, alembic#1647)
from alembic import op

revision: str = '0013_wecom_inbox'
down_revision: str | None = '0012_channel_identity'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text('done_at IS NULL')


def upgrade() -> None:
    op.create_table('wecom_inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('member_key', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('gave_up', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedup_key')
    )
    with op.batch_alter_table('wecom_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wecom_inbox_done_at'), ['done_at'], unique=False)
        batch_op.create_index('ix_wecom_inbox_pending', ['member_key', 'id'], unique=False,
                              sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    with op.batch_alter_table('wecom_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_wecom_inbox_pending', sqlite_where=PENDING,
                            postgresql_where=PENDING)
        batch_op.drop_index(batch_op.f('ix_wecom_inbox_done_at'))
    op.drop_table('wecom_inbox')
