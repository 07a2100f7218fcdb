"""Storage by organization and licence tier, and the day a quota runs out, forecast from
seeded telematics growth."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from regiocrm.crm.accounts import create_organization
from regiocrm.models import (
    DataClass,
    Direction,
    Interaction,
    LicenceTier,
    OrganizationKind,
    Ownership,
    TelematicsEvent,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import SettingsError, load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.storage import HORIZON_DAYS, Forecast, Storage
from regiocrm.testing import upgrade_zones

TODAY = utcnow().date()
WINDOW = 30


def day(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), UTC)


class Dealers:
    """An Osaka dealership whose cars report telematics every day, and an importer."""

    def __init__(self, deployment_dir: Path, hooks: Hooks, **storage: Any) -> None:
        self.hooks = hooks
        self.settings = load_settings(hooks, storage=storage)
        self.stores = ZoneStores.open(self.settings, hooks)
        upgrade_zones(self.stores, hooks)
        with self.stores.session() as session:
            self.osaka = create_organization(
                session, name="Osaka Motors", kind=OrganizationKind.DEALER, market="JP"
            ).id
            create_organization(
                session, name="Tokyo Importer", kind=OrganizationKind.WHOLESALER, market="JP"
            )
            self.cars = []
            for number in range(4):
                car = Vehicle(market="JP", vin=f"JTDBR32E5300{number:05d}", model="Tourer")
                session.add(car)
                session.flush()
                session.add(
                    Ownership(
                        market="JP",
                        vehicle_id=car.id,
                        customer_id=uuid.uuid4(),
                        dealer_id=self.osaka,
                        started_on=date(2025, 4, 1),
                    )
                )
                self.cars.append(car.id)

    def telematics(self, per_day: int, days: range) -> None:
        """``per_day`` events a day (each car in turn), created on each day ago in ``days``."""
        with self.stores.session() as session:
            for days_ago in days:
                for n in range(per_day):
                    session.add(
                        TelematicsEvent(
                            market="JP",
                            vehicle_id=self.cars[n % len(self.cars)],
                            kind="position",
                            occurred_at=day(days_ago),
                            created=day(days_ago),
                            payload={
                                "lat": 34.69,
                                "lon": 135.50,
                                "odometer_km": n,
                                "pad": "x" * 300,
                            },
                        )
                    )

    def visits(self, days: range) -> None:
        with self.stores.session() as session:
            for days_ago in days:
                session.add(
                    Interaction(
                        market="JP",
                        customer_id=uuid.uuid4(),
                        channel="visit",
                        direction=Direction.INTERNAL,
                        touchpoint="showroom",
                        occurred_at=day(days_ago),
                        created=day(days_ago),
                        organization_id=self.osaka,
                    )
                )

    def forecasts(self) -> dict[str, Forecast]:
        storage = Storage(self.stores, self.hooks, self.settings.storage)
        return {forecast.organization: forecast for forecast in storage.forecasts(TODAY)}

    def close(self) -> None:
        self.stores.dispose()


@pytest.fixture
def dealers(deployment_dir: Path, regiocrm_hooks: Hooks):
    opened = Dealers(deployment_dir, regiocrm_hooks)
    yield opened
    opened.close()


def test_telematics_growth_is_measured_per_day_and_grows_fastest(dealers: Dealers) -> None:
    """Every event was created within the window at a steady rate, so a day's growth is
    what the telematics use now over the days they took."""
    dealers.telematics(per_day=60, days=range(WINDOW))
    dealers.visits(range(WINDOW))
    osaka = dealers.forecasts()["Osaka Motors"]
    telematics = osaka.used_mib[DataClass.TELEMATICS]
    assert telematics > osaka.used_mib[DataClass.CRM] > 0
    growth = osaka.growth_mib_per_day
    assert max(growth, key=growth.__getitem__) is DataClass.TELEMATICS
    assert growth[DataClass.TELEMATICS] == pytest.approx(telematics / WINDOW, rel=0.1)


def test_data_older_than_the_window_is_used_but_not_growth(dealers: Dealers) -> None:
    dealers.telematics(per_day=60, days=range(WINDOW))
    before = dealers.forecasts()["Osaka Motors"]
    dealers.telematics(per_day=60, days=range(100, 130))
    after = dealers.forecasts()["Osaka Motors"]
    assert after.used_mib[DataClass.TELEMATICS] == pytest.approx(
        2 * before.used_mib[DataClass.TELEMATICS], rel=0.1
    )
    assert after.total_growth_mib_per_day == pytest.approx(before.total_growth_mib_per_day, rel=0.1)


def test_a_community_dealers_quota_runs_out_when_the_line_says(dealers: Dealers) -> None:
    """Measured once with the pack's quota; then with a quota 45 days of growth above
    what is used, the forecast is 45 days from today."""
    dealers.telematics(per_day=60, days=range(WINDOW))
    measured = dealers.forecasts()
    osaka, importer = measured["Osaka Motors"], measured["Tokyo Importer"]
    assert (osaka.tier, osaka.quota_mib) == (LicenceTier.COMMUNITY, 10_240)
    assert (importer.tier, importer.quota_mib) == (LicenceTier.FULL, 102_400)
    assert importer.runs_out_on is None
    quota = osaka.total_mib + 45 * osaka.total_growth_mib_per_day
    tight = dealers.settings.storage.model_copy(update={"quotas_mib": {"Osaka Motors": quota}})
    storage = Storage(dealers.stores, dealers.hooks, tight)
    [forecast] = [f for f in storage.forecasts(TODAY) if f.organization == "Osaka Motors"]
    assert forecast.quota_mib == pytest.approx(quota)
    assert forecast.days_left(TODAY) in (45, 46)


def test_the_report_and_the_rollout_check_warn_of_it(
    regiocrm_cli, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    seeded = Dealers(deployment_dir, regiocrm_hooks)
    try:
        seeded.telematics(per_day=60, days=range(WINDOW))
        osaka = seeded.forecasts()["Osaka Motors"]
    finally:
        seeded.close()
    quota = osaka.total_mib + 60 * osaka.total_growth_mib_per_day
    (deployment_dir / "regiocrm.toml").write_text(
        f'[storage]\nquotas_mib = {{ "Osaka Motors" = {quota} }}\n'
    )
    report = regiocrm_cli("storage", "report", "--json")
    assert report.exit_code == 0, report.stderr
    first, *_ = json.loads(report.stdout)
    assert (first["organization"], first["tier"]) == ("Osaka Motors", "community")
    assert first["days_left"] in (60, 61)
    assert (
        max(first["growth_mib_per_day_by_class"], key=first["growth_mib_per_day_by_class"].get)
        == "telematics"
    )
    check = regiocrm_cli("rollout", "check", "--market", "JP", "--json")
    [warning] = [f for f in json.loads(check.stdout) if f["check"] == "storage Osaka Motors"]
    assert warning["outcome"] == "warn"
    assert warning["reason"].startswith(f"its community quota of {quota:,.0f} MiB runs out on")
    assert "telematics growing fastest" in warning["reason"]
    assert "[storage.quotas_mib] 'Osaka Motors'" in warning["fix"]


def test_a_bad_storage_setting_is_refused(deployment_dir: Path, regiocrm_hooks: Hooks) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(regiocrm_hooks, storage={"quotas_mib": {"Osaka Motors": 0}})
    assert "storage.quotas_mib.Osaka Motors" in str(refused.value)


def test_growth_too_slow_to_date_is_told_apart_from_none(
    regiocrm_cli, deployment_dir: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handful of events against a quota of gigabytes would run out in millennia: no date
    (the calendar cannot hold it), but the table says it grows, beyond the horizon."""
    seeded = Dealers(deployment_dir, regiocrm_hooks)
    try:
        seeded.telematics(per_day=1, days=range(3))
        osaka = seeded.forecasts()["Osaka Motors"]
    finally:
        seeded.close()
    assert osaka.total_growth_mib_per_day > 0
    assert osaka.runs_out_on is None
    monkeypatch.setenv("COLUMNS", "200")
    report = regiocrm_cli("storage", "report")
    assert report.exit_code == 0, report.stderr
    lines = report.stdout.splitlines()
    [dealer] = [line for line in lines if "Osaka Motors" in line]
    [importer] = [line for line in lines if "Tokyo Importer" in line]
    assert f"> {TODAY + timedelta(days=HORIZON_DAYS)}" in dealer
    assert "not growing" in importer


def test_a_quota_used_up_by_old_data_alone_is_warned_of_today(
    regiocrm_cli, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """Nothing created within the window, so nothing grows; the quota is already used up,
    so it runs out today, and the fix names the class taking the most room."""
    seeded = Dealers(deployment_dir, regiocrm_hooks)
    try:
        seeded.telematics(per_day=60, days=range(100, 110))
        with seeded.stores.session() as session:
            session.execute(update(Ownership).values(created=day(200)))
        osaka = seeded.forecasts()["Osaka Motors"]
    finally:
        seeded.close()
    assert osaka.growth_mib_per_day == {}
    (deployment_dir / "regiocrm.toml").write_text(
        f'[storage]\nquotas_mib = {{ "Osaka Motors" = {osaka.total_mib / 2} }}\n'
    )
    check = regiocrm_cli("rollout", "check", "--market", "JP", "--json")
    [warning] = [f for f in json.loads(check.stdout) if f["check"] == "storage Osaka Motors"]
    assert warning["outcome"] == "warn"
    assert f"runs out on {TODAY} (0 days)" in warning["reason"]
    assert warning["fix"].endswith("or archive older telematics data")
