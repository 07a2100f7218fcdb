"""The case service: each method one transaction, committed before it returns, scoped to
its caller in the service itself."""

from __future__ import annotations

import uuid

import pytest
from service_people import PUDONG_MOTORS, SHANGHAI_CALL, SHANGHAI_MOTORS, sign_in
from sqlalchemy import func, select

from regiocrm.crm.cases import NewCase, UnknownCase
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.interfaces.terms import CaseStatus, Priority
from regiocrm.models import Case, Interaction
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.cases import CaseService


def callers(app: Application) -> dict[str, Caller]:
    """Tokens of a Shanghai dealer, a Pudong dealer and the Shanghai call centre, as the
    services see them once authenticated."""
    return sign_in(app, SHANGHAI_MOTORS, PUDONG_MOTORS, SHANGHAI_CALL)


def a_customer(app: Application, registered_by: Caller) -> uuid.UUID:
    """A customer the dealer registered, which links them to the dealership."""
    with app.transaction() as session:
        customer = Customers(session, app.hooks).create(NewCustomer(market="CN"))
        session.add(
            Interaction.step(
                market="CN",
                customer_id=customer.id,
                channel="crm",
                touchpoint="registration",
                summary="registered",
                organization_id=registered_by.organization_id,
            )
        )
        return customer.id


def test_a_token_that_is_no_ones_is_no_caller(application: Application) -> None:
    assert application.authenticate("rcm_not-a-token") is None


def test_a_case_is_kept_before_open_returns_and_linked_to_the_dealer(
    application: Application, migrated: ZoneStores
) -> None:
    people = callers(application)
    customer = a_customer(application, people["Shanghai Motors"])
    case = CaseService(application).open(
        people["Shanghai Motors"],
        NewCase(customer_id=customer, market="CN", priority=Priority.HIGH, subject="刹车异响"),
    )
    assert case.organization_id == people["Shanghai Motors"].organization_id
    # Another connection, after the call: the service committed before it returned.
    with migrated.session() as session:
        stored = session.get_one(Case, case.id)
        steps = session.scalar(select(func.count()).where(Interaction.case_id == case.id))
    assert (stored.subject, stored.status, steps) == ("刹车异响", CaseStatus.NEW, 1)


def test_another_dealer_cannot_read_or_move_the_case(application: Application) -> None:
    people = callers(application)
    cases = CaseService(application)
    case = cases.open(
        people["Shanghai Motors"],
        NewCase(
            customer_id=a_customer(application, people["Shanghai Motors"]),
            market="CN",
            priority=Priority.NORMAL,
            subject="x",
        ),
    )
    for attempt in (
        lambda: cases.get(people["Pudong Motors"], case.id),
        lambda: cases.transition(people["Pudong Motors"], case.id, CaseStatus.IN_PROGRESS),
    ):
        with pytest.raises(UnknownCase, match=f"no case {case.id}"):
            attempt()
    assert cases.find(people["Pudong Motors"], limit=50) == []
    assert [seen.id for seen in cases.find(people["Shanghai Call"], limit=50)] == [case.id]
    assert cases.get(people["Shanghai Motors"], case.id).status == "new"


def test_open_cases_of_one_priority_leave_out_resolved_ones_and_other_priorities(
    application: Application,
) -> None:
    people = callers(application)
    dealer = people["Shanghai Motors"]
    cases = CaseService(application)
    customer = a_customer(application, dealer)

    def opened(priority: Priority, subject: str) -> uuid.UUID:
        new = NewCase(customer_id=customer, market="CN", priority=priority, subject=subject)
        return cases.open(dealer, new).id

    urgent, resolved, normal = (
        opened(Priority.URGENT, "open"),
        opened(Priority.URGENT, "done"),
        opened(Priority.NORMAL, "open too"),
    )
    cases.transition(dealer, resolved, CaseStatus.IN_PROGRESS)
    cases.transition(dealer, resolved, CaseStatus.RESOLVED)

    def listed(**asked: object) -> set[uuid.UUID]:
        return {case.id for case in cases.find(dealer, limit=50, **asked)}

    assert listed(open_only=True) == {urgent, normal}
    assert listed(open_only=True, priority=Priority.URGENT) == {urgent}
    assert listed(priority=Priority.URGENT) == {urgent, resolved}
    assert listed(open_only=True, priority=Priority.LOW) == set()
