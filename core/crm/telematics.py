"""Vehicle events, stored where residency places the vehicle's telematics, and the work the
market's pack makes of them.

A batch is stored in one session, so in one commit per zone it touches. Each event is keyed
by its vehicle and the provider's event id: an event stored before (by an earlier delivery,
earlier in the same batch, or by a delivery racing this one) is a duplicate and is not
stored again. An event of a VIN the deployment has no vehicle for is counted as unknown and
not stored: the provider is told which VINs, and the rest of the batch is kept.

The rules (:class:`EventRules`) run in the same session on the events just stored, so a
lead or case is kept exactly when its event is: a redelivered event is a duplicate and
makes nothing. A service due becomes a lead for the vehicle's servicing dealer (its current
ownership's), a warning lamp a case with the priority the pack gives the lamp; neither when
the vehicle already has an open one for the same reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, Uuid, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from regiocrm.crm import cases, lead_lifecycle
from regiocrm.crm.cases import Cases, NewCase
from regiocrm.crm.leads import DealerLocator, Leads, NewLead
from regiocrm.crm.telematics_rollup import odometer
from regiocrm.geo.chain import MapChain
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.events import EventKind, VehicleEvent
from regiocrm.models import (
    Case,
    Lead,
    Ownership,
    TelematicsAlert,
    TelematicsDay,
    TelematicsEvent,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession

# How many VINs or keys one query asks about: well inside SQLite's and PostgreSQL's limits
# on bound parameters, whatever size a batch comes in.
CHUNK = 500
# A lead's source when a vehicle's event made it.
LEAD_SOURCE = "telematics"
SERVICE_DUE = "service_due"
# A warning lamp's code in its event's payload; an event without one is of this lamp.
UNNAMED_LAMP = "unspecified"
LAMP_CODE_MAX = 60
# Mileage events looked through for one with an odometer reading.
LATEST_READINGS = 5


@dataclass(frozen=True)
class Car:
    """A vehicle as its events need it: its id and the market whose rules place its data."""

    id: uuid.UUID
    vin: str
    market: str
    model: str | None = None


@dataclass
class StoredBatch:
    """What became of a batch: the events stored (each with its vehicle), how many were
    stored before, and the VINs no vehicle has."""

    stored: list[tuple[VehicleEvent, Car]] = field(default_factory=list)
    duplicates: int = 0
    unknown_vins: list[str] = field(default_factory=list)
    unknown_events: int = 0
    expired: int = 0


class Telematics:
    """Vehicle events inside one session; the caller commits."""

    def __init__(self, session: ZonedSession) -> None:
        self.session = session

    def cars(self, vins: Iterable[str], markets: frozenset[str] | None = None) -> dict[str, Car]:
        """The vehicles with these VINs, by VIN, from whichever zone holds them; of
        ``markets`` alone when given."""
        wanted = sorted(set(vins))
        found: dict[str, Car] = {}
        in_markets = () if markets is None else (Vehicle.market.in_(sorted(markets)),)
        for start in range(0, len(wanted), CHUNK):
            rows = self.session.execute(
                select(Vehicle.id, Vehicle.vin, Vehicle.market, Vehicle.model).where(
                    Vehicle.vin.in_(wanted[start : start + CHUNK]), *in_markets
                )
            )
            # A vehicle copied by a move cut short is found twice, the same each time.
            found.update((vin, Car(id_, vin, market, model)) for id_, vin, market, model in rows)
        return found

    def store(
        self,
        events: Sequence[VehicleEvent],
        markets: frozenset[str] | None = None,
        *,
        kept_since: Callable[[str], datetime] | None = None,
    ) -> StoredBatch:
        """Store the events not stored before, each in the zone its vehicle's market places
        telematics data in; with ``markets``, an event of a vehicle of another market is as
        one of a VIN unknown.

        :param kept_since: the oldest moment a market keeps raw events from: an older event
            is counted expired and not stored, since its raw copy (which a redelivery would
            be found a duplicate of) may be summed and gone already.
        """
        result = StoredBatch()
        cars = self.cars((event.vin for event in events), markets)
        result.unknown_vins = sorted({event.vin for event in events} - set(cars))
        unique: dict[tuple[uuid.UUID, str], tuple[VehicleEvent, Car]] = {}
        markets_found = {car.market for car in cars.values()}
        since = {} if kept_since is None else {m: kept_since(m) for m in markets_found}
        for event in events:
            car = cars.get(event.vin)
            if car is None:
                result.unknown_events += 1
            elif kept_since is not None and event.occurred_at < since[car.market]:
                result.expired += 1
            elif (car.id, event.event_id) in unique:
                result.duplicates += 1
            else:
                unique[car.id, event.event_id] = (event, car)
        by_zone: dict[str, list[tuple[VehicleEvent, Car]]] = {}
        for event, car in unique.values():
            zone = self.session.residency.zone_for(car.market, DataClass.TELEMATICS)
            by_zone.setdefault(zone, []).append((event, car))
        now = utcnow()
        for zone, found in by_zone.items():
            connection = self.session.zone_connection(zone)
            rows = [_row(event, car, now) for event, car in found]
            inserted = _insert_new(connection, rows)
            new = [pair for pair, row in zip(found, rows, strict=True) if row["id"] in inserted]
            result.duplicates += len(found) - len(new)
            result.stored += new
        return result


@dataclass(frozen=True)
class Owner:
    """Who a vehicle is with now: its owner and the dealer that services it."""

    customer_id: uuid.UUID
    dealer_id: uuid.UUID | None


@dataclass
class Acted:
    """The leads and cases a batch's events made."""

    leads: list[uuid.UUID] = field(default_factory=list)
    cases: list[uuid.UUID] = field(default_factory=list)


