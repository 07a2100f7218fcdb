"""Zone stores: one database per zone, and sessions that place every row by residency.

A zone is opened on first use. The embedded default is a SQLite file per zone under the
deployment's ``data_dir``, in WAL mode with foreign keys enforced.

Services work with one :class:`ZonedSession` over every zone. It is SQLAlchemy's
horizontal-sharding session with residency as its shard chooser:

* a new row goes to the zone its market and data class are placed in (the directory of
  organizations, users and tokens to the home zone);
* a row read from a zone stays in that zone when it changes;
* a query reads every zone and merges what they answer, in the statement's order and
  within its limit; a query the zones cannot answer apart (a count, a group, a join of the
  directory with placed rows) is refused rather than answered wrongly.

Under the sessions, every zone's engine carries a write guard: an insert or update that
would leave a row in a zone its rules do not allow is refused before it reaches the
database, whether it comes from the ORM, from Core statements or from a tool.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, partial
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Row,
    Table,
    Update,
    create_engine,
    event,
    inspect,
    literal,
    select,
)
from sqlalchemy.engine import URL, IteratorResult, Result
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.ext.horizontal_shard import ShardedSession, set_shard_id
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql import elements, functions, operators, visitors

from regiocrm.models import Base, Model, PlacedBy
from regiocrm.platform.i18n import _
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.residency.rules import Residency, ResidencyError

if TYPE_CHECKING:
    from regiocrm.platform.entities import Entities
    from regiocrm.platform.hooks import Hooks

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
# How long connecting to a PostgreSQL zone may take (libpq waits for ever by default): a
# database that accepts connections and never answers fails the request, which is then
# answered 503, instead of holding it and the thread serving it. A zone's URL may set its
# own ``?connect_timeout=``.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# The execution option that narrows a query to some zones: ``execution_options(zones=[...])``.
ZONES_OPTION = "zones"


class ZoneError(Exception):
    """A zone that is not configured, or whose database cannot be opened or written."""


class CrossZoneQuery(Exception):
    """A query whose answer cannot be put together from each zone's own answer."""


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite zone URL; ``None`` for any other database."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


