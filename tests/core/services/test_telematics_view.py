"""The customer's view of their connected cars: each vehicle's latest mileage and the
latest events, in the market's time zone, scoped and audited as every customer read; the
same on the console's customer page."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import pytest
from connected_cars import NOON, SHANGHAI_VIN, Car, event, own_car
from console_client import serve_console
from service_people import PUDONG_MOTORS, sign_in
from sqlalchemy import select

from regiocrm.crm.customers import UnknownCustomer
from regiocrm.interfaces.events import EventKind
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import AuditEvent
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.customers import CustomerService

SECOND_VIN = "LSVAU2180N2183295"


def report(app: Application, car: Car) -> None:
    """Mileage twice (the later one wins), a lamp and a trip, a minute apart."""
    minute = timedelta(minutes=1)
    app.telematics.ingest(
        [
            event(car.vin, "m1", odometer_km=12_000),
            event(car.vin, "m2", at=NOON + minute, odometer_km=12_840),
            event(car.vin, "w1", EventKind.WARNING_LAMP, at=NOON + 2 * minute, lamp="engine"),
            event(car.vin, "t1", EventKind.TRIP_SUMMARY, at=NOON + 3 * minute, distance_km=32.5),
        ]
    )


@pytest.fixture
def shanghai(application: Application) -> Car:
    car = own_car(application, SHANGHAI_VIN, "CN", "Shanghai Motors")
    report(application, car)
    return car


def test_the_latest_mileage_and_events_in_the_markets_time_and_words(
    application: Application, shanghai: Car
) -> None:
    seen = application.telematics.of_customer(SYSTEM, shanghai.customer_id)
    [mileage] = seen.mileage
    shanghai_noon = (NOON + timedelta(hours=8, minutes=1)).strftime("%Y-%m-%d %H:%M")
    assert (mileage.vin, mileage.odometer_km, mileage.local_time) == (
        SHANGHAI_VIN,
        12_840,
        f"{shanghai_noon} CST",
    )
    assert [(e.kind, e.summary) for e in seen.events] == [
        ("trip_summary", "trip of 32.5 km"),
        ("warning_lamp", "warning lamp: engine"),
        ("mileage", "odometer 12,840 km"),
        ("mileage", "odometer 12,000 km"),
    ]
    assert seen.as_json()["events"][0]["occurred_at"] == (NOON + timedelta(minutes=3)).isoformat()
    with application.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "customer.telematics_read" in actions


def test_a_dealer_who_does_not_see_the_customer_reads_nothing(
    application: Application, shanghai: Car
) -> None:
    other = sign_in(application, PUDONG_MOTORS)["Pudong Motors"]
    with pytest.raises(UnknownCustomer):
        application.telematics.of_customer(other, shanghai.customer_id)


def test_the_overview_shows_the_same_and_counts_the_events_it_showed(
    application: Application, shanghai: Car
) -> None:
    overview = CustomerService(application).overview(SYSTEM, shanghai.customer_id)
    assert [m.odometer_km for m in overview.telematics.mileage] == [12_840]
    assert len(overview.telematics.events) == 4
    with application.transaction() as session:
        detail = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "customer.overview_read")
        ).one()
    assert detail["vehicle_events"] == "4"


def test_the_customer_page_shows_mileage_and_events(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    with serve_console(RegiocrmSettings(), regiocrm_hooks) as console:
        app: Application = console.app.state.services
        car = own_car(app, SHANGHAI_VIN, "CN", "Shanghai Motors")
        report(app, car)
        centre = console.organization("Centre", OrganizationKind.OEM, "CN")
        console.user("mei", UserRole.COMPETENCE_CENTRE, centre)
        browser = console.browser()
        browser.client.headers["accept-language"] = "en"
        assert browser.sign_in("mei").status_code == 303
        page = html.unescape(browser.get(f"/customers/{car.customer_id}").text)
    assert "12,840 km on " in page
    assert "Latest vehicle events" in page
    assert page.index("trip of 32.5 km") < page.index("warning lamp: engine")
