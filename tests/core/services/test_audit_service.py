"""The audit service: who reads an organization's trail is decided in the service, every
reading is recorded in the trail itself, and a reading refused records nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from service_people import AUDIT_PARTNERS, PUDONG_MOTORS, SHANGHAI_CALL, Person, sign_in
from sqlalchemy import select

from regiocrm.crm import audit
from regiocrm.crm.access import Forbidden
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.audit import MASKED, TrailEntry
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import AuditEvent, Organization
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.audit import AuditService, OrganizationView, PeriodError
from regiocrm.services.callers import Caller

SINCE = datetime.now(UTC) - timedelta(days=1)


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    """A Shanghai dealer, a partner auditor, an admin and a call centre agent, as the
    services see them once authenticated."""
    return sign_in(
        application,
        PUDONG_MOTORS,
        AUDIT_PARTNERS,
        Person("Headquarters", OrganizationKind.OEM, UserRole.ADMIN),
        SHANGHAI_CALL,
    )


@pytest.fixture
def dealer_acted(application: Application, people: dict[str, Caller]) -> uuid.UUID:
    """Two things the dealer did, one with a customer's phone number in its detail; the
    dealer's organization."""
    dealer = people["Pudong Motors"]
    with application.transaction() as session:
        organization = session.get_one(Organization, dealer.organization_id)
        for action, personal in (
            ("customer.read", {"identity": "+8613800138000"}),
            ("case.read", None),
        ):
            audit.record(
                session,
                actor_id=dealer.user_id,
                action=action,
                subject_type="organization",
                subject=organization,
                personal=personal,
            )
    return dealer.organization_id


def recorded(stores: ZoneStores, action: str) -> list[AuditEvent]:
    with stores.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_auditor_reads_the_trail_masked_and_the_reading_is_recorded(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID
) -> None:
    auditor = people["Audit Partners"]
    page = AuditService(application).read(auditor, dealer_acted, SINCE, limit=10)
    assert [(entry.action, entry.actor) for entry in page.items] == [
        ("customer.read", "Pudong Motors"),
        ("case.read", "Pudong Motors"),
    ]
    assert page.items[0].detail == {"identity": MASKED}
    assert page.next is None
    [reading] = recorded(application.stores, "audit.read")
    assert (reading.actor_id, reading.subject_id) == (auditor.user_id, dealer_acted)


def test_the_region_reads_personal_values_a_page_at_a_time(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID
) -> None:
    trail = AuditService(application)
    admin = people["Headquarters"]
    first = trail.read(admin, dealer_acted, SINCE, limit=1)
    assert first.items[0].detail == {"identity": "+8613800138000"}
    assert first.next == (first.items[0].occurred_at, first.items[0].id)
    second = trail.read(admin, dealer_acted, SINCE, after=first.next, limit=1)
    assert [entry.action for entry in second.items] == ["case.read"]
    assert second.next is None
    assert len(recorded(application.stores, "audit.read")) == 2


@pytest.mark.parametrize("name", ["Pudong Motors", "Shanghai Call"])
def test_a_role_that_does_not_audit_is_refused_and_nothing_is_recorded(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID, name: str
) -> None:
    with pytest.raises(Forbidden):
        AuditService(application).read(people[name], dealer_acted, SINCE, limit=10)
    assert recorded(application.stores, "audit.read") == []


def test_a_bad_period_or_organization_is_refused_and_nothing_is_recorded(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID
) -> None:
    trail = AuditService(application)
    auditor = people["Audit Partners"]
    with pytest.raises(PeriodError, match="the date range is backwards"):
        trail.read(auditor, dealer_acted, SINCE, SINCE, limit=10)
    with pytest.raises(UnknownOrganization, match="no organization"):
        trail.read(auditor, uuid.UUID(int=9), SINCE, limit=10)
    with pytest.raises(PeriodError):
        trail.export_as_operator("Pudong Motors", SINCE, SINCE - timedelta(days=1), _count)
    with pytest.raises(UnknownOrganization, match="Nowhere Motors"):
        trail.export_as_operator("Nowhere Motors", SINCE, None, _count)
    assert recorded(application.stores, "audit.read") == []
    assert recorded(application.stores, "audit.exported") == []


def _count(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
    return sum(1 for _ in entries)


def test_an_export_is_recorded_as_the_systems_with_what_it_wrote(
    application: Application, dealer_acted: uuid.UUID
) -> None:
    written: list[tuple[str, str, object]] = []

    def write(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
        for entry in entries:
            written.append((organization.name, entry.action, entry.detail))
        return len(written)

    assert AuditService(application).export_as_operator("Pudong Motors", SINCE, None, write) == 2
    assert written == [
        ("Pudong Motors", "customer.read", {"identity": MASKED}),
        ("Pudong Motors", "case.read", {}),
    ]
    [export] = recorded(application.stores, "audit.exported")
    assert (export.actor_id, export.subject_id, export.detail["events"]) == (
        None,
        dealer_acted,
        "2",
    )


def test_an_export_whose_writing_fails_is_not_recorded(
    application: Application, dealer_acted: uuid.UUID
) -> None:
    def fail(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        AuditService(application).export_as_operator("Pudong Motors", SINCE, None, fail)
    assert recorded(application.stores, "audit.exported") == []
