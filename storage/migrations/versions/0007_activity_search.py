"""activity_search: kept /mylogs searches

Revision ID: 0007_activity_search
Revises: 0006_activity_totals_index
Create Date: 2026-12-06 21:07:00

A /mylogs search (a keyword, a range of days) is kept so that the buttons of its result pages
carry only its id: a keyword of up to 50 characters does not fit in Telegram's 64-byte
callback data. Searches older than 30 days are dropped when the same user searches again.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # noqa: F401  (autogenerate refers to it, alembic#1647)
from alembic import op


revision: str = '0007_activity_search'
down_revision: str | None = '0006_activity_totals_index'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('activity_search',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('keyword', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('first_day', sa.Date(), nullable=True),
    sa.Column('last_day', sa.Date(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('activity_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_search_telegram_id'), ['telegram_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('activity_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_search_telegram_id'))

    op.drop_table('activity_search')
