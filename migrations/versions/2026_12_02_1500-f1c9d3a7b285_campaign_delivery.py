"""campaign delivery: what a campaign says per locale and for which consent, when it ran,
and each member's locale, provider message id, receipts, reply and error

Revision ID: f1c9d3a7b285
Revises: e8f3b61a2c47
Create Date: 2026-12-02 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1c9d3a7b285"
down_revision: str | Sequence[str] | None = "e8f3b61a2c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=40), nullable=False, server_default="marketing")
        )
        batch_op.add_column(
            sa.Column("messages", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("planned_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("audience_size", sa.Integer(), nullable=True))
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_campaign_members__external_id"), ["external_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_members__campaign_id_status"),
            ["campaign_id", "status"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_members__campaign_id_status"))
        batch_op.drop_index(batch_op.f("ix_campaign_members__external_id"))
        batch_op.drop_column("error")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("external_id")
        batch_op.drop_column("locale")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("audience_size")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("launched_at")
        batch_op.drop_column("planned_by")
        batch_op.drop_column("messages")
        batch_op.drop_column("purpose")
