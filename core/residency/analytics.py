"""The analytics export: every registered entity's rows as Parquet, for DuckDB, Spark or Trino.

Files are laid out in hive-style partitions, one file per zone, table and day (the UTC day
the row was created)::

    DIR/zone=cn/table=interactions/day=2026-12-01/part-0.parquet

By default the export is pseudonymised: what each column holds about a person
(:mod:`regiocrm.models.personal`) decides whether it leaves in clear, as a keyed hash
(HMAC-SHA256 with ``[analytics] pseudonym_key``: the same key gives the same hashes in
every export, so joins work across tables and exports, and without the key no hash leads
back to an id) or not at all. Credentials never leave.

With personal data, every column but the credentials leaves in clear, and only as the
residency rules allow data to leave the deployment (the rules ``regiocrm export customer``
follows, for a file): every market and class of data in the export needs what its rule
requires, an approved transfer assessment for ``file`` and, where consent is required,
every customer of the market's consent to export to ``file``. What is missing is named, and
refuses the whole export. Exports and refusals are both audited, in each market's trail.

A partition is written to a pending file beside it and takes its name only once every
partition is written and the export audited, so a reader never sees half a day and a
failed export changes nothing. ``since`` rewrites only the days from that date on.
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import SecretStr
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Uuid,
    func,
    select,
    type_coerce,
)
from sqlalchemy.types import TypeDecorator

from regiocrm.crm.customers import Customers, consent_in_force
from regiocrm.models import AuditEvent, Customer, DataClass, Model
from regiocrm.models.base import utcnow
from regiocrm.models.personal import Personal, personal_of
from regiocrm.platform.files import PRIVATE
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession, ZoneStores, table_of
from regiocrm.residency.exports import EXPORT_PURPOSE, FILE, Exports
from regiocrm.residency.rules import ResidencyError

FORMAT = "regiocrm.analytics-export/1"
MANIFEST = "regiocrm-analytics.json"
PART = "part-0.parquet"
# Rows read and written at a time: memory stays bounded whatever a table holds.
CHUNK_ROWS = 10_000
PRIVATE_FOLDER = 0o700
# How many customers without consent a refusal names, of however many there are.
NAMED_AT_MOST = 3


class AnalyticsError(Exception):
    """An analytics export that cannot be made as asked; nothing was written."""


class AnalyticsRefused(AnalyticsError):
    """The residency rules do not let the personal data leave; ``missing`` says why."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            _("analytics export with personal data refused: {reasons}").format(
                reasons="; ".join(self.missing)
            )
        )


class Pseudonyms:
    """Keyed hashes (HMAC-SHA256, hex) of ids and other person keys."""

    def __init__(self, key: SecretStr) -> None:
        self._base = hmac.new(key.get_secret_value().encode(), digestmod=hashlib.sha256)
        # Names the key in the manifest without revealing it: a second export to the same
        # folder with another key would break every join, and is refused.
        self.key_id = self.of("regiocrm analytics key id")[:16]

    def of(self, value: object) -> str:
        """The keyed hash of ``value``: of an id's 32 hex digits, of anything else's text."""
        return self._digest(value.hex if isinstance(value, uuid.UUID) else str(value))

    def of_stored_id(self, value: uuid.UUID | str) -> str:
        """The keyed hash of an id as the database hands it over unconverted: SQLite's 32
        hex digits, or PostgreSQL's uuid (parsing each into a UUID first cost a third of
        the export's time)."""
        if isinstance(value, uuid.UUID):
            return self._digest(value.hex)
        return self._digest(value.replace("-", "").lower())

    def _digest(self, text: str) -> str:
        digest = self._base.copy()
        digest.update(text.encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class ColumnPlan:
    """One column as it leaves: its name, its Arrow type and how a value is converted."""

    name: str
    type: pa.DataType
    convert: Callable[[Any], Any]
    #: read as the database stores it, without the column type's conversion
    raw: bool = False


@dataclass(frozen=True)
class TablePlan:
    """What of a table leaves, and how: the columns kept, in the table's order."""

    model: type[Model]
    columns: tuple[ColumnPlan, ...]
    positions: tuple[int, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])


