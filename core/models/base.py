"""The one declarative base every table derives from.

It fixes what all tables share: constraint names (so migrations are stable across SQLite
and PostgreSQL), the column types Python annotations map to, a time-ordered UUID primary
key made by the application, the row's market, ``created``/``updated`` stamps, and the
data class residency rules speak of.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, DateTime, Dialect, Enum, MetaData, String, Uuid, event
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    Session,
    declared_attr,
    mapped_column,
)
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import TypeDecorator

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.models.personal import not_personal
from regiocrm.platform.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s__%(column_0_N_name)s",
    "uq": "uq_%(table_name)s__%(column_0_N_name)s",
    "ck": "ck_%(table_name)s__%(constraint_name)s",
    "fk": "fk_%(table_name)s__%(column_0_N_name)s__%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class PlacedBy(enum.StrEnum):
    """What decides the zone a table's rows live in.

    ``MARKET``: the residency rules of the row's market for the table's data class (every
    customer's data). ``HOME``: the deployment's home zone; only the directory of
    organizations, users, tokens and transfer assessments, which no market's rule speaks
    of and every request reads to authenticate. ``DESTINATION``: the zone the row names as
    its destination, for the copies a cross-border export leaves there.
    """

    MARKET = "market"
    HOME = "home"
    DESTINATION = "destination"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC
    on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DataClassType(TypeDecorator[DataClass]):
    """A data class's name, stored as text and read back as a :class:`DataClass`."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else DataClass(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> DataClass | None:
        return None if value is None else DataClass(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _table_name(class_name: str) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
    if re.search(r"[^aeiou]y$", snake):
        return snake[:-1] + "ies"
    return snake + "s"


class AppendOnlyError(Exception):
    """An append-only row (consent, timeline entry, audit event) was changed or deleted."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        uuid.UUID: Uuid(),
        datetime: UTCDateTime(),
        date: Date(),
        str: String(200),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        DataClass: DataClassType(),
        enum.Enum: Enum(
            enum.Enum,
            native_enum=False,
            length=32,
            values_callable=lambda members: [member.value for member in members],
        ),
    }


class Model(Base):
    """A regiocrm table: subclasses set ``__data_class__`` and may set ``__append_only__``
    and ``__placed_by__`` (by market unless they say otherwise).

    A table whose rows are about a customer names the column holding the customer's id in
    ``__customer_column__``: the customer's export gathers them. A table whose rows are an
    organization's data names the column holding the organization's id in
    ``__organization_column__``: its storage counts them. Both are ``None`` by default (the
    rows are about no customer, and are no organization's). A table found only through
    another one overrides :meth:`about_customers` or :meth:`organizations`.

    A row refers to rows of other tables by plain ids, never by foreign key, unless both
    tables live in the home zone: two rows placed by residency may sit in different zones.
    """

    __abstract__ = True
    __data_class__: ClassVar[DataClass]
    __append_only__: ClassVar[bool] = False
    __placed_by__: ClassVar[PlacedBy] = PlacedBy.MARKET
    __customer_column__: ClassVar[str | None] = None
    __organization_column__: ClassVar[str | None] = None

    @declared_attr.directive
    @classmethod
    def __tablename__(cls) -> str:
        return _table_name(cls.__name__)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-2)
    market: Mapped[str] = mapped_column(
        String(2),
        index=True,
        sort_order=-1,
        doc="ISO 3166-1 alpha-2 market whose residency rules place this row",
        info=not_personal(),
    )
    created: Mapped[datetime] = mapped_column(default=utcnow, sort_order=1000)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, sort_order=1001)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Checked before mapping, so a refused class leaves no table behind in the metadata.
        if not cls.__dict__.get("__abstract__") and not isinstance(
            cls.__dict__.get("__data_class__"), DataClass
        ):
            raise TypeError(f"{cls.__name__} must declare its __data_class__ (a DataClass)")
        super().__init_subclass__(**kwargs)

    @classmethod
    def about_customers(
        cls, session: Session, customer_ids: Sequence[uuid.UUID]
    ) -> ColumnElement[bool] | None:
        """Which of the table's rows are about these customers (one person and the records
        merged into them): what their export gathers.

        :param session: for a table that finds its rows through another one.
        :param customer_ids: the customer and every record merged into them.
        :returns: the condition, or ``None`` for a table about no customer.
        """
        if cls.__customer_column__ is None:
            return None
        column: ColumnElement[Any] = getattr(cls, cls.__customer_column__)
        return column.in_(customer_ids)

    @classmethod
    def organizations(cls, session: Session) -> Mapping[Any, uuid.UUID] | None:
        """Each value of ``__organization_column__`` to the organization whose data the row
        is, for a table that names it only through another table (a campaign's members
        through the campaign).

        :returns: the mapping, or ``None`` (the default) when the column holds the
            organization's id itself.
        """
        return None


def _refuse_change(mapper: Mapper[Any], connection: Any, target: Model) -> None:
    if type(target).__append_only__:
        raise AppendOnlyError(
            f"{type(target).__name__} {target.id} is append-only: add a new entry instead"
        )


event.listen(Model, "before_update", _refuse_change, propagate=True)
event.listen(Model, "before_delete", _refuse_change, propagate=True)
