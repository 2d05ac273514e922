"""members: last seen, deactivation, revoked invites, and the audit trail of /members

Revision ID: 0007_members
Revises: 0006_activity_totals_index
Create Date: 2026-11-24 09:00:00

``tg_user.last_seen_at`` (refreshed at most hourly) and ``deactivated_at`` (an admin's
deactivation, apart from ``blocked_bot``), ``invite.revoked_at``, and ``member_audit``: one row
per invite created or revoked and per person deactivated, reactivated, given another role or
moved to another org, with the admin who did it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = '0007_members'
down_revision: str | None = '0006_activity_totals_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tg_user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column('deactivated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        'member_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('actor_id', sa.BigInteger(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('invite_id', sa.Integer(), nullable=True),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('before', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('after', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.ForeignKeyConstraint(['invite_id'], ['invite.id'], ),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['tg_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('member_audit', schema=None) as batch_op:
        batch_op.create_index('ix_member_audit_user_at', ['user_id', 'at'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_member_audit_invite_id'), ['invite_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('member_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_audit_invite_id'))
        batch_op.drop_index('ix_member_audit_user_at')
    op.drop_table('member_audit')
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('tg_user', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')
        batch_op.drop_column('last_seen_at')
