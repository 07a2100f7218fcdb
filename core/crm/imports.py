"""Bulk imports of dealers' customers, vehicles and contracts.

A file is imported in batches of rows, each batch one transaction: its rows' identities
are looked up at once, its new rows inserted with one statement per table and zone
(``executemany``), and the job's checkpoint (the last row committed, the counts so far)
committed with them. Killed anywhere, the same file imported again finds its job by the
file's SHA-256 and goes on after the checkpoint; a batch whose zones committed apart is
redone harmlessly, because its rows then match what was written.

Rows match customers, and each other, by identity: phone (E.164 in the market, as the
channels normalise it), e-mail, and the dealer's own customer number, kept as an identity
of kind ``dealer_ref`` whose value is ``<organization id>:<number>`` (one dealer's C0001 is
not another's). A customers file may also match by VIN, through the vehicle's current
owner. A row that would join two different customers, or whose names contradict the
customer it matches, is a conflict: reported, never guessed. Rows are placed by residency
exactly as the API places them (each model's zone for the market), and every creation,
match and merge is audited with the import's id.

Outcomes per row: ``created`` (a new record), ``matched`` (an existing record, nothing new),
``merged`` (an existing record that took something new from the row: an identity, a name
it lacked, an ownership), ``conflict`` and ``rejected`` (bad data, with the reason).
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, TypeVar

from sqlalchemy import Select, String, Uuid, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from regiocrm.crm import audit
from regiocrm.crm.customers import Customers, Owner
from regiocrm.crm.import_files import (
    ColumnMap,
    Row,
    file_digest,
    map_columns,
    open_sheet,
)
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.interfaces.packs import NameOrder, Pack, PhoneticRule, VinRule
from regiocrm.interfaces.terms import ContractKind, ContractStatus, CustomerKind, Direction
from regiocrm.models import (
    AuditEvent,
    Contract,
    Customer,
    Identity,
    ImportIssue,
    ImportJob,
    Interaction,
    Model,
    Ownership,
    Vehicle,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _, to_minor_units
from regiocrm.platform.ids import new_id, new_ids
from regiocrm.platform.stores import ZonedSession, ZoneStores, table_of

# Rows per transaction: a batch of 5,000 holds a few MiB and spreads what each batch costs
# (a lookup per zone and kind, a commit per zone) over 2.5 times the rows of 2,000, about
# 10% faster overall (benchmarks/import.py).
BATCH_ROWS = 5000
DEALER_REF = "dealer_ref"
OUTCOMES = ("created", "matched", "merged", "conflicts", "rejected")


class ImportFailed(Exception):
    """An import stopped by its database; what it committed stays, and running it again
    goes on from there."""


class UnknownImport(Exception):
    pass


@dataclass(frozen=True)
class ImportRequest:
    """What to import, into which market, for which organization.

    :param mapping: header = field, over the pack's presets (``""``: not imported).
    :param encoding: of a CSV file; ``None`` finds it.
    """

    kind: str
    path: Path
    market: str
    organization_id: uuid.UUID
    file_name: str = ""
    actor_id: uuid.UUID | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    encoding: str | None = None
    batch_rows: int = BATCH_ROWS

    @property
    def name(self) -> str:
        return self.file_name or self.path.name


@dataclass(frozen=True)
class Issue:
    """A row not imported: ``rejected`` (bad data) or ``conflict`` (not guessed)."""

    line: int
    outcome: str
    reason: str
    cells: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "outcome": self.outcome, "reason": self.reason}


@dataclass
class ImportReport:
    """Where an import stands, and what it did: counts per outcome, and each row not
    imported with its line and reason.

    :param resumed_after: the last row an earlier run had committed (0: a first run).
    """

    id: uuid.UUID | None
    kind: str
    market: str
    file_name: str
    encoding: str
    status: str
    rows: int
    counts: dict[str, int]
    warnings: list[str]
    issues: list[Issue]
    header: list[str]
    resumed_after: int = 0
    dry_run: bool = False
    error: str | None = None

    @property
    def rejected(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.outcome == "rejected"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": None if self.id is None else str(self.id),
            "kind": self.kind,
            "market": self.market,
            "file": self.file_name,
            "encoding": self.encoding,
            "status": self.status,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "resumed_after": self.resumed_after,
            **{name: self.counts.get(name, 0) for name in OUTCOMES},
            "warnings": list(self.warnings),
            "issues": [issue.as_dict() for issue in self.issues],
            "error": self.error,
        }


def write_rejects(stream: IO[str], header: Sequence[str], issues: Sequence[Issue]) -> int:
    """The rejected rows as a CSV to fix and import again: the file's header and a
    ``reason`` column, each row's cells as read. How many rows."""
    writer = csv.writer(stream)
    writer.writerow([*header, "reason"])
    written = 0
    for issue in issues:
        if issue.outcome != "rejected":
            continue
        cells = list(issue.cells[: len(header)]) + [""] * max(0, len(header) - len(issue.cells))
        writer.writerow([*cells, f"{_('row')} {issue.line}: {issue.reason}"])
        written += 1
    return written


# the engine


Progress = Callable[[int], None]


@dataclass(frozen=True)
class Opened:
    """A job found or made for a file: ``done`` when an earlier run finished it."""

    id: uuid.UUID
    done: bool


