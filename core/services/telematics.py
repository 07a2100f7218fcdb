"""The connected car for front ends and stream sources: vehicle events stored in batches.

:meth:`TelematicsService.ingest` is the :data:`~regiocrm.interfaces.events.EventSink` every
way in shares (the batch API, the MQTT and JetStream sources): it returns only once the
batch is committed, and raises when it could not be, so nothing of it is acknowledged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from regiocrm.crm import audit
from regiocrm.crm.access import rows_in
from regiocrm.crm.customers import Customers
from regiocrm.crm.telematics import EventRules, Telematics
from regiocrm.crm.telematics_rollup import roll_up_chunk
from regiocrm.interfaces.events import VehicleEvent
from regiocrm.interfaces.terms import UserRole
from regiocrm.models import Ownership, TelematicsEvent, Vehicle
from regiocrm.models.base import utcnow
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customer_views import CustomerTelematics

# Who may hand the deployment vehicle events: a provider for its market, and those who run
# the deployment (a replay, a test drive) for any.
POSTERS = (UserRole.TELEMATICS_PROVIDER, UserRole.ADMIN, UserRole.COMPETENCE_CENTRE)


@dataclass(frozen=True)
class Ingested:
    """What became of a batch.

    :param stored: events stored now.
    :param duplicates: events stored before (a redelivery, or twice in the batch): no-ops.
    :param unknown_vehicles: events of a VIN the deployment has no vehicle for, not stored.
    :param unknown_vins: those VINs, for the provider to check.
    :param leads: leads the stored events made (a service due, for the servicing dealer).
    :param cases: cases the stored events made (a warning lamp).
    :param expired: events older than their market keeps raw events, not stored (their
        day may be summed already).
    """

    stored: int
    duplicates: int
    unknown_vehicles: int
    unknown_vins: tuple[str, ...] = ()
    leads: int = 0
    cases: int = 0
    expired: int = 0

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "unknown_vins": list(self.unknown_vins)}


@dataclass(frozen=True)
class Retained:
    """A market's raw events in one zone that are past its retention: how many, and the
    moment before which an event is past it."""

    market: str
    zone: str
    retention_days: int
    before: datetime
    events: int

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "before": self.before.isoformat()}


class TelematicsService:
    """Vehicle events: each method one transaction, committed before it returns."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def post(self, caller: Caller, events: Sequence[VehicleEvent]) -> Ingested:
        """Store a batch a caller posts, as :meth:`ingest` does: a telematics provider's
        events of vehicles of its organization's market alone (any other VIN is counted
        unknown, so a provider learns nothing of other markets' vehicles).

        :raises regiocrm.crm.access.Forbidden: for a role that does not post vehicle events.
        """
        caller.scope.require(*POSTERS)
        markets = caller.scope.markets if caller.role is UserRole.TELEMATICS_PROVIDER else None
        return self.ingest(events, markets=markets)

    def ingest(
        self, events: Sequence[VehicleEvent], *, markets: frozenset[str] | None = None
    ) -> Ingested:
        """Store a batch, each event in the zone residency places its vehicle's telematics
        in, all of it in one commit per zone; an event stored before is a no-op. The pack's
        rules make their leads and cases of the events stored, in the same transaction, so
        a redelivered event makes none twice; their hooks fire once it is committed.

        :param markets: only vehicles of these markets (others count as unknown VINs).
        :raises sqlalchemy.exc.SQLAlchemyError: when the batch could not be committed
            (nothing of it is then kept in that zone; a source must not acknowledge it).
        """
        if not events:
            return Ingested(0, 0, 0)
        app = self.app
        with app.transaction() as session:
            now = utcnow()
            batch = Telematics(session).store(
                events,
                markets,
                kept_since=lambda market: now - timedelta(days=self.retention_days(market)),
            )
            acted = EventRules(session, app.hooks, app.maps, app.dealers).act(batch.stored)
        return Ingested(
            stored=len(batch.stored),
            duplicates=batch.duplicates,
            unknown_vehicles=batch.unknown_events,
            unknown_vins=tuple(batch.unknown_vins),
            leads=len(acted.leads),
            cases=len(acted.cases),
            expired=batch.expired,
        )

    def of_customer(self, caller: Caller, customer_id: uuid.UUID) -> CustomerTelematics:
        """What the vehicles the caller sees the customer (and the records merged into
        them) own report: each one's latest mileage and their latest events. Audited as a
        read (``customer.telematics_read``).

        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer, or one the
            caller does not see.
        """
        caller.scope.require_customers()
        with self.app.transaction() as session:
            customers = Customers(session, self.app.hooks)
            customer = customers.visible(customer_id, caller.scope)
            owned = session.scalars(
                select(Ownership.vehicle_id).where(
                    Ownership.customer_id.in_(customers.merge_set(customer.id)),
                    rows_in(caller.scope, Ownership.market, Ownership.dealer_id),
                )
            ).all()
            vins = dict(
                session.execute(select(Vehicle.id, Vehicle.vin).where(Vehicle.id.in_(owned))).all()
            )
            found = CustomerTelematics.read(
                session, self.app.hooks, {vehicle: vins.get(vehicle) for vehicle in owned}
            )
            audit.record(
                session,
                actor_id=caller.user_id,
                action="customer.telematics_read",
                subject_type="customer",
                subject=customer,
                detail={"vehicles": len(owned), "vehicle_events": len(found.events)},
            )
            return found

    def retention_days(self, market: str) -> int:
        """How long the market's raw events are kept: ``[telematics] retention_days`` when
        set, else the market's pack's ``telematics_retention_days``.

        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        chosen = self.app.settings.telematics.retention_days
        return chosen or self.app.hooks.packs().for_market(market).telematics_retention_days

    def past_retention(self, now: datetime | None = None) -> list[Retained]:
        """The raw events past their market's retention, by market and zone (those with
        any): what :meth:`rollup` would sum."""
        now = now or utcnow()
        found = []
        for market, _timezone in self._markets():
            days = self.retention_days(market)
            before = now - timedelta(days=days)
            with self.app.transaction() as session:
                for zone in self.app.stores.names:
                    count = session.zone_connection(zone).scalar(
                        select(func.count()).where(
                            TelematicsEvent.market == market, TelematicsEvent.occurred_at < before
                        )
                    )
                    if count:
                        found.append(Retained(market, zone, days, before, int(count)))
        return found

    def rollup(
        self,
        now: datetime | None = None,
        *,
        on_progress: Callable[[Retained, int], None] | None = None,
    ) -> list[Retained]:
        """Sum the raw events past their market's retention into days (per vehicle, day in
        the market's time zone, and kind) and delete them, a chunk a transaction, so that
        a rollup stopped anywhere and run again counts every event once.

        :param on_progress: called after each committed chunk with its market's work and
            how many events the chunk rolled up.
        :returns: what was past retention, as :meth:`past_retention` found it.
        """
        timezones = dict(self._markets())
        pending = self.past_retention(now)
        for work in pending:
            while True:
                with self.app.transaction() as session:
                    done = roll_up_chunk(
                        session, work.zone, work.market, timezones[work.market], work.before
                    )
                if not done:
                    break
                if on_progress is not None:
                    on_progress(work, done)
        return pending

    def _markets(self) -> Iterator[tuple[str, str]]:
        """Every market the installed packs serve, with its time zone."""
        for pack in self.app.hooks.packs():
            for code, market in pack.markets.items():
                yield code, market.timezone
