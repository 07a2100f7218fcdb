"""residency: no foreign key between rows residency may place apart; transfer assessments and exports

Revision ID: 9e4a6c2f1d37
Revises: 7c3d1e5a9b08
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4a6c2f1d37"
down_revision: str | Sequence[str] | None = "7c3d1e5a9b08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("exported_by", sa.Uuid(), nullable=True),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_exports")),
    )
    with op.batch_alter_table("customer_exports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_exports__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_exports__market"), ["market"], unique=False)

    op.create_table(
        "transfer_assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column(
            "data_class",
            sa.Enum(
                "identity",
                "crm",
                "financial",
                "telematics",
                "audit",
                name="dataclass",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_assessments")),
    )
    with op.batch_alter_table("transfer_assessments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_assessments__market"), ["market"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transfer_assessments__market_data_class_destination"),
            ["market", "data_class", "destination"],
            unique=False,
        )

    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_campaign_members__campaign_id__campaigns"), type_="foreignkey"
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns__organization_id__organizations"), type_="foreignkey"
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_cases__organization_id__organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_cases__assignee_id__users"), type_="foreignkey")

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_consents__customer_id__customers"), type_="foreignkey"
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers__merged_into_id__customers"), type_="foreignkey"
        )

    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_identities__customer_id__customers"), type_="foreignkey"
        )

    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_inbox_messages__interaction_id__interactions"), type_="foreignkey"
        )

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_interactions__organization_id__organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_interactions__case_id__cases"), type_="foreignkey")

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_leads__dealer_id__organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_leads__ownership_id__ownerships"), type_="foreignkey"
        )

    with op.batch_alter_table("ownerships", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_ownerships__dealer_id__organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_ownerships__vehicle_id__vehicles"), type_="foreignkey"
        )


def downgrade() -> None:
    with op.batch_alter_table("ownerships", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_ownerships__vehicle_id__vehicles"), "vehicles", ["vehicle_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ownerships__dealer_id__organizations"),
            "organizations",
            ["dealer_id"],
            ["id"],
        )

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_leads__ownership_id__ownerships"), "ownerships", ["ownership_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_leads__dealer_id__organizations"), "organizations", ["dealer_id"], ["id"]
        )

    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_interactions__case_id__cases"), "cases", ["case_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_interactions__organization_id__organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
        )

    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_inbox_messages__interaction_id__interactions"),
            "interactions",
            ["interaction_id"],
            ["id"],
        )

    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_identities__customer_id__customers"),
            "customers",
            ["customer_id"],
            ["id"],
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_customers__merged_into_id__customers"),
            "customers",
            ["merged_into_id"],
            ["id"],
        )

    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_consents__customer_id__customers"), "customers", ["customer_id"], ["id"]
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_cases__assignee_id__users"), "users", ["assignee_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases__organization_id__organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns__organization_id__organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
        )

    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_campaign_members__campaign_id__campaigns"),
            "campaigns",
            ["campaign_id"],
            ["id"],
        )

    with op.batch_alter_table("transfer_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_assessments__market_data_class_destination"))
        batch_op.drop_index(batch_op.f("ix_transfer_assessments__market"))

    op.drop_table("transfer_assessments")
    with op.batch_alter_table("customer_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_exports__market"))
        batch_op.drop_index(batch_op.f("ix_customer_exports__customer_id"))

    op.drop_table("customer_exports")