class Importer:
    """Imports over the deployment's zones; each batch commits on its own."""

    def __init__(self, stores: ZoneStores, hooks: Hooks) -> None:
        self.stores = stores
        self.hooks = hooks

    def check(self, request: ImportRequest) -> tuple[Pack, list[str], str, list[str]]:
        """Read the file's header and map its columns, writing nothing: the pack, the
        header, the encoding and the warnings (columns not imported).

        :raises regiocrm.crm.import_files.UnreadableFile: for a file that cannot be read.
        :raises regiocrm.crm.import_files.MappingError: for a required field no column holds.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        pack = self.hooks.packs().for_market(request.market)
        with self._sheet(request, pack) as sheet:
            columns = map_columns(sheet.header, request.kind, pack.import_columns, request.mapping)
            return pack, sheet.header, sheet.encoding, _warnings(columns)

    def open_job(self, request: ImportRequest) -> Opened:
        """The file's job for this market, organization and kind: the one an earlier run
        made (to go on from its checkpoint), or a new one; committed.

        :raises: as :meth:`check`.
        """
        _pack, header, encoding, warnings = self.check(request)
        digest = file_digest(request.path)
        with self.stores.session() as session:
            job = session.scalars(
                select(ImportJob).where(
                    ImportJob.file_sha256 == digest,
                    ImportJob.market == request.market,
                    ImportJob.organization_id == request.organization_id,
                    ImportJob.kind == request.kind,
                )
            ).first()
            if job is not None:
                return Opened(job.id, job.status == "done")
            job = ImportJob(
                market=request.market,
                kind=request.kind,
                organization_id=request.organization_id,
                actor_id=request.actor_id,
                file_sha256=digest,
                file_name=request.name[:255],
                encoding=encoding,
                status="queued",
                header=header,
                counts=dict.fromkeys(OUTCOMES, 0),
                warnings=warnings,
            )
            session.add(job)
            session.flush()
            audit.record(
                session,
                actor_id=request.actor_id,
                action="import.created",
                subject_type="import",
                subject=job,
                detail={"kind": request.kind, "organization": request.organization_id},
                personal={"file": request.name},
            )
            return Opened(job.id, False)

    def run(
        self,
        request: ImportRequest,
        job_id: uuid.UUID,
        progress: Progress | None = None,
        *,
        stop: Callable[[], bool] = lambda: False,
    ) -> ImportReport:
        """Import the file's rows after the job's checkpoint, a batch per transaction.

        :param progress: called with the number of rows read so far after each batch.
        :param stop: asked after each batch; when it answers yes the job stops there,
            ``interrupted``, to go on when the file is imported again.
        :raises ImportFailed: when a database fails; the job says so, and a rerun goes on.
        """
        pack = self.hooks.packs().for_market(request.market)
        with self.stores.session() as session:
            job = session.get_one(ImportJob, job_id)
            last_line, rows, counts = job.last_line, job.rows, dict(job.counts)
        resumed_after = last_line
        try:
            with self._sheet(request, pack) as sheet:
                columns = map_columns(
                    sheet.header, request.kind, pack.import_columns, request.mapping
                )
                handler = HANDLERS[request.kind](self.hooks, pack, request, columns, job_id)
                self._set(job_id, request.market, status="running")
                for batch in _batches(sheet.rows, request.batch_rows, after=last_line):
                    with self.stores.session() as session:
                        outcomes = handler.apply(session, batch)
                        rows += len(batch)
                        _count(counts, outcomes)
                        self._record(session, request.market, job_id, batch, outcomes)
                        self._set(
                            job_id,
                            request.market,
                            session=session,
                            last_line=batch[-1].line,
                            rows=rows,
                            counts=counts,
                        )
                    if progress is not None:
                        progress(rows)
                    if stop():
                        self._set(job_id, request.market, status="interrupted")
                        return self.report(job_id)
        except Exception as exc:
            # A database that failed mid-way: the batch rolled back, the checkpoint holds.
            self._set(job_id, request.market, status="failed", error=str(exc)[:1000])
            raise ImportFailed(str(exc)) from exc
        self._set(job_id, request.market, status="done", error=None)
        report = self.report(job_id)
        report.resumed_after = resumed_after
        return report

    def dry_run(self, request: ImportRequest, progress: Progress | None = None) -> ImportReport:
        """What importing the file would do, in one transaction rolled back at the end:
        nothing is written."""
        pack = self.hooks.packs().for_market(request.market)
        counts = dict.fromkeys(OUTCOMES, 0)
        issues: list[Issue] = []
        rows = 0
        with self._sheet(request, pack) as sheet:
            columns = map_columns(sheet.header, request.kind, pack.import_columns, request.mapping)
            handler = HANDLERS[request.kind](self.hooks, pack, request, columns, new_id())
            session = self.stores.sessionmaker()()
            try:
                for batch in _batches(sheet.rows, request.batch_rows, after=0):
                    outcomes = handler.apply(session, batch)
                    rows += len(batch)
                    _count(counts, outcomes)
                    issues += [outcome for outcome in outcomes if isinstance(outcome, Issue)]
                    if progress is not None:
                        progress(rows)
            finally:
                session.rollback()
                session.close()
            return ImportReport(
                id=None,
                kind=request.kind,
                market=request.market,
                file_name=request.name,
                encoding=sheet.encoding,
                status="done",
                rows=rows,
                counts=counts,
                warnings=_warnings(columns),
                issues=issues,
                header=sheet.header,
                dry_run=True,
            )

    def job(self, job_id: uuid.UUID) -> ImportJob:
        """The job (detached).

        :raises UnknownImport: for no such job.
        """
        with self.stores.session() as session:
            return _found_job(session, job_id)

    def report(self, job_id: uuid.UUID) -> ImportReport:
        """The job's report, with every row it did not import, in line order.

        :raises UnknownImport: for no such job.
        """
        with self.stores.session() as session:
            job = _found_job(session, job_id)
            issues = [
                Issue(issue.line, issue.outcome, issue.reason, list(issue.cells))
                for issue in session.scalars(
                    select(ImportIssue)
                    .where(ImportIssue.job_id == job_id)
                    .order_by(ImportIssue.line)
                )
            ]
            return ImportReport(
                id=job.id,
                kind=job.kind,
                market=job.market,
                file_name=job.file_name,
                encoding=job.encoding,
                status=job.status,
                rows=job.rows,
                counts={name: int(job.counts.get(name, 0)) for name in OUTCOMES},
                warnings=list(job.warnings),
                issues=issues,
                header=list(job.header),
                error=job.error,
            )

    # inside

    def _sheet(self, request: ImportRequest, pack: Pack) -> Any:
        return open_sheet(request.path, encoding=request.encoding, fallbacks=pack.file_encodings)

    def _zone(self, model: type[Model], market: str) -> str:
        return self.stores.residency.zone_of(model, {"market": market, "destination": None})

    def _record(
        self,
        session: ZonedSession,
        market: str,
        job_id: uuid.UUID,
        batch: Sequence[Row],
        outcomes: Sequence[str | Issue],
    ) -> None:
        """The batch's issues, replacing any a redone batch left (its zones may have
        committed apart from the checkpoint's)."""
        connection = session.zone_connection(self._zone(ImportIssue, market))
        connection.execute(
            delete(ImportIssue).where(
                ImportIssue.job_id == job_id,
                ImportIssue.line >= batch[0].line,
                ImportIssue.line <= batch[-1].line,
            )
        )
        issues = [outcome for outcome in outcomes if isinstance(outcome, Issue)]
        if issues:
            now = datetime.now(UTC)
            connection.execute(
                insert(table_of(ImportIssue)),
                [
                    {
                        "id": new_id(),
                        "market": market,
                        "job_id": job_id,
                        "line": issue.line,
                        "outcome": issue.outcome,
                        "reason": issue.reason[:1000],
                        "cells": issue.cells,
                        "created": now,
                        "updated": now,
                    }
                    for issue in issues
                ],
            )

    def _set(
        self,
        job_id: uuid.UUID,
        market: str,
        *,
        session: ZonedSession | None = None,
        **values: Any,
    ) -> None:
        """Change the job: in ``session`` (with a batch's writes), or on its own."""
        statement = (
            update(table_of(ImportJob))
            .where(table_of(ImportJob).c.id == job_id)
            .values(**values, updated=datetime.now(UTC))
        )
        if session is not None:
            session.zone_connection(self._zone(ImportJob, market)).execute(statement)
            return
        with self.stores.session() as own:
            own.zone_connection(self._zone(ImportJob, market)).execute(statement)


