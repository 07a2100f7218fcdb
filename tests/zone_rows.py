"""Every row of every zone, as residency tests look at them: by table, (zone, id) -> the
row's checksum, so that a move can be checked to have lost, added, doubled or changed
nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from regiocrm.models import Base
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.relocation import checksum

Rows = dict[tuple[str, Any], str]


def contents(stores: ZoneStores) -> dict[str, Rows]:
    """Every row of every table in every zone of ``stores``."""
    found: dict[str, Rows] = {table.name: {} for table in Base.metadata.sorted_tables}
    for zone in stores.names:
        with stores.engine(zone).connect() as connection:
            for table in Base.metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    mapping = dict(row._mapping)
                    found[table.name][zone, mapping["id"]] = checksum([mapping])
    return found


def by_id(rows: Rows) -> dict[Any, str]:
    """The rows by id alone, failing if one is in two zones."""
    flat: dict[Any, str] = {}
    for (_zone, row), digest in rows.items():
        assert row not in flat, f"row {row} is in two zones"
        flat[row] = digest
    return flat


def zones_of(rows: Rows) -> set[str]:
    return {zone for zone, _row in rows}


def in_zone(rows: Rows, zone: str) -> Rows:
    return {key: digest for key, digest in rows.items() if key[0] == zone}
