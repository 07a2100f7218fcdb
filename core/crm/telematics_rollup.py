"""Retention of vehicle events: past its market's retention, a raw event is summed into its
vehicle's day (a :class:`~regiocrm.models.TelematicsDay` per vehicle, day and kind, the day
in the market's time zone) and deleted.

A chunk of events is summed and deleted in one transaction, so each raw event is counted
exactly once however often the rollup is run or wherever it was stopped: run again, it
goes on with what is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from regiocrm.models import TelematicsDay, TelematicsEvent
from regiocrm.platform.stores import ZonedSession

# Raw events summed in one transaction: a few MB of rows at most.
CHUNK = 2000
# The payload field a reading's odometer is in (a mileage event's, and any other that
# carries it).
ODOMETER = "odometer_km"


@dataclass
class Day:
    """The sums of one vehicle's events of one kind on one day."""

    events: int
    first_at: datetime
    last_at: datetime
    min_km: float | None
    max_km: float | None

    def add(self, other: Day) -> None:
        self.events += other.events
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.min_km = _least(self.min_km, other.min_km)
        self.max_km = _most(self.max_km, other.max_km)


def odometer(payload: Any) -> float | None:
    """The odometer reading a payload carries, in km; ``None`` for none or a value that is
    no number."""
    value = payload.get(ODOMETER) if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def roll_up_chunk(
    session: ZonedSession, zone: str, market: str, timezone: str, before: datetime
) -> int:
    """Sum the oldest chunk of the market's raw events in ``zone`` that happened before
    ``before`` into their days, and delete them; how many were rolled up (0: none left).
    The caller commits."""
    connection = session.zone_connection(zone)
    rows = connection.execute(
        select(
            TelematicsEvent.id,
            TelematicsEvent.vehicle_id,
            TelematicsEvent.kind,
            TelematicsEvent.occurred_at,
            TelematicsEvent.payload,
        )
        .where(TelematicsEvent.market == market, TelematicsEvent.occurred_at < before)
        .order_by(TelematicsEvent.occurred_at, TelematicsEvent.id)
        .limit(CHUNK)
    ).all()
    if not rows:
        return 0
    local = ZoneInfo(timezone)
    days: dict[tuple[uuid.UUID, date, str], Day] = {}
    for _id, vehicle, kind, occurred_at, payload in rows:
        km = odometer(payload)
        one = Day(1, occurred_at, occurred_at, km, km)
        key = (vehicle, occurred_at.astimezone(local).date(), kind)
        if key in days:
            days[key].add(one)
        else:
            days[key] = one
    _merge(session, market, days)
    # Deleted by statement: the ORM refuses to delete an append-only row, and retention is
    # the one thing that may, once the row is summed in this same transaction.
    connection.execute(
        delete(TelematicsEvent).where(TelematicsEvent.id.in_([row.id for row in rows]))
    )
    return len(rows)


def _merge(
    session: ZonedSession, market: str, days: dict[tuple[uuid.UUID, date, str], Day]
) -> None:
    """Add the sums to the days kept before, or keep them as new days."""
    vehicles = sorted({vehicle for vehicle, _, _ in days})
    kept = {
        (row.vehicle_id, row.day, row.kind): row
        for row in session.scalars(
            select(TelematicsDay).where(
                TelematicsDay.vehicle_id.in_(vehicles),
                TelematicsDay.day.in_(sorted({day for _, day, _ in days})),
            )
        )
    }
    for (vehicle, day, kind), sums in days.items():
        row = kept.get((vehicle, day, kind))
        if row is None:
            session.add(
                TelematicsDay(
                    market=market,
                    vehicle_id=vehicle,
                    day=day,
                    kind=kind,
                    events=sums.events,
                    first_at=sums.first_at,
                    last_at=sums.last_at,
                    min_odometer_km=sums.min_km,
                    max_odometer_km=sums.max_km,
                )
            )
            continue
        before = Day(
            row.events, row.first_at, row.last_at, row.min_odometer_km, row.max_odometer_km
        )
        before.add(sums)
        row.events, row.first_at, row.last_at = before.events, before.first_at, before.last_at
        row.min_odometer_km, row.max_odometer_km = before.min_km, before.max_km
    session.flush()


def _least(*values: float | None) -> float | None:
    present: Sequence[float] = [value for value in values if value is not None]
    return min(present) if present else None


def _most(*values: float | None) -> float | None:
    present: Sequence[float] = [value for value in values if value is not None]
    return max(present) if present else None
