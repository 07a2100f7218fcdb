"""Residency for front ends: where each market's data is placed, what sits elsewhere,
moving it to its placement, and the transfer assessments exports rest on.

:mod:`regiocrm.residency.relocation` surveys the zones and moves the rows; this module
turns what it finds into views and keeps the assessments.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.models import DataClass, TransferAssessment
from regiocrm.models.base import utcnow
from regiocrm.residency.exports import FILE
from regiocrm.residency.relocation import (
    DEFAULT_BATCH,
    Migration,
    Move,
    Moved,
    Status,
    ZoneSurvey,
    plan,
    survey,
)
from regiocrm.services.application import Application

ANY_DESTINATION = "*"


@dataclass(frozen=True)
class Placement:
    """Where one class of a market's data is kept, the zones its rules allow, and what an
    export of it needs."""

    market: str
    data_class: str
    zone: str
    allowed: tuple[str, ...]
    export_requires: tuple[str, ...]
    pack: str

    def as_json(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "data_class": self.data_class,
            "zone": self.zone,
            "allowed": list(self.allowed),
            "export_requires": list(self.export_requires),
            "pack": self.pack,
        }


@dataclass(frozen=True)
class Holdings:
    """The rows one zone holds of one market and data class with one status, in total and
    per table."""

    market: str
    data_class: str
    rows: int
    placement: str | None
    status: str
    tables: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "market": self.market,
            "data_class": self.data_class,
            "rows": self.rows,
            "placement": self.placement,
            "status": self.status,
            "tables": dict(self.tables),
        }


@dataclass(frozen=True)
class ZoneReport:
    """What one zone holds; an unreachable zone says why (``error``) and holds nothing
    known."""

    zone: str
    url: str
    error: str | None
    holdings: tuple[Holdings, ...]

    @property
    def reachable(self) -> bool:
        return self.error is None

    @classmethod
    def of(cls, zone_survey: ZoneSurvey) -> ZoneReport:
        grouped: dict[tuple[str, str, str | None, str], tuple[int, dict[str, int]]] = {}
        for holding in zone_survey.holdings:
            key = (holding.market, holding.data_class, holding.placement, holding.status.value)
            rows, tables = grouped.get(key, (0, {}))
            tables[holding.table] = tables.get(holding.table, 0) + holding.rows
            grouped[key] = (rows + holding.rows, tables)
        holdings = tuple(
            Holdings(market, data_class, rows, placement, status, tables)
            for (market, data_class, placement, status), (rows, tables) in grouped.items()
        )
        return cls(zone_survey.zone, zone_survey.url, zone_survey.error, holdings)

    def as_json(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "url": self.url,
            "reachable": self.reachable,
            "error": self.error,
            "holdings": [holding.as_json() for holding in self.holdings],
        }


@dataclass(frozen=True)
class ResidencyReport:
    """Every zone's rows against the placements."""

    zones: tuple[ZoneReport, ...]

    @property
    def misplaced_rows(self) -> int:
        """Rows not where today's placement puts them (misplaced, forbidden or unplaced)."""
        return sum(
            holding.rows
            for zone in self.zones
            for holding in zone.holdings
            if holding.status != Status.OK.value
        )

    @property
    def unreachable_zones(self) -> list[str]:
        return [zone.zone for zone in self.zones if not zone.reachable]

    def as_json(self) -> dict[str, Any]:
        return {
            "zones": [zone.as_json() for zone in self.zones],
            "misplaced_rows": self.misplaced_rows,
            "unreachable_zones": self.unreachable_zones,
        }


@dataclass(frozen=True)
class MoveView:
    """Rows of one table and market to go from one zone to another; ``market`` is ``None``
    for a directory table, which moves whole."""

    table: str
    data_class: str
    market: str | None
    source: str
    target: str
    rows: int
    status: str
    detail: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, move: Move) -> MoveView:
        return cls(
            move.model.__tablename__,
            move.data_class,
            move.market,
            move.source,
            move.target,
            move.rows,
            move.status.value,
            move.as_dict(),
        )

    def as_json(self) -> dict[str, Any]:
        return self.detail


