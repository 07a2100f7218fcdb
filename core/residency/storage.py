"""Storage by organization and licence tier, and the day each quota runs out.

Dealerships hold community licences with less storage than a wholesaler's full licence;
the quota of each tier comes from the pack of the organization's market, and
``[storage.quotas_mib]`` may set one organization's own. An organization's storage is the
data it produces: timeline entries made there, its leads, cases, contracts, the ownerships
it sold and its campaigns' members, and the telematics of the vehicles it sold (which
grows fastest). The customers' identity data is the brand's, shared, and counted apart.

Bytes are measured, not guessed: each table's size in its zone (with its indexes; SQLite's
``dbstat``, PostgreSQL's ``pg_total_relation_size``) shared among its rows, and each
organization's rows counted by the database. The tables counted are the registered
entities whose ``__organization_column__`` names an organization, a plugin's included. The
forecast fits a straight line through the organization's daily usage over the growth
window (rows by the day they were created) and says when the line crosses the quota.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.exc import OperationalError

from regiocrm.models import DataClass, LicenceTier, Model, Organization
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import StorageSettings
from regiocrm.platform.stores import ZonedSession, ZoneStores, table_of

MIB = 1024 * 1024
# How far ahead a forecast looks: a line that slow says nothing worth a date.
HORIZON_DAYS = 100 * 365


@dataclass(frozen=True)
class Usage:
    """One organization's storage: bytes used and growth per day, by data class."""

    used: dict[DataClass, float] = field(default_factory=dict)
    daily: dict[DataClass, dict[date, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Forecast:
    """An organization's storage against its quota, and the day the quota runs out at the
    recent growth (``None``: no quota, no growth, or not within :data:`HORIZON_DAYS`)."""

    organization: str
    organization_id: uuid.UUID
    kind: str
    market: str
    tier: LicenceTier
    quota_mib: float | None
    used_mib: dict[DataClass, float]
    growth_mib_per_day: dict[DataClass, float]
    runs_out_on: date | None

    @property
    def total_mib(self) -> float:
        return sum(self.used_mib.values())

    @property
    def total_growth_mib_per_day(self) -> float:
        return sum(self.growth_mib_per_day.values())

    @property
    def fastest_growing(self) -> DataClass | None:
        """The class growing fastest; ``None`` with nothing created in the window."""
        return max(self.growth_mib_per_day, key=self.growth_mib_per_day.__getitem__, default=None)

    @property
    def largest(self) -> DataClass | None:
        return max(self.used_mib, key=self.used_mib.__getitem__, default=None)

    def days_left(self, today: date) -> int | None:
        return None if self.runs_out_on is None else (self.runs_out_on - today).days

    def as_dict(self, today: date) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "organization_id": str(self.organization_id),
            "kind": self.kind,
            "market": self.market,
            "tier": self.tier.value,
            "quota_mib": self.quota_mib,
            "used_mib": round(self.total_mib, 3),
            "used_mib_by_class": {c.value: round(v, 3) for c, v in self.used_mib.items()},
            "growth_mib_per_day": round(self.total_growth_mib_per_day, 4),
            "growth_mib_per_day_by_class": {
                c.value: round(v, 4) for c, v in self.growth_mib_per_day.items()
            },
            "runs_out_on": None if self.runs_out_on is None else self.runs_out_on.isoformat(),
            "days_left": self.days_left(today),
        }


@dataclass(frozen=True)
class Attribution:
    """How a table's rows are an organization's: the column naming it, or the values of a
    column mapped to it (:meth:`regiocrm.models.base.Model.organizations`)."""

    model: type[Model]

    @property
    def table(self) -> Table:
        return table_of(self.model)

    @property
    def data_class(self) -> DataClass:
        return self.model.__data_class__

    @property
    def key(self) -> Any:
        return self.table.c[str(self.model.__organization_column__)]

    def owners(self, session: ZonedSession) -> Mapping[Any, uuid.UUID] | None:
        return self.model.organizations(session)


def table_bytes(connection: Connection, table: Table) -> float | None:
    """The table's size with its indexes, as the database stores it; ``None`` where the
    database cannot tell (a SQLite built without ``dbstat``)."""
    if connection.dialect.name == "postgresql":
        size = connection.execute(
            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": table.name}
        ).scalar()
        return None if size is None else float(size)
    try:
        size = connection.execute(
            text(
                "SELECT sum(pgsize) FROM dbstat WHERE name IN"
                " (SELECT name FROM sqlite_master WHERE tbl_name = :name)"
            ),
            {"name": table.name},
        ).scalar()
    except OperationalError:
        return None
    return None if size is None else float(size)


class Storage:
    """Measuring and forecasting the storage of a deployment's organizations."""

    def __init__(self, stores: ZoneStores, hooks: Hooks, settings: StorageSettings) -> None:
        self.stores = stores
        self.hooks = hooks
        self.settings = settings

    def forecasts(self, today: date | None = None) -> list[Forecast]:
        """Every organization's storage and forecast, the soonest to run out first."""
        today = today or utcnow().date()
        with self.stores.session() as session:
            organizations = list(session.scalars(select(Organization).order_by(Organization.name)))
            usage = self.usage(session, today)
        found = [
            self._forecast(organization, usage.get(organization.id, Usage()), today)
            for organization in organizations
        ]
        return sorted(
            found, key=lambda f: (f.runs_out_on is None, f.runs_out_on or today, f.organization)
        )

    def quota_mib(self, organization: Organization) -> float | None:
        own = self.settings.quotas_mib.get(organization.name)
        if own is not None:
            return float(own)
        pack = self.hooks.packs().for_market(organization.market)
        quota = pack.storage_quotas_mib.get(organization.licence_tier)
        return None if quota is None else float(quota)

    def usage(self, session: ZonedSession, today: date) -> dict[uuid.UUID, Usage]:
        """Bytes used now and added per day over the window, per organization and class."""
        since = datetime.combine(
            today - timedelta(days=self.settings.growth_window_days), time(), UTC
        )
        used: dict[uuid.UUID, dict[DataClass, float]] = defaultdict(lambda: defaultdict(float))
        daily: dict[uuid.UUID, dict[DataClass, dict[date, float]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(float))
        )
        for model in self.stores.entities.of_organizations():
            attribution = Attribution(model)
            owners = attribution.owners(session)
            for zone in self.stores.names:
                per_row = self._bytes_per_row(zone, attribution.table)
                if per_row is None:
                    continue
                for key, day, rows in self._rows(session, zone, attribution, since):
                    organization = owners.get(key) if owners is not None else key
                    if organization is None:
                        continue
                    size = rows * per_row
                    used[organization][attribution.data_class] += size
                    if day is not None:
                        daily[organization][attribution.data_class][day] += size
        return {
            organization: Usage(
                dict(used[organization]),
                {c: dict(days) for c, days in daily[organization].items()},
            )
            for organization in used
        }

    def _bytes_per_row(self, zone: str, table: Table) -> float | None:
        with self.stores.engine(zone).connect() as connection:
            rows = connection.execute(select(func.count()).select_from(table)).scalar_one()
            if not rows:
                return None
            size = table_bytes(connection, table)
        return None if size is None else size / rows

    def _rows(
        self, session: ZonedSession, zone: str, attribution: Attribution, since: datetime
    ) -> Iterable[tuple[Any, date | None, int]]:
        """(owner key, day created within the window or None before it, rows), counted in
        the zone."""
        created = attribution.table.c.created
        day = func.date(created)
        recent = created >= since
        in_window = (
            select(attribution.key, day, func.count())
            .where(recent, attribution.key.is_not(None))
            .group_by(attribution.key, day)
        )
        before = (
            select(attribution.key, func.count())
            .where(~recent, attribution.key.is_not(None))
            .group_by(attribution.key)
        )
        zone_only = {"zones": [zone]}
        for key, when, rows in session.execute(in_window.execution_options(**zone_only)):
            yield key, _as_date(when), int(rows)
        for key, rows in session.execute(before.execution_options(**zone_only)):
            yield key, None, int(rows)

    def _forecast(self, organization: Organization, usage: Usage, today: date) -> Forecast:
        window = self.settings.growth_window_days
        growth = {
            data_class: _slope(days, today, window) / MIB
            for data_class, days in usage.daily.items()
        }
        used = {data_class: size / MIB for data_class, size in usage.used.items()}
        quota = self.quota_mib(organization)
        total_growth = sum(growth.values())
        runs_out: date | None = None
        if quota is not None and total_growth > 0:
            left = max(0, math.ceil((quota - sum(used.values())) / total_growth))
            runs_out = today + timedelta(days=left) if left <= HORIZON_DAYS else None
        elif quota is not None and sum(used.values()) >= quota:
            runs_out = today
        return Forecast(
            organization=organization.name,
            organization_id=organization.id,
            kind=organization.kind.value,
            market=organization.market,
            tier=organization.licence_tier,
            quota_mib=quota,
            used_mib=used,
            growth_mib_per_day=growth,
            runs_out_on=runs_out,
        )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _slope(days: dict[date, float], today: date, window: int) -> float:
    """Bytes a day, the slope of the least-squares line through the cumulative bytes
    added on each day of the window (days without rows count as none added)."""
    start = today - timedelta(days=window)
    xs, ys, total = [], [], 0.0
    for offset in range(window + 1):
        day = start + timedelta(days=offset)
        total += days.get(day, 0.0)
        xs.append(float(offset))
        ys.append(total)
    if total == 0:
        return 0.0
    return max(0.0, statistics.linear_regression(xs, ys).slope)
