"""The audit trail: who read or changed what, written beside the change it records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from regiocrm.models import AuditEvent, Model


def record(
    session: Session,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_type: str,
    subject: Model,
    detail: Mapping[str, object] | None = None,
) -> None:
    """Add an audit event about ``subject`` to the session's transaction, so it is kept
    exactly when the change it records is.

    :param actor_id: the user who acted, or ``None`` for the system.
    :param action: what happened, ``<subject>.<verb>``: ``customer.read``, ``user.created``.
    """
    session.add(
        AuditEvent(
            market=subject.market,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject.id,
            detail={key: str(value) for key, value in (detail or {}).items()},
        )
    )