def plan_table(model: type[Model], pseudonyms: Pseudonyms | None) -> TablePlan:
    """The columns of ``model`` an export carries: with ``pseudonyms`` (the default
    export) personal columns are left out and keys hashed; without (personal data
    allowed) every column leaves in clear. Credentials never leave.

    :raises ValueError: for a column whose declared ``personal`` is no
        :class:`~regiocrm.models.personal.Personal`.
    """
    columns: list[ColumnPlan] = []
    positions: list[int] = []
    for position, column in enumerate(table_of(model).columns):
        kind = personal_of(column)
        if kind is Personal.CREDENTIAL or (pseudonyms is not None and kind is Personal.YES):
            continue
        if pseudonyms is not None and kind is Personal.KEY:
            if isinstance(column.type, Uuid):
                columns.append(
                    ColumnPlan(column.name, pa.string(), _hashed(pseudonyms.of_stored_id), raw=True)
                )
            else:
                columns.append(ColumnPlan(column.name, pa.string(), _hashed(pseudonyms.of)))
        else:
            arrow_type, convert = _arrow_type(column)
            columns.append(ColumnPlan(column.name, arrow_type, convert))
        positions.append(position)
    return TablePlan(model, tuple(columns), tuple(positions))


def _hashed(hash_of: Callable[[Any], str]) -> Callable[[Any], Any]:
    def convert(value: Any) -> str | None:
        return None if value is None else hash_of(value)

    return convert


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.value if isinstance(value, enum.Enum) else value)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _number(value: Any) -> Any:
    # SQLite hands back what it stored; a Numeric column may come as float or text.
    return None if value is None else Decimal(str(value))


def _arrow_type(column: Column[Any]) -> tuple[pa.DataType, Callable[[Any], Any]]:
    """The Arrow type of a column's values, and how a value becomes one."""
    stored = column.type
    if isinstance(stored, TypeDecorator):
        stored = stored.impl_instance
    if isinstance(stored, Uuid | Enum):
        return pa.string(), _text
    if isinstance(stored, DateTime):
        return pa.timestamp("us", tz="UTC"), _same
    if isinstance(stored, Date):
        return pa.date32(), _same
    if isinstance(stored, Boolean):
        return pa.bool_(), _same
    if isinstance(stored, Integer):
        return pa.int64(), _same
    if isinstance(stored, Float):
        return pa.float64(), _same
    if isinstance(stored, Numeric) and stored.precision is not None:
        return pa.decimal128(stored.precision, stored.scale or 0), _number
    if isinstance(stored, JSON):
        return pa.string(), _json
    return pa.string(), _text


@dataclass
class AnalyticsExport:
    """An analytics export made: where, how, the files and the rows of each zone's tables."""

    destination: Path
    with_personal_data: bool
    since: date | None
    files: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    basis: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": str(self.destination),
            "with_personal_data": self.with_personal_data,
            "since": None if self.since is None else self.since.isoformat(),
            "files": [str(path.relative_to(self.destination)) for path in self.files],
            "removed": [str(path.relative_to(self.destination)) for path in self.removed],
            "rows": self.rows,
            "total_rows": sum(sum(tables.values()) for tables in self.rows.values()),
            "basis": self.basis,
        }


class Progress(Protocol):
    """Told how far an export is: the rows to write, then the rows as they are written."""

    def started(self, total_rows: int) -> None: ...

    def wrote(self, rows: int, zone: str, table: str) -> None: ...


@dataclass(frozen=True)
class _Pending:
    pending: Path
    final: Path


