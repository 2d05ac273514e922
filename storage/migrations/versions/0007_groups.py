"""groups: work groups bound to orgs, their 已阅 receipts, group rows in the broadcast outbox

Revision ID: 0007_groups
Revises: 0006_activity_totals_index
Create Date: 2026-11-23 21:20:00

A notice posted in a bound group is an outbox row like a person's, with ``group_id`` set and no
``user_id``. ``question_log.chat_id`` records where a question was asked, so "more sources" in
a group serves the questions of that group only.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate refers to it, alembic#1647)
from alembic import op


revision: str = '0007_groups'
down_revision: str | None = '0006_activity_totals_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('group_chat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('bound_by', sa.BigInteger(), nullable=True),
    sa.Column('bound_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id')
    )
    with op.batch_alter_table('group_chat', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_chat_org_id'), ['org_id'], unique=False)

    op.create_table('group_receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('acked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['group_chat.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['tg_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('broadcast_id', 'group_id', 'user_id', name='uq_group_receipt')
    )
    with op.batch_alter_table('broadcast_delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.alter_column('user_id', existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint(
            'uq_delivery_broadcast_group', ['broadcast_id', 'group_id']
        )
        batch_op.create_foreign_key(
            'fk_broadcast_delivery_group_id', 'group_chat', ['group_id'], ['id']
        )

    with op.batch_alter_table('question_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('question_log', schema=None) as batch_op:
        batch_op.drop_column('chat_id')

    # Group rows have no person to keep: they go before user_id becomes required again.
    op.execute("DELETE FROM broadcast_delivery WHERE group_id IS NOT NULL")
    with op.batch_alter_table('broadcast_delivery', schema=None) as batch_op:
        batch_op.drop_constraint('fk_broadcast_delivery_group_id', type_='foreignkey')
        batch_op.drop_constraint('uq_delivery_broadcast_group', type_='unique')
        batch_op.alter_column('user_id', existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column('group_id')

    op.drop_table('group_receipt')
    with op.batch_alter_table('group_chat', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_chat_org_id'))

    op.drop_table('group_chat')
