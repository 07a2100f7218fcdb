"""Nearest-dealer lookups through the k-d tree index, against brute-force scans of every dealer
(in Python, and as one raw SQL query per lead) on the same dealers in the same run.

    python benchmarks/nearest_dealer.py                      # 10,000 dealers, 100,000 leads
    python benchmarks/nearest_dealer.py --dealers 2000 --leads 20000

Dealers and leads are spread at random over eastern China. The index answers every lead;
the scans answer a sample (they take about a second per few hundred leads), and the index's
answers are checked against theirs.
"""

from __future__ import annotations

import argparse
import math
import random
import sqlite3

from measure import timed

from regiocrm.geo.datums import great_circle_km
from regiocrm.geo.routing import NearestIndex
from regiocrm.interfaces.maps import Point


def spread(count: int, rng: random.Random) -> list[Point]:
    return [Point(rng.uniform(20.0, 42.0), rng.uniform(102.0, 122.0)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dealers", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500, help="leads the scans answer")
    args = parser.parse_args()
    rng = random.Random(20261125)
    dealers = spread(args.dealers, rng)
    leads = spread(args.leads, rng)
    sample = leads[: args.sample]
    print(f"{args.dealers} dealers, {args.leads} leads, scans on {len(sample)} of them")

    index: NearestIndex[int] = NearestIndex([])
    found: dict[int, int] = {}

    def build() -> None:
        nonlocal index
        index = NearestIndex(list(enumerate(dealers)))

    def lookups() -> None:
        for n, lead in enumerate(leads):
            nearest = index.nearest(lead)
            assert nearest is not None
            found[n] = nearest.key

    def python_scan() -> None:
        for n, lead in enumerate(sample):
            best = min(range(len(dealers)), key=lambda d: great_circle_km(dealers[d], lead))
            assert best == found[n], f"lead {n}: index {found[n]}, scan {best}"

    database = sqlite3.connect(":memory:")
    database.create_function("cos", 1, math.cos, deterministic=True)
    database.execute("CREATE TABLE dealers (id INTEGER PRIMARY KEY, lat REAL, lon REAL)")
    database.executemany(
        "INSERT INTO dealers VALUES (?, ?, ?)", [(n, p.lat, p.lon) for n, p in enumerate(dealers)]
    )

    def sql_scan() -> None:
        # Equirectangular distance: exact enough to rank dealers a few hundred km apart.
        for lead in sample:
            database.execute(
                "SELECT id FROM dealers ORDER BY (lat - ?) * (lat - ?)"
                " + ((lon - ?) * cos(radians(?))) * ((lon - ?) * cos(radians(?))) LIMIT 1",
                (lead.lat, lead.lat, lead.lon, lead.lat, lead.lon, lead.lat),
            ).fetchone()

    database.create_function("radians", 1, math.radians, deterministic=True)
    timed("build the index", args.dealers, "dealers", build)
    indexed = timed("index lookups", len(leads), "lookups", lookups)
    scanned = timed("brute-force scan (Python)", len(sample), "lookups", python_scan)
    sql = timed("brute-force scan (raw SQL, SQLite)", len(sample), "lookups", sql_scan)
    print(f"index / Python scan: {indexed / scanned:8,.0f}×")
    print(f"index / raw SQL scan: {indexed / sql:7,.0f}×")


if __name__ == "__main__":
    main()
