"""A deployment whose organizations' storage grows as a real one's does, for the storage
forecast's browser test: rows the storage module counts, written straight into the
deployment's zones with ``created`` days spread over the past weeks (no code path writes
past days), and quotas in ``regiocrm.toml`` chosen from the measured growth so that one
quota runs out within the chart's year, one years later and one never.

- Osaka Motors, a Japanese dealer on a community licence: the cars it sold report
  telematics every day (for three months), and a showroom visit and a lead every few days.
- Tokyo Importer, the Japanese wholesaler on a full licence: call-centre timeline entries
  and cases every day of the last month, slowly.
- Pudong Motors, a Shanghai dealer: leads and visits, none within the growth window, so its
  storage does not grow.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from regiocrm.crm.accounts import create_organization
from regiocrm.models import (
    Case,
    Direction,
    Interaction,
    Lead,
    OrganizationKind,
    Ownership,
    TelematicsEvent,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZonedSession
from regiocrm.services.application import Application
from regiocrm.services.storage import StorageService

OSAKA = "Osaka Motors"
TOKYO = "Tokyo Importer"
PUDONG = "Pudong Motors"
# Days from today to each quota's end, at the growth measured: within the chart's year,
# beyond it; Pudong Motors does not grow, and uses this share of its quota.
OSAKA_DAYS = 75
TOKYO_DAYS = 900
PUDONG_SHARE = 0.4
TRACE = [[34.69 + step / 1e4, 135.50 + step / 1e4] for step in range(120)]
TRANSCRIPT = "The customer asked about the service plan and a test drive. " * 25


def moment(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(utcnow().date() - timedelta(days=days_ago), time(hour), UTC)


def tenths(mib: float) -> float:
    """``mib`` rounded up to a tenth."""
    return math.ceil(mib * 10) / 10


@dataclass(frozen=True)
class Quotas:
    """The quotas written to the deployment's settings, in tenths of a MiB (so the page
    shows them as they are), by organization."""

    mib: dict[str, float]

    def toml(self) -> str:
        lines = [f'"{name}" = {quota}' for name, quota in self.mib.items()]
        return "[storage.quotas_mib]\n" + "\n".join(lines) + "\n"


def grow(folder: Path) -> Quotas:
    """Seed the migrated deployment in ``folder``, then give each organization its quota in
    ``folder/regiocrm.toml`` (before it is served: settings are read at start)."""
    with pytest.MonkeyPatch.context() as patch:
        # The deployment's own settings only: none of this shell's REGIOCRM_* variables.
        for name in list(os.environ):
            if name.startswith("REGIOCRM_") and not name.startswith("REGIOCRM_TEST_"):
                patch.delenv(name)
        patch.chdir(folder)
        hooks = Hooks(get_plugin_manager(entry_points=False))
        app = Application.open(load_settings(hooks), hooks)
        try:
            with app.transaction() as session:
                _osaka(session)
                _tokyo(session)
                _pudong(session)
            today = utcnow().date()
            measured = {f.organization: f for f in StorageService(app).report(today).forecasts}
        finally:
            app.close()
    osaka, tokyo, pudong = measured[OSAKA], measured[TOKYO], measured[PUDONG]
    assert osaka.growth_mib_per_day > tokyo.growth_mib_per_day > 0, measured
    assert not pudong.growing, measured
    assert pudong.used_mib > 0, measured
    quotas = Quotas(
        {
            OSAKA: tenths(osaka.used_mib + OSAKA_DAYS * osaka.growth_mib_per_day),
            TOKYO: tenths(tokyo.used_mib + TOKYO_DAYS * tokyo.growth_mib_per_day),
            PUDONG: tenths(pudong.used_mib / PUDONG_SHARE),
        }
    )
    (folder / "regiocrm.toml").write_text(quotas.toml())
    return quotas


def _visit(session: ZonedSession, market: str, organization: uuid.UUID, days_ago: int) -> None:
    session.add(
        Interaction(
            market=market,
            customer_id=uuid.uuid4(),
            channel="visit",
            direction=Direction.INTERNAL,
            touchpoint="showroom",
            summary="Test drive of the Tourer",
            text=TRANSCRIPT,
            occurred_at=moment(days_ago),
            created=moment(days_ago),
            organization_id=organization,
        )
    )


def _lead(session: ZonedSession, market: str, dealer: uuid.UUID, days_ago: int) -> None:
    session.add(
        Lead(
            market=market,
            customer_id=uuid.uuid4(),
            source="web",
            vehicle_model="Tourer",
            dealer_id=dealer,
            created=moment(days_ago, 10),
        )
    )


def _osaka(session: ZonedSession) -> None:
    dealer = create_organization(session, name=OSAKA, kind=OrganizationKind.DEALER, market="JP").id
    cars = []
    for number in range(6):
        car = Vehicle(market="JP", vin=f"JTDBR32E5300{number:05d}", model="Tourer")
        session.add(car)
        session.flush()
        session.add(
            Ownership(
                market="JP",
                vehicle_id=car.id,
                customer_id=uuid.uuid4(),
                dealer_id=dealer,
                started_on=date(2025, 4, 1),
                created=moment(120),
            )
        )
        cars.append(car.id)
    for days_ago in range(90):
        for n in range(24):
            session.add(
                TelematicsEvent(
                    market="JP",
                    vehicle_id=cars[n % len(cars)],
                    kind="position",
                    occurred_at=moment(days_ago, n % 24),
                    created=moment(days_ago, n % 24),
                    payload={
                        "lat": 34.69,
                        "lon": 135.50,
                        "odometer_km": 40 * days_ago + n,
                        # A trip's trace: what makes telematics the largest class.
                        "trace": TRACE,
                    },
                )
            )
        if days_ago % 3 == 0:
            _visit(session, "JP", dealer, days_ago)
            _lead(session, "JP", dealer, days_ago)


def _tokyo(session: ZonedSession) -> None:
    importer = create_organization(
        session, name=TOKYO, kind=OrganizationKind.WHOLESALER, market="JP"
    ).id
    for days_ago in range(30):
        for n in range(4):
            session.add(
                Interaction(
                    market="JP",
                    customer_id=uuid.uuid4(),
                    channel="phone",
                    direction=Direction.INBOUND,
                    touchpoint="call_centre",
                    summary="Asked about the service plan",
                    text=TRANSCRIPT,
                    occurred_at=moment(days_ago, 9 + n),
                    created=moment(days_ago, 9 + n),
                    organization_id=importer,
                )
            )
        session.add(
            Case(
                market="JP",
                customer_id=uuid.uuid4(),
                subject="Navigation map update",
                organization_id=importer,
                opened_at=moment(days_ago),
                created=moment(days_ago),
            )
        )


def _pudong(session: ZonedSession) -> None:
    dealer = create_organization(session, name=PUDONG, kind=OrganizationKind.DEALER, market="CN").id
    for days_ago in range(45, 165):
        _visit(session, "CN", dealer, days_ago)
        _lead(session, "CN", dealer, days_ago)