def _warnings(columns: ColumnMap) -> list[str]:
    return [
        _("column {name!r} is not imported: no field holds it").format(name=name)
        for name in columns.unknown
    ]


def _count(counts: dict[str, int], outcomes: Sequence[str | Issue]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Issue):
            key = "conflicts" if outcome.outcome == "conflict" else "rejected"
        else:
            key = outcome
        counts[key] = counts.get(key, 0) + 1


def _batches(rows: Iterator[Row], size: int, *, after: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        if row.line <= after:
            continue
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# rows to records


class RowProblem(Exception):
    """Why one row is rejected."""


@dataclass
class Writes:
    """New rows of one batch, by model, inserted in bulk per table and zone
    (:meth:`ZonedSession.insert_rows`, which checks each row's placement first). Their ids
    are made a batch at a time and their timestamps are the batch's."""

    rows: dict[type[Model], list[dict[str, Any]]] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _ids: list[uuid.UUID] = field(default_factory=list)

    def add(self, entity: type[Model], /, **values: Any) -> uuid.UUID:
        if not self._ids:
            self._ids = new_ids(1024)
            self._ids.reverse()  # popped from the end, in ascending order
        identifier = self._ids.pop()
        row = {"id": identifier, "created": self.now, "updated": self.now, **values}
        self.rows.setdefault(entity, []).append(row)
        return identifier

    def flush(self, session: ZonedSession) -> None:
        for model, rows in self.rows.items():
            session.insert_rows(model, rows)
        self.rows.clear()


class Handler:
    """Turns a batch of rows into writes and outcomes, for one kind of record."""

    kind: ClassVar[str]

    def __init__(
        self,
        hooks: Hooks,
        pack: Pack,
        request: ImportRequest,
        columns: ColumnMap,
        job_id: uuid.UUID,
    ) -> None:
        self.hooks = hooks
        self.pack = pack
        self.request = request
        self.columns = columns
        self.job_id = job_id
        self.market = request.market
        self.organization_id = request.organization_id
        self.single = {
            name: indexes[0]
            for name in set(columns.fields.values())
            if (indexes := columns.columns_of(name))
        }
        self.identity_columns = [(kind, columns.columns_of(kind)) for kind in ("phone", "email")]

    def apply(self, session: ZonedSession, batch: Sequence[Row]) -> list[str | Issue]:
        raise NotImplementedError

    # reading cells

    def value(self, row: Row, name: str) -> str | None:
        index = self.single.get(name)
        if index is None or index >= len(row.cells):
            return None
        return row.cells[index] or None

    def identities_or(self, row: Row, missing: str) -> list[IdentityRef]:
        """The row's identities (:meth:`identities`); :class:`RowProblem` saying ``missing``
        where it has none."""
        identities = self.identities(row)
        if not identities:
            raise RowProblem(missing)
        return identities

    def identities(self, row: Row) -> list[IdentityRef]:
        """The row's phone numbers, e-mail addresses and customer number, normalised as
        the channels normalise them.

        :raises RowProblem: for a value that is not an identity of its kind.
        """
        found: list[IdentityRef] = []
        for kind, indexes in self.identity_columns:
            for index in indexes:
                value = row.cells[index] if index < len(row.cells) else ""
                if not value:
                    continue
                try:
                    canonical = self.hooks.normalize_identity(
                        kind=kind, value=value, market=self.market
                    )
                except InvalidIdentity as exc:
                    raise RowProblem(str(exc)) from None
                found.append(IdentityRef(canonical.kind, canonical.value))
        number = self.value(row, DEALER_REF)
        if number is not None:
            found.append(IdentityRef(DEALER_REF, f"{self.organization_id}:{number}"))
        return list(dict.fromkeys(found))

    def issue(self, row: Row, reason: str, outcome: str = "rejected") -> Issue:
        return Issue(row.line, outcome, reason, list(row.cells))

    def audit(
        self,
        writes: Writes,
        *,
        market: str,
        action: str,
        subject_type: str,
        subject: uuid.UUID,
        line: int,
    ) -> None:
        writes.add(
            AuditEvent,
            market=market,
            occurred_at=writes.now,
            actor_id=self.request.actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject,
            detail={"import": str(self.job_id), "line": str(line)},
        )


def _owner_text(identities: Sequence[IdentityRef]) -> str:
    return ", ".join(
        f"{identity.kind} {identity.value.split(':', 1)[1]}"
        if identity.kind == DEALER_REF
        else str(identity)
        for identity in identities
    )


# names

# Chinese and Korean family names of two characters; every other is one.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "歐陽", "諸葛", "東方", "長孫",
        "남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방",
    }
)  # fmt: skip
_HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff]+$")
_HANGUL = re.compile(r"^[\uac00-\ud7a3]+$")


