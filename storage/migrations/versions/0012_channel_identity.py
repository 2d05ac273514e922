"""people across channels: channel_identity, and tg_user.last_channel and reach

Revision ID: 0012_channel_identity
Revises: 0011_merge_delivery
Create Date: 2026-12-07 03:30:00

Every person so far met the bot on Telegram: each gets a Telegram identity (its external id
the Telegram id, which stays the person's key), Telegram as the channel they last used, and
reminders and notices on that last channel.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012_channel_identity"
down_revision: str | None = "0011_merge_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["tg_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "external_id", name="uq_channel_identity"),
    )
    with op.batch_alter_table("channel_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_identity_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("tg_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "reach",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="last",
            )
        )
    op.execute(
        "INSERT INTO channel_identity (user_id, channel, external_id, created_at) "
        "SELECT id, 'telegram', CAST(telegram_id AS VARCHAR(64)), created_at FROM tg_user"
    )
    op.execute("UPDATE tg_user SET last_channel = 'telegram'")


def downgrade() -> None:
    with op.batch_alter_table("tg_user", schema=None) as batch_op:
        batch_op.drop_column("reach")
        batch_op.drop_column("last_channel")
    with op.batch_alter_table("channel_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_identity_user_id"))
    op.drop_table("channel_identity")
