"""The events the plugin announces, which other plugins may implement."""

from __future__ import annotations

import uuid
from datetime import datetime

from regiocrm.hookspecs import hookspec


@hookspec
def test_drive_booked(
    test_drive_id: uuid.UUID,
    customer_id: uuid.UUID,
    organization_id: uuid.UUID,
    market: str,
    scheduled_at: datetime,
) -> None:
    """A test drive was booked and committed: a reminder to the customer, a note in the
    dealer's calendar hang here.

    :param test_drive_id: the booking.
    :param customer_id: who drives (the survivor, after any merge).
    :param organization_id: the dealer it is booked at.
    :param market: the customer's market.
    :param scheduled_at: when, in UTC.
    """