def split_name(value: str, pack: Pack) -> tuple[str | None, str | None]:
    """A full name as family and given name, in the pack's order.

    A name with a space splits there. A Chinese or Korean name without one splits after
    its family name (one character, or two for a compound such as 欧阳 or 남궁). A Japanese
    name (a pack with furigana) without a space cannot be split by rule, so it is kept
    whole as the family name, as is any other single word.
    """
    parts = value.split()
    if not parts:
        return None, None
    if len(parts) > 1:
        if pack.name_order is NameOrder.GIVEN_FIRST:
            return parts[-1], " ".join(parts[:-1])
        return parts[0], " ".join(parts[1:])
    word = parts[0]
    splits = _HANGUL.match(word) or (
        _HAN.match(word) and pack.phonetic_name is not PhoneticRule.FURIGANA
    )
    if splits and pack.name_order is NameOrder.FAMILY_FIRST and len(word) > 1:
        length = 2 if word[:2] in COMPOUND_SURNAMES and len(word) > 2 else 1
        return word[:length], word[length:]
    return word, None


def _name_key(*parts: str | None) -> str:
    return "".join("".join(part.split()).casefold() for part in parts if part)


# customers


@dataclass
class CustomerRecord:
    row: Row
    identities: list[IdentityRef]
    names: dict[str, str | None]
    vin: str | None


@dataclass
class Known:
    """A customer as matching needs it: who, in which market, by which names."""

    id: uuid.UUID
    market: str
    names: dict[str, str | None]


