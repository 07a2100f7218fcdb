"""conversations: each customer's thread on one channel account, where it stands (the last
message, unread inbound messages, who handles it), for the agents' inbox

Revision ID: 7b3d9e1c2a40
Revises: 9d4f6a2b8c31
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b3d9e1c2a40"
down_revision: str | Sequence[str] | None = "9d4f6a2b8c31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("touchpoint", sa.String(length=40), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "last_direction",
            sa.Enum(
                "inbound", "outbound", "internal", name="direction", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("last_summary", sa.String(length=200), nullable=True),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "customer_id",
            "channel",
            "touchpoint",
            name=op.f("uq_conversations__customer_id_channel_touchpoint"),
        ),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations__assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversations__last_message_at_id"),
            ["last_message_at", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_conversations__market"), ["market"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversations__market"))
        batch_op.drop_index(batch_op.f("ix_conversations__last_message_at_id"))
        batch_op.drop_index(batch_op.f("ix_conversations__assignee_id"))

    op.drop_table("conversations")