class EventRules:
    """The market's rules over vehicle events, inside the session that stored them; the
    caller commits, and ``lead_created`` and ``case_transitioned`` fire once it has."""

    def __init__(
        self, session: ZonedSession, hooks: Hooks, maps: MapChain, dealers: DealerLocator
    ) -> None:
        self.session = session
        self.hooks = hooks
        self.leads = Leads(session, hooks, maps, dealers)
        self.cases = Cases(session, hooks)

    def act(self, stored: Sequence[tuple[VehicleEvent, Car]]) -> Acted:
        """A lead for each service due and a case for each warning lamp the pack gives a
        priority, in the order the events happened, for a vehicle that has an owner and
        no open lead or case for the same reason."""
        acted = Acted()
        actionable = sorted(
            (
                (event, car)
                for event, car in stored
                if event.kind in (EventKind.SERVICE_DUE, EventKind.WARNING_LAMP)
            ),
            key=lambda pair: pair[0].occurred_at,
        )
        if not actionable:
            return acted
        vehicles = sorted({car.id for _, car in actionable})
        owners = self.owners(vehicles)
        busy = self.open_reasons(vehicles)
        packs = self.hooks.packs()
        for event, car in actionable:
            owner = owners.get(car.id)
            if owner is None:
                continue
            pack = packs.for_market(car.market)
            if event.kind is EventKind.SERVICE_DUE:
                if not pack.service_due_leads or (car.id, SERVICE_DUE) in busy:
                    continue
                if owner.dealer_id is None:
                    continue
                lead = self.leads.create(
                    NewLead(
                        market=car.market,
                        customer_id=owner.customer_id,
                        source=LEAD_SOURCE,
                        vehicle_model=car.model,
                        dealer_id=owner.dealer_id,
                    )
                )
                self._alert(event, car, owner, SERVICE_DUE, lead_id=lead.id)
                busy.add((car.id, SERVICE_DUE))
                acted.leads.append(lead.id)
                continue
            lamp = lamp_of(event)
            reason = f"warning_lamp:{lamp}"
            priority = pack.warning_lamp_priority(lamp)
            if priority is None or (car.id, reason) in busy:
                continue
            case = self.cases.open(
                NewCase(
                    customer_id=owner.customer_id,
                    market=car.market,
                    priority=priority,
                    subject=_("Warning lamp {lamp} on vehicle {vin}").format(
                        lamp=lamp, vin=car.vin
                    ),
                    organization_id=owner.dealer_id,
                ),
                actor_id=None,
            )
            self._alert(event, car, owner, reason, case_id=case.id)
            busy.add((car.id, reason))
            acted.cases.append(case.id)
        return acted

    def owners(self, vehicles: Sequence[uuid.UUID]) -> dict[uuid.UUID, Owner]:
        """Each vehicle's current owner and servicing dealer: its latest ownership not
        ended."""
        found: dict[uuid.UUID, Owner] = {}
        for start in range(0, len(vehicles), CHUNK):
            rows = self.session.execute(
                select(Ownership.vehicle_id, Ownership.customer_id, Ownership.dealer_id)
                .where(
                    Ownership.vehicle_id.in_(vehicles[start : start + CHUNK]),
                    Ownership.ended_on.is_(None),
                )
                .order_by(Ownership.started_on, Ownership.id)
            )
            # The latest comes last and wins.
            found.update((vehicle, Owner(customer, dealer)) for vehicle, customer, dealer in rows)
        return found

    def open_reasons(self, vehicles: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, str]]:
        """(vehicle, reason) of every lead or case a rule made that is still open."""
        alerts = list(
            self.session.execute(
                select(
                    TelematicsAlert.vehicle_id,
                    TelematicsAlert.reason,
                    TelematicsAlert.lead_id,
                    TelematicsAlert.case_id,
                ).where(TelematicsAlert.vehicle_id.in_(vehicles))
            )
        )
        lead_ids = [alert.lead_id for alert in alerts if alert.lead_id is not None]
        case_ids = [alert.case_id for alert in alerts if alert.case_id is not None]
        open_leads = set(
            self.session.scalars(
                select(Lead.id).where(Lead.id.in_(lead_ids), Lead.status.in_(lead_lifecycle.OPEN))
            )
            if lead_ids
            else ()
        )
        open_cases = set(
            self.session.scalars(
                select(Case.id).where(Case.id.in_(case_ids), Case.status.in_(cases.OPEN))
            )
            if case_ids
            else ()
        )
        return {
            (alert.vehicle_id, alert.reason)
            for alert in alerts
            if alert.lead_id in open_leads or alert.case_id in open_cases
        }

    def _alert(
        self,
        event: VehicleEvent,
        car: Car,
        owner: Owner,
        reason: str,
        *,
        lead_id: uuid.UUID | None = None,
        case_id: uuid.UUID | None = None,
    ) -> None:
        self.session.add(
            TelematicsAlert(
                market=car.market,
                vehicle_id=car.id,
                customer_id=owner.customer_id,
                dealer_id=owner.dealer_id,
                reason=reason,
                event_id=event.event_id,
                lead_id=lead_id,
                case_id=case_id,
            )
        )


