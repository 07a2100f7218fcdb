"""roles: call-centre agents and partner auditors named for what they do; campaign
managers become competence-centre users, who plan campaigns

Revision ID: e8f3b61a2c47
Revises: d2a7c4e91b60
Create Date: 2026-12-02 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e8f3b61a2c47"
down_revision: str | Sequence[str] | None = "d2a7c4e91b60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMED = {
    "agent": "call_centre_agent",
    "partner": "partner_auditor",
    "campaign_manager": "competence_centre",
}


def _rename(pairs: dict[str, str]) -> None:
    users = sa.table("users", sa.column("role", sa.String(32)))
    bind = op.get_bind()
    for old, new in pairs.items():
        # Users live in the home zone: the write guard refuses even an empty update of
        # them elsewhere, so a zone without such users is left alone.
        holders = sa.select(sa.func.count()).select_from(users).where(users.c.role == old)
        if bind.execute(holders).scalar():
            op.execute(users.update().where(users.c.role == old).values(role=new))


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    # Campaign managers cannot be told apart from competence-centre users any more.
    _rename({new: old for old, new in RENAMED.items() if old != "campaign_manager"})
