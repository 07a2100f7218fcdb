"""inbox auto-replies: the reply decided when a message is stored, and what became of it

Revision ID: 2ec37718f732
Revises: a3e5f7c9d1b2
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2ec37718f732"
down_revision: str | Sequence[str] | None = "a3e5f7c9d1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLY_STATUS = sa.Enum(
    "in_answer",
    "to_send",
    "sending",
    "sent",
    "failed",
    name="replystatus",
    native_enum=False,
    length=32,
)


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reply_status", REPLY_STATUS, nullable=True))
        batch_op.add_column(sa.Column("reply_external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_column("replied_at")
        batch_op.drop_column("reply_external_id")
        batch_op.drop_column("reply_status")
        batch_op.drop_column("reply")
