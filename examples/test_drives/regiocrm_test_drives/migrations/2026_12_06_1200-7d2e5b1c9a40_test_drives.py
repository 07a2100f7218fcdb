"""The test drives plugin's base revision: its table, on its own branch.

Revision ID: 7d2e5b1c9a40
Revises:
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d2e5b1c9a40"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("regiocrm_test_drives",)
depends_on: str | Sequence[str] | None = "a41cdb979235"


def upgrade() -> None:
    op.create_table(
        "test_drives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_model", sa.String(length=60), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_drives")),
    )
    with op.batch_alter_table("test_drives", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_drives__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_test_drives__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_drives__organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("test_drives")