def export_analytics(
    stores: ZoneStores,
    hooks: Hooks,
    destination: Path,
    *,
    key: SecretStr | None,
    since: date | None = None,
    with_personal_data: bool = False,
    progress: Progress | None = None,
) -> AnalyticsExport:
    """Export every registered entity of every zone into ``destination`` as Parquet.

    :param key: the pseudonym key; needed unless ``with_personal_data``.
    :param since: only the days from this one on (UTC), rewritten; older ones are kept.
    :param with_personal_data: every column in clear, as the residency rules allow.
    :param progress: told of the rows as they are written.
    :raises AnalyticsError: for a destination that is not a writable folder, one holding
        something else or an export made differently, or no pseudonym key.
    :raises AnalyticsRefused: when the rules do not let the personal data leave; the
        refusal is audited.
    """
    pseudonyms = None if with_personal_data else _pseudonyms(key)
    destination = destination.absolute()
    made_folder = not destination.exists()
    _check_destination(destination, pseudonyms)
    result = AnalyticsExport(destination, with_personal_data, since)
    start = None if since is None else datetime.combine(since, time(), UTC)
    plans = [plan_table(model, pseudonyms) for model in stores.entities]
    pending: list[_Pending] = []
    detail = {
        "destination": str(destination),
        "with_personal_data": "yes" if with_personal_data else "no",
        "since": "-" if since is None else since.isoformat(),
        "operator": _operator(),
    }
    missing: list[str] = []
    try:
        with stores.session() as session:
            held = _held(session, plans, start)
            markets = sorted({market for _zone, _table, market, _class in held}) or [
                stores.settings.deployment.market
            ]
            if with_personal_data:
                classes = sorted({(market, cls) for _z, _t, market, cls in held})
                result.basis, missing = _basis(session, hooks, classes)
            if not missing:
                if progress is not None:
                    progress.started(sum(held.values()))
                tables_with_rows = {(zone, table) for zone, table, _market, _class in held}
                for zone in stores.names:
                    for plan in plans:
                        table = plan.model.__tablename__
                        written = 0
                        # Most zones hold nothing of most tables: no query for those.
                        if (zone, table) in tables_with_rows:
                            written = _export_table(
                                session, zone, plan, start, destination, pending, progress
                            )
                        result.rows.setdefault(zone, {})[table] = written
                        result.removed += _stale(destination, zone, table, since, pending)
                result.files = sorted(p.final for p in pending)
                _audit(
                    session,
                    markets,
                    "analytics.exported",
                    {
                        **detail,
                        "zones": ", ".join(stores.names),
                        "files": str(len(result.files)),
                        "rows": str(sum(sum(t.values()) for t in result.rows.values())),
                        **{f"basis {key}": value for key, value in result.basis.items()},
                    },
                )
    except BaseException:
        _discard(pending, destination, made_folder)
        raise
    if missing:
        _discard(pending, destination, made_folder)
        with stores.session() as session:
            _audit(
                session,
                markets,
                "analytics.export_refused",
                {**detail, "missing": "; ".join(missing)},
            )
        raise AnalyticsRefused(missing)
    # Committed: the audit holds the export, which now takes its place. The manifest goes
    # first, so a folder with files in it always says how they were made.
    _write_manifest(destination, pseudonyms, stores.names)
    for part in pending:
        os.replace(part.pending, part.final)
    for path in result.removed:
        path.unlink(missing_ok=True)
        with suppress(OSError):
            path.parent.rmdir()
    return result


def _discard(pending: Iterable[_Pending], destination: Path, made_folder: bool) -> None:
    """Remove what a failed or refused export wrote: its pending files, the folders made
    for them that are empty now, and the destination if the export made it."""
    for part in pending:
        part.pending.unlink(missing_ok=True)
        folder = part.pending.parent
        while folder != destination:
            try:
                folder.rmdir()
            except OSError:  # it holds an earlier export's files
                break
            folder = folder.parent
    if made_folder:
        with suppress(OSError):
            destination.rmdir()


def _pseudonyms(key: SecretStr | None) -> Pseudonyms:
    if key is None:
        raise AnalyticsError(
            _(
                "no pseudonym key: set [analytics] pseudonym_key (or"
                " REGIOCRM_ANALYTICS__PSEUDONYM_KEY) to a secret of at least 32 characters,"
                " kept for as long as the exports are used, or export with"
                " --with-personal-data where the rules allow it"
            )
        )
    return Pseudonyms(key)


