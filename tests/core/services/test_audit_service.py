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
from regiocrm.crm.audit import MASKED, TrailEntry, TrailFilter
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


@pytest.mark.parametrize(
    ("only", "actions"),
    [
        (TrailFilter(action="case.read"), ["case.read"]),
        (TrailFilter(subject_type="organization"), ["customer.read", "case.read"]),
        (TrailFilter(subject_type="customer"), []),
        (TrailFilter(actor="Pudong Motors", action="customer.read"), ["customer.read"]),
        (TrailFilter(actor="Shanghai Call"), []),
    ],
)
def test_a_reading_filtered_by_action_actor_or_subject_records_the_filters(
    application: Application,
    people: dict[str, Caller],
    dealer_acted: uuid.UUID,
    only: TrailFilter,
    actions: list[str],
) -> None:
    page = AuditService(application).read(
        people["Audit Partners"], dealer_acted, SINCE, only=only, limit=10
    )
    assert [entry.action for entry in page.items] == actions
    [reading] = recorded(application.stores, "audit.read")
    assert {key: reading.detail[key] for key in only.as_detail()} == only.as_detail()


def test_the_organizations_an_auditor_may_choose_from_are_every_one_by_name(
    application: Application, people: dict[str, Caller]
) -> None:
    names = [org.name for org in AuditService(application).organizations(people["Audit Partners"])]
    assert names == ["Audit Partners", "Headquarters", "Pudong Motors", "Shanghai Call"]
    with pytest.raises(Forbidden):
        AuditService(application).organizations(people["Pudong Motors"])


def test_a_users_export_is_masked_even_for_the_region_and_recorded_as_theirs(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID
) -> None:
    admin = people["Headquarters"]
    written: list[tuple[str, object]] = []

    def write(organization: OrganizationView, entries: Iterator[TrailEntry]) -> int:
        written.extend((entry.action, entry.detail) for entry in entries)
        return len(written)

    only = TrailFilter(action="customer.read")
    assert AuditService(application).export(admin, dealer_acted, SINCE, None, write, only=only) == 1
    assert written == [("customer.read", {"identity": MASKED})]
    [export] = recorded(application.stores, "audit.exported")
    assert (export.actor_id, export.subject_id) == (admin.user_id, dealer_acted)
    assert (export.detail["events"], export.detail["action"]) == ("1", "customer.read")


def test_an_export_refused_records_nothing(
    application: Application, people: dict[str, Caller], dealer_acted: uuid.UUID
) -> None:
    trail = AuditService(application)
    with pytest.raises(Forbidden):
        trail.export(people["Shanghai Call"], dealer_acted, SINCE, None, _count)
    with pytest.raises(PeriodError):
        trail.export(people["Audit Partners"], dealer_acted, SINCE, SINCE, _count)
    with pytest.raises(UnknownOrganization):
        trail.export(people["Audit Partners"], uuid.UUID(int=9), SINCE, None, _count)
    assert recorded(application.stores, "audit.exported") == []
