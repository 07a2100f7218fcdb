"""Where every row is against where residency places it, and moving the rows a rule change
left behind.

:func:`survey` counts, in every zone, each table's rows per market and tells whether they
sit where the deployment places them (``ok``), in a zone their rules still allow but the
deployment no longer chooses (``misplaced``), in a zone the rules forbid (``forbidden``),
or of a market no installed pack serves (``unplaced``, which nothing can move).

:func:`migrate` moves every misplaced and forbidden row to its placement, one table and
market at a time, in batches taken in id order. Each batch is copied to the target (an
upsert, so a batch copied before a crash is copied again harmlessly), read back and
compared with the source row by row (a checksum of every column), recorded as an audit
event, and only then deleted from the source. Killed at any point, a second run finishes
the work: every row ends up exactly once, in its placement.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from regiocrm.models import AuditEvent, Base, DataClass, Model, PlacedBy
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import derived_id
from regiocrm.platform.migrations import Migrator, one_line
from regiocrm.platform.stores import ZoneError, ZoneStores, table_of
from regiocrm.residency.rules import Residency

DEFAULT_BATCH = 500


class Status(enum.StrEnum):
    OK = "ok"
    MISPLACED = "misplaced"
    FORBIDDEN = "forbidden"
    UNPLACED = "unplaced"


class MigrationError(Exception):
    """A move that could not be completed; the rows it concerns are still in the source."""


def data_class_label(model: type[Model]) -> str:
    """What the report calls a table's rows: its data class, or what places it instead."""
    if model.__placed_by__ is PlacedBy.HOME:
        return "directory"
    if model.__placed_by__ is PlacedBy.DESTINATION:
        return "export"
    return model.__data_class__.value


@dataclass(frozen=True)
class Holding:
    """The rows one zone holds of one table and one market."""

    zone: str
    model: type[Model]
    market: str
    destination: str | None
    rows: int
    placement: str | None
    status: Status

    @property
    def table(self) -> str:
        return self.model.__tablename__

    @property
    def data_class(self) -> str:
        return data_class_label(self.model)


@dataclass(frozen=True)
class ZoneSurvey:
    zone: str
    url: str
    holdings: list[Holding]
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None


def survey(stores: ZoneStores) -> list[ZoneSurvey]:
    """Every zone's rows per registered table and market, against the placements. A zone
    that cannot be read is reported with the reason, not raised."""
    surveys = []
    for zone in stores.names:
        url = stores.url(zone).render_as_string(hide_password=True)
        try:
            with stores.engine(zone).connect() as connection:
                holdings = [
                    holding
                    for model in stores.entities
                    for holding in _holdings(connection, stores.residency, zone, model)
                ]
        except (SQLAlchemyError, ZoneError, OSError) as exc:
            surveys.append(ZoneSurvey(zone, url, [], one_line(exc)))
            continue
        surveys.append(ZoneSurvey(zone, url, holdings))
    return surveys


def _holdings(
    connection: Connection, residency: Residency, zone: str, model: type[Model]
) -> list[Holding]:
    table = table_of(model)
    by = [table.c.market]
    if model.__placed_by__ is PlacedBy.DESTINATION:
        by.append(table.c.destination)
    holdings = []
    for row in connection.execute(select(*by, func.count()).group_by(*by).order_by(*by)):
        market, rows = row[0], row[-1]
        destination = row[1] if len(row) == 3 else None
        placement, status = _status(residency, zone, model, market, destination)
        holdings.append(Holding(zone, model, market, destination, rows, placement, status))
    return holdings


def _status(
    residency: Residency, zone: str, model: type[Model], market: str, destination: str | None
) -> tuple[str | None, Status]:
    values = {"market": market, "destination": destination}
    if model.__placed_by__ is PlacedBy.MARKET and (market, model.__data_class__) not in (
        residency.rules
    ):
        return None, Status.UNPLACED
    placement = residency.zone_of(model, values)
    if zone == placement:
        return placement, Status.OK
    if residency.allows_row(model, values, zone):
        return placement, Status.MISPLACED
    return placement, Status.FORBIDDEN


@dataclass(frozen=True)
class Move:
    """The rows of one table and market that must go from one zone to another; of every
    market (``None``) for a directory table, which moves whole when the home zone does."""

    model: type[Model]
    market: str | None
    source: str
    target: str
    rows: int
    status: Status

    @property
    def data_class(self) -> str:
        return data_class_label(self.model)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.model.__tablename__,
            "data_class": self.data_class,
            "market": self.market or "*",
            "from": self.source,
            "to": self.target,
            "rows": self.rows,
            "status": self.status.value,
        }


