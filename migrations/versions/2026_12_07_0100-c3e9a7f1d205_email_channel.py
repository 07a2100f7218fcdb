"""email channel: the sender of each inbox message (auto-replies are counted per sender);
where the polling of each polled account (a mailbox) stands

Revision ID: c3e9a7f1d205
Revises: b7d2e4f6a813
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3e9a7f1d205"
down_revision: str | Sequence[str] | None = "b7d2e4f6a813"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_inbox_messages__channel_account_sender_key_received_at"),
            ["channel_account", "sender_key", "received_at"],
            unique=False,
        )

    op.create_table(
        "polled_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("channel_account", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polled_accounts")),
        sa.UniqueConstraint("channel_account", name=op.f("uq_polled_accounts__channel_account")),
    )
    with op.batch_alter_table("polled_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_polled_accounts__market"), ["market"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("polled_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_polled_accounts__market"))

    op.drop_table("polled_accounts")
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_messages__channel_account_sender_key_received_at"))
        batch_op.drop_column("sender_key")