class CustomerHandler(Handler):
    kind = "customers"

    def record(self, row: Row) -> CustomerRecord:
        if row.problem is not None:
            raise RowProblem(row.problem)
        identities = self.identities_or(
            row, _("no phone, e-mail or customer number: the row names no one")
        )
        names: dict[str, str | None] = {
            "family_name": self.value(row, "family_name"),
            "given_name": self.value(row, "given_name"),
            "family_name_phonetic": self.value(row, "family_name_phonetic"),
            "given_name_phonetic": self.value(row, "given_name_phonetic"),
            "company_name": self.value(row, "company_name"),
        }
        full = self.value(row, "full_name")
        if full and not (names["family_name"] or names["given_name"]):
            names["family_name"], names["given_name"] = split_name(full, self.pack)
        phonetic = self.value(row, "full_name_phonetic")
        if phonetic and not (names["family_name_phonetic"] or names["given_name_phonetic"]):
            names["family_name_phonetic"], names["given_name_phonetic"] = split_name(
                phonetic, self.pack
            )
        if not (names["family_name"] or names["given_name"] or names["company_name"]):
            raise RowProblem(_("no name: the row has neither a person's nor a company's"))
        for key, text in names.items():
            if text is not None and len(text) > 100 and key != "company_name":
                raise RowProblem(_("{field} longer than 100 characters").format(field=key))
        vin = self.value(row, "vin")
        return CustomerRecord(row, identities, names, vin and vin.upper())

    def apply(self, session: ZonedSession, batch: Sequence[Row]) -> list[str | Issue]:
        outcomes: dict[int, str | Issue] = {}
        records: list[CustomerRecord] = []
        for row in batch:
            try:
                records.append(self.record(row))
            except RowProblem as exc:
                outcomes[row.line] = self.issue(row, str(exc))
        customers = Customers(session, self.hooks)
        owners: dict[IdentityRef, Owner] = customers.owners(
            list(dict.fromkeys(i for record in records for i in record.identities))
        )
        by_vin = _current_owners(session, [r.vin for r in records if r.vin])
        known = _known(session, {owner.id for owner in (*owners.values(), *by_vin.values())})
        linked = _linked(session, list(known), self.organization_id)
        writes = Writes()
        # Names merged into known customers, by zone and the names filled: one statement
        # run for each group's rows.
        fills: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
        for record in records:
            line = record.row.line
            holders = {owners[i].id for i in record.identities if i in owners}
            if record.vin and record.vin in by_vin:
                holders.add(by_vin[record.vin].id)
            if len(holders) > 1:
                outcomes[line] = self.issue(
                    record.row,
                    _(
                        "its identities ({identities}) belong to {count} different customers:"
                        " not merged"
                    ).format(identities=_owner_text(record.identities), count=len(holders)),
                    "conflict",
                )
                continue
            if not holders:
                customer_id = self._create(writes, record)
                customer = Known(customer_id, self.market, record.names)
                known[customer_id] = customer
                linked.add(customer_id)
                owners.update(dict.fromkeys(record.identities, Owner(customer_id, self.market)))
                outcomes[line] = "created"
                continue
            customer = known[holders.pop()]
            contradiction = _contradiction(customer.names, record.names)
            if contradiction:
                outcomes[line] = self.issue(record.row, contradiction, "conflict")
                continue
            fresh = [i for i in record.identities if i not in owners]
            filled = {
                key: text
                for key, text in record.names.items()
                if text and not customer.names.get(key)
            }
            for identity in fresh:
                writes.add(
                    Identity,
                    market=customer.market,
                    customer_id=customer.id,
                    kind=identity.kind,
                    value=identity.value,
                    verified=False,
                )
                owners[identity] = Owner(customer.id, customer.market)
            if filled:
                zone = session.residency.zone_of(Customer, {"market": customer.market})
                named = (zone, tuple(sorted(filled)))
                fills.setdefault(named, []).append({**filled, "customer": customer.id})
                customer.names.update(filled)
            if customer.id not in linked:
                self._link(writes, customer.id, customer.market, line)
                linked.add(customer.id)
            outcome = "merged" if fresh or filled else "matched"
            self.audit(
                writes,
                market=customer.market,
                action=f"customer.import_{outcome}",
                subject_type="customer",
                subject=customer.id,
                line=line,
            )
            outcomes[line] = outcome
        writes.flush(session)
        table = table_of(Customer)
        for (zone, names), changes in fills.items():
            session.zone_connection(zone).execute(
                update(table)
                .where(table.c.id == bindparam("customer"))
                .values({**{name: bindparam(name) for name in names}, "updated": writes.now}),
                changes,
            )
        return [outcomes[row.line] for row in batch]

    def _create(self, writes: Writes, record: CustomerRecord) -> uuid.UUID:
        names = record.names
        customer_id = writes.add(
            Customer,
            market=self.market,
            kind=CustomerKind.COMPANY
            if names["company_name"] and not names["family_name"]
            else CustomerKind.PERSON,
            family_name=names["family_name"],
            given_name=names["given_name"],
            family_name_phonetic=names["family_name_phonetic"],
            given_name_phonetic=names["given_name_phonetic"],
            company_name=names["company_name"],
            preferred_locale=None,
            merged_into_id=None,
        )
        for identity in record.identities:
            writes.add(
                Identity,
                market=self.market,
                customer_id=customer_id,
                kind=identity.kind,
                value=identity.value,
                verified=False,
            )
        # No audit event per creation: the registration step names the import and the
        # row (``import:<id>:<row>``), and the import's own audit event names who ran it.
        # At a million rows the audit table would otherwise grow by a row per customer
        # that says nothing the step does not; matches and merges, which change what an
        # existing record holds, are audited.
        self._link(writes, customer_id, self.market, record.row.line)
        return customer_id

    def _link(self, writes: Writes, customer_id: uuid.UUID, market: str, line: int) -> None:
        """The registration step that links the customer to the importing dealer, as a
        customer a dealer enters is linked (their scope then sees them), naming the import
        and the row it came from."""
        writes.add(
            Interaction,
            market=market,
            customer_id=customer_id,
            channel="crm",
            direction=Direction.INTERNAL,
            touchpoint="registration",
            text=None,
            summary="imported",
            external_id=f"import:{self.job_id}:{line}",
            failure=None,
            occurred_at=writes.now,
            organization_id=self.organization_id,
            case_id=None,
        )


def _contradiction(existing: Mapping[str, str | None], row: Mapping[str, str | None]) -> str | None:
    """Why the row's names cannot be the matched customer's; ``None`` when they agree or
    either side has none."""
    for parts, label in (
        (("family_name", "given_name"), _("name")),
        (("company_name",), _("company name")),
    ):
        mine = _name_key(*(existing.get(part) for part in parts))
        theirs = _name_key(*(row.get(part) for part in parts))
        if mine and theirs and mine != theirs:
            return _(
                "the {label} differs from the customer its identities match: not merged"
            ).format(label=label)
    return None


