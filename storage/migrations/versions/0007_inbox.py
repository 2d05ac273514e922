"""inbox: updates stored before they are acknowledged, done with their effects; chat leases

Revision ID: 0007_inbox
Revises: 0006_activity_totals_index
Create Date: 2026-11-24 21:30:00

The inbox replaces processed_update: a done row is what processed_update recorded (an update id
handled), so the ids recorded there are carried over as done rows and the table is dropped.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate refers to it, alembic#1647)
from alembic import op


revision: str = '0007_inbox'
down_revision: str | None = '0006_activity_totals_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text('done_at IS NULL')


def upgrade() -> None:
    op.create_table('inbox',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('gave_up', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('update_id')
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_done_at'), ['done_at'], unique=False)
        batch_op.create_index('ix_inbox_pending', ['chat_id', 'update_id'], unique=False,
                              sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_table('inbox_lease',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chat_id')
    )
    op.execute(
        'INSERT INTO inbox (update_id, chat_id, received_at, attempts, done_at, gave_up) '
        'SELECT update_id, 0, processed_at, 0, processed_at, false FROM processed_update'
    )
    with op.batch_alter_table('processed_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_update_processed_at'))
    op.drop_table('processed_update')


def downgrade() -> None:
    op.create_table('processed_update',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('update_id')
    )
    with op.batch_alter_table('processed_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_update_processed_at'), ['processed_at'], unique=False)
    op.execute(
        'INSERT INTO processed_update (update_id, processed_at) '
        'SELECT update_id, done_at FROM inbox WHERE done_at IS NOT NULL'
    )
    op.drop_table('inbox_lease')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_pending', sqlite_where=PENDING, postgresql_where=PENDING)
        batch_op.drop_index(batch_op.f('ix_inbox_done_at'))
    op.drop_table('inbox')
