"""telematics ingest: the provider's event id, unique per vehicle, so a redelivery is a no-op

Revision ID: b7d2e4f6a813
Revises: 5c2e8f14a7d3
Create Date: 2026-12-06 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d2e4f6a813"
down_revision: str | Sequence[str] | None = "5c2e8f14a7d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telematics_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_telematics_events__vehicle_id_event_id"), ["vehicle_id", "event_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("telematics_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_telematics_events__vehicle_id_event_id"), type_="unique"
        )
        batch_op.drop_column("event_id")