def _in_every_zone(
    session: ZonedSession, query: Select[Any], column: Any, ids: Collection[uuid.UUID]
) -> Iterator[Any]:
    """The query's rows from every zone, where ``column`` is one of ``ids``, the ids
    passed as one array (PostgreSQL) or one JSON text (SQLite): a statement whose text
    does not grow with the batch, unlike an expanding ``IN`` of thousands of ids."""
    for zone in session.stores.names:
        connection = session.zone_connection(zone)
        if connection.dialect.name == "postgresql":
            found = connection.execute(
                query.where(column == any_(bindparam("ids", type_=ARRAY(Uuid())))),
                {"ids": list(ids)},
            )
        else:
            # SQLite keeps a UUID as its 32 hex digits.
            listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
            found = connection.execute(
                query.where(column.in_(select(listed.c.value))),
                {"ids": json.dumps([identifier.hex for identifier in ids])},
            )
        yield from found


def _found_job(session: ZonedSession, job_id: uuid.UUID) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise UnknownImport(f"no import {job_id}")
    return job


def _known(session: ZonedSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Known]:
    if not ids:
        return {}
    columns = table_of(Customer).c
    found = _in_every_zone(
        session,
        select(
            columns.id,
            columns.market,
            columns.family_name,
            columns.given_name,
            columns.family_name_phonetic,
            columns.given_name_phonetic,
            columns.company_name,
        ),
        columns.id,
        ids,
    )
    return {
        row.id: Known(
            row.id,
            row.market,
            {
                "family_name": row.family_name,
                "given_name": row.given_name,
                "family_name_phonetic": row.family_name_phonetic,
                "given_name_phonetic": row.given_name_phonetic,
                "company_name": row.company_name,
            },
        )
        for row in found
    }


def _linked(
    session: ZonedSession, ids: list[uuid.UUID], organization_id: uuid.UUID
) -> set[uuid.UUID]:
    """Which of the customers the organization is linked to already."""
    if not ids:
        return set()
    columns = table_of(Interaction).c
    # The organization through a function, so that no planner reads every step of the
    # dealer (all of an import's customers) by its organization index: SQLite, without
    # statistics, chose it over the customer index, and a re-import of a million rows
    # slowed with every batch. The customers' own steps are few.
    query = select(columns.customer_id).where(
        func.coalesce(columns.organization_id, columns.organization_id) == organization_id
    )
    return {row.customer_id for row in _in_every_zone(session, query, columns.customer_id, ids)}


def _vehicles(session: ZonedSession, vins: Sequence[str]) -> dict[str, tuple[uuid.UUID, str]]:
    """Each VIN's vehicle id and market."""
    if not vins:
        return {}
    return {
        row.vin: (row.id, row.market)
        for row in session.execute(
            select(Vehicle.id, Vehicle.vin, Vehicle.market).where(
                Vehicle.vin.in_(list(dict.fromkeys(vins)))
            )
        )
    }


