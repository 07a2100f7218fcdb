"""The pack's rules over vehicle events: a service due becomes one lead for the servicing
dealer, a warning lamp one case with the pack's priority, in the ingest's own transaction,
so a redelivered event makes nothing twice and the hooks fire once it is committed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from connected_cars import NOON, OSAKA_VIN, SHANGHAI_VIN, Car, count, event, own_car
from sqlalchemy import select

from regiocrm import hookimpl
from regiocrm.interfaces.events import EventKind
from regiocrm.interfaces.terms import CaseStatus, LeadStatus, Priority
from regiocrm.models import Case, Lead, TelematicsAlert, Vehicle
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.cases import CaseService
from regiocrm.services.leads import LeadService

SERVICE = EventKind.SERVICE_DUE
LAMP = EventKind.WARNING_LAMP


@pytest.fixture
def shanghai(application: Application) -> Car:
    return own_car(application, SHANGHAI_VIN, "CN", "Shanghai Motors")


class Announced:
    def __init__(self) -> None:
        self.leads: list[tuple[uuid.UUID, str, uuid.UUID | None]] = []
        self.cases: list[tuple[str, str | None]] = []

    @hookimpl
    def lead_created(self, lead_id: uuid.UUID, market: str, dealer_id: uuid.UUID | None) -> None:
        self.leads.append((lead_id, market, dealer_id))

    @hookimpl
    def case_transitioned(
        self,
        case_id: uuid.UUID,
        market: str,
        previous: str | None,
        status: str,
        reason: str,
    ) -> None:
        self.cases.append((status, previous))


def leads_of(application: Application) -> list[Lead]:
    with application.transaction() as session:
        return list(session.scalars(select(Lead)))


def cases_of(application: Application) -> list[Case]:
    with application.transaction() as session:
        return list(session.scalars(select(Case).order_by(Case.opened_at)))


def test_service_due_is_one_lead_for_the_servicing_dealer_announced_once(
    application: Application, shanghai: Car, register_plugin
) -> None:
    announced = Announced()
    register_plugin(announced)
    ingested = application.telematics.ingest([event(SHANGHAI_VIN, "s1", SERVICE, due_in_km=500)])
    assert (ingested.stored, ingested.leads, ingested.cases) == (1, 1, 0)
    [lead] = leads_of(application)
    assert (lead.dealer_id, lead.customer_id, lead.source, lead.market) == (
        shanghai.dealer_id,
        shanghai.customer_id,
        "telematics",
        "CN",
    )
    assert lead.status is LeadStatus.NEW
    assert lead.follow_up_due_at is not None
    assert lead.vehicle_model == "Tourer"
    assert announced.leads == [(lead.id, "CN", shanghai.dealer_id)]


def test_a_redelivered_or_repeated_service_due_makes_no_second_open_lead(
    application: Application, shanghai: Car
) -> None:
    first = event(SHANGHAI_VIN, "s1", SERVICE)
    application.telematics.ingest([first])
    again = application.telematics.ingest(
        [first, event(SHANGHAI_VIN, "s2", SERVICE, at=NOON + timedelta(days=1))]
    )
    assert (again.duplicates, again.stored, again.leads) == (1, 1, 0)
    assert len(leads_of(application)) == 1


def test_once_the_lead_is_closed_a_new_service_due_makes_a_new_one(
    application: Application, shanghai: Car
) -> None:
    application.telematics.ingest([event(SHANGHAI_VIN, "s1", SERVICE)])
    [lead] = leads_of(application)
    LeadService(application).transition(SYSTEM, lead.id, LeadStatus.LOST, reason="serviced")
    later = application.telematics.ingest([event(SHANGHAI_VIN, "s2", SERVICE)])
    assert later.leads == 1
    assert count(application, Lead) == 2


def test_a_warning_lamp_opens_one_case_with_the_packs_priority_for_the_dealer(
    application: Application, shanghai: Car, register_plugin
) -> None:
    announced = Announced()
    register_plugin(announced)
    ingested = application.telematics.ingest(
        [
            event(SHANGHAI_VIN, "w1", LAMP, lamp="engine"),
            event(SHANGHAI_VIN, "w2", LAMP, lamp="ENGINE", at=NOON + timedelta(minutes=5)),
            event(SHANGHAI_VIN, "w3", LAMP, lamp="brake", at=NOON + timedelta(minutes=9)),
        ]
    )
    assert (ingested.stored, ingested.cases) == (3, 2)
    engine, brake = cases_of(application)
    assert (engine.priority, brake.priority) == (Priority.HIGH, Priority.URGENT)
    assert engine.organization_id == shanghai.dealer_id
    assert engine.customer_id == shanghai.customer_id
    assert "engine" in engine.subject
    assert SHANGHAI_VIN in engine.subject
    assert engine.due_at is not None
    assert engine.response_due_at is not None
    assert announced.cases == [("new", None), ("new", None)]


def test_a_lamp_the_market_pack_names_takes_its_priority_over_the_template(
    application: Application, shanghai: Car
) -> None:
    """CN's pack makes a battery running hot urgent; the template would make it normal."""
    application.telematics.ingest(
        [
            event(SHANGHAI_VIN, "w1", LAMP, lamp="battery_thermal"),
            event(SHANGHAI_VIN, "w2", LAMP, lamp="washer_fluid"),
        ]
    )
    assert [case.priority for case in cases_of(application)] == [Priority.URGENT, Priority.NORMAL]


def test_a_closed_case_lets_the_same_lamp_open_another(
    application: Application, shanghai: Car
) -> None:
    application.telematics.ingest([event(SHANGHAI_VIN, "w1", LAMP, lamp="engine")])
    [case] = cases_of(application)
    cases = CaseService(application)
    for status in (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED):
        cases.transition(SYSTEM, case.id, status)
    again = application.telematics.ingest([event(SHANGHAI_VIN, "w2", LAMP, lamp="engine")])
    assert again.cases == 1


def test_a_vehicle_nobody_owns_reports_and_makes_no_work(application: Application) -> None:
    with application.transaction() as session:
        session.add(Vehicle(market="JP", vin=OSAKA_VIN))
    ingested = application.telematics.ingest(
        [event(OSAKA_VIN, "s1", SERVICE), event(OSAKA_VIN, "w1", LAMP, lamp="brake")]
    )
    assert (ingested.stored, ingested.leads, ingested.cases) == (2, 0, 0)
    assert count(application, TelematicsAlert) == 0


def test_mileage_and_trips_make_no_work(application: Application, shanghai: Car) -> None:
    ingested = application.telematics.ingest(
        [event(SHANGHAI_VIN, "m1"), event(SHANGHAI_VIN, "t1", EventKind.TRIP_SUMMARY)]
    )
    assert (ingested.stored, ingested.leads, ingested.cases) == (2, 0, 0)
