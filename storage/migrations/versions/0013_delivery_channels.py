"""delivery across channels: the channel of every outbox row, in its unique key

Revision ID: 0013_delivery_channels
Revises: 0012_channel_identity
Create Date: 2026-12-07 03:30:00

``broadcast_delivery.channel`` and ``reminder_ledger.channel`` record the channel of the row's
address (chosen when the row is written, by the person's reach). The unique keys that keep a
person from getting one notice or reminder twice take the channel in: a person reached on all
their channels gets one row per channel, still never two on one. Rows already there are on the
channel their address belongs to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_delivery_channels"
down_revision: str | None = "0012_channel_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WECOM_BASE = 1 << 56  # storage.identity_models.CHANNEL_BASE[WECOM], as it was at this revision


def _channel_column() -> sa.Column:
    return sa.Column("channel", sa.Text(), nullable=False, server_default="telegram")


def upgrade() -> None:
    with op.batch_alter_table("broadcast_delivery", schema=None) as batch_op:
        batch_op.add_column(_channel_column())
        batch_op.drop_constraint("uq_delivery_broadcast_user", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_broadcast_user_channel", ["broadcast_id", "user_id", "channel"]
        )
    with op.batch_alter_table("reminder_ledger", schema=None) as batch_op:
        batch_op.add_column(_channel_column())
        batch_op.drop_constraint("uq_reminder_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_reminder_key", ["cycle_id", "user_id", "kind", "channel"]
        )
    for table in ("broadcast_delivery", "reminder_ledger"):
        op.execute(f"UPDATE {table} SET channel = 'wecom' WHERE chat_id >= {WECOM_BASE}")


def downgrade() -> None:
    # Rows of a second channel would break the older keys: only each key's first row stays.
    for table, key in (
        ("broadcast_delivery", "broadcast_id, user_id"),
        ("reminder_ledger", "cycle_id, user_id, kind"),
    ):
        op.execute(
            f"DELETE FROM {table} WHERE id NOT IN "
            f"(SELECT MIN(id) FROM {table} GROUP BY {key}, CASE WHEN user_id IS NULL "
            "THEN id ELSE 0 END)"
        )
    with op.batch_alter_table("reminder_ledger", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reminder_key", type_="unique")
        batch_op.create_unique_constraint("uq_reminder_key", ["cycle_id", "user_id", "kind"])
        batch_op.drop_column("channel")
    with op.batch_alter_table("broadcast_delivery", schema=None) as batch_op:
        batch_op.drop_constraint("uq_delivery_broadcast_user_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_broadcast_user", ["broadcast_id", "user_id"]
        )
        batch_op.drop_column("channel")
