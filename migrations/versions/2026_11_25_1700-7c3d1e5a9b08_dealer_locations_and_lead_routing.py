"""dealer locations and lead routing: where dealers are, how a lead was routed

Revision ID: 7c3d1e5a9b08
Revises: 4b7e2d9c1a55
Create Date: 2026-11-25 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c3d1e5a9b08"
down_revision: str | Sequence[str] | None = "4b7e2d9c1a55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Double(), nullable=True))
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("distance_km", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("located_by", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("unassigned_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("unassigned_reason")
        batch_op.drop_column("located_by")
        batch_op.drop_column("distance_km")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("address")
