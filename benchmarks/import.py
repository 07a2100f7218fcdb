"""Importing a dealer's customer file, against raw inserts of the same normalised rows in
the same run.

    python benchmarks/import.py                        # 1,000,000 customers, SQLite
    python benchmarks/import.py --postgres             # the CN zone on a scratch PostgreSQL
    python benchmarks/import.py --rows 100000
    python benchmarks/import.py --shanghai --rows 100000   # the issue's done-when scenario

The default file: customers with a name, a mainland mobile number and an e-mail address,
UTF-8, imported into CN for one dealer (``regiocrm.crm.imports.Importer``, as the CLI and
the API run it: normalising every phone number with ``phonenumbers`` and every e-mail
address, looking identities up a batch at a time, inserting customers, identities and the
registration step linking each customer to the dealer and naming the import). Then
the same rows in a second file (every row a match), then the reference: the same
customers and identities, already normalised, inserted by ``sqlite3.executemany`` (or
``COPY`` on PostgreSQL) into an empty database with the same schema, a transaction per
batch. What parsing costs is measured apart: ``phonenumbers`` and ``email-validator`` on
every row alone.

``--shanghai``: the done-when scenario instead: GB18030, Chinese headers, 1% bad rows, 5%
of the customers known by phone before; it checks the counts, that the rejects are exactly
the bad rows, and that a second run creates nothing, and prints the figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.imports import BATCH_ROWS, Importer, ImportRequest
from regiocrm.models import Customer, Identity, OrganizationKind
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores, sqlite_path, table_of
from regiocrm.testing import scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dealer_files import shanghai_file

CHUNK = BATCH_ROWS  # the reference commits as often as the import
ZONES = ("main", "cn", "jp", "kr", "au")


def rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Name", "Mobile", "Email"])
        for n in range(rows):
            writer.writerow([f"Customer {n}", f"139{n:08d}", f"customer{n}@example.cn"])


def normalised(rows: int) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """The same customers and identities as the file's, normalised, a batch at a time."""
    now = datetime.now(UTC).isoformat()
    for offset in range(0, rows, CHUNK):
        people, identities = [], []
        for n in range(offset, min(offset + CHUNK, rows)):
            person = new_id().hex
            people.append((person, "CN", "person", "Customer", str(n), now, now))
            identities.append((new_id().hex, "CN", person, "phone", f"+86139{n:08d}", 0, now, now))
            identities.append(
                (new_id().hex, "CN", person, "email", f"customer{n}@example.cn", 0, now, now)
            )
        yield people, identities


@contextmanager
def deployment(folder: Path, postgres: bool) -> Iterator[tuple[Hooks, ZoneStores]]:
    with ExitStack() as stack:
        zones = {zone: f"sqlite:///{folder / zone}.db" for zone in ZONES}
        if postgres:
            database = stack.enter_context(scratch_database())
            zones["cn"] = database.render_as_string(hide_password=False)
        hooks = Hooks(get_plugin_manager(entry_points=False))
        stores = ZoneStores.open(load_settings(hooks, zones=zones), hooks)
        stack.callback(stores.dispose)
        Migrator(stores, hooks).upgrade()
        yield hooks, stores


def organization(stores: ZoneStores) -> object:
    with stores.session() as session:
        return create_organization(
            session, name="Shanghai Motors", kind=OrganizationKind.DEALER, market="CN"
        ).id


def timed_import(importer: Importer, request: ImportRequest) -> tuple[float, dict]:
    began = time.perf_counter()
    opened = importer.open_job(request)
    report = importer.run(request, opened.id)
    return time.perf_counter() - began, report.as_dict()


def raw_sqlite(path: Path, rows: int) -> float:
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    began = time.perf_counter()
    for people, identities in normalised(rows):
        with connection:
            connection.executemany(
                "INSERT INTO customers (id, market, kind, family_name, given_name, created,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                people,
            )
            connection.executemany(
                "INSERT INTO identities (id, market, customer_id, kind, value, verified,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                identities,
            )
    seconds = time.perf_counter() - began
    connection.close()
    return seconds


def raw_copy(stores: ZoneStores, rows: int) -> float:
    engine = stores.engine("cn")
    began = time.perf_counter()
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        for people, identities in normalised(rows):
            with raw.cursor() as cursor:  # type: ignore[attr-defined]
                with cursor.copy(
                    "COPY customers (id, market, kind, family_name, given_name, created,"
                    " updated) FROM STDIN"
                ) as copy:
                    for row in people:
                        copy.write_row(row)
                with cursor.copy(
                    "COPY identities (id, market, customer_id, kind, value, verified, created,"
                    " updated) FROM STDIN"
                ) as copy:
                    for row in identities:
                        copy.write_row((*row[:5], bool(row[5]), *row[6:]))
            raw.commit()
    return time.perf_counter() - began


def parsing(hooks: Hooks, rows: int) -> float:
    """Seconds ``phonenumbers`` and ``email-validator`` take for the file's rows alone."""
    sample = min(rows, 50_000)
    began = time.perf_counter()
    for n in range(sample):
        hooks.normalize_identity(kind="phone", value=f"139{n:08d}", market="CN")
        hooks.normalize_identity(kind="email", value=f"customer{n}@example.cn", market="CN")
    return (time.perf_counter() - began) * rows / sample


