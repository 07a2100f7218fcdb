"""seen signatures: webhook signatures that leave the body out (WeChat's plaintext mode),
kept with a digest of their body until they go stale, so a replay cannot bring another body

Revision ID: a41cdb979235
Revises: 146ae84fe169
Create Date: 2026-12-06 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a41cdb979235"
down_revision: str | Sequence[str] | None = "146ae84fe169"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("market", sa.String(length=2), nullable=False),
        sa.Column("channel_account", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_signatures")),
        sa.UniqueConstraint(
            "channel_account",
            "signature",
            name=op.f("uq_seen_signatures__channel_account_signature"),
        ),
    )
    with op.batch_alter_table("seen_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_signatures__market"), ["market"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_seen_signatures__valid_until"), ["valid_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("seen_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_signatures__valid_until"))
        batch_op.drop_index(batch_op.f("ix_seen_signatures__market"))

    op.drop_table("seen_signatures")
