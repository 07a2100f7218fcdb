"""A Chinese customer's message written onto their timeline as the inbox writes it (the
timeline's hot-path writer, which also keeps the conversation up to date)."""

from __future__ import annotations

import uuid
from datetime import datetime

from regiocrm.crm.timeline import MessageEntry, append_once
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import Direction
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession


def write_message(
    session: ZonedSession,
    customer_id: uuid.UUID,
    text: str,
    at: datetime,
    *,
    channel: str = "wechat",
    direction: Direction = Direction.INBOUND,
) -> None:
    """``text`` on ``channel`` (its account ``<channel>_cn``), at ``at``, in China's zone."""
    append_once(
        session.zone_connection(session.residency.zone_for("CN", DataClass.CRM)),
        MessageEntry(
            id=new_id(),
            market="CN",
            customer_id=customer_id,
            channel=channel,
            direction=direction,
            touchpoint=f"{channel}_cn",
            text=text,
            summary=None,
            external_id=None,
            occurred_at=at,
            case_id=None,
        ),
    )