@dataclass
class Moved:
    """What one move did: rows copied, verified and removed from the source, and the
    checksum both sides agreed on; rows that collided with another row in the target are
    left in the source and named."""

    move: Move
    rows: int = 0
    checksum: str = ""
    conflicts: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.move.as_dict(),
            "moved": self.rows,
            "checksum": self.checksum,
            "conflicts": [str(row) for row in self.conflicts],
        }


def plan(
    surveys: Iterable[ZoneSurvey],
    *,
    market: str | None = None,
    data_class: str | None = None,
) -> list[Move]:
    """The moves that bring every row to its placement, parents first. The directory moves
    only when no market is named: it moves whole.

    :raises ZoneError: when a zone could not be surveyed: moving blind could miss rows.
    """
    moves: dict[tuple[type[Model], str | None, str, str], Move] = {}
    for zone_survey in surveys:
        if not zone_survey.reachable:
            raise ZoneError(
                f"zone {zone_survey.zone!r} is unreachable: {zone_survey.error}; nothing was moved"
            )
        for holding in zone_survey.holdings:
            if holding.status in (Status.OK, Status.UNPLACED) or holding.placement is None:
                continue
            whole = holding.model.__placed_by__ is PlacedBy.HOME
            if market is not None and (whole or holding.market != market):
                continue
            if data_class is not None and holding.data_class != data_class:
                continue
            key = (
                holding.model,
                None if whole else holding.market,
                holding.zone,
                holding.placement,
            )
            earlier = moves.get(key)
            moves[key] = Move(
                *key,
                holding.rows + (earlier.rows if earlier else 0),
                holding.status,
            )
    order = {table.name: index for index, table in enumerate(Base.metadata.sorted_tables)}
    return sorted(
        moves.values(),
        key=lambda move: (order[move.model.__tablename__], move.market or "", move.source),
    )


Progress = Callable[[Move, int], None]


