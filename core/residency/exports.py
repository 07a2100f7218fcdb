"""Cross-border export of one customer's data, as the residency rules allow it.

An export gathers everything the deployment holds about a customer, from every zone, and
sends it to a destination: another zone (the document is kept there) or a file (it leaves
the deployment). For each class of data in it, the market's rule decides:

* a zone the rule allows needs nothing more;
* otherwise the rule's ``export_requires`` must all hold: the customer's consent (a grant,
  still in force, for purpose ``export`` on the destination, or on ``*`` for any) and an
  approved transfer assessment for that market, class and destination (or ``*``), valid
  today.

What is refused is refused as a whole, with every missing consent and assessment named;
what is allowed and what is refused both go to the audit trail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from sqlalchemy import or_, select

from regiocrm.crm import audit
from regiocrm.crm.customers import Customers, consent_in_force
from regiocrm.models import Customer, CustomerExport, DataClass, Model, TransferAssessment
from regiocrm.models.base import utcnow
from regiocrm.platform.files import UnwritableFile, private_file
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _
from regiocrm.platform.stores import ZonedSession, ZoneStores, table_of
from regiocrm.residency.relocation import json_value
from regiocrm.residency.rules import Residency, ResidencyError

FILE = "file"
EXPORT_PURPOSE = "export"
DOCUMENT_FORMAT = "regiocrm.customer-export/1"


class ExportError(Exception):
    """An export that cannot be made as asked (an unknown zone, a file that exists)."""


class ExportRefused(ExportError):
    """The residency rules do not allow the export; ``missing`` says what it lacks."""

    def __init__(self, customer_id: uuid.UUID, destination: str, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            _("export of customer {customer} to {destination} refused: {reasons}").format(
                customer=customer_id, destination=destination, reasons="; ".join(self.missing)
            )
        )


@dataclass(frozen=True)
class Exported:
    """An export made: where it went, what it held and what made it lawful."""

    customer_id: uuid.UUID
    destination: str
    document: dict[str, Any]
    basis: dict[str, str]
    export_id: uuid.UUID | None = None
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer_id),
            "destination": self.destination,
            "export_id": None if self.export_id is None else str(self.export_id),
            "path": None if self.path is None else str(self.path),
            "classes": sorted(self.document["data"]),
            "basis": self.basis,
        }


def customer_document(
    session: ZonedSession, customers: Customers, customer: Customer
) -> dict[str, Any]:
    """Everything held about a customer (and the records merged into them), from every zone,
    by data class and table: the rows of every registered entity that
    :meth:`~regiocrm.models.base.Model.about_customers` finds, a plugin's included."""
    merge_set = customers.merge_set(customer.id)
    data: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for model in session.stores.entities:
        condition = model.about_customers(session, merge_set)
        if condition is None:
            continue
        rows = _rows(session, model, condition)
        if rows:
            data.setdefault(model.__data_class__.value, {})[model.__tablename__] = rows
    return {
        "format": DOCUMENT_FORMAT,
        "customer_id": str(customer.id),
        "market": customer.market,
        "exported_at": utcnow().isoformat(),
        "data": data,
    }


def _rows(session: ZonedSession, model: type[Model], condition: Any) -> list[dict[str, Any]]:
    columns = table_of(model).columns
    rows = session.execute(select(*columns).where(condition).order_by(model.id)).all()
    return [
        {column.name: json_value(value) for column, value in zip(columns, row, strict=True)}
        for row in rows
    ]


def held_classes(document: dict[str, Any]) -> list[tuple[str, DataClass]]:
    """Each (market, data class) the document holds rows of."""
    held = {
        (row["market"], DataClass(data_class))
        for data_class, by_table in document["data"].items()
        for rows in by_table.values()
        for row in rows
    }
    return sorted(held)


