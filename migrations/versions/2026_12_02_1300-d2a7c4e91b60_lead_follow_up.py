"""lead follow-up: overdue leads found by index, and why a lead was lost

Revision ID: d2a7c4e91b60
Revises: b5d81f0c3e62
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d2a7c4e91b60"
down_revision: str | Sequence[str] | None = "b5d81f0c3e62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lost_reason", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_leads__follow_up_due_at"), ["follow_up_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads__follow_up_due_at"))
        batch_op.drop_column("lost_reason")
