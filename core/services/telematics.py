"""The connected car for front ends and stream sources: vehicle events stored in batches.

:meth:`TelematicsService.ingest` is the :data:`~regiocrm.interfaces.events.EventSink` every
way in shares (the batch API, the MQTT and JetStream sources): it returns only once the
batch is committed, and raises when it could not be, so nothing of it is acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from regiocrm.crm.telematics import EventRules, Telematics
from regiocrm.interfaces.events import VehicleEvent
from regiocrm.services.application import Application


@dataclass(frozen=True)
class Ingested:
    """What became of a batch.

    :param stored: events stored now.
    :param duplicates: events stored before (a redelivery, or twice in the batch): no-ops.
    :param unknown_vehicles: events of a VIN the deployment has no vehicle for, not stored.
    :param unknown_vins: those VINs, for the provider to check.
    :param leads: leads the stored events made (a service due, for the servicing dealer).
    :param cases: cases the stored events made (a warning lamp).
    """

    stored: int
    duplicates: int
    unknown_vehicles: int
    unknown_vins: tuple[str, ...] = ()
    leads: int = 0
    cases: int = 0

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "unknown_vins": list(self.unknown_vins)}


class TelematicsService:
    """Vehicle events: each method one transaction, committed before it returns."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def ingest(self, events: Sequence[VehicleEvent]) -> Ingested:
        """Store a batch, each event in the zone residency places its vehicle's telematics
        in, all of it in one commit per zone; an event stored before is a no-op. The pack's
        rules make their leads and cases of the events stored, in the same transaction, so
        a redelivered event makes none twice; their hooks fire once it is committed.

        :raises sqlalchemy.exc.SQLAlchemyError: when the batch could not be committed
            (nothing of it is then kept in that zone; a source must not acknowledge it).
        """
        if not events:
            return Ingested(0, 0, 0)
        app = self.app
        with app.transaction() as session:
            batch = Telematics(session).store(events)
            acted = EventRules(session, app.hooks, app.maps, app.dealers).act(batch.stored)
        return Ingested(
            stored=len(batch.stored),
            duplicates=batch.duplicates,
            unknown_vehicles=batch.unknown_events,
            unknown_vins=tuple(batch.unknown_vins),
            leads=len(acted.leads),
            cases=len(acted.cases),
        )
