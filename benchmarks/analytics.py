"""The analytics export of a large timeline beside a raw-SQL reference, in the same run.

    python benchmarks/analytics.py                    # 100,000 interactions, 10,000 customers
    python benchmarks/analytics.py --rows 20000

A fresh embedded SQLite deployment (a temporary folder) holds ``--rows`` interactions of
Chinese customers over 30 days, with the customers and an identity each. Timed:

- ``regiocrm analytics export``'s work (:func:`export_analytics`): every table of every
  zone, pseudonymised (keys hashed, personal columns left out), a Parquet file per zone,
  table and day, audited;
- the reference: the same interactions read with ``sqlite3`` straight from the zone's file,
  all columns, and written as one Parquet file a day by pyarrow with no pseudonymising.

It prints each rate, the ratio export/reference, and the process's peak RSS after seeding
and after the export (rows are read and written in chunks, so it should barely move).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from measure import timed
from pydantic import SecretStr

from regiocrm.interfaces.terms import Direction
from regiocrm.models import Customer, Identity, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores, sqlite_path
from regiocrm.residency.analytics import export_analytics

START = datetime(2026, 11, 1, tzinfo=UTC)
KEY = SecretStr("benchmark-pseudonym-key-0123456789abcdef")
BATCH = 5000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(stores: ZoneStores, rows: int, customers: int) -> None:
    people = [new_id() for _ in range(customers)]
    with stores.engine("cn").begin() as connection:
        connection.execute(
            Customer.__table__.insert(),
            [
                {"id": c, "market": "CN", "family_name": "王", "given_name": f"客户{n}"}
                for n, c in enumerate(people)
            ],
        )
        connection.execute(
            Identity.__table__.insert(),
            [
                {
                    "id": new_id(),
                    "market": "CN",
                    "customer_id": c,
                    "kind": "phone",
                    "value": f"+86138{n:08d}",
                }
                for n, c in enumerate(people)
            ],
        )
        for offset in range(0, rows, BATCH):
            connection.execute(
                Interaction.__table__.insert(),
                [
                    {
                        "id": new_id(),
                        "market": "CN",
                        "customer_id": people[n % customers],
                        "channel": "wechat",
                        "direction": Direction.INBOUND,
                        "touchpoint": "wx_cn",
                        "text": f"消息 {n}: 你好，我想预约保养",
                        "occurred_at": START + timedelta(seconds=26 * n),
                        "created": START + timedelta(days=30 * n // rows),
                        "updated": START,
                    }
                    for n in range(offset, min(offset + BATCH, rows))
                ],
            )


def reference(database: Path, out: Path) -> None:
    """Every interaction, read raw and written as one Parquet file a day, no pseudonyms."""
    connection = sqlite3.connect(database)
    try:
        cursor = connection.execute(
            "SELECT * FROM interactions ORDER BY created, id"  # the export's order
        )
        names = [d[0] for d in cursor.description]
        created = names.index("created")
        by_day: dict[str, list[tuple[object, ...]]] = defaultdict(list)
        while chunk := cursor.fetchmany(10_000):
            for row in chunk:
                by_day[str(row[created])[:10]].append(row)
            for day, day_rows in by_day.items():
                folder = out / f"day={day}"
                folder.mkdir(parents=True, exist_ok=True)
                columns = list(zip(*day_rows, strict=True))
                table = pa.table(
                    {n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)}
                )
                path = folder / f"part-{len(list(folder.iterdir()))}.parquet"
                pq.write_table(table, path)
            by_day.clear()
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        hooks = Hooks(get_plugin_manager(entry_points=False))
        settings = RegiocrmSettings(data_dir=Path(folder) / "var")
        stores = ZoneStores.open(settings, hooks)
        try:
            Migrator(stores, hooks).upgrade()
            seed(stores, args.rows, args.customers)
            seeded = peak_rss_mib()
            total = args.rows + 2 * args.customers
            export_rate = timed(
                "analytics export (every table)",
                total,
                "rows",
                lambda: export_analytics(stores, hooks, Path(folder) / "lake", key=KEY),
            )
            exported = peak_rss_mib()
            database = sqlite_path(stores.url("cn"))
            assert database is not None
            raw_rate = timed(
                "raw sqlite3 + pyarrow (interactions)",
                args.rows,
                "rows",
                lambda: reference(database, Path(folder) / "raw"),
            )
        finally:
            stores.dispose()
    print(f"{'export / raw':<40} {export_rate / raw_rate:7.2f}x")
    print(f"{'peak RSS after seeding':<40} {seeded:7.0f} MiB")
    print(f"{'peak RSS after the export':<40} {exported:7.0f} MiB")


if __name__ == "__main__":
    main()
