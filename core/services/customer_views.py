"""A customer as every front end shows them, apart from the customer service so that other
services' views (a dealer's leads with their customers) can hold one too."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from regiocrm.crm.customers import Customers
from regiocrm.crm.telematics import latest_events, latest_odometer
from regiocrm.crm.telematics_rollup import odometer
from regiocrm.interfaces.events import EventKind
from regiocrm.models import Customer
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession

# The latest vehicle events a customer's view shows.
LATEST_EVENTS = 10


@dataclass(frozen=True)
class IdentityView:
    kind: str
    value: str
    verified: bool


@dataclass(frozen=True)
class CustomerView:
    """A customer as front ends show it: names in parts and as the market writes them,
    every identity, and the records merged into them."""

    id: uuid.UUID
    market: str
    kind: str
    display_name: str | None
    family_name: str | None
    given_name: str | None
    family_name_phonetic: str | None
    given_name_phonetic: str | None
    company_name: str | None
    preferred_locale: str | None
    identities: tuple[IdentityView, ...]
    merged_ids: tuple[uuid.UUID, ...]

    @classmethod
    def of(cls, customers: Customers, customer: Customer) -> CustomerView:
        return cls(
            id=customer.id,
            market=customer.market,
            kind=customer.kind.value,
            display_name=customers.display_name(customer),
            family_name=customer.family_name,
            given_name=customer.given_name,
            family_name_phonetic=customer.family_name_phonetic,
            given_name_phonetic=customer.given_name_phonetic,
            company_name=customer.company_name,
            preferred_locale=customer.preferred_locale,
            identities=tuple(
                IdentityView(i.kind, i.value, i.verified) for i in customers.identities(customer.id)
            ),
            merged_ids=tuple(customers.merge_set(customer.id)[1:]),
        )

    @property
    def phone(self) -> str | None:
        """The customer's number to call, a verified one first."""
        phones = [identity for identity in self.identities if identity.kind == "phone"]
        phones.sort(key=lambda identity: not identity.verified)
        return phones[0].value if phones else None

    def as_json(self) -> dict[str, Any]:
        return {
            **{field.name: getattr(self, field.name) for field in fields(self)},
            "id": str(self.id),
            "identities": [asdict(identity) for identity in self.identities],
            "merged_ids": [str(merged) for merged in self.merged_ids],
        }


@dataclass(frozen=True)
class MileageView:
    """A vehicle's latest odometer reading, and when (``local_time`` in its market's time
    zone)."""

    vehicle_id: uuid.UUID
    vin: str | None
    odometer_km: float
    read_at: datetime
    local_time: str

    def as_json(self) -> dict[str, Any]:
        return {
            **vars(self),
            "vehicle_id": str(self.vehicle_id),
            "read_at": self.read_at.isoformat(),
        }


@dataclass(frozen=True)
class VehicleEventView:
    """Something a vehicle reported: its kind, when (``local_time`` in its market's time
    zone) and what it said, in a few words."""

    vehicle_id: uuid.UUID
    vin: str | None
    kind: str
    occurred_at: datetime
    local_time: str
    summary: str

    def as_json(self) -> dict[str, Any]:
        return {
            **vars(self),
            "vehicle_id": str(self.vehicle_id),
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True)
class CustomerTelematics:
    """What a customer's vehicles report: each one's latest mileage, and their latest
    events, newest first."""

    mileage: tuple[MileageView, ...]
    events: tuple[VehicleEventView, ...]

    @classmethod
    def read(
        cls, session: ZonedSession, hooks: Hooks, vins: Mapping[uuid.UUID, str | None]
    ) -> CustomerTelematics:
        """Of the vehicles (id to VIN) a caller sees the customer own."""
        vehicles = sorted(vins)
        packs = hooks.packs()

        def local(moment: datetime, market: str) -> str:
            zone = ZoneInfo(packs.market(market).timezone)
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

        mileage = tuple(
            MileageView(vehicle, vins[vehicle], km, at, local(at, market))
            for vehicle, (km, at, market) in latest_odometer(session, vehicles).items()
        )
        events = tuple(
            VehicleEventView(
                reported.vehicle_id,
                vins.get(reported.vehicle_id),
                reported.kind,
                reported.occurred_at,
                local(reported.occurred_at, reported.market),
                event_summary(reported.kind, reported.payload),
            )
            for reported in latest_events(session, vehicles, LATEST_EVENTS)
        )
        return cls(mileage, events)

    def as_json(self) -> dict[str, Any]:
        return {
            "mileage": [reading.as_json() for reading in self.mileage],
            "events": [event.as_json() for event in self.events],
        }


def event_summary(kind: str, payload: Mapping[str, Any]) -> str:
    """A vehicle event in a few words, in the reader's language."""
    km = odometer(payload)
    match kind:
        case EventKind.MILEAGE:
            if km is None:
                return _("mileage reported")
            return _("odometer {km} km").format(km=f"{km:,.0f}")
        case EventKind.SERVICE_DUE:
            due_in = _number(payload.get("due_in_km"))
            if due_in is None:
                return _("service due")
            return _("service due in {km} km").format(km=f"{due_in:,.0f}")
        case EventKind.WARNING_LAMP:
            lamp = payload.get("lamp")
            return _("warning lamp: {lamp}").format(
                lamp=lamp if isinstance(lamp, str) and lamp else _("unspecified")
            )
        case EventKind.TRIP_SUMMARY:
            distance = _number(payload.get("distance_km"))
            if distance is None:
                return _("trip")
            return _("trip of {km} km").format(km=f"{distance:,.1f}")
    return kind


def _number(value: Any) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def vehicles_shown(ownerships: Sequence[Any]) -> dict[uuid.UUID, str | None]:
    """The vehicles of ownerships a view shows (anything with ``vehicle_id`` and ``vin``)."""
    return {ownership.vehicle_id: ownership.vin for ownership in ownerships}
