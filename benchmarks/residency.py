"""Rows per second moved by ``residency migrate``, against raw SQL moving the same rows
between the same two databases in the same run.

    python benchmarks/residency.py              # two SQLite zones in a temporary folder
    python benchmarks/residency.py --postgres   # two scratch databases on the test server

China's timeline entries sit in zone ``jp``; the rule narrows to ``cn`` and they move. The
migration is the real one: batches copied with an upsert, read back and compared column by
column (a SHA-256 over each row), recorded as an audit event, then deleted from the source.
The reference does the least a careful mover must, in raw SQL (text statements, which the
residency guard does not inspect) and in the same batches: read a batch, insert it into the
target, count it there, delete it from the source.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from measure import timed
from sqlalchemy import bindparam, func, select, text

from regiocrm.models import Direction, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.relocation import DEFAULT_BATCH, Migration, plan, survey
from regiocrm.testing import scratch_database

HOSTED_IN_JAPAN = {"placement": {"CN": {"crm": "jp"}}}
ONLY_IN_CHINA = {"restrict": {"CN": {"crm": ["cn"]}}}
COLUMNS = [column.name for column in Interaction.__table__.columns]


@contextmanager
def deployment(
    zones: dict[str, str], residency: dict[str, Any]
) -> Iterator[tuple[Hooks, ZoneStores]]:
    hooks = Hooks(get_plugin_manager(entry_points=False))
    settings = load_settings(hooks, zones=zones, home_zone="cn", residency=residency)
    stores = ZoneStores.open(settings, hooks)
    try:
        yield hooks, stores
    finally:
        stores.dispose()


def seed(zones: dict[str, str], rows: int) -> None:
    """``rows`` timeline entries of Chinese customers, placed in zone jp."""
    with deployment(zones, HOSTED_IN_JAPAN) as (hooks, stores):
        Migrator(stores, hooks).upgrade()
        start = datetime(2026, 1, 1, tzinfo=UTC)
        customers = [new_id() for _ in range(max(rows // 20, 1))]
        with stores.engine("jp").begin() as connection:
            for offset in range(0, rows, 5000):
                connection.execute(
                    Interaction.__table__.insert(),
                    [
                        {
                            "id": new_id(),
                            "market": "CN",
                            "customer_id": customers[n % len(customers)],
                            "channel": "wechat",
                            "direction": Direction.INBOUND,
                            "touchpoint": "wx_cn",
                            "text": f"消息 {n}",
                            "occurred_at": start + timedelta(seconds=n),
                            "created": start,
                            "updated": start,
                        }
                        for n in range(offset, min(offset + 5000, rows))
                    ],
                )


def migrate(zones: dict[str, str], rows: int, batch: int) -> float:
    with deployment(zones, ONLY_IN_CHINA) as (hooks, stores):
        moves = plan(survey(stores))

        def run() -> None:
            [moved] = Migration(stores, hooks, batch_size=batch).run(moves)
            assert moved.rows == rows

        return timed(f"residency migrate, batches of {batch}", rows, "rows", run)


def raw_sql(zones: dict[str, str], rows: int, batch: int) -> float:
    with deployment(zones, ONLY_IN_CHINA) as (_hooks, stores):
        source, target = stores.engine("jp"), stores.engine("cn")
        read = text(f"SELECT {', '.join(COLUMNS)} FROM interactions ORDER BY id LIMIT {batch}")
        write = text(
            f"INSERT INTO interactions ({', '.join(COLUMNS)})"
            f" VALUES ({', '.join(':' + column for column in COLUMNS)})"
        )
        count = text("SELECT count(*) FROM interactions WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        delete = text("DELETE FROM interactions WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )

        def run() -> None:
            moved = 0
            while True:
                with source.begin() as connection:
                    found = [dict(row._mapping) for row in connection.execute(read)]
                if not found:
                    break
                ids = [row["id"] for row in found]
                with target.begin() as connection:
                    connection.execute(write, found)
                with target.begin() as connection:
                    assert connection.execute(count, {"ids": ids}).scalar_one() == len(ids)
                with source.begin() as connection:
                    connection.execute(delete, {"ids": ids})
                moved += len(found)
            assert moved == rows

        return timed(f"raw SQL, batches of {batch}", rows, "rows", run)


def checked(zones: dict[str, str], rows: int) -> None:
    with deployment(zones, ONLY_IN_CHINA) as (_hooks, stores):
        for zone, expected in (("jp", 0), ("cn", rows)):
            with stores.engine(zone).connect() as connection:
                found = connection.execute(
                    select(func.count()).select_from(Interaction)
                ).scalar_one()
            assert found == expected, (zone, found, expected)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", action="store_true", help="two scratch PostgreSQL databases")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args()
    with ExitStack() as stack:
        pairs = []
        for _ in range(2):  # fresh zones for each path
            if args.postgres:
                pairs.append(
                    {
                        zone: stack.enter_context(scratch_database()).render_as_string(
                            hide_password=False
                        )
                        for zone in ("cn", "jp")
                    }
                )
            else:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                pairs.append({zone: f"sqlite:///{folder / zone}.db" for zone in ("cn", "jp")})
        print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.rows} rows from jp to cn")
        for zones in pairs:
            seed(zones, args.rows)
        reference = raw_sql(pairs[0], args.rows, args.batch)
        moved = migrate(pairs[1], args.rows, args.batch)
        for zones in pairs:
            checked(zones, args.rows)
        print(f"migrate / raw SQL: {moved / reference:6.1%}")


if __name__ == "__main__":
    main()