class Exports:
    """Exports inside one session; the caller commits."""

    def __init__(self, session: ZonedSession) -> None:
        self.session = session
        self.residency: Residency = session.residency

    def basis(
        self,
        held: Iterable[tuple[str, DataClass]],
        merge_set: Sequence[uuid.UUID],
        destination: str,
        today: date,
    ) -> tuple[dict[str, str], list[str]]:
        """What makes sending each (market, class) to ``destination`` lawful, and what is
        missing for those it does not."""
        basis: dict[str, str] = {}
        missing: list[str] = []
        for market, data_class in held:
            key = f"{market} {data_class.value}"
            try:
                rule = self.residency.rule(market, data_class)
            except ResidencyError as exc:
                missing.append(str(exc))
                continue
            if destination != FILE and destination in rule.zones:
                basis[key] = _("zone {zone} is allowed by pack {pack}").format(
                    zone=destination, pack=rule.pack
                )
                continue
            found = []
            for requirement in rule.export_requires:
                if requirement == "consent":
                    consent = consent_in_force(self.session, merge_set, EXPORT_PURPOSE, destination)
                    if consent is None:
                        missing.append(
                            _(
                                "{key} data needs the customer's consent to export to"
                                " {destination} (purpose 'export', channel {destination!r}"
                                " or '*'), and none is in force"
                            ).format(key=key, destination=destination)
                        )
                    else:
                        found.append(_("consent {id}").format(id=consent))
                else:
                    assessed, said = self.assessed(key, market, data_class, destination, today)
                    (found if assessed else missing).append(said)
            basis[key] = ", ".join(found) or _("pack {pack} requires nothing").format(
                pack=rule.pack
            )
        return basis, missing

    def assessed(
        self, key: str, market: str, data_class: DataClass, destination: str, today: date
    ) -> tuple[bool, str]:
        """Whether an approved assessment covers ``key``'s data (``market``/``data_class``)
        going to ``destination`` on ``today``, with what says so: the assessment's
        reference, or what is missing."""
        reference = self.assessment(market, data_class, destination, today)
        if reference is None:
            return False, _(
                "{key} data needs an approved transfer assessment for {destination} valid on"
                " {today} (`regiocrm residency assessments add`), and there is none"
            ).format(key=key, destination=destination, today=today.isoformat())
        return True, _("assessment {reference}").format(reference=reference)

    def assessment(
        self, market: str, data_class: DataClass, destination: str, today: date
    ) -> str | None:
        return self.session.scalar(
            select(TransferAssessment.reference)
            .where(
                TransferAssessment.market == market,
                TransferAssessment.data_class == data_class,
                TransferAssessment.destination.in_([destination, "*"]),
                TransferAssessment.approved_on <= today,
                or_(
                    TransferAssessment.expires_on.is_(None), TransferAssessment.expires_on >= today
                ),
            )
            .order_by(TransferAssessment.approved_on.desc())
            .limit(1)
        )


def export_customer(
    stores: ZoneStores,
    hooks: Hooks,
    customer_id: uuid.UUID,
    destination: str,
    *,
    actor_id: uuid.UUID | None = None,
    path: Path | None = None,
) -> Exported:
    """Export a customer to a zone, or out of the deployment when ``destination`` is
    :data:`FILE`: into ``path``, or (without one) as the returned document alone, which the
    caller hands over (the API's download).

    :raises regiocrm.crm.customers.UnknownCustomer: for no such customer.
    :raises ExportError: for a zone that is not configured, or a file that exists already
        or cannot be written (the file is its owner's alone: personal data).
    :raises ExportRefused: when the rules do not allow it; the refusal is audited.
    """
    if path is not None and path.exists():
        raise ExportError(_("{path} exists already: exports never overwrite").format(path=path))
    if destination != FILE and destination not in stores.names:
        raise ExportError(
            _("unknown zone {zone!r} (configured zones: {known})").format(
                zone=destination, known=", ".join(stores.names)
            )
        )
    refused: ExportRefused | None = None
    # Made before anything is read, so a folder that cannot take it stops the export at once.
    with _file_for(path) as stream:
        with stores.session() as session:
            customers = Customers(session, hooks)
            customer = customers.get(customer_id)
            document = customer_document(session, customers, customer)
            document["destination"] = destination
            held = held_classes(document)
            basis, missing = Exports(session).basis(
                held, customers.merge_set(customer.id), destination, utcnow().date()
            )
            detail = {
                "destination": destination,
                "classes": ", ".join(f"{market} {data_class.value}" for market, data_class in held),
            }
            if missing:
                refused = ExportRefused(customer.id, destination, missing)
                audit.record(
                    session,
                    actor_id=actor_id,
                    action="customer.export_refused",
                    subject_type="customer",
                    subject=customer,
                    detail={**detail, "missing": "; ".join(missing)},
                )
            else:
                export_id = None
                if destination != FILE:
                    kept = CustomerExport(
                        market=customer.market,
                        customer_id=customer.id,
                        destination=destination,
                        exported_by=actor_id,
                        basis=basis,
                        document=document,
                    )
                    session.add(kept)
                    session.flush()
                    export_id = kept.id
                if stream is not None and path is not None:
                    _write(stream, document, path)
                audit.record(
                    session,
                    actor_id=actor_id,
                    action="customer.exported",
                    subject_type="customer",
                    subject=customer,
                    detail={**detail, **{f"basis {key}": value for key, value in basis.items()}},
                )
        if refused is not None:
            raise refused
    return Exported(customer.id, destination, document, basis, export_id, path)


@contextmanager
def _file_for(path: Path | None) -> Iterator[IO[str] | None]:
    """The file the document is written to, taking its name only once the export is done:
    personal data, so its owner's alone from the start (none without a ``path``)."""
    if path is None:
        yield None
        return
    try:
        with private_file(path) as stream:
            yield stream
    except UnwritableFile as exc:
        raise _unwritable(path, exc.reason) from None


def _write(stream: IO[str], document: dict[str, Any], path: Path) -> None:
    try:
        stream.write(json.dumps(document, ensure_ascii=False, indent=2))
        stream.flush()
    except OSError as exc:
        raise _unwritable(path, exc.strerror or str(exc)) from None


def _unwritable(path: Path, reason: str) -> ExportError:
    return ExportError(_("cannot write {path}: {reason}").format(path=path, reason=reason))