def _check_destination(destination: Path, pseudonyms: Pseudonyms | None) -> None:
    """Refuse, before anything is read, a destination that cannot take this export."""
    if destination.exists() and not destination.is_dir():
        raise AnalyticsError(_("{path} is not a folder").format(path=destination))
    try:
        destination.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    except OSError as exc:
        raise AnalyticsError(
            _("cannot create {path}: {reason}").format(
                path=destination, reason=exc.strerror or str(exc)
            )
        ) from None
    if not os.access(destination, os.W_OK | os.X_OK):
        raise AnalyticsError(_("{path} is not writable").format(path=destination))
    manifest = destination / MANIFEST
    if not manifest.exists():
        if any(destination.iterdir()):
            raise AnalyticsError(
                _(
                    "{path} is not empty and holds no analytics export: export into a new or"
                    " empty folder"
                ).format(path=destination)
            )
        return
    try:
        made = json.loads(manifest.read_text(encoding="utf-8"))
        pseudonymised, key_id = bool(made["pseudonymised"]), made.get("key_id")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnalyticsError(
            _("cannot read {path}: {reason}").format(path=manifest, reason=exc)
        ) from None
    if pseudonymised != (pseudonyms is not None):
        raise AnalyticsError(
            _(
                "{path} holds an export made {how}: export into another folder, so the two"
                " are not mixed"
            ).format(
                path=destination,
                how=_("pseudonymised") if pseudonymised else _("with personal data"),
            )
        )
    if pseudonyms is not None and key_id != pseudonyms.key_id:
        raise AnalyticsError(
            _(
                "{path} holds an export pseudonymised with another key, whose hashes would not"
                " join with these: export into another folder, or use that key"
            ).format(path=destination)
        )


def _write_manifest(destination: Path, pseudonyms: Pseudonyms | None, zones: list[str]) -> None:
    manifest = {
        "format": FORMAT,
        "pseudonymised": pseudonyms is not None,
        "key_id": None if pseudonyms is None else pseudonyms.key_id,
        "zones": zones,
        "exported_at": utcnow().isoformat(),
    }
    pending = destination / f".{MANIFEST}.{os.getpid()}.part"
    descriptor = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(json.dumps(manifest, indent=2))
    os.replace(pending, destination / MANIFEST)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for the process's user (a container's uid)
        return f"uid {os.getuid()}"


def _where(statement: Select[Any], plan: TablePlan, start: datetime | None) -> Select[Any]:
    """``statement`` limited to the rows created from ``start`` on (all without one)."""
    if start is None:
        return statement
    return statement.where(table_of(plan.model).c.created >= start)


def _held(
    session: ZonedSession, plans: Iterable[TablePlan], start: datetime | None
) -> dict[tuple[str, str, str, DataClass], int]:
    """The rows the export will hold of each (zone, table, market, data class)."""
    held = {}
    for zone in session.stores.names:
        connection = session.zone_connection(zone)
        for plan in plans:
            table = table_of(plan.model)
            statement = _where(select(table.c.market, func.count()), plan, start)
            for market, rows in connection.execute(statement.group_by(table.c.market)):
                held[zone, table.name, market, plan.model.__data_class__] = rows
    return held


def _basis(
    session: ZonedSession, hooks: Hooks, held: Sequence[tuple[str, DataClass]]
) -> tuple[dict[str, str], list[str]]:
    """What lets each (market, class) leave the deployment as a file, and what is missing
    for those it does not: an assessment per class, every customer's consent per market."""
    exports = Exports(session)
    today = utcnow().date()
    basis: dict[str, str] = {}
    missing: list[str] = []
    needs_consent: dict[str, list[str]] = {}
    for market, data_class in held:
        key = f"{market} {data_class.value}"
        try:
            rule = session.residency.rule(market, data_class)
        except ResidencyError as exc:
            missing.append(str(exc))
            continue
        found = []
        for requirement in rule.export_requires:
            if requirement == "consent":
                needs_consent.setdefault(market, []).append(key)
                found.append(_("every customer's consent"))
                continue
            assessed, said = exports.assessed(key, market, data_class, FILE, today)
            (found if assessed else missing).append(said)
        basis[key] = ", ".join(found) or _("pack {pack} requires nothing").format(pack=rule.pack)
    for market, keys in needs_consent.items():
        lacking, total = _without_consent(session, hooks, market)
        if lacking:
            missing.append(
                _(
                    "{keys} data needs each customer's consent to export to {destination}"
                    " (purpose 'export', channel {destination!r} or '*'): {count} of {total}"
                    " customers of {market} have none in force (e.g. {examples})"
                ).format(
                    keys=", ".join(keys),
                    destination=FILE,
                    count=len(lacking),
                    total=total,
                    market=market,
                    examples=", ".join(str(c) for c in lacking[:NAMED_AT_MOST]),
                )
            )
    return basis, missing


