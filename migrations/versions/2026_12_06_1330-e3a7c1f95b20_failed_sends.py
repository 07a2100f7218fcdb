"""failed sends: a message the provider refused stays on the timeline with the reason

Revision ID: e3a7c1f95b20
Revises: 7b3d9e1c2a40
Create Date: 2026-12-06 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a7c1f95b20"
down_revision: str | Sequence[str] | None = "7b3d9e1c2a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_column("failure")
