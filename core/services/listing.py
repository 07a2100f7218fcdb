"""Listings of the rows a caller sees, built once for every service that lists.

A listing is one statement: the rows of a model whose market and organization the caller's
scope holds (:func:`regiocrm.crm.access.rows_in`), narrowed to the values asked for, in the
listing's order, at most ``limit`` of them. Each row listed is a read of personal data, and
goes to the audit trail with its reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from regiocrm.crm import audit
from regiocrm.crm.access import rows_in
from regiocrm.models import Model
from regiocrm.services.callers import Caller

Row = TypeVar("Row", bound=Model)


@dataclass(frozen=True)
class Listing(Generic[Row]):
    """How rows of one kind are listed.

    :param market: the row's market column and ``organization`` its organization's, which
        the caller's scope is applied to.
    :param order: the columns (or expressions) the rows are listed by, the last one unique
        (the id), so that rows tied on the others come in the same order every time.
    :param subject_type: what the audit trail calls a row read (``case``: ``case.read``).
    """

    model: type[Row]
    market: InstrumentedAttribute[Any]
    organization: InstrumentedAttribute[Any]
    order: tuple[InstrumentedAttribute[Any] | ColumnElement[Any], ...]
    subject_type: str

    def rows(
        self,
        session: Session,
        caller: Caller,
        *,
        equal: Mapping[InstrumentedAttribute[Any], object],
        where: Iterable[ColumnElement[bool]] = (),
        limit: int,
    ) -> list[Row]:
        """Up to ``limit`` rows the caller sees, each read audited.

        :param equal: a value asked for per column (``None``: not asked).
        :param where: further conditions every row listed meets.
        :raises regiocrm.crm.access.Forbidden: for a role that reads no customer data.
        """
        caller.scope.require_customers()
        query = select(self.model).where(
            rows_in(caller.scope, self.market, self.organization),
            *(column == value for column, value in equal.items() if value is not None),
            *where,
        )
        found = list(session.scalars(query.order_by(*self.order).limit(limit)))
        audit.record_reads(
            session, actor_id=caller.user_id, subject_type=self.subject_type, subjects=found
        )
        return found
