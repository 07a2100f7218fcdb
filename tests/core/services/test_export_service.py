"""The export service: who may take a customer's data across a border, decided in the
service; the export kept, or its refusal audited, before the call returns."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from service_people import Person, sign_in
from sqlalchemy import select

from regiocrm.crm.access import Forbidden
from regiocrm.crm.customers import Customers, NewCustomer, UnknownCustomer
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.models import AuditEvent
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.exports import FILE, ExportError, ExportRefused
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.exports import ExportService


def caller(app: Application, role: UserRole) -> Caller:
    return sign_in(app, Person("HQ", OrganizationKind.OEM, role, market="AU"))["HQ"]


def an_australian(app: Application) -> uuid.UUID:
    with app.transaction() as session:
        return Customers(session, app.hooks).create(NewCustomer(market="AU")).id


def audited(stores: ZoneStores) -> list[tuple[str, object]]:
    with stores.session() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor_id).where(
                AuditEvent.action.like("customer.export%")
            )
        )
        return [(action, actor) for action, actor in rows]


def test_a_desk_role_may_not_export(application: Application, migrated: ZoneStores) -> None:
    customer = an_australian(application)
    agent = caller(application, UserRole.CALL_CENTRE_AGENT)
    with pytest.raises(Forbidden, match="a call_centre_agent may not export customer data"):
        ExportService(application).export(agent, customer, FILE)
    assert audited(migrated) == []


def test_a_refusal_is_audited_with_the_caller_before_it_is_raised(
    application: Application, migrated: ZoneStores
) -> None:
    customer = an_australian(application)
    centre = caller(application, UserRole.COMPETENCE_CENTRE)
    with pytest.raises(ExportRefused) as refused:
        ExportService(application).export(centre, customer, FILE)
    assert refused.value.missing == [
        "AU identity data needs the customer's consent to export to file (purpose 'export',"
        " channel 'file' or '*'), and none is in force"
    ]
    assert audited(migrated) == [("customer.export_refused", centre.user_id)]
    with pytest.raises(UnknownCustomer):
        ExportService(application).export(centre, new_id(), FILE)


def test_the_operator_exports_to_a_zone_the_rules_allow_and_never_over_a_file(
    application: Application, migrated: ZoneStores, tmp_path: Path
) -> None:
    customer = an_australian(application)
    exports = ExportService(application)
    assert exports.zones == ["main", "au", "cn", "jp", "kr"]
    exported = exports.export_as_operator(customer, "au")
    assert (exported.destination, exported.export_id is not None) == ("au", True)
    assert audited(migrated) == [("customer.exported", None)]
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    with pytest.raises(ExportError, match="exists already"):
        exports.export_as_operator(customer, FILE, path=taken)
    assert taken.read_text() == "{}"
