"""CustomerService.overview, the customer's one view in one read: what it gathers, scoped
as each record's own listing is, audited once; and a send the provider refuses, which stays
on the timeline as failed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from service_people import PUDONG_MOTORS, SHANGHAI_CALL, SHANGHAI_MOTORS, actions, sign_in
from sqlalchemy import select

from regiocrm.crm.cases import NewCase
from regiocrm.crm.contracts import NewContract
from regiocrm.crm.customers import NewConsent, NewCustomer, UnknownCustomer
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.terms import ConsentAction, ContractKind, Direction, Priority
from regiocrm.messaging.outbound import NotDelivered
from regiocrm.models import Interaction, Ownership, Vehicle
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.services.cases import CaseService
from regiocrm.services.contracts import ContractService
from regiocrm.services.customers import CustomerService
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
REFUSAL = "The request body has 1 error(s)"


@pytest.fixture
def application(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[Application]:
    """A deployment with a LINE account whose API refuses every push."""
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_cn": LINE.account_settings()})

    def refusing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": REFUSAL})

    app = Application.open(
        settings, regiocrm_hooks, http_client=httpx.Client(transport=httpx.MockTransport(refusing))
    )
    upgrade_zones(app.stores, regiocrm_hooks)
    yield app
    app.close()


def test_the_overview_holds_only_what_the_dealers_scope_holds(application: Application) -> None:
    people = sign_in(application, SHANGHAI_MOTORS, PUDONG_MOTORS, SHANGHAI_CALL)
    mine, theirs = people[SHANGHAI_MOTORS.name], people[PUDONG_MOTORS.name]
    customers, cases = CustomerService(application), CaseService(application)
    customer = customers.create(mine, NewCustomer(market="CN", family_name="王", given_name="伟"))
    customers.record_consent(mine, customer.id, NewConsent("service"))
    customers.record_consent(
        mine, customer.id, NewConsent("service", action=ConsentAction.WITHDRAW)
    )
    own = cases.open(mine, NewCase(customer.id, "CN", Priority.NORMAL, "保养预约"))
    # Pudong sees the customer too once a case of theirs links them; the cases stay apart.
    other = cases.open(
        people[SHANGHAI_CALL.name],
        NewCase(customer.id, "CN", Priority.HIGH, "投诉", organization_id=theirs.organization_id),
    )
    ContractService(application).create(
        mine, NewContract(customer.id, "CN", ContractKind.SERVICE, date(2026, 1, 1))
    )
    with application.transaction() as session:
        vehicle = Vehicle(market="CN", vin="LSVAU2180N2184432", make="VW", model="ID.4")
        session.add(vehicle)
        session.flush()
        for dealer in (mine.organization_id, theirs.organization_id):
            session.add(
                Ownership(
                    market="CN",
                    vehicle_id=vehicle.id,
                    customer_id=customer.id,
                    dealer_id=dealer,
                    started_on=date(2025, 6, 1),
                )
            )

    seen = customers.overview(mine, customer.id)
    theirs_view = customers.overview(theirs, customer.id)

    assert [case.id for case in seen.open_cases] == [own.id]
    assert [case.id for case in theirs_view.open_cases] == [other.id]
    assert len(seen.contracts) == 1
    assert theirs_view.contracts == ()
    assert [owned.dealer_id for owned in seen.ownerships] == [mine.organization_id]
    assert seen.ownerships[0].vin == "LSVAU2180N2184432"
    assert [(c.action, c.in_force) for c in seen.consents] == [
        ("withdraw", True),
        ("grant", False),
    ]
    steps = [entry.summary or "" for entry in seen.timeline.items]
    contract = next(n for n, step in enumerate(steps) if "contract" in step)
    case = next(n for n, step in enumerate(steps) if "保养预约" in step)
    assert contract < case, "newest first: the contract came after the case"
    assert actions(application.stores, theirs).count("customer.overview_read") == 1


def test_a_customer_out_of_scope_is_unknown_to_the_overview(application: Application) -> None:
    people = sign_in(application, SHANGHAI_MOTORS, PUDONG_MOTORS)
    customer = CustomerService(application).create(
        people[SHANGHAI_MOTORS.name], NewCustomer(market="CN")
    )
    with pytest.raises(UnknownCustomer):
        CustomerService(application).overview(people[PUDONG_MOTORS.name], customer.id)
    assert "customer.overview_read" not in actions(application.stores, people[PUDONG_MOTORS.name])


def test_a_send_the_provider_refuses_stays_on_the_timeline_as_failed(
    application: Application,
) -> None:
    agent = sign_in(application, SHANGHAI_CALL)[SHANGHAI_CALL.name]
    customers = CustomerService(application)
    customer = customers.create(
        agent, NewCustomer(market="CN"), [IdentityRef("line", LINE.sender(3))]
    )
    customers.record_consent(agent, customer.id, NewConsent("service"))

    with pytest.raises(NotDelivered, match=re.escape(REFUSAL)) as refused:
        customers.send_message(agent, customer.id, "您好", channel="line", purpose="service")

    with application.transaction() as session:
        [entry] = session.scalars(
            select(Interaction).where(Interaction.direction == Direction.OUTBOUND)
        ).all()
        assert entry.id == refused.value.entry_id
        assert entry.text == "您好"
        assert entry.external_id is None
        assert entry.failure is not None
        assert REFUSAL in entry.failure
    [failed] = [
        item
        for item in customers.timeline(agent, customer.id, after=None, limit=50).items
        if item.direction == "outbound"
    ]
    assert failed.failure == entry.failure


def test_confirming_an_identity_the_customer_holds_marks_it_verified(
    application: Application,
) -> None:
    agent = sign_in(application, SHANGHAI_CALL)[SHANGHAI_CALL.name]
    customers = CustomerService(application)
    customer = customers.create(
        agent, NewCustomer(market="CN"), [IdentityRef("phone", "+8613800138000")]
    )
    assert [i.verified for i in customer.identities] == [False]

    bound = customers.bind_identity(
        agent, customer.id, IdentityRef("phone", "13800138000"), verified=True
    )

    assert [(i.value, i.verified) for i in bound.identities] == [("+8613800138000", True)]
