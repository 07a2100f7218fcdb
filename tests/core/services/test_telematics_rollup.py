"""Retention: raw vehicle events past their market's retention are summed by day (in the
market's time zone) and deleted, a chunk a transaction, so a rollup stopped anywhere and
run again counts every event once; the storage forecast counts the days as telematics."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from connected_cars import SHANGHAI_VIN, Car, count, own_car, stored_events
from sqlalchemy import select

from regiocrm.crm import telematics_rollup
from regiocrm.models import DataClass, TelematicsDay, TelematicsEvent
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.storage import Storage
from regiocrm.services.application import Application

RETENTION = 90  # the asia template's, which CN keeps


@pytest.fixture
def shanghai(application: Application) -> Car:
    return own_car(application, SHANGHAI_VIN, "CN", "Shanghai Motors")


def days_ago(days: int, hour_utc: int) -> datetime:
    return datetime.combine(utcnow().date() - timedelta(days=days), time(hour_utc), UTC)


def seed(
    application: Application, car: Car, moments: list[datetime], kind: str = "mileage"
) -> None:
    """Raw events as a provider sent them long ago (the API refuses what is past retention
    now), the odometer 10 km further each time."""
    with application.transaction() as session:
        for n, moment in enumerate(moments):
            session.add(
                TelematicsEvent(
                    market=car.market,
                    vehicle_id=car.vehicle_id,
                    event_id=f"{kind}-{moment.isoformat()}",
                    kind=kind,
                    occurred_at=moment,
                    payload={"odometer_km": 1000 + 10 * n},
                )
            )


def summed_days(
    application: Application,
) -> list[tuple[date, str, int, float | None, float | None]]:
    with application.transaction() as session:
        return [
            (d.day, d.kind, d.events, d.min_odometer_km, d.max_odometer_km)
            for d in session.scalars(select(TelematicsDay).order_by(TelematicsDay.day))
        ]


def test_events_past_retention_are_summed_by_the_markets_day_and_deleted(
    application: Application, shanghai: Car
) -> None:
    """17:00 and 20:00 UTC are 01:00 and 04:00 the next day in Shanghai: one day there."""
    old = RETENTION + 5
    seed(application, shanghai, [days_ago(old, 17), days_ago(old, 20), days_ago(old, 2)])
    seed(application, shanghai, [days_ago(1, 3)])
    [work] = application.telematics.rollup()
    assert (work.market, work.zone, work.retention_days, work.events) == ("CN", "cn", 90, 3)
    shanghai_day = utcnow().date() - timedelta(days=old - 1)
    assert summed_days(application) == [
        (shanghai_day - timedelta(days=1), "mileage", 1, 1020.0, 1020.0),
        (shanghai_day, "mileage", 2, 1000.0, 1010.0),
    ]
    assert [event for _, event, _ in stored_events(application)] == [
        f"mileage-{days_ago(1, 3).isoformat()}"
    ]


def test_a_rollup_stopped_midway_and_run_again_counts_every_event_once(
    application: Application, shanghai: Car, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telematics_rollup, "CHUNK", 4)
    seed(application, shanghai, [days_ago(RETENTION + 3, h) for h in range(10)])
    chunks = []

    def stop_after_the_first(work: object, done: int) -> None:
        chunks.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        application.telematics.rollup(on_progress=stop_after_the_first)
    assert (chunks, count(application, TelematicsEvent)) == ([4], 6)
    [again] = application.telematics.rollup()
    assert again.events == 6
    assert [row[2] for row in summed_days(application)] == [10]
    assert application.telematics.rollup() == []
    assert summed_days(application)[0][3:] == (1000.0, 1090.0)


def test_the_settings_retention_is_over_every_packs(
    deployment_dir: object, regiocrm_hooks: Hooks, migrated: ZoneStores
) -> None:
    settings = RegiocrmSettings(telematics={"retention_days": 2})
    app = Application.open(settings, regiocrm_hooks)
    try:
        car = own_car(app, SHANGHAI_VIN, "CN", "Shanghai Motors")
        seed(app, car, [days_ago(3, 12), days_ago(1, 12)])
        assert [w.retention_days for w in app.telematics.past_retention()] == [2]
        app.telematics.rollup()
        assert count(app, TelematicsEvent) == 1
    finally:
        app.close()


def test_the_storage_forecast_counts_the_summed_days_as_the_dealers_telematics(
    application: Application, shanghai: Car
) -> None:
    seed(application, shanghai, [days_ago(RETENTION + 1, h) for h in range(24)])
    storage = Storage(application.stores, application.hooks, application.settings.storage)

    def telematics_mib() -> float:
        [dealer] = [f for f in storage.forecasts() if f.organization == "Shanghai Motors"]
        return dealer.used_mib.get(DataClass.TELEMATICS, 0.0)

    raw = telematics_mib()
    application.telematics.rollup()
    assert count(application, TelematicsEvent) == 0
    assert 0 < telematics_mib() < raw


def test_the_command_rolls_up_and_says_what_in_json(
    application: Application, shanghai: Car, regiocrm_cli
) -> None:
    seed(application, shanghai, [days_ago(RETENTION + 2, 12)])
    dry = regiocrm_cli("telematics", "rollup", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert [(w["market"], w["events"]) for w in json.loads(dry.stdout)] == [("CN", 1)]
    assert count(application, TelematicsEvent) == 1
    done = regiocrm_cli("telematics", "rollup", "--json")
    assert [w["events"] for w in json.loads(done.stdout)] == [1]
    assert count(application, TelematicsDay) == 1
    assert json.loads(regiocrm_cli("telematics", "rollup", "--json").stdout) == []
