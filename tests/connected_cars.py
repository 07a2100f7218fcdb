"""Connected cars the telematics tests drive: a Shanghai car and an Osaka car, each owned
by a customer and serviced by a dealer of its market, and the events they report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import NewCustomer
from regiocrm.interfaces.events import EventKind, VehicleEvent
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import OrganizationKind
from regiocrm.models import Ownership, TelematicsEvent, Vehicle
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.customers import CustomerService

SHANGHAI_VIN = "LSVAU2180N2183294"
OSAKA_VIN = "JTDBR32E530012345"
UNKNOWN_VIN = "WVWZZZ1JZXW000001"
# Noon in Shanghai two days ago: well within every market's retention whenever tests run.
NOON = datetime.combine(date.today() - timedelta(days=2), time(4), UTC)


@dataclass(frozen=True)
class Car:
    vin: str
    vehicle_id: uuid.UUID
    customer_id: uuid.UUID
    dealer_id: uuid.UUID
    market: str


def own_car(app: Application, vin: str, market: str, dealer: str) -> Car:
    """A vehicle of ``market`` owned by a new customer who bought it from ``dealer`` (made
    here, with a location so leads can be routed)."""
    customer = CustomerService(app).create(SYSTEM, NewCustomer(market=market)).id
    with app.transaction() as session:
        seller = create_organization(
            session,
            name=dealer,
            kind=OrganizationKind.DEALER,
            market=market,
            location=Point(31.23, 121.47) if market == "CN" else Point(34.69, 135.50),
        )
        vehicle = Vehicle(market=market, vin=vin, model="Tourer")
        session.add(vehicle)
        session.flush()
        session.add(
            Ownership(
                market=market,
                vehicle_id=vehicle.id,
                customer_id=customer,
                dealer_id=seller.id,
                started_on=date(2025, 4, 1),
            )
        )
    return Car(vin, vehicle.id, customer, seller.id, market)


def event(
    vin: str,
    event_id: str,
    kind: EventKind = EventKind.MILEAGE,
    *,
    at: datetime = NOON,
    **payload: Any,
) -> VehicleEvent:
    return VehicleEvent(vin, event_id, kind, at, payload or {"odometer_km": 1000})


def mileage(vin: str, count: int, *, start: datetime = NOON, km: int = 1000) -> list[VehicleEvent]:
    """``count`` mileage readings an hour apart, 10 km further each time."""
    return [
        event(vin, f"m-{n}", at=start + timedelta(hours=n), odometer_km=km + 10 * n)
        for n in range(count)
    ]


def stored_events(app: Application, zone: str | None = None) -> list[tuple[str, str, str]]:
    """(market, event id, kind) of every telematics row, in ``zone`` alone when given."""
    with app.transaction() as session:
        query = select(TelematicsEvent.market, TelematicsEvent.event_id, TelematicsEvent.kind)
        if zone is not None:
            query = query.execution_options(zones=[zone])
        return sorted((m, e or "", k) for m, e, k in session.execute(query))


def count(app: Application, model: Any) -> int:
    with app.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)
