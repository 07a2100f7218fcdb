"""covering indexes for the consent in force (entries in the order of time) and a channel's
identities, which a campaign asks of every customer in its segment

Revision ID: a3e5f7c9d1b2
Revises: f1c9d3a7b285
Create Date: 2026-12-02 16:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a3e5f7c9d1b2"
down_revision: str | Sequence[str] | None = "f1c9d3a7b285"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSENT_BEFORE = ["customer_id", "purpose", "channel", "occurred_at"]
CONSENT_AFTER = ["customer_id", "purpose", "occurred_at", "id", "channel", "action"]


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents__customer_id_purpose_channel_occurred_at")
        batch_op.create_index(
            "ix_consents__customer_id_purpose_occurred_at_id_channel_action", CONSENT_AFTER
        )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identities__customer_id")
        batch_op.create_index("ix_identities__customer_id_kind", ["customer_id", "kind"])


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identities__customer_id_kind")
        batch_op.create_index("ix_identities__customer_id", ["customer_id"])
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents__customer_id_purpose_occurred_at_id_channel_action")
        batch_op.create_index(
            "ix_consents__customer_id_purpose_channel_occurred_at", CONSENT_BEFORE
        )
