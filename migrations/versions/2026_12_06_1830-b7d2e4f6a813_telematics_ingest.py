"""telematics ingest: the provider's event id, unique per vehicle, so a redelivery is a no-op;
events summed by day past their retention; what rules made of events

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
        batch_op.create_index(
            batch_op.f("ix_telematics_events__occurred_at"), ["occurred_at"], unique=False
        )

    op.create_table(
        "telematics_days",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_odometer_km", sa.Double(), nullable=True),
        sa.Column("max_odometer_km", sa.Double(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telematics_days")),
        sa.UniqueConstraint(
            "vehicle_id", "day", "kind", name=op.f("uq_telematics_days__vehicle_id_day_kind")
        ),
    )
    with op.batch_alter_table("telematics_days", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telematics_days__market"), ["market"], unique=False)

    op.create_table(
        "telematics_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("dealer_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telematics_alerts")),
    )
    with op.batch_alter_table("telematics_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telematics_alerts__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_telematics_alerts__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_telematics_alerts__vehicle_id_reason"),
            ["vehicle_id", "reason"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("telematics_alerts")
    op.drop_table("telematics_days")
    with op.batch_alter_table("telematics_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telematics_events__occurred_at"))
        batch_op.drop_constraint(
            batch_op.f("uq_telematics_events__vehicle_id_event_id"), type_="unique"
        )
        batch_op.drop_column("event_id")