class Migration:
    """Moves rows between the zones of a deployment, batch by batch.

    :param on_batch: called after each batch with its move and the rows it moved.
    """

    def __init__(
        self,
        stores: ZoneStores,
        hooks: Hooks,
        *,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Progress | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("a batch holds at least one row")
        self.stores = stores
        self.hooks = hooks
        self.batch_size = batch_size
        self.on_batch = on_batch

    def run(self, moves: Sequence[Move]) -> list[Moved]:
        """Carry out the moves; then announce each (market, class, source, target) through
        ``residency_moved``.

        :raises ZoneError: when a zone cannot be reached: nothing unverified was deleted.
        :raises MigrationError: when a copy does not read back as its source.
        """
        self._check_targets({move.target for move in moves})
        done = []
        deferred: list[tuple[Move, list[uuid.UUID]]] = []
        for move in moves:
            if move.model.__placed_by__ is PlacedBy.HOME:
                # The directory's tables refer to each other, organizations to themselves:
                # each is copied whole, parents first, and removed whole once all are copied.
                moved, copied = self._copy_batches(move, limit=None, delete=False)
                deferred.append((move, copied))
            else:
                moved, _ = self._copy_batches(move, limit=self.batch_size, delete=True)
            done.append(moved)
        for move, copied in reversed(deferred):
            self._delete(move.source, table_of(move.model), copied)
        self._announce(done)
        return done

    def _check_targets(self, zones: Iterable[str]) -> None:
        migrator = Migrator(self.stores, self.hooks)
        for zone in sorted(zones):
            state = migrator.state(zone)
            if not state.reachable:
                raise ZoneError(f"zone {zone!r} is unreachable: {state.error}; nothing was moved")
            if not state.migrated:
                raise ZoneError(
                    f"zone {zone!r} is not migrated to head: run `regiocrm db upgrade`;"
                    " nothing was moved"
                )

    def _copy_batches(
        self, move: Move, *, limit: int | None, delete: bool
    ) -> tuple[Moved, list[uuid.UUID]]:
        """Copy, verify and record the move's rows batch by batch, removing each batch from
        the source once verified when ``delete``; the ids copied."""
        moved = Moved(move)
        digest = hashlib.sha256()
        copied_ids: list[uuid.UUID] = []
        after: uuid.UUID | None = None
        while rows := self._batch(move, after, limit):
            after = rows[-1]["id"]
            copied = self._copy(move, rows, moved)
            if copied:
                batch_digest = self._verify(move, copied)
                self._record(move, copied, batch_digest)
                ids = [row["id"] for row in copied]
                if delete:
                    self._delete(move.source, table_of(move.model), ids)
                else:
                    copied_ids += ids
                digest.update(batch_digest.encode())
                moved.rows += len(copied)
            if self.on_batch is not None:
                self.on_batch(move, len(rows))
        moved.checksum = digest.hexdigest()
        return moved, copied_ids

    def _batch(
        self, move: Move, after: uuid.UUID | None, limit: int | None
    ) -> list[dict[str, Any]]:
        table = table_of(move.model)
        query = select(table).order_by(table.c.id).limit(limit)
        if move.market is not None:
            query = query.where(table.c.market == move.market)
        if move.model.__placed_by__ is PlacedBy.DESTINATION:
            query = query.where(table.c.destination == move.target)
        if after is not None:
            query = query.where(table.c.id > after)
        with self.stores.engine(move.source).connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def _copy(self, move: Move, rows: list[dict[str, Any]], moved: Moved) -> list[dict[str, Any]]:
        """Upsert the rows into the target; those that collide with a different row on
        another unique key stay behind, named in ``moved.conflicts``."""
        table = table_of(move.model)
        engine = self.stores.engine(move.target)
        statement = _upsert(table, engine.dialect.name)
        try:
            with engine.begin() as connection:
                connection.execute(statement, rows)
            return rows
        except IntegrityError:
            pass
        copied = []
        with engine.begin() as connection:
            for row in rows:
                try:
                    with connection.begin_nested():
                        connection.execute(statement, row)
                    copied.append(row)
                except IntegrityError:
                    moved.conflicts.append(row["id"])
        return copied

    def _verify(self, move: Move, rows: list[dict[str, Any]]) -> str:
        """The batch's checksum, once the target reads back exactly as the source."""
        table = table_of(move.model)
        ids = [row["id"] for row in rows]
        with self.stores.engine(move.target).connect() as connection:
            stored = {
                row["id"]: row
                for row in (
                    dict(found._mapping)
                    for found in connection.execute(select(table).where(table.c.id.in_(ids)))
                )
            }
        source = checksum(rows)
        target = checksum(stored[row_id] for row_id in ids if row_id in stored)
        if len(stored) != len(ids) or source != target:
            raise MigrationError(
                f"{table.name} rows {ids[0]}..{ids[-1]} of {move.market or 'every market'}"
                " do not read back from"
                f" zone {move.target!r} as they are in {move.source!r}; nothing of them was deleted"
            )
        return source

    def _record(self, move: Move, rows: list[dict[str, Any]], batch_checksum: str) -> None:
        """One audit event per batch, in the market's audit zone; the same batch moved again
        after a crash finds its event instead of adding one."""
        first, last = rows[0]["id"], rows[-1]["id"]
        # The directory's moves are the deployment's own business: its market's audit trail.
        market = move.market or self.stores.settings.deployment.market
        zone = self.stores.residency.zone_for(market, DataClass.AUDIT)
        event = {
            "id": derived_id(first, f"residency.moved:{move.target}:{last}"),
            "market": market,
            "occurred_at": utcnow(),
            "actor_id": None,
            "action": "residency.moved",
            "subject_type": move.model.__tablename__,
            "subject_id": None,
            "detail": {
                "data_class": move.data_class,
                "from": move.source,
                "to": move.target,
                "rows": str(len(rows)),
                "first_id": str(first),
                "last_id": str(last),
                "checksum": batch_checksum,
            },
            "created": utcnow(),
            "updated": utcnow(),
        }
        engine = self.stores.engine(zone)
        table = table_of(AuditEvent)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        with engine.begin() as connection:
            connection.execute(
                dialect.insert(table).on_conflict_do_nothing(index_elements=["id"]), event
            )

    def _delete(self, zone: str, table: Table, ids: list[uuid.UUID]) -> None:
        """Remove the rows in one statement: a table referring to itself is checked once,
        at its end."""
        if ids:
            with self.stores.engine(zone).begin() as connection:
                connection.execute(table.delete().where(table.c.id.in_(ids)))

    def _announce(self, done: list[Moved]) -> None:
        totals: dict[tuple[str, str, str, str], int] = {}
        for moved in done:
            move = moved.move
            key = (move.market or "*", move.data_class, move.source, move.target)
            totals[key] = totals.get(key, 0) + moved.rows
        for (market, data_class, source, target), rows in totals.items():
            if rows:
                self.hooks.residency_moved(
                    market=market, data_class=data_class, source=source, target=target, rows=rows
                )


def _upsert(table: Table, dialect_name: str) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            column.name: statement.excluded[column.name]
            for column in table.columns
            if column.name != "id"
        },
    )


def checksum(rows: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 over every column of every row, in the order given, each value in one written
    form whichever database it was read from."""
    digest = hashlib.sha256()
    for row in rows:
        canonical = {name: json_value(value) for name, value in row.items()}
        digest.update(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def json_value(value: Any) -> Any:
    """A column's value in the one form JSON can hold and every database agrees on."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return repr(value)
    return value
