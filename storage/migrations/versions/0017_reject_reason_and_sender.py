"""an access request's rejection reason (shown to the applicant); a notice's sender

Revision ID: 0017_reject_reason_and_sender
Revises: 0016_merge_wecom_dispatch
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_reject_reason_and_sender"
down_revision: str | None = "0016_merge_wecom_dispatch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_column("sender")
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_column("reason")