@dataclass(frozen=True)
class MigrationPlan:
    """The moves that bring every row (or those asked for) to its placement, parents
    first; hand it back to :meth:`ResidencyService.migrate` to carry it out.

    :param planned: the same moves as :mod:`regiocrm.residency.relocation` carries them out.
    """

    moves: tuple[MoveView, ...]
    planned: tuple[Move, ...] = field(repr=False)

    @property
    def rows(self) -> int:
        return sum(move.rows for move in self.moves)


@dataclass(frozen=True)
class MovedView:
    """What one move did: the rows copied, verified and removed from the source, the
    checksum both sides agreed on, and the rows left in the source because the target
    holds another row with the same unique key."""

    move: MoveView
    rows: int
    checksum: str
    conflicts: tuple[uuid.UUID, ...]
    detail: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, moved: Moved) -> MovedView:
        return cls(
            MoveView.of(moved.move),
            moved.rows,
            moved.checksum,
            tuple(moved.conflicts),
            moved.as_dict(),
        )

    def as_json(self) -> dict[str, Any]:
        return self.detail


@dataclass(frozen=True)
class NewAssessment:
    """An approved transfer assessment to record, for one or more data classes.

    :param destination: a zone, :data:`~regiocrm.residency.exports.FILE`, or
        :data:`ANY_DESTINATION`.
    :param approved_on: ``None`` for today.
    :param expires_on: the last day it is valid; ``None`` for never.
    """

    market: str
    data_classes: tuple[str, ...]
    destination: str
    reference: str
    approved_on: date | None = None
    expires_on: date | None = None


@dataclass(frozen=True)
class AssessmentView:
    """A recorded transfer assessment, and whether it is valid on the day it was read."""

    id: uuid.UUID
    market: str
    data_class: str
    destination: str
    reference: str
    approved_on: date
    expires_on: date | None
    valid: bool

    @classmethod
    def of(cls, assessment: TransferAssessment, today: date) -> AssessmentView:
        expires = assessment.expires_on
        return cls(
            assessment.id,
            assessment.market,
            assessment.data_class.value,
            assessment.destination,
            assessment.reference,
            assessment.approved_on,
            expires,
            assessment.approved_on <= today and (expires is None or expires >= today),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "market": self.market,
            "data_class": self.data_class,
            "destination": self.destination,
            "reference": self.reference,
            "approved_on": self.approved_on.isoformat(),
            "expires_on": None if self.expires_on is None else self.expires_on.isoformat(),
            "valid": self.valid,
        }


class AssessmentError(Exception):
    """An assessment that cannot be recorded as given; nothing was stored."""


