"""initial schema: every table of the core domain model

Revision ID: c0c05660dddf
Revises:
Create Date: 2026-11-24 02:41:11.681515
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0c05660dddf"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("regiocrm",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject_type", sa.String(length=60), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events__occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events__subject_type_subject_id"),
            ["subject_type", "subject_id"],
            unique=False,
        )

    op.create_table(
        "contracts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "sales",
                "lease",
                "financing",
                "service",
                name="contractkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "active",
                "ended",
                "cancelled",
                name="contractstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contracts__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contracts__ends_on"), ["ends_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts__market"), ["market"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts__vehicle_id"), ["vehicle_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("person", "company", name="customerkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("family_name_phonetic", sa.String(length=100), nullable=True),
        sa.Column("given_name_phonetic", sa.String(length=100), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("preferred_locale", sa.String(length=35), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers__market"), ["market"], unique=False)

    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "oem",
                "wholesaler",
                "dealer",
                "call_centre",
                "partner",
                name="organizationkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "licence_tier",
            sa.Enum("full", "community", name="licencetier", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["organizations.id"],
            name=op.f("fk_organizations__parent_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations__name")),
    )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organizations__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_organizations__parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "telematics_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telematics_events")),
    )
    with op.batch_alter_table("telematics_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telematics_events__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_telematics_events__vehicle_id_occurred_at"),
            ["vehicle_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("make", sa.String(length=60), nullable=True),
        sa.Column("model", sa.String(length=60), nullable=True),
        sa.Column("model_year", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("vin", name=op.f("uq_vehicles__vin")),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicles__market"), ["market"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "scheduled",
                "running",
                "completed",
                "cancelled",
                name="campaignstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_campaigns__organization_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_campaigns__organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column(
            "action",
            sa.Enum("grant", "withdraw", name="consentaction", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_consents__customer_id__customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consents__customer_id_purpose_channel_occurred_at"),
            ["customer_id", "purpose", "channel", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_consents__market"), ["market"], unique=False)

    op.create_table(
        "identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_identities__customer_id__customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_identities__kind_value")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identities__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_identities__market"), ["market"], unique=False)

    op.create_table(
        "ownerships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("dealer_id", sa.Uuid(), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"],
            ["organizations.id"],
            name=op.f("fk_ownerships__dealer_id__organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_ownerships__vehicle_id__vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownerships")),
    )
    with op.batch_alter_table("ownerships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ownerships__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ownerships__dealer_id"), ["dealer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ownerships__market"), ["market"], unique=False)
        batch_op.create_index(batch_op.f("ix_ownerships__vehicle_id"), ["vehicle_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "competence_centre",
                "agent",
                "wholesaler_staff",
                "dealer_staff",
                "campaign_manager",
                "partner",
                name="userrole",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users__organization_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users__name")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_users__organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens__user_id__users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens__token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens__market"), ["market"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_tokens__user_id"), ["user_id"], unique=False)

    op.create_table(
        "campaign_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sent",
                "delivered",
                "failed",
                "replied",
                name="deliverystatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_members__campaign_id__campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_members")),
        sa.UniqueConstraint(
            "campaign_id", "customer_id", name=op.f("uq_campaign_members__campaign_id_customer_id")
        ),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_members__customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_campaign_members__market"), ["market"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "assigned",
                "in_progress",
                "waiting_customer",
                "resolved",
                "closed",
                name="casestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "low", "normal", "high", "urgent", name="priority", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_cases__assignee_id__users")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_cases__organization_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases__assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases__customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases__organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases__status_due_at"), ["status", "due_at"], unique=False
        )

    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "contacted",
                "qualified",
                "won",
                "lost",
                name="leadstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=60), nullable=True),
        sa.Column("vehicle_model", sa.String(length=60), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("dealer_id", sa.Uuid(), nullable=True),
        sa.Column("follow_up_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ownership_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["organizations.id"], name=op.f("fk_leads__dealer_id__organizations")
        ),
        sa.ForeignKeyConstraint(
            ["ownership_id"], ["ownerships.id"], name=op.f("fk_leads__ownership_id__ownerships")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads__customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_leads__dealer_id_status"), ["dealer_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leads__market"), ["market"], unique=False)

    op.create_table(
        "interactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column(
            "direction",
            sa.Enum(
                "inbound", "outbound", "internal", name="direction", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("touchpoint", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_interactions__case_id__cases")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_interactions__organization_id__organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interactions__case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_interactions__customer_id_occurred_at"),
            ["customer_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_interactions__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_interactions__organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("channel_account", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received", "processed", "failed", name="inboxstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_inbox_messages__interaction_id__interactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint(
            "channel_account",
            "external_id",
            name=op.f("uq_inbox_messages__channel_account_external_id"),
        ),
    )
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_messages__market"), ["market"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_messages__status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_messages__status"))
        batch_op.drop_index(batch_op.f("ix_inbox_messages__market"))

    op.drop_table("inbox_messages")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interactions__organization_id"))
        batch_op.drop_index(batch_op.f("ix_interactions__market"))
        batch_op.drop_index(batch_op.f("ix_interactions__customer_id_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_interactions__case_id"))

    op.drop_table("interactions")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads__market"))
        batch_op.drop_index(batch_op.f("ix_leads__dealer_id_status"))
        batch_op.drop_index(batch_op.f("ix_leads__customer_id"))

    op.drop_table("leads")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases__status_due_at"))
        batch_op.drop_index(batch_op.f("ix_cases__organization_id"))
        batch_op.drop_index(batch_op.f("ix_cases__market"))
        batch_op.drop_index(batch_op.f("ix_cases__customer_id"))
        batch_op.drop_index(batch_op.f("ix_cases__assignee_id"))

    op.drop_table("cases")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_members__market"))
        batch_op.drop_index(batch_op.f("ix_campaign_members__customer_id"))

    op.drop_table("campaign_members")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens__user_id"))
        batch_op.drop_index(batch_op.f("ix_api_tokens__market"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users__organization_id"))
        batch_op.drop_index(batch_op.f("ix_users__market"))

    op.drop_table("users")
    with op.batch_alter_table("ownerships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ownerships__vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_ownerships__market"))
        batch_op.drop_index(batch_op.f("ix_ownerships__dealer_id"))
        batch_op.drop_index(batch_op.f("ix_ownerships__customer_id"))

    op.drop_table("ownerships")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities__market"))
        batch_op.drop_index(batch_op.f("ix_identities__customer_id"))

    op.drop_table("identities")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents__market"))
        batch_op.drop_index(batch_op.f("ix_consents__customer_id_purpose_channel_occurred_at"))

    op.drop_table("consents")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns__organization_id"))
        batch_op.drop_index(batch_op.f("ix_campaigns__market"))

    op.drop_table("campaigns")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicles__market"))

    op.drop_table("vehicles")
    with op.batch_alter_table("telematics_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telematics_events__vehicle_id_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_telematics_events__market"))

    op.drop_table("telematics_events")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizations__parent_id"))
        batch_op.drop_index(batch_op.f("ix_organizations__market"))

    op.drop_table("organizations")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers__market"))

    op.drop_table("customers")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts__vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_contracts__market"))
        batch_op.drop_index(batch_op.f("ix_contracts__ends_on"))
        batch_op.drop_index(batch_op.f("ix_contracts__customer_id"))

    op.drop_table("contracts")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events__subject_type_subject_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events__occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events__market"))

    op.drop_table("audit_events")