@dataclass(frozen=True)
class Reported:
    """One thing a vehicle reported, as the customer's view shows it."""

    vehicle_id: uuid.UUID
    market: str
    kind: str
    occurred_at: datetime
    payload: Mapping[str, Any]


def latest_events(
    session: ZonedSession, vehicles: Sequence[uuid.UUID], limit: int
) -> list[Reported]:
    """The vehicles' latest raw events, newest first."""
    if not vehicles:
        return []
    rows = session.execute(
        select(
            TelematicsEvent.vehicle_id,
            TelematicsEvent.market,
            TelematicsEvent.kind,
            TelematicsEvent.occurred_at,
            TelematicsEvent.payload,
        )
        .where(TelematicsEvent.vehicle_id.in_(vehicles))
        .order_by(TelematicsEvent.occurred_at.desc(), TelematicsEvent.id.desc())
        .limit(limit)
    )
    return [Reported(*row) for row in rows]


def latest_odometer(
    session: ZonedSession, vehicles: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[float, datetime, str]]:
    """Each vehicle's latest odometer reading (km, when, its market): its newest mileage
    event's, or, with its raw events all summed, its newest day's highest."""
    found: dict[uuid.UUID, tuple[float, datetime, str]] = {}
    for vehicle in vehicles:
        for at, market, payload in session.execute(
            select(TelematicsEvent.occurred_at, TelematicsEvent.market, TelematicsEvent.payload)
            .where(
                TelematicsEvent.vehicle_id == vehicle,
                TelematicsEvent.kind == EventKind.MILEAGE.value,
            )
            .order_by(TelematicsEvent.occurred_at.desc())
            .limit(LATEST_READINGS)
        ):
            km = odometer(payload)
            if km is not None:
                found[vehicle] = (km, at, market)
                break
        if vehicle in found:
            continue
        summed = session.execute(
            select(TelematicsDay.max_odometer_km, TelematicsDay.last_at, TelematicsDay.market)
            .where(
                TelematicsDay.vehicle_id == vehicle,
                TelematicsDay.max_odometer_km.is_not(None),
            )
            .order_by(TelematicsDay.day.desc())
            .limit(1)
        ).first()
        if summed is not None and summed[0] is not None:
            found[vehicle] = (summed[0], summed[1], summed[2])
    return found


