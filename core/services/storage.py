"""Storage for front ends: each organization's storage against its licence tier's quota,
and when it runs out (:mod:`regiocrm.residency.storage` measures and forecasts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from regiocrm.models.base import utcnow
from regiocrm.residency.storage import HORIZON_DAYS, Forecast, Storage
from regiocrm.services.application import Application


@dataclass(frozen=True)
class StorageForecast:
    """One organization's storage as front ends show it.

    :param used_mib: over every data class, rounded as :meth:`as_json` gives it.
    :param fastest_growing: the data class growing fastest; ``None`` with nothing created
        in the recent window.
    :param runs_out_on: ``None`` with no quota, no growth, or beyond the forecast's horizon.
    :param growing: whether it grows at all (it may run out beyond the horizon).
    """

    organization: str
    tier: str
    quota_mib: float | None
    used_mib: float
    growth_mib_per_day: float
    fastest_growing: str | None
    runs_out_on: date | None
    growing: bool
    detail: dict[str, Any]

    @classmethod
    def of(cls, forecast: Forecast, today: date) -> StorageForecast:
        detail = forecast.as_dict(today)
        fastest = forecast.fastest_growing
        return cls(
            organization=forecast.organization,
            tier=detail["tier"],
            quota_mib=forecast.quota_mib,
            used_mib=detail["used_mib"],
            growth_mib_per_day=detail["growth_mib_per_day"],
            fastest_growing=None if fastest is None else fastest.value,
            runs_out_on=forecast.runs_out_on,
            growing=forecast.total_growth_mib_per_day > 0,
            detail=detail,
        )

    def as_json(self) -> dict[str, Any]:
        """Every figure, per data class too, and the days left."""
        return self.detail


@dataclass(frozen=True)
class StorageReport:
    """The forecasts of one day, the soonest to run out first.

    :param horizon: how far the forecast looks: a quota that runs out later is shown as
        lasting beyond it.
    """

    today: date
    horizon: date
    forecasts: list[StorageForecast]


class StorageService:
    """Storage, as the deployment's operator sees it (every organization)."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def report(self, today: date | None = None) -> StorageReport:
        """Every organization's storage and when its quota runs out at its recent growth.

        :raises regiocrm.interfaces.packs.PackError: for an organization of a market no
            pack serves.
        """
        today = today or utcnow().date()
        storage = Storage(self.app.stores, self.app.hooks, self.app.settings.storage)
        return StorageReport(
            today,
            today + timedelta(days=HORIZON_DAYS),
            [StorageForecast.of(forecast, today) for forecast in storage.forecasts(today)],
        )