def _without_consent(
    session: ZonedSession, hooks: Hooks, market: str
) -> tuple[list[uuid.UUID], int]:
    """The customers of ``market`` (each person once: a merged record counts as its
    survivor) with no consent in force to export to a file, and how many there are."""
    customers = Customers(session, hooks)
    people = list(
        session.scalars(
            select(Customer.id)
            .where(Customer.market == market, Customer.merged_into_id.is_(None))
            .order_by(Customer.id)
        )
    )
    lacking = [
        person
        for person in people
        if consent_in_force(session, customers.merge_set(person), EXPORT_PURPOSE, FILE) is None
    ]
    return lacking, len(people)


def _audit(
    session: ZonedSession,
    markets: Iterable[str],
    action: str,
    detail: dict[str, str],
) -> None:
    """One event per market in the export: each market's trail shows its data leaving."""
    run = new_id()
    for market in markets:
        session.add(
            AuditEvent(
                market=market,
                actor_id=None,
                action=action,
                subject_type="analytics_export",
                subject_id=run,
                detail=detail,
            )
        )


def _partition(destination: Path, zone: str, table: str, day: date) -> Path:
    """The day's folder, made (each level its owner's alone) if it is not there yet."""
    folder = destination
    for level in (f"zone={zone}", f"table={table}", f"day={day.isoformat()}"):
        folder = folder / level
        folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
    return folder


def _export_table(
    session: ZonedSession,
    zone: str,
    plan: TablePlan,
    start: datetime | None,
    destination: Path,
    pending: list[_Pending],
    progress: Progress | None,
) -> int:
    """Write one zone's rows of one table, a pending file per day; the rows written."""
    table = table_of(plan.model)
    read = [
        type_coerce(table.columns[position], String()) if column.raw else table.columns[position]
        for position, column in zip(plan.positions, plan.columns, strict=True)
    ]
    statement = _where(select(*read, table.c.created), plan, start).order_by(
        table.c.created, table.c.id
    )
    # Per statement: options set on the connection would stay with it, and the audit
    # written on it after would go through a server-side cursor too.
    result = session.zone_connection(zone).execute(
        statement, execution_options={"yield_per": CHUNK_ROWS}
    )
    schema = plan.schema
    writer: pq.ParquetWriter | None = None
    day: date | None = None
    written = 0
    try:
        for chunk in result.partitions():
            for rows in _by_day(chunk):
                row_day = _day(rows[0])
                if row_day != day:
                    if writer is not None:
                        writer.close()
                    day = row_day
                    writer = _open(_partition(destination, zone, table.name, day), schema, pending)
                assert writer is not None
                writer.write_batch(_batch(plan, schema, rows))
                written += len(rows)
                if progress is not None:
                    progress.wrote(len(rows), zone, table.name)
    finally:
        if writer is not None:
            writer.close()
    return written


def _by_day(chunk: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """The chunk's rows (ordered by their creation, the last column) in runs of one day."""
    start = 0
    for index in range(1, len(chunk) + 1):
        if index == len(chunk) or _day(chunk[index]) != _day(chunk[start]):
            yield chunk[start:index]
            start = index


def _day(row: Any) -> date:
    created: datetime = row[-1]
    return created.astimezone(UTC).date()


def _open(folder: Path, schema: pa.Schema, pending: list[_Pending]) -> pq.ParquetWriter:
    """A writer of the day's pending file, made private before anything is in it."""
    path = folder / f".{PART}.{uuid.uuid4().hex}.part"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    pending.append(_Pending(path, folder / PART))
    return pq.ParquetWriter(str(path), schema)


def _batch(plan: TablePlan, schema: pa.Schema, rows: Sequence[Any]) -> pa.RecordBatch:
    arrays = [
        pa.array([column.convert(row[index]) for row in rows], type=column.type)
        for index, column in enumerate(plan.columns)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _stale(
    destination: Path, zone: str, table: str, since: date | None, pending: list[_Pending]
) -> list[Path]:
    """An earlier export's files of days this one covers but holds no rows for (their rows
    were deleted or moved to another zone): removed, so the export shows the deployment."""
    folder = destination / f"zone={zone}" / f"table={table}"
    if not folder.is_dir():
        return []
    fresh = {p.final for p in pending}
    stale = []
    for day_folder in folder.iterdir():
        try:
            day = date.fromisoformat(day_folder.name.removeprefix("day="))
        except ValueError:
            continue
        part = day_folder / PART
        if (since is None or day >= since) and part.exists() and part not in fresh:
            stale.append(part)
    return stale
