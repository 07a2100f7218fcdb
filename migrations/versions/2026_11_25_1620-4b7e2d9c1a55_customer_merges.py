"""customer merges: a merged customer points to its survivor

Revision ID: 4b7e2d9c1a55
Revises: c0c05660dddf
Create Date: 2026-11-25 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b7e2d9c1a55"
down_revision: str | Sequence[str] | None = "c0c05660dddf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers__merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers__merged_into_id__customers"),
            "customers",
            ["merged_into_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers__merged_into_id__customers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customers__merged_into_id"))
        batch_op.drop_column("merged_into_id")
