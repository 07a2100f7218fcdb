"""postal addresses: customers' (personal data, placed with the customer) and
organizations' (the directory's), in parts checked against Google's address data

Revision ID: 8f2b6d4e1a93
Revises: 5c2e8f14a7d3
Create Date: 2026-12-06 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f2b6d4e1a93"
down_revision: str | Sequence[str] | None = "5c2e8f14a7d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _parts() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("street", sa.String(length=200), nullable=True),
        sa.Column("building", sa.String(length=200), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("sorting_code", sa.String(length=20), nullable=True),
        sa.Column("recipient", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "postal_addresses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        *_parts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postal_addresses")),
    )
    with op.batch_alter_table("postal_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postal_addresses__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_postal_addresses__market"), ["market"], unique=False)
    op.create_table(
        "organization_addresses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        *_parts(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_addresses__organization_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_addresses")),
    )
    with op.batch_alter_table("organization_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_addresses__market"), ["market"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_organization_addresses__organization_id_kind"),
            ["organization_id", "kind"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("organization_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_addresses__organization_id_kind"))
        batch_op.drop_index(batch_op.f("ix_organization_addresses__market"))
    op.drop_table("organization_addresses")
    with op.batch_alter_table("postal_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postal_addresses__market"))
        batch_op.drop_index(batch_op.f("ix_postal_addresses__customer_id"))
    op.drop_table("postal_addresses")