def lamp_of(event: VehicleEvent) -> str:
    """The lamp a warning event reports (``payload.lamp``), lower case."""
    lamp = event.payload.get("lamp")
    if not isinstance(lamp, str) or not lamp.strip():
        return UNNAMED_LAMP
    return lamp.strip().lower()[:LAMP_CODE_MAX]


def _row(event: VehicleEvent, car: Car, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "market": car.market,
        "vehicle_id": car.id,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "payload": dict(event.payload),
        "created": now,
        "updated": now,
    }


def _insert_new(connection: Connection, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert the rows whose (vehicle, event id) is not stored yet; the ids of those
    inserted. The database's unique key decides (``ON CONFLICT DO NOTHING``), so a delivery
    racing this one can neither fail the batch nor store an event twice.

    SQLite answers with the ids it inserted in one statement. On PostgreSQL that statement
    (one multi-row ``VALUES … RETURNING``) costs psycopg more to prepare than the insert
    takes, so the keys stored before are asked first, in one statement of two arrays, and
    the rest go in by psycopg's pipelined ``executemany``.
    """
    if connection.dialect.name != "postgresql":
        return set(connection.scalars(_INSERT_RETURNING, rows))
    kept = {
        (vehicle, event_id)
        for vehicle, event_id in connection.execute(
            _KEPT_ON_POSTGRES,
            {
                "vehicles": [row["vehicle_id"] for row in rows],
                "event_ids": [row["event_id"] for row in rows],
            },
        )
    }
    new = [row for row in rows if (row["vehicle_id"], row["event_id"]) not in kept]
    if new:
        connection.execute(_INSERT_ON_POSTGRES, new)
    return {row["id"] for row in new}


# Built once: a batch then only binds values to statements SQLAlchemy has compiled and
# cached.
_INSERT_RETURNING = (
    sqlite.insert(TelematicsEvent)
    .on_conflict_do_nothing(index_elements=["vehicle_id", "event_id"])
    .returning(TelematicsEvent.id)
)
_INSERT_ON_POSTGRES = postgresql.insert(TelematicsEvent).on_conflict_do_nothing(
    index_elements=["vehicle_id", "event_id"]
)
# The (vehicle, event id) pairs asked for as two arrays zipped by ``unnest``, each looked up
# in the unique key: the statement's text is the same for every batch, and its cost does
# not grow with the events a vehicle has stored.
_ASKED = select(
    func.unnest(bindparam("vehicles", type_=postgresql.ARRAY(Uuid()))).label("vehicle_id"),
    func.unnest(bindparam("event_ids", type_=postgresql.ARRAY(String()))).label("event_id"),
).subquery()
_KEPT_ON_POSTGRES = select(TelematicsEvent.vehicle_id, TelematicsEvent.event_id).join(
    _ASKED,
    (TelematicsEvent.vehicle_id == _ASKED.c.vehicle_id)
    & (TelematicsEvent.event_id == _ASKED.c.event_id),
)