def benchmark(rows: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        file = folder / "customers.csv"
        write_file(file, rows)
        again = folder / "customers-again.csv"
        again.write_bytes(file.read_bytes() + b"\r\n")  # the same rows, another file
        engine = "PostgreSQL" if postgres else "SQLite"
        print(f"{engine}: {rows:,} customers with phone and e-mail, {file.stat().st_size:,} bytes")
        (folder / "ours").mkdir()
        with deployment(folder / "ours", postgres) as (hooks, stores):
            importer = Importer(stores, hooks)
            org = organization(stores)
            first, report = timed_import(
                importer,
                ImportRequest("customers", file, "CN", org),  # type: ignore[arg-type]
            )
            assert report["created"] == rows, report
            peak = rss_mib()
            second, report = timed_import(
                importer,
                ImportRequest("customers", again, "CN", org),  # type: ignore[arg-type]
            )
            assert report["matched"] == rows, report
            parse = parsing(hooks, rows)
        (folder / "raw").mkdir()
        with deployment(folder / "raw", postgres) as (_hooks, stores):
            if postgres:
                reference = raw_copy(stores, rows)
                label = "COPY"
            else:
                path = sqlite_path(stores.url("cn"))
                assert path is not None
                stores.dispose()
                reference = raw_sqlite(path, rows)
                label = "sqlite3.executemany"
        print(f"{'import (all new)':<34} {first:8.1f} s {rows / first:10,.0f} rows/s")
        print(f"{'import again (all matches)':<34} {second:8.1f} s {rows / second:10,.0f} rows/s")
        print(f"{'raw ' + label:<34} {reference:8.1f} s {rows / reference:10,.0f} rows/s")
        print(f"{'parsing alone (phone + e-mail)':<34} {parse:8.1f} s {rows / parse:10,.0f} rows/s")
        print(
            f"import / raw: {reference / first:.2f}×   matches / raw: {reference / second:.2f}×"
            f"   peak RSS of the import: {peak:.0f} MiB"
        )


def shanghai(rows: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "zones").mkdir()
        file = shanghai_file(folder, rows)
        with deployment(folder / "zones", postgres) as (hooks, stores):
            org = organization(stores)
            began = time.perf_counter()
            people = [
                {
                    "id": new_id(),
                    "market": "CN",
                    "kind": "person",
                    "created": datetime.now(UTC),
                    "updated": datetime.now(UTC),
                }
                for _ in file.known
            ]
            # The known customers, as the channels left them: a phone number, no name.
            zone = stores.residency.zone_of(Customer, {"market": "CN"})
            with stores.session() as session:
                connection = session.zone_connection(zone)
                connection.execute(insert(table_of(Customer)), people)
                connection.execute(
                    insert(table_of(Identity)),
                    [
                        {
                            "id": new_id(),
                            "market": "CN",
                            "customer_id": person["id"],
                            "kind": "phone",
                            "value": f"+86139{number:08d}",
                            "verified": False,
                            "created": person["created"],
                            "updated": person["updated"],
                        }
                        for person, number in zip(people, file.known, strict=True)
                    ],
                )
            print(
                f"{len(people):,} customers known by phone, in {time.perf_counter() - began:.1f} s"
            )
            importer = Importer(stores, hooks)
            request = ImportRequest("customers", file.path, "CN", org)  # type: ignore[arg-type]
            seconds, report = timed_import(importer, request)
            bad, known = len(file.bad_lines), len(file.known)
            assert (report["created"], report["merged"], report["rejected"]) == (
                rows - bad - known,
                known,
                bad,
            ), report
            assert [issue["line"] for issue in report["issues"]] == file.bad_lines
            rejects = io.StringIO()
            from regiocrm.crm.imports import write_rejects

            full = importer.report(importer.open_job(request).id)
            assert write_rejects(rejects, full.header, full.issues) == bad
            with stores.session() as session:
                # The known customers took the rows' names (merged): none is left nameless.
                nameless = session.scalars(
                    select(Customer.id).where(Customer.family_name.is_(None))
                ).all()
                assert nameless == [], f"{len(nameless)} customers without a name"
            print(
                f"Shanghai, {rows:,} rows in GB18030: {seconds:.1f} s"
                f" ({rows / seconds:,.0f} rows/s), {report['created']:,} created,"
                f" {report['merged']:,} merged, {report['rejected']:,} rejected (exactly the"
                f" bad rows), peak RSS {rss_mib():.0f} MiB"
            )
            began = time.perf_counter()
            opened = importer.open_job(request)
            assert opened.done
            print(
                f"second run: already done, nothing created ({time.perf_counter() - began:.1f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true", help="the CN zone on PostgreSQL")
    parser.add_argument("--shanghai", action="store_true", help="the done-when scenario")
    args = parser.parse_args()
    if args.shanghai:
        shanghai(args.rows, args.postgres)
    else:
        benchmark(args.rows, args.postgres)


if __name__ == "__main__":
    main()
