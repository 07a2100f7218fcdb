"""organization subdivisions: the ISO 3166-2 subdivision whose public holidays an
organization's clocks keep

Revision ID: 146ae84fe169
Revises: 2ec37718f732
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "146ae84fe169"
down_revision: str | Sequence[str] | None = "2ec37718f732"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subdivision", sa.String(length=3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("subdivision")
