"""The contract service: each method one transaction, committed before it returns, scoped
to its caller, and every read of a customer's financial data audited with its reader."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from service_people import (
    AUDIT_PARTNERS,
    PUDONG_MOTORS,
    SHANGHAI_CALL,
    SHANGHAI_MOTORS,
    actions,
    sign_in,
)
from sqlalchemy import func, select

from regiocrm.crm.access import Forbidden
from regiocrm.crm.contracts import ContractError, NewContract, UnknownContract
from regiocrm.crm.customers import NewCustomer, UnknownCustomer
from regiocrm.interfaces.terms import ContractKind, ContractStatus
from regiocrm.models import Contract
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.contracts import ContractService
from regiocrm.services.customers import CustomerService

TODAY = date.today()


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    """Two Shanghai dealers, the Shanghai call centre and a partner auditor, as the
    services see them once authenticated."""
    return sign_in(application, SHANGHAI_MOTORS, PUDONG_MOTORS, SHANGHAI_CALL, AUDIT_PARTNERS)


def contracts_stored(stores: ZoneStores) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(Contract)) or 0


def a_lease(customer_id: uuid.UUID, **values: object) -> NewContract:
    lease = NewContract(
        customer_id=customer_id,
        market="CN",
        kind=ContractKind.LEASE,
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=30),
        status=ContractStatus.ACTIVE,
        amount=Decimal("1200.50"),
    )
    return NewContract(**{**vars(lease), **values})


def registered_by(application: Application, dealer: Caller) -> uuid.UUID:
    """A customer the dealer registered, which links them to the dealership."""
    return CustomerService(application).create(dealer, NewCustomer(market="CN")).id


def test_a_dealers_contract_is_theirs_and_kept_before_create_returns(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    dealer = people["Shanghai Motors"]
    contract = ContractService(application).create(
        dealer, a_lease(registered_by(application, dealer))
    )
    assert (contract.organization_id, contract.currency) == (dealer.organization_id, "CNY")
    assert contract.as_json()["amount"] == "1200.50"
    with migrated.session() as session:
        stored = session.get_one(Contract, contract.id)
    assert (stored.organization_id, stored.amount) == (dealer.organization_id, Decimal("1200.50"))
    assert actions(migrated, dealer) == ["contract.created", "customer.created"]


def test_another_dealer_sees_no_contract_of_the_dealers_and_writes_none(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    contracts = ContractService(application)
    dealer, other = people["Shanghai Motors"], people["Pudong Motors"]
    customer = registered_by(application, dealer)
    contract = contracts.create(dealer, a_lease(customer))
    with pytest.raises(UnknownContract, match=f"no contract {contract.id}"):
        contracts.get(other, contract.id)
    assert contracts.find(other, limit=50) == []
    assert contracts.find(other, customer_id=customer, limit=50) == []
    with pytest.raises(UnknownCustomer):
        contracts.create(other, a_lease(customer))
    assert contracts_stored(migrated) == 1
    assert actions(migrated, other) == []
    assert [seen.id for seen in contracts.find(people["Shanghai Call"], limit=50)] == [contract.id]


def test_a_role_that_reads_no_customer_data_is_refused_everything(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    contracts = ContractService(application)
    customer = registered_by(application, people["Shanghai Call"])
    contract = contracts.create(people["Shanghai Call"], a_lease(customer))
    auditor = people["Audit Partners"]
    for attempt in (
        lambda: contracts.create(auditor, a_lease(customer)),
        lambda: contracts.find(auditor, limit=50),
        lambda: contracts.get(auditor, contract.id),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert contracts_stored(migrated) == 1
    assert actions(migrated, auditor) == []


def test_every_contract_listed_or_read_is_audited_with_its_reader(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    contracts = ContractService(application)
    agent = people["Shanghai Call"]
    customer = registered_by(application, agent)
    soon = contracts.create(agent, a_lease(customer))
    later = contracts.create(agent, a_lease(customer, ends_on=TODAY + timedelta(days=300)))
    reader = people["Shanghai Call"]
    before = actions(migrated, reader).count("contract.read")
    assert [c.id for c in contracts.find(reader, customer_id=customer, limit=50)] == [
        soon.id,
        later.id,
    ]
    assert [c.id for c in contracts.find(reader, ending_within_days=60, limit=50)] == [soon.id]
    contracts.get(reader, later.id)
    assert actions(migrated, reader).count("contract.read") == before + 4


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"ends_on": TODAY - timedelta(days=1)}, "the date range is backwards"),
        ({"amount": Decimal("0.001")}, "CNY"),
        ({"vehicle_id": uuid.UUID(int=7)}, "no vehicle"),
    ],
    ids=["backwards", "finer than the currency", "no such vehicle"],
)
def test_a_bad_contract_stores_nothing_and_audits_nothing(
    application: Application,
    people: dict[str, Caller],
    migrated: ZoneStores,
    values: dict[str, object],
    reason: str,
) -> None:
    agent = people["Shanghai Call"]
    customer = registered_by(application, agent)
    with pytest.raises(ContractError, match=reason):
        ContractService(application).create(agent, a_lease(customer, **values))
    assert contracts_stored(migrated) == 0
    assert actions(migrated, agent) == ["customer.created"]


def test_a_contract_is_a_step_on_the_timeline_that_shows_no_terms_and_links_no_dealer(
    application: Application, people: dict[str, Caller]
) -> None:
    agent, dealer = people["Shanghai Call"], people["Shanghai Motors"]
    customer = registered_by(application, agent)
    ContractService(application).create(
        agent, a_lease(customer, organization_id=dealer.organization_id, reference="L-77")
    )
    steps = CustomerService(application).timeline(agent, customer, after=None, limit=10).items
    contract_steps = [step for step in steps if step.channel == "contract"]
    assert [(step.touchpoint, step.summary) for step in contract_steps] == [
        ("lease", "lease contract (active)")
    ]
    assert not any("1200" in (step.summary or "") + (step.text or "") for step in steps)
    with pytest.raises(UnknownCustomer):
        CustomerService(application).get(dealer, customer)