def _prepare_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: URL) -> Engine:
    """An engine for one zone, with the SQLite pragmas every connection needs."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _prepare_sqlite)
        return engine
    connect_args = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


@cache
def _models_by_table() -> dict[str, type[Model]]:
    return {
        table_of(mapper.class_).name: mapper.class_
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, Model)
    }


_NOTHING = object()


def _default_of(column: Any) -> Any:
    """The value ``insert`` gives a column a row leaves out (a scalar or a callable's)."""
    default = column.default
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    # A SQL expression or a sequence: a model for bulk inserts must not have one.
    raise TypeError(f"column {column.key} has a default bulk inserts cannot give")


def table_of(model: type[Model]) -> Table:
    """A model's table (the declarative base types it only as a selectable)."""
    return cast("Table", model.__table__)


def model_of(table: Any) -> type[Model] | None:
    """The model a table maps (ORM statements carry annotated copies of it, so it is found
    by name), or ``None`` for a table that is not ours (alembic's)."""
    return _models_by_table().get(table.name)


class ZoneStores:
    """The deployment's zones, opened lazily, its residency and the entities it places.
    Close with :meth:`dispose`."""

    def __init__(
        self, settings: RegiocrmSettings, residency: Residency, entities: Entities
    ) -> None:
        self.settings = settings
        self.residency = residency
        self.entities = entities
        self.urls = settings.zone_urls(residency.placed_zones())
        self._engines: dict[str, Engine] = {}
        self._sessions: sessionmaker[ZonedSession] | None = None

    @classmethod
    def open(cls, settings: RegiocrmSettings, hooks: Hooks) -> ZoneStores:
        """The stores of a deployment whose residency and entities come from the installed
        plugins.

        :raises regiocrm.residency.rules.ResidencyConfigError: for a placement the rules forbid.
        :raises regiocrm.platform.entities.EntityError: for an entity no pack places.
        """
        return cls(settings, Residency.build(hooks.packs(), settings), hooks.entities())

    @property
    def names(self) -> list[str]:
        return list(self.urls)

    @property
    def home(self) -> str:
        return self.settings.home_zone

    def url(self, zone: str) -> URL:
        try:
            return self.urls[zone]
        except KeyError:
            known = ", ".join(self.urls) or _("none")
            raise ZoneError(
                _("unknown zone {zone!r} (configured zones: {known})").format(
                    zone=zone, known=known
                )
            ) from None

    def check_writable(self, zones: Iterable[str] | None = None) -> None:
        """Refuse, before anything is created, a SQLite zone whose file cannot be written.

        :raises ZoneError: naming the zone, the file and the reason.
        """
        for zone in self.names if zones is None else zones:
            path = sqlite_path(self.url(zone))
            if path is not None:
                problem = _sqlite_file_problem(path)
                if problem:
                    raise ZoneError(
                        _("zone {zone!r}: cannot use {path}: {problem}").format(
                            zone=zone, path=path, problem=problem
                        )
                    )

    def engine(self, zone: str) -> Engine:
        if zone not in self._engines:
            url = self.url(zone)
            path = sqlite_path(url)
            if path is not None:
                self.check_writable([zone])
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = make_engine(url)
            event.listen(engine, "before_execute", WriteGuard(zone, self.residency, self.entities))
            self._engines[zone] = engine
        return self._engines[zone]

    def sessionmaker(self) -> sessionmaker[ZonedSession]:
        if self._sessions is None:
            self._sessions = sessionmaker(class_=ZonedSession, stores=self, expire_on_commit=False)
        return self._sessions

    @contextmanager
    def session(self) -> Iterator[ZonedSession]:
        """A session over every zone that commits when the block ends without an
        exception and rolls back otherwise."""
        with self.sessionmaker().begin() as session:
            yield session

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._sessions = None


def _sqlite_file_problem(path: Path) -> str | None:
    if path.exists():
        if not path.is_file():
            return "it exists and is not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return "the file is not writable"
        return None
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    return None


class ZonedSession(ShardedSession):
    """A session over every zone of a deployment, placing rows by residency.

    Core statements on placed tables name their zone: run them on
    :meth:`zone_connection`.
    """

    def __init__(self, stores: ZoneStores, **kwargs: Any) -> None:
        self.stores = stores
        self.residency = stores.residency
        super().__init__(
            shard_chooser=self._zone_of,
            identity_chooser=self._zones_holding,
            execute_chooser=self._zones_read,
            shards={zone: stores.engine(zone) for zone in stores.names},
            **kwargs,
        )

    def zone_connection(self, zone: str) -> Connection:
        """This session's connection to one zone, in its transaction."""
        return self.connection(bind_arguments={"shard_id": zone})

    def insert_rows(self, model: type[Model], rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert new rows of one model, each in the zone residency places it, in bulk:
        what imports write by the thousand.

        Every row names all the columns it sets, the same in each row. The write guard's
        check is made here, once per placement the rows name (they share a few markets),
        before anything is sent; then each zone's rows go in one ``COPY`` on PostgreSQL,
        one ``executemany`` of plain tuples on SQLite, without SQLAlchemy's work per
        parameter set. Columns the rows leave out take their defaults as ``insert`` would
        give them.

        :raises ResidencyError: when a row cannot be placed (nothing is written then).
        """
        if not rows:
            return
        by_zone: dict[str, list[Mapping[str, Any]]] = {}
        placements: dict[tuple[Any, ...], str] = {}
        for row in rows:
            key = (row.get("market"), row.get("destination"))
            zone = placements.get(key)
            if zone is None:
                values = {"market": key[0], "destination": key[1]}
                if model.__placed_by__ is PlacedBy.MARKET and not key[0]:
                    raise ResidencyError(
                        f"a {model.__tablename__} row needs its market to be placed"
                    )
                zone = placements[key] = self.residency.zone_of(model, values)
                if not self.residency.allows_row(model, values, zone):
                    raise ResidencyError(_refusal(self.residency, model, values, zone))
            by_zone.setdefault(zone, []).append(row)
        table = table_of(model)
        names = list(rows[0])
        for zone, placed in by_zone.items():
            connection = self.zone_connection(zone)
            dialect = connection.dialect
            columns = [table.c[name] for name in names]
            defaults = [
                column
                for column in table.c
                if column.key not in rows[0] and column.default is not None
            ]
            processors = [
                (position, process)
                for position, column in enumerate((*columns, *defaults))
                if (process := column.type._cached_bind_processor(dialect)) is not None
            ]
            fixed = [_default_of(column) for column in defaults]
            cells = itemgetter(*names)
            # A batch's rows share many values (its timestamp, market, kinds): each column
            # converts a value again only when it is not the same object as the last.
            last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(processors)
            tuples: list[tuple[Any, ...]] = []
            for row in placed:
                record = [*cells(row), *fixed]
                for index, (position, process) in enumerate(processors):
                    value = record[position]
                    before, converted = last[index]
                    if value is not before:
                        converted = process(value)
                        last[index] = (value, converted)
                    record[position] = converted
                tuples.append(tuple(record))
            quoted = [dialect.identifier_preparer.quote(c.name) for c in (*columns, *defaults)]
            target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(quoted)})"
            if dialect.name == "postgresql":
                cursor = connection.connection.cursor()
                try:
                    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                        for ready in tuples:
                            copy.write_row(ready)
                finally:
                    cursor.close()
            else:
                # Only the table's own names, quoted by the dialect, are in the text.
                marks = ", ".join("?" * len(quoted))
                insert_text = f"INSERT INTO {target} VALUES ({marks})"  # noqa: S608
                connection.exec_driver_sql(insert_text, tuples)

    # where rows go and come from

    def _zone_of(self, mapper: Mapper[Any] | None, instance: Any, clause: Any = None) -> str:
        if mapper is None:
            raise ResidencyError("a statement on no table must name its zone")
        model = mapper.class_
        if instance is not None:
            return self.residency.zone_of(model, _placement_values(instance))
        if model.__placed_by__ is PlacedBy.HOME:
            return self.residency.home
        raise ResidencyError(
            f"a statement on {model.__tablename__} must name its zone:"
            " run it on session.zone_connection(zone)"
        )

    def _zones_holding(self, mapper: Mapper[Any], primary_key: Any, **kw: Any) -> list[str]:
        if mapper.class_.__placed_by__ is PlacedBy.HOME:
            return [self.residency.home]
        return self.stores.names

    def _zones_read(self, context: ORMExecuteState) -> list[str]:
        """The zones a statement runs in: the home zone for the directory, every zone for
        placed rows (wherever a rule let them be written), or those the caller names."""
        named: Sequence[str] | None = context.execution_options.get(ZONES_OPTION)
        if named is not None:
            return list(named)
        models = {model_of(table) for table in _tables(context.statement)} - {None}
        home = {m for m in models if m is not None and m.__placed_by__ is PlacedBy.HOME}
        if home and home == models:
            return [self.residency.home]
        if home:
            raise CrossZoneQuery(
                "a statement joins the directory (home zone) with rows placed by residency:"
                " query them apart"
            )
        return self.stores.names

    # answering a query from several zones

    def _gather(self, context: ORMExecuteState) -> Result[Any] | None:
        if _names_its_zone(context):
            return None
        if context.is_insert:
            # SQLAlchemy's sharding cannot place rows of an ORM bulk insert one by one.
            raise ResidencyError(
                "an ORM bulk INSERT cannot place its rows: add them with session.add_all(),"
                " or insert them on session.zone_connection(zone)"
            )
        if not context.is_select:
            return None
        zones = self._zones_read(context)
        if len(zones) == 1:
            return context.invoke_statement(
                bind_arguments={**context.bind_arguments, "shard_id": zones[0]}
            )
        return self._merged(context, zones)

    def _merged(self, context: ORMExecuteState, zones: list[str]) -> Result[Any]:
        statement: Any = context.statement
        totals = _totals(statement)
        if totals is not None:
            return self._combined(context, zones, totals)
        _refuse_unmergeable(statement)
        columns = statement.column_descriptions
        order = [_order_term(clause) for clause in statement._order_by_clauses]
        keys: list[tuple[Getter, bool]] = []
        extra: list[Any] = []
        for expression, descending in order:
            getter = _getter(statement, columns, expression)
            if getter is None:
                index = len(columns) + len(extra)
                extra.append(expression)
                getter = _column_getter(index)
            keys.append((getter, descending))
        run = statement.add_columns(*extra) if extra else statement
        rows: list[Row[Any]] = []
        for zone in zones:
            rows += context.invoke_statement(
                statement=run, bind_arguments={**context.bind_arguments, "shard_id": zone}
            ).all()
        if (
            len(columns) == 1
            and columns[0]["entity"] is not None
            and columns[0]["expr"] is columns[0]["entity"]
        ):
            rows = self._one_copy_each(rows)
        for getter, descending in reversed(keys):
            rows.sort(key=partial(_sort_key, getter), reverse=descending)
        limit = statement._limit
        if limit is not None:
            rows = rows[:limit]
        width = len(columns)
        data = [tuple(row)[:width] for row in rows]
        return IteratorResult(SimpleResultMetaData([c["name"] for c in columns]), iter(data))

    def _combined(
        self, context: ORMExecuteState, zones: list[str], totals: list[Callable[[list[Any]], Any]]
    ) -> Result[Any]:
        """A row of counts, sums, minimums and maximums over every zone, from each zone's."""
        answers = [
            context.invoke_statement(
                bind_arguments={**context.bind_arguments, "shard_id": zone}
            ).one()
            for zone in zones
        ]
        row = tuple(total([answer[i] for answer in answers]) for i, total in enumerate(totals))
        names = [c["name"] for c in context.statement.column_descriptions]  # type: ignore[attr-defined]
        return IteratorResult(SimpleResultMetaData(names), iter([row]))

    def _one_copy_each(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        """A row found in two zones (a move cut short after its copy) is answered once, from
        the zone it belongs in."""
        chosen: dict[Any, Row[Any]] = {}
        for row in rows:
            state = inspect(row[0])
            if state.identity not in chosen or state.identity_token == self._placement(row[0]):
                chosen[state.identity] = row
        return list(chosen.values())

    def _placement(self, instance: Any) -> str | None:
        try:
            return self.residency.zone_of(type(instance), _placement_values(instance))
        except ResidencyError:
            return None


@event.listens_for(ZonedSession, "do_orm_execute", retval=True)
def _answer_from_zones(context: ORMExecuteState) -> Result[Any] | None:
    # Listening on the class, once, runs this before the handler the sharded session adds
    # to each instance, which it calls once per zone.
    session = context.session
    assert isinstance(session, ZonedSession)
    return session._gather(context)


def _placement_values(instance: Any) -> dict[str, Any]:
    return {
        "market": getattr(instance, "market", None),
        "destination": getattr(instance, "destination", None),
    }


def _names_its_zone(context: ORMExecuteState) -> bool:
    """Whether the statement is already bound to one zone (by the caller, a loaded row's
    zone, or :class:`set_shard_id`)."""
    if "shard_id" in context.bind_arguments or "_sa_shard_id" in context.execution_options:
        return True
    # A row's own loads (a refresh, a deferred column) carry the zone it was loaded from.
    if context.is_select and getattr(context.load_options, "_identity_token", None) is not None:
        return True
    return any(isinstance(option, set_shard_id) for option in context._non_compile_orm_options)


def _tables(statement: Any) -> set[Table]:
    return {element for element in visitors.iterate(statement) if isinstance(element, Table)}


def _present(values: list[Any]) -> list[Any]:
    return [value for value in values if value is not None]


# How each aggregate over every zone follows from the zones' own: NULL where no zone had rows.
_TOTALS: dict[str, Callable[[list[Any]], Any]] = {
    "count": lambda values: sum(_present(values)),
    "sum": lambda values: sum(_present(values)) if _present(values) else None,
    "min": lambda values: min(_present(values), default=None),
    "max": lambda values: max(_present(values), default=None),
}


def _totals(statement: Any) -> list[Callable[[list[Any]], Any]] | None:
    """For a statement selecting only counts, sums, minimums and maximums (no GROUP BY),
    how to combine each column across zones; ``None`` for any other statement."""
    if statement._group_by_clauses or statement._distinct:
        return None
    totals = []
    for column in statement.selected_columns:
        inner = column.element if isinstance(column, elements.Label) else column
        if not isinstance(inner, functions.FunctionElement) or inner.name not in _TOTALS:
            return None
        if any(_is_distinct(argument) for argument in inner.clauses):
            return None
        totals.append(_TOTALS[inner.name])
    return totals


def _is_distinct(argument: Any) -> bool:
    return isinstance(argument, elements.UnaryExpression) and (
        argument.operator is operators.distinct_op or argument.modifier is operators.distinct_op
    )


def _refuse_unmergeable(statement: Any) -> None:
    if statement._group_by_clauses or statement._distinct or statement._offset is not None:
        raise CrossZoneQuery(
            "a query with GROUP BY, DISTINCT or OFFSET cannot be merged across zones:"
            " run it in each zone (execution_options(zones=[zone])) and combine the answers"
        )
    for column in statement.selected_columns:
        inner = column.element if isinstance(column, elements.Label) else column
        if isinstance(inner, functions.FunctionElement):
            raise CrossZoneQuery(
                f"a query selecting {inner} cannot be merged across zones: run it in each"
                " zone (execution_options(zones=[zone])) and combine the answers"
            )
    if len(_tables(statement)) > 1:
        raise CrossZoneQuery(
            "a query over several tables would be joined within each zone only, missing rows"
            " that sit in different zones: query the tables apart"
        )


def _order_term(clause: Any) -> tuple[Any, bool]:
    descending = False
    while isinstance(clause, elements.UnaryExpression):
        descending = descending or clause.modifier is operators.desc_op
        clause = clause.element
    return clause, descending


Getter = Callable[[Row[Any]], Any]


def _getter(statement: Any, columns: list[dict[str, Any]], expression: Any) -> Getter | None:
    """How to read an ORDER BY term from a row: an entity's attribute or a selected column;
    ``None`` when the statement does not select it."""
    for index, (description, selected) in enumerate(
        zip(columns, statement.selected_columns, strict=False)
    ):
        entity = description["entity"]
        if entity is not None and description["expr"] is entity:
            mapper = inspect(entity)
            if (
                isinstance(expression, elements.ColumnElement)
                and getattr(expression, "table", None) is mapper.local_table
            ):
                attribute = mapper.get_property_by_column(expression).key
                return partial(_attribute_of, index, attribute)
            continue
        if selected is expression or selected.compare(expression):
            return _column_getter(index)
        if isinstance(selected, elements.Label) and selected.element.compare(expression):
            return _column_getter(index)
    return None


def _column_getter(index: int) -> Getter:
    return partial(_column_of, index)


def _column_of(index: int, row: Row[Any]) -> Any:
    return row[index]


def _attribute_of(index: int, attribute: str, row: Row[Any]) -> Any:
    return getattr(row[index], attribute)


def _sort_key(getter: Getter, row: Row[Any]) -> tuple[bool, Any]:
    # As PostgreSQL orders them: NULL after every value, first when descending.
    value = getter(row)
    return (value is None, 0 if value is None else value)


class WriteGuard:
    """Refuses, on one zone's engine, any insert or update that would leave a row where its
    residency rules do not allow it: new rows are checked by their values, changed rows
    also by the market they already have. A table of a model that is not registered
    (``register_models``) cannot be placed, so writes to it are refused too."""

    def __init__(self, zone: str, residency: Residency, entities: Entities) -> None:
        self.zone = zone
        self.residency = residency
        self.entities = entities
        # An update statement is usually one object run many times (the inbox's claim, the
        # ORM's cached flush statements): its check is built once.
        self._checks: WeakKeyDictionary[Update, Any] = WeakKeyDictionary()

    def __call__(
        self,
        connection: Connection,
        statement: Any,
        multiparams: list[dict[str, Any]],
        params: dict[str, Any],
        execution_options: Mapping[str, Any],
    ) -> None:
        if not isinstance(statement, Insert | Update):
            return
        table = getattr(statement.table, "name", None)
        model = self.entities.by_table(table) if table else None
        if model is None:
            if table in Base.metadata.tables:
                raise ResidencyError(
                    _(
                        "refused: the model of table {table} is not registered"
                        " (register_models), so residency cannot place its rows"
                    ).format(table=table)
                )
            return
        rows = multiparams or [params]
        if isinstance(statement, Insert):
            self._check_insert(model, statement, rows)
        else:
            self._check_update(connection, model, statement, rows)

    def _check_insert(
        self, model: type[Model], statement: Insert, rows: list[dict[str, Any]]
    ) -> None:
        if statement.select is not None:
            raise ResidencyError(
                f"INSERT … SELECT into {model.__tablename__}: residency cannot check rows it"
                " does not see; insert them as parameters"
            )
        for row in rows:
            inline = _inline_rows(statement, row) or [{}]
            for values in inline:
                self._check_row(model, {**values, **row})

    def _check_update(
        self,
        connection: Connection,
        model: type[Model],
        statement: Update,
        rows: list[dict[str, Any]],
    ) -> None:
        key = "destination" if model.__placed_by__ is PlacedBy.DESTINATION else "market"
        for row in rows:
            values = {**(_inline_rows(statement, row) or [{}])[0], **row}
            if key in values or model.__placed_by__ is PlacedBy.HOME:
                self._check_row(model, values)
                continue
            misplaced = self._misplaced_rows(model, statement)
            if connection.execute(misplaced, row).first() is not None:
                raise ResidencyError(
                    _(
                        "refused: rows of {table} in zone {zone!r} that this change would touch"
                        " may no longer be there under the residency rules; run `regiocrm"
                        " residency migrate` first"
                    ).format(table=model.__tablename__, zone=self.zone)
                )

    def _misplaced_rows(self, model: type[Model], statement: Update) -> Any:
        """A query for any row the update would touch that this zone may no longer hold."""
        if statement not in self._checks:
            self._checks[statement] = self._build_check(model, statement)
        return self._checks[statement]

    def _build_check(self, model: type[Model], statement: Update) -> Any:
        table = table_of(model)
        if model.__placed_by__ is PlacedBy.DESTINATION:
            outside = table.c.destination != self.zone
        else:
            allowed = self.residency.markets_allowed_in(self.zone, model.__data_class__)
            outside = table.c.market.not_in(sorted(allowed))
        query = select(literal(1)).select_from(table).where(outside).limit(1)
        if statement.whereclause is not None:
            query = query.where(statement.whereclause)
        return query

    def _check_row(self, model: type[Model], values: Mapping[str, Any]) -> None:
        if model.__placed_by__ is PlacedBy.MARKET and not values.get("market"):
            raise ResidencyError(f"a {model.__tablename__} row needs its market to be placed")
        if not self.residency.allows_row(model, values, self.zone):
            raise ResidencyError(_refusal(self.residency, model, values, self.zone))


def _inline_rows(statement: Insert | Update, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The values a statement sets itself (``.values(...)``), one dict per row, by column
    key; a bound parameter without a value takes it from ``params``.

    SQLAlchemy keeps these in ``_values`` and ``_multi_values``; there is no public view.
    """
    rows: list[Mapping[Any, Any]] = [statement._values] if statement._values else []
    rows += [row for batch in statement._multi_values for row in batch if isinstance(row, Mapping)]
    return [
        {_column_key(column): _bound(value, params) for column, value in row.items()}
        for row in rows
    ]


def _column_key(column: Any) -> str:
    return column if isinstance(column, str) else str(column.key)


def _bound(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, elements.BindParameter):
        return params.get(value.key, value.value)
    return value


def _refusal(residency: Residency, model: type[Model], values: Mapping[str, Any], zone: str) -> str:
    table = model.__tablename__
    if model.__placed_by__ is PlacedBy.HOME:
        return _("refused: {table} rows live in the home zone {home!r}, not {zone!r}").format(
            table=table, home=residency.home, zone=zone
        )
    if model.__placed_by__ is PlacedBy.DESTINATION:
        return _("refused: this {table} row belongs in zone {destination!r}, not {zone!r}").format(
            table=table, destination=values.get("destination"), zone=zone
        )
    market, data_class = str(values.get("market")), model.__data_class__
    try:
        allowed = ", ".join(repr(z) for z in residency.rule(market, data_class).zones)
    except ResidencyError as exc:
        return _("refused: {reason}").format(reason=exc)
    return _(
        "refused: {market} {data_class} data ({table}) may not be written to zone {zone!r};"
        " the rules allow {allowed}"
    ).format(market=market, data_class=data_class.value, table=table, zone=zone, allowed=allowed)


_AFTER_COMMIT = "regiocrm_after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction has committed, and never if it rolls
    back: event hooks must not announce a change that was not kept.

    An action that raises is logged and the others still run: the change is kept, so the
    caller (an HTTP answer, a command's exit status) must not be told it failed, and one
    plugin's failing hook must not silence another's.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, []):
        try:
            action()
        except Exception:
            log.exception("an event hook failed after its change was committed (kept)")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