def _ownerships(
    session: ZonedSession, vehicle_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each vehicle's current owner (an ownership not ended)."""
    if not vehicle_ids:
        return {}
    return {
        row.vehicle_id: row.customer_id
        for row in session.execute(
            select(Ownership.vehicle_id, Ownership.customer_id).where(
                Ownership.vehicle_id.in_(list(vehicle_ids)), Ownership.ended_on.is_(None)
            )
        )
    }


def _current_owners(session: ZonedSession, vins: Sequence[str]) -> dict[str, Owner]:
    vehicles = _vehicles(session, vins)
    owned = _ownerships(session, [vehicle_id for vehicle_id, _market in vehicles.values()])
    known = _known(session, set(owned.values()))
    found = {}
    for vin, (vehicle_id, _market) in vehicles.items():
        customer = known.get(owned.get(vehicle_id))  # type: ignore[arg-type]
        if customer is not None:
            found[vin] = Owner(customer.id, customer.market)
    return found


# vehicles

_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_CHASSIS = re.compile(r"^[A-Z0-9]{2,8}-?[0-9]{1,9}$")
_TRANSLITERATION = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    """The check digit ISO 3779's position 9 holds where a market requires one (FMVSS 115,
    GB 16735): the weighted sum of the transliterated characters modulo 11, 10 as X."""
    total = sum(_TRANSLITERATION[char] * weight for char, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_vin(value: str, rule: VinRule) -> str:
    """The VIN in capitals, checked as the market's pack says.

    :raises RowProblem: naming what is wrong with it.
    """
    vin = "".join(value.split()).upper()
    if rule is VinRule.CHASSIS and len(vin) != 17:
        if _CHASSIS.match(vin):
            return vin
        raise RowProblem(
            _("VIN {vin!r} is neither 17 characters nor a chassis number (ZVW30-1234567)").format(
                vin=value
            )
        )
    if not _VIN.match(vin):
        raise RowProblem(
            _("VIN {vin!r} is not 17 letters and digits without I, O and Q").format(vin=value)
        )
    if rule is VinRule.CHECKED and vin[8] != vin_check_digit(vin):
        raise RowProblem(
            _("VIN {vin!r} fails its check digit (position 9 should be {digit})").format(
                vin=vin, digit=vin_check_digit(vin)
            )
        )
    return vin


_DATE = re.compile(r"^(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})\D?(?:[ T].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


def parse_date(value: str, name: str) -> date:
    """A date as dealers' systems write it: 2024-03-01, 2024/3/1, 2024年3月1日, 20240301,
    or day first, 01/03/2024.

    :raises RowProblem: for anything else.
    """
    text = value.strip()
    for pattern, order in ((_DATE, (1, 2, 3)), (_COMPACT_DATE, (1, 2, 3)), (_DAY_FIRST, (3, 2, 1))):
        found = pattern.match(text)
        if found:
            year, month, day = (int(found.group(i)) for i in order)
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise RowProblem(_("{field} {value!r} is not a date").format(field=name, value=value))


class Owned(Protocol):
    row: Row
    identities: list[IdentityRef]


OwnedRecord = TypeVar("OwnedRecord", bound=Owned)


class OwnedHandler(Handler):
    """Records owned by a customer found by their identities (vehicles, contracts)."""

    def read_owned(
        self,
        session: ZonedSession,
        batch: Sequence[Row],
        record: Callable[[Row], OwnedRecord],
    ) -> tuple[dict[int, str | Issue], list[OwnedRecord], dict[IdentityRef, Owner]]:
        """The batch's rows as records, each row that cannot be one as its issue (by line),
        and the customers the records' identities belong to, found in one lookup."""
        outcomes: dict[int, str | Issue] = {}
        records: list[OwnedRecord] = []
        for row in batch:
            try:
                records.append(record(row))
            except RowProblem as exc:
                outcomes[row.line] = self.issue(row, str(exc))
        owners = Customers(session, self.hooks).owners(
            list(dict.fromkeys(i for found in records for i in found.identities))
        )
        return outcomes, records, owners

    def owner(
        self, row: Row, identities: Sequence[IdentityRef], owners: Mapping[IdentityRef, Owner]
    ) -> Owner | Issue:
        holders = {owners[i] for i in identities if i in owners}
        if not holders:
            return self.issue(
                row,
                _("no customer has {identities}: import the customers first").format(
                    identities=_owner_text(identities)
                ),
            )
        if len({holder.id for holder in holders}) > 1:
            return self.issue(
                row,
                _("its identities ({identities}) belong to {count} different customers").format(
                    identities=_owner_text(identities), count=len(holders)
                ),
                "conflict",
            )
        return holders.pop()


@dataclass
class VehicleRecord:
    row: Row
    identities: list[IdentityRef]
    vin: str
    make: str | None
    model: str | None
    model_year: int | None
    purchased_on: date


class VehicleHandler(OwnedHandler):
    kind = "vehicles"

    def record(self, row: Row) -> VehicleRecord:
        if row.problem is not None:
            raise RowProblem(row.problem)
        vin = self.value(row, "vin")
        if vin is None:
            raise RowProblem(_("no VIN"))
        identities = self.identities_or(row, _("no phone, e-mail or customer number of the owner"))
        year = self.value(row, "model_year")
        model_year = None
        if year is not None:
            if not year.isdigit() or not 1886 <= int(year) <= date.today().year + 2:
                raise RowProblem(_("model year {value!r} is not a year").format(value=year))
            model_year = int(year)
        purchased = self.value(row, "purchased_on")
        return VehicleRecord(
            row,
            identities,
            check_vin(vin, self.pack.vin_rule),
            (self.value(row, "make") or "")[:60] or None,
            (self.value(row, "model") or "")[:60] or None,
            model_year,
            parse_date(purchased, "purchased_on") if purchased else date.today(),
        )

    def apply(self, session: ZonedSession, batch: Sequence[Row]) -> list[str | Issue]:
        outcomes, records, owners = self.read_owned(session, batch, self.record)
        vehicles = {
            vin: vehicle_id
            for vin, (vehicle_id, _m) in _vehicles(session, [r.vin for r in records]).items()
        }
        current = _ownerships(session, list(vehicles.values()))
        writes = Writes()
        for record in records:
            line = record.row.line
            owner = self.owner(record.row, record.identities, owners)
            if isinstance(owner, Issue):
                outcomes[line] = owner
                continue
            vehicle_id = vehicles.get(record.vin)
            if vehicle_id is None:
                vehicle_id = writes.add(
                    Vehicle,
                    market=self.market,
                    vin=record.vin,
                    make=record.make,
                    model=record.model,
                    model_year=record.model_year,
                )
                vehicles[record.vin] = vehicle_id
                outcome = "created"
            elif current.get(vehicle_id) == owner.id:
                outcomes[line] = "matched"
                continue
            elif vehicle_id in current:
                outcomes[line] = self.issue(
                    record.row,
                    _("vehicle {vin} is owned by another customer: not changed").format(
                        vin=record.vin
                    ),
                    "conflict",
                )
                continue
            else:
                outcome = "merged"
            writes.add(
                Ownership,
                market=self.market,
                vehicle_id=vehicle_id,
                customer_id=owner.id,
                dealer_id=self.organization_id,
                started_on=record.purchased_on,
                ended_on=None,
            )
            current[vehicle_id] = owner.id
            self.audit(
                writes,
                market=self.market,
                action=f"vehicle.import_{outcome}",
                subject_type="vehicle",
                subject=vehicle_id,
                line=line,
            )
            outcomes[line] = outcome
        writes.flush(session)
        return [outcomes[row.line] for row in batch]


# contracts


_CONTRACT_WORDS = {
    **{kind.value: kind for kind in ContractKind},
    "sale": ContractKind.SALES,
    "finance": ContractKind.FINANCING,
    "service plan": ContractKind.SERVICE,
    "销售": ContractKind.SALES,
    "租赁": ContractKind.LEASE,
    "贷款": ContractKind.FINANCING,
    "金融": ContractKind.FINANCING,
    "保养": ContractKind.SERVICE,
    "販売": ContractKind.SALES,
    "リース": ContractKind.LEASE,
    "ローン": ContractKind.FINANCING,
    "メンテナンス": ContractKind.SERVICE,
    "판매": ContractKind.SALES,
    "리스": ContractKind.LEASE,
    "할부": ContractKind.FINANCING,
    "정비": ContractKind.SERVICE,
}


@dataclass
class ContractRecord:
    row: Row
    identities: list[IdentityRef]
    kind: ContractKind
    status: ContractStatus
    reference: str
    starts_on: date
    ends_on: date | None
    amount: Decimal | None
    currency: str | None
    vin: str | None


class ContractHandler(OwnedHandler):
    kind = "contracts"

    def record(self, row: Row) -> ContractRecord:
        if row.problem is not None:
            raise RowProblem(row.problem)
        identities = self.identities_or(
            row, _("no phone, e-mail or customer number of the customer")
        )
        word = (self.value(row, "contract_kind") or "").casefold()
        kind = _CONTRACT_WORDS.get(word)
        if kind is None:
            raise RowProblem(
                _("contract type {value!r} is none of {kinds}").format(
                    value=word, kinds=", ".join(k.value for k in ContractKind)
                )
            )
        status_word = (self.value(row, "contract_status") or "active").casefold()
        try:
            status = ContractStatus(status_word)
        except ValueError:
            raise RowProblem(
                _("contract status {value!r} is none of {statuses}").format(
                    value=status_word, statuses=", ".join(s.value for s in ContractStatus)
                )
            ) from None
        reference = self.value(row, "reference")
        if reference is None or len(reference) > 64:
            raise RowProblem(_("a contract number (up to 64 characters) is required"))
        starts = self.value(row, "starts_on")
        if starts is None:
            raise RowProblem(_("no start date"))
        starts_on = parse_date(starts, "starts_on")
        ends = self.value(row, "ends_on")
        ends_on = parse_date(ends, "ends_on") if ends else None
        if ends_on is not None and ends_on < starts_on:
            raise RowProblem(_("the contract ends before it starts"))
        currency = (self.value(row, "currency") or "").upper() or None
        amount_text = self.value(row, "amount")
        amount = None
        if amount_text is not None:
            try:
                amount = Decimal(amount_text.replace(",", ""))
                if not amount.is_finite() or amount < 0:
                    raise InvalidOperation
                to_minor_units(amount, currency or self.pack.market(self.market).currency)
            except (InvalidOperation, ValueError) as exc:
                reason = str(exc) if isinstance(exc, ValueError) and str(exc) else ""
                raise RowProblem(
                    reason or _("amount {value!r} is not a sum of money").format(value=amount_text)
                ) from None
        vin = self.value(row, "vin")
        return ContractRecord(
            row,
            identities,
            kind,
            status,
            reference,
            starts_on,
            ends_on,
            amount,
            currency or (self.pack.market(self.market).currency if amount is not None else None),
            check_vin(vin, self.pack.vin_rule) if vin else None,
        )

    def apply(self, session: ZonedSession, batch: Sequence[Row]) -> list[str | Issue]:
        outcomes, records, owners = self.read_owned(session, batch, self.record)
        vehicles = _vehicles(session, [r.vin for r in records if r.vin])
        existing = {
            row.reference: row.customer_id
            for row in session.execute(
                select(Contract.reference, Contract.customer_id).where(
                    Contract.organization_id == self.organization_id,
                    Contract.reference.in_([r.reference for r in records]),
                )
            )
        }
        writes = Writes()
        for record in records:
            line = record.row.line
            owner = self.owner(record.row, record.identities, owners)
            if isinstance(owner, Issue):
                outcomes[line] = owner
                continue
            if record.reference in existing:
                outcomes[line] = (
                    "matched"
                    if existing[record.reference] == owner.id
                    else self.issue(
                        record.row,
                        _("contract {reference} belongs to another customer").format(
                            reference=record.reference
                        ),
                        "conflict",
                    )
                )
                continue
            vehicle_id = None
            if record.vin is not None:
                if record.vin not in vehicles:
                    outcomes[line] = self.issue(
                        record.row,
                        _("no vehicle has VIN {vin}: import the vehicles first").format(
                            vin=record.vin
                        ),
                    )
                    continue
                vehicle_id = vehicles[record.vin][0]
            contract_id = writes.add(
                Contract,
                market=self.market,
                customer_id=owner.id,
                vehicle_id=vehicle_id,
                organization_id=self.organization_id,
                kind=record.kind,
                status=record.status,
                reference=record.reference,
                starts_on=record.starts_on,
                ends_on=record.ends_on,
                amount=record.amount,
                currency=record.currency,
            )
            existing[record.reference] = owner.id
            # As a contract entered one by one: a step naming only its kind (the terms are
            # financial data, which residency may keep apart from the timeline).
            writes.add(
                Interaction,
                market=owner.market,
                customer_id=owner.id,
                channel="contract",
                direction=Direction.INTERNAL,
                touchpoint=record.kind.value,
                text=None,
                summary=f"{record.kind.value} contract ({record.status.value})",
                external_id=None,
                failure=None,
                occurred_at=writes.now,
                organization_id=None,
                case_id=None,
            )
            self.audit(
                writes,
                market=self.market,
                action="contract.imported",
                subject_type="contract",
                subject=contract_id,
                line=line,
            )
            outcomes[line] = "created"
        writes.flush(session)
        return [outcomes[row.line] for row in batch]


HANDLERS: dict[str, type[Handler]] = {
    "customers": CustomerHandler,
    "vehicles": VehicleHandler,
    "contracts": ContractHandler,
}


def rejects_file_name(path: Path) -> Path:
    """Where the CLI writes an import's rejects by default: beside the file."""
    return path.with_name(f"{path.stem}.rejects.csv")
