"""Counting a campaign's audience over a million customers, consent filtered, against the
same count in raw SQL on the same database in the same run.

    python benchmarks/segments.py                   # the embedded SQLite
    python benchmarks/segments.py --postgres        # a scratch database on the test server
    python benchmarks/segments.py --customers 200000

Japanese customers, most with a LINE identity; most have given or withdrawn consent to
marketing messages (on LINE, or on every channel), some several times; a fifth have a lease
ending within 60 days. Two audiences are counted: everyone in JP reachable on LINE with
their consent (the consent condition evaluated for every customer), and the renewal
campaign's (leases ending within 60 days, then consent). The counts are the segment's own
statements (``regiocrm.crm.segments.Evaluation.audience``, one per market, in the market's
zone); the reference is the same question written by hand in SQL. Both must agree.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from regiocrm.crm.segments import Evaluation, Segment
from regiocrm.models import Consent, Contract, Customer, Identity
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import scratch_database

CHUNK = 20_000
TODAY = date.today()
START = datetime(2025, 1, 1, tzinfo=UTC)

EVERYONE = Segment.parse({"markets": ["JP"]})
RENEWALS = Segment.parse({"markets": ["JP"], "contract_ends_within_days": 60})

# By hand, as a database developer would write it for each: the identity, then the latest
# consent entry for LINE or every channel, which must be a grant. SQLite probes an index row
# by row, so the latest entry is looked up; PostgreSQL joins sets, so it is the grant with no
# later entry (an anti-join).
IDENTITY = "EXISTS (SELECT 1 FROM identities i WHERE i.customer_id = c.id AND i.kind = 'line')"
CONSENT = {
    "sqlite": """
        (SELECT g.action FROM consents g
         WHERE g.customer_id = c.id AND g.purpose = 'marketing' AND g.channel IN ('line', '*')
         ORDER BY g.occurred_at DESC, g.id DESC LIMIT 1) = 'grant'
    """,
    "postgresql": """
        EXISTS (SELECT 1 FROM consents g
                WHERE g.customer_id = c.id AND g.purpose = 'marketing'
                  AND g.channel IN ('line', '*') AND g.action = 'grant'
                  AND NOT EXISTS (SELECT 1 FROM consents l
                                  WHERE l.customer_id = g.customer_id
                                    AND l.purpose = 'marketing' AND l.channel IN ('line', '*')
                                    AND (l.occurred_at, l.id) > (g.occurred_at, g.id)))
    """,
}
JP_CUSTOMERS = "SELECT count(*) FROM customers c WHERE c.market = 'JP' AND c.merged_into_id IS NULL"
ENDING = """
    EXISTS (SELECT 1 FROM contracts k
            WHERE k.customer_id = c.id AND k.status = 'active'
              AND k.ends_on >= :today AND k.ends_on <= :until)
"""


@contextmanager
def deployment(zones: dict[str, str]) -> Iterator[tuple[Hooks, ZoneStores]]:
    hooks = Hooks(get_plugin_manager(entry_points=False))
    settings = load_settings(
        hooks,
        zones=zones,
        channel_accounts={
            "line_jp": {
                "channel": "line",
                "market": "JP",
                "channel_secret": "0" * 32,
                "access_token": "benchmark",
            }
        },
    )
    stores = ZoneStores.open(settings, hooks)
    try:
        yield hooks, stores
    finally:
        stores.dispose()


def seed(engine: Engine, customers: int) -> None:
    """The customers and their identities, consents and contracts, in chunks."""
    rng = random.Random(8)
    stamp = {"created": START, "updated": START, "market": "JP"}
    for offset in range(0, customers, CHUNK):
        people, identities, consents, contracts = [], [], [], []
        for n in range(offset, min(offset + CHUNK, customers)):
            person = new_id()
            people.append({**stamp, "id": person, "kind": "person", "family_name": f"顧客{n}"})
            if rng.random() < 0.8:
                identities.append(
                    {
                        **stamp,
                        "id": new_id(),
                        "customer_id": person,
                        "kind": "line",
                        "value": f"U{n:032x}",
                        "verified": False,
                    }
                )
            for step in range(rng.choice((0, 1, 1, 1, 2, 3))):
                consents.append(
                    {
                        **stamp,
                        "id": new_id(),
                        "customer_id": person,
                        "purpose": "marketing",
                        "channel": rng.choice(("line", "line", "*")),
                        "action": "grant" if rng.random() < 0.75 else "withdraw",
                        "occurred_at": START + timedelta(days=30 * step, seconds=n),
                    }
                )
            if rng.random() < 0.2:
                contracts.append(
                    {
                        **stamp,
                        "id": new_id(),
                        "customer_id": person,
                        "kind": "lease",
                        "status": "active" if rng.random() < 0.9 else "ended",
                        "starts_on": TODAY - timedelta(days=1000),
                        "ends_on": TODAY + timedelta(days=rng.randint(-30, 120)),
                    }
                )
        with engine.begin() as connection:
            connection.execute(Customer.__table__.insert(), people)
            connection.execute(Identity.__table__.insert(), identities)
            if consents:
                connection.execute(Consent.__table__.insert(), consents)
            if contracts:
                connection.execute(Contract.__table__.insert(), contracts)
        print(f"\rseeded {min(offset + CHUNK, customers):>9,} customers", end="", flush=True)
    print()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def best_of(runs: int, work: Callable[[], int]) -> tuple[float, float, int]:
    """The fastest and the median of ``runs`` timed runs, and what they counted."""
    times, answer = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        answer = work()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times), answer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        # Every zone the packs place data in; Japan's is the one measured.
        zones = {zone: f"sqlite:///{folder / zone}.db" for zone in ("main", "cn", "jp", "kr", "au")}
        if args.postgres:
            database = stack.enter_context(scratch_database())
            zones["jp"] = database.render_as_string(hide_password=False)
        hooks, stores = stack.enter_context(deployment(zones))
        Migrator(stores, hooks).upgrade()
        engine = stores.engine("jp")
        print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.customers:,} customers")
        began = time.perf_counter()
        seed(engine, args.customers)
        print(f"seeded in {time.perf_counter() - began:.0f} s")
        registry = hooks.channel_registry(stores.settings)
        line = [registry.channels["line"]]
        today = {"today": TODAY, "until": TODAY + timedelta(days=60)}
        consent = CONSENT[engine.dialect.name]
        for label, segment, raw in (
            ("everyone in JP on LINE", EVERYONE, f"{JP_CUSTOMERS} AND {IDENTITY} AND {consent}"),
            (
                "leases ending within 60 days",
                RENEWALS,
                f"{JP_CUSTOMERS} AND {ENDING} AND {IDENTITY} AND {consent}",
            ),
        ):

            def by_segment(segment: Segment = segment) -> int:
                with stores.session() as session:
                    evaluation = Evaluation(segment, hooks.packs(), stores.residency, None)
                    return evaluation.audience(session, line)["JP"].get("line", 0)

            def by_hand(raw: str = raw) -> int:
                with engine.connect() as connection:
                    return int(connection.execute(text(raw), today).scalar_one())

            raw_best, raw_median, expected = best_of(args.runs, by_hand)
            ours_best, ours_median, counted = best_of(args.runs, by_segment)
            assert counted == expected, (label, counted, expected)
            print(
                f"{label:<30} {counted:>9,} reachable | segment {ours_best:6.2f} s"
                f" (median {ours_median:.2f}) | raw SQL {raw_best:6.2f} s"
                f" (median {raw_median:.2f}) | segment / raw {ours_best / raw_best:5.2f}×"
            )


if __name__ == "__main__":
    main()