class ResidencyService:
    """Residency as the deployment's operator sees and changes it (every market)."""

    def __init__(self, app: Application) -> None:
        self.app = app

    @property
    def data_classes(self) -> list[str]:
        """The data classes residency rules speak of: the registered entities', a plugin's
        own included."""
        return [data_class.value for data_class in self.app.stores.entities.data_classes()]

    @property
    def report_classes(self) -> list[str]:
        """What the report and a migration call a table's rows: its data class, or
        ``directory`` and ``export`` for the tables placed otherwise."""
        return [*self.data_classes, "directory", "export"]

    @property
    def destinations(self) -> list[str]:
        """Where an assessment may allow a transfer to: a zone, a file, or anywhere."""
        return [*self.app.stores.names, FILE, ANY_DESTINATION]

    def placements(self) -> list[Placement]:
        """Every served market's data classes, by market and class."""
        residency = self.app.stores.residency
        return [
            Placement(
                market,
                data_class.value,
                residency.placement[market, data_class],
                tuple(rule.zones),
                tuple(rule.export_requires),
                rule.pack,
            )
            for (market, data_class), rule in sorted(residency.rules.items())
        ]

    def report(self) -> ResidencyReport:
        """Every zone's rows per market and data class against the placements; a zone that
        cannot be read is reported with the reason."""
        return ResidencyReport(tuple(ZoneReport.of(found) for found in survey(self.app.stores)))

    def plan(self, *, market: str | None = None, data_class: str | None = None) -> MigrationPlan:
        """What a migration would move: every row not in its placement, or only those of a
        market (the directory then stays) or of a class (see :attr:`report_classes`).

        :raises regiocrm.platform.stores.ZoneError: when a zone cannot be surveyed: moving
            blind could miss rows.
        """
        moves = plan(survey(self.app.stores), market=market, data_class=data_class)
        return MigrationPlan(tuple(MoveView.of(move) for move in moves), tuple(moves))

    def migrate(
        self,
        migration_plan: MigrationPlan,
        *,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Callable[[MoveView, int], None] | None = None,
    ) -> list[MovedView]:
        """Carry out a plan, batch by batch, each copied, verified and removed from its
        source; safe to stop and run again. ``residency_moved`` announces each move.

        :param on_batch: called after each batch with its move and the rows it moved.
        :raises regiocrm.platform.stores.ZoneError: when a zone cannot be reached: nothing
            unverified was deleted.
        :raises regiocrm.residency.relocation.MigrationError: when a copy does not read
            back as its source.
        :raises regiocrm.residency.rules.ResidencyError: for a row its target refuses.
        """

        def advance(move: Move, rows: int) -> None:
            if on_batch is not None:
                on_batch(MoveView.of(move), rows)

        migration = Migration(
            self.app.stores, self.app.hooks, batch_size=batch_size, on_batch=advance
        )
        return [MovedView.of(moved) for moved in migration.run(migration_plan.planned)]

    def record_assessment(self, new: NewAssessment) -> list[AssessmentView]:
        """Record an approved transfer assessment, one row (and one audit record) per data
        class it covers.

        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        :raises AssessmentError: for an unknown data class or destination, an expiry
            before the approval, or a blank reference; nothing is stored.
        """
        self.app.hooks.packs().for_market(new.market)
        classes = list(dict.fromkeys(new.data_classes))
        unknown = [value for value in classes if value not in self.data_classes]
        if not classes or unknown:
            raise AssessmentError(
                f"an assessment covers one or more of {', '.join(self.data_classes)}"
                + (f", not {', '.join(map(repr, unknown))}" if unknown else "")
            )
        if new.destination not in self.destinations:
            raise AssessmentError(
                f"{new.destination!r} is not a zone ({', '.join(self.app.stores.names)}),"
                f" {FILE!r} or {ANY_DESTINATION!r}"
            )
        today = utcnow().date()
        approved_on = new.approved_on or today
        if new.expires_on is not None and new.expires_on < approved_on:
            raise AssessmentError("it expires before it was approved")
        if not new.reference.strip():
            raise AssessmentError("the reference is blank")
        with self.app.transaction() as session:
            recorded = []
            for value in classes:
                assessment = TransferAssessment(
                    market=new.market,
                    data_class=DataClass(value),
                    destination=new.destination,
                    reference=new.reference.strip(),
                    approved_on=approved_on,
                    expires_on=new.expires_on,
                )
                session.add(assessment)
                session.flush()
                audit.record(
                    session,
                    actor_id=None,
                    action="assessment.recorded",
                    subject_type="transfer_assessment",
                    subject=assessment,
                    detail={
                        "data_class": value,
                        "destination": new.destination,
                        "reference": new.reference,
                    },
                )
                recorded.append(AssessmentView.of(assessment, today))
            return recorded

    def assessments(self, *, market: str | None = None) -> list[AssessmentView]:
        """Every recorded transfer assessment (or a market's), and whether it holds today."""
        today = utcnow().date()
        query = select(TransferAssessment).order_by(
            TransferAssessment.market, TransferAssessment.id
        )
        if market is not None:
            query = query.where(TransferAssessment.market == market)
        with self.app.transaction() as session:
            return [AssessmentView.of(found, today) for found in session.scalars(query)]
