"""Timeline writes and reads through the ORM, against raw SQL on the same zone in the same run.

    python benchmarks/timeline.py             # embedded SQLite in a temporary folder
    python benchmarks/timeline.py --postgres  # a scratch database on the test PostgreSQL server

The PostgreSQL server is the one named by REGIOCRM_TEST_POSTGRES_URL (default: the local
``test`` database's server); a database is created for the run and dropped after it.
Prints the throughput of each path and the ORM/raw-SQL ratio. The ORM read runs twice: on a
deployment of that one zone, and on one with four more, empty SQLite zones beside it (as the
embedded default has five), where every query asks each zone and merges the answers.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from measure import timed
from sqlalchemy import Engine, select, text

from regiocrm.models import Direction, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import scratch_database

BATCH = 1000
PAGE = 50


def make_rows(count: int, customers: list[uuid.UUID]) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "id": new_id(),
            "market": "CN",
            "customer_id": random.choice(customers),
            "channel": "wechat",
            "direction": Direction.INBOUND,
            "touchpoint": "wechat:oa",
            "text": f"message {n}",
            "occurred_at": start + timedelta(seconds=n),
            "created": start,
            "updated": start,
        }
        for n in range(count)
    ]


def db_value(engine: Engine, value: Any) -> Any:
    """A value as the raw driver takes it: SQLite keeps UUIDs as 32 hex characters."""
    if isinstance(value, uuid.UUID) and engine.dialect.name == "sqlite":
        return value.hex
    if isinstance(value, Direction):
        return value.value
    if isinstance(value, datetime) and engine.dialect.name == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def run(url: str, count: int, customer_count: int) -> None:
    # One zone, the one China's data is placed in: the rows are Chinese customers' timelines.
    hooks = Hooks(get_plugin_manager(entry_points=False))
    stores = ZoneStores.open(RegiocrmSettings(zones={"cn": url}, home_zone="cn"), hooks)
    Migrator(stores, hooks).upgrade()
    engine = stores.engine("cn")
    customers = [uuid.uuid4() for _ in range(customer_count)]
    print(f"zone: {engine.url.render_as_string(hide_password=True)}")

    orm_rows, raw_rows = make_rows(count, customers), make_rows(count, customers)
    columns = list(orm_rows[0])
    raw_insert = text(
        f"INSERT INTO interactions ({', '.join(columns)})"
        f" VALUES ({', '.join(':' + column for column in columns)})"
    )
    raw_params = [{k: db_value(engine, v) for k, v in row.items()} for row in raw_rows]

    def orm_write() -> None:
        for start in range(0, count, BATCH):
            with stores.session() as session:
                session.add_all(Interaction(**row) for row in orm_rows[start : start + BATCH])

    def raw_write() -> None:
        for start in range(0, count, BATCH):
            with engine.begin() as connection:
                connection.execute(raw_insert, raw_params[start : start + BATCH])

    sample = customers[:200]
    raw_select = text(
        "SELECT * FROM interactions WHERE customer_id = :customer"
        f" ORDER BY occurred_at DESC LIMIT {PAGE}"
    )

    def orm_reader(zoned: ZoneStores) -> Callable[[], None]:
        def read() -> None:
            with zoned.session() as session:
                for customer in sample:
                    session.scalars(
                        select(Interaction)
                        .where(Interaction.customer_id == customer)
                        .order_by(Interaction.occurred_at.desc())
                        .limit(PAGE)
                    ).all()

        return read

    def raw_read() -> None:
        with engine.connect() as connection:
            for customer in sample:
                connection.execute(raw_select, {"customer": db_value(engine, customer)}).all()

    with tempfile.TemporaryDirectory() as folder:
        others = {zone: f"sqlite:///{folder}/{zone}.db" for zone in ("main", "jp", "kr", "au")}
        wide = ZoneStores.open(RegiocrmSettings(zones={"cn": url, **others}, home_zone="cn"), hooks)
        Migrator(wide, hooks).upgrade(list(others))

        orm_w = timed(f"write: ORM, {BATCH} per commit", count, "rows", orm_write)
        raw_w = timed(f"write: raw SQL, {BATCH} per commit", count, "rows", raw_write)
        orm_r = timed(
            f"read: timeline page of {PAGE}, ORM", len(sample), "pages", orm_reader(stores)
        )
        raw_r = timed(f"read: timeline page of {PAGE}, raw", len(sample), "pages", raw_read)
        wide_r = timed(
            f"read: page of {PAGE}, ORM over 5 zones", len(sample), "pages", orm_reader(wide)
        )
        wide.dispose()
    # Rates: raw/ORM is how many times longer the ORM takes.
    print(
        f"ratio ORM/raw: write {raw_w / orm_w:.2f}x, read {raw_r / orm_r:.2f}x,"
        f" read over 5 zones {raw_r / wide_r:.2f}x"
    )
    stores.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres", action="store_true", help="run on a scratch PostgreSQL database"
    )
    parser.add_argument("--rows", type=int, default=20000, help="interactions to write each way")
    parser.add_argument("--customers", type=int, default=500, help="customers they spread over")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.postgres:
            url = stack.enter_context(scratch_database()).render_as_string(hide_password=False)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = f"sqlite:///{folder / 'bench.db'}"
        run(url, args.rows, args.customers)


if __name__ == "__main__":
    main()
