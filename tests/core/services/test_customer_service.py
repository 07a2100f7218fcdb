"""The customer service: each method one transaction, committed before it returns, scoped
to its caller and audited in the service itself, with no route in between."""

from __future__ import annotations

import uuid

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
from regiocrm.crm.customers import MergeRefused, NewConsent, NewCustomer, UnknownCustomer
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.terms import ConsentAction
from regiocrm.models import Consent, Customer, Identity, Interaction
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customer_views import IdentityView
from regiocrm.services.customers import CustomerService

PHONE = IdentityRef("phone", "138 0013 8000")


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    """Two Shanghai dealers, the Shanghai call centre and a partner auditor, as the
    services see them once authenticated."""
    return sign_in(application, SHANGHAI_MOTORS, PUDONG_MOTORS, SHANGHAI_CALL, AUDIT_PARTNERS)


def count(stores: ZoneStores, model: type[Consent] | type[Customer] | type[Identity]) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_dealers_customer_is_kept_and_linked_to_them_before_create_returns(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    dealer = people["Shanghai Motors"]
    customer = CustomerService(application).create(
        dealer,
        NewCustomer(market="CN", family_name="王", given_name="芳"),
        [PHONE],
        [NewConsent("marketing", "sms", source="showroom form")],
    )
    assert customer.identities == (IdentityView("phone", "+8613800138000", False),)
    # Another session, after the call: the service committed before it returned.
    with migrated.session() as session:
        [step] = session.scalars(select(Interaction).where(Interaction.customer_id == customer.id))
        [consent] = session.scalars(select(Consent).where(Consent.customer_id == customer.id))
    assert (step.touchpoint, step.summary, step.organization_id) == (
        "registration",
        "registered",
        dealer.organization_id,
    )
    assert (consent.purpose, consent.channel, consent.action, consent.source) == (
        "marketing",
        "sms",
        ConsentAction.GRANT,
        "showroom form",
    )
    assert actions(migrated, dealer) == ["customer.created"]


def test_a_call_centres_customer_is_linked_to_no_one(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    customers = CustomerService(application)
    customer = customers.create(people["Shanghai Call"], NewCustomer(market="CN"))
    assert (
        customers.timeline(people["Shanghai Call"], customer.id, after=None, limit=10).items == []
    )
    with pytest.raises(UnknownCustomer):
        customers.get(people["Shanghai Motors"], customer.id)


def test_another_dealer_is_refused_by_the_service_and_nothing_is_written(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    customers = CustomerService(application)
    theirs = customers.create(people["Shanghai Motors"], NewCustomer(market="CN"), [PHONE]).id
    other = people["Pudong Motors"]
    for attempt in (
        lambda: customers.get(other, theirs),
        lambda: customers.timeline(other, theirs, after=None, limit=10),
        lambda: customers.record_consent(other, theirs, NewConsent("marketing")),
        lambda: customers.bind_identity(
            other, theirs, IdentityRef("email", "wang@example.com"), verified=True
        ),
        lambda: customers.send_message(other, theirs, "你好", channel="sms", purpose="service"),
    ):
        with pytest.raises(UnknownCustomer, match=f"no customer {theirs}"):
            attempt()
    assert customers.find(other, PHONE, "CN") == []
    assert customers.page(other, after=None, limit=50).items == []
    assert [
        seen.id for seen in customers.page(people["Shanghai Call"], after=None, limit=50).items
    ] == [theirs]
    assert (count(migrated, Consent), count(migrated, Identity)) == (0, 1)
    assert actions(migrated, other) == []


def test_a_merge_with_someone_elses_customer_is_refused_and_the_refusal_kept(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    customers = CustomerService(application)
    theirs = customers.create(people["Shanghai Motors"], NewCustomer(market="CN"), [PHONE]).id
    other = people["Pudong Motors"]
    mine = customers.create(other, NewCustomer(market="CN")).id
    with pytest.raises(MergeRefused) as merge:
        customers.merge(other, mine, theirs, reason="the same person")
    with pytest.raises(MergeRefused) as bind:
        customers.bind_identity(other, mine, PHONE, verified=True)
    assert str(theirs) not in str(merge.value) + str(bind.value)
    with migrated.session() as session:
        merged = session.scalars(select(Customer.merged_into_id)).all()
        owner = session.scalar(select(Identity.customer_id))
    assert (merged, owner) == ([None, None], theirs)
    # The refusals were committed although the calls raised.
    assert actions(migrated, other) == [
        "customer.created",
        "customer.merge_refused",
        "customer.merge_refused",
    ]


def test_reads_are_audited_and_the_timeline_is_read_through_the_survivor(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    customers = CustomerService(application)
    dealer, agent = people["Shanghai Motors"], people["Shanghai Call"]
    survivor = customers.create(dealer, NewCustomer(market="CN")).id
    merged = customers.create(dealer, NewCustomer(market="CN")).id
    assert customers.merge(dealer, survivor, merged, reason="one person").merged_ids == (merged,)
    assert customers.get(agent, merged).id == survivor
    first = customers.timeline(agent, merged, after=None, limit=1)
    rest = customers.timeline(agent, survivor, after=first.next, limit=1)
    assert [entry.summary for entry in first.items + rest.items] == ["registered", "registered"]
    assert rest.next is None
    assert actions(migrated, agent) == [
        "customer.read",
        "customer.timeline_read",
        "customer.timeline_read",
    ]


def test_customers_are_paged_by_id(application: Application, people: dict[str, Caller]) -> None:
    customers = CustomerService(application)
    agent = people["Shanghai Call"]
    ids = sorted(customers.create(agent, NewCustomer(market="CN")).id for _ in range(3))
    first = customers.page(agent, after=None, limit=2)
    assert ([c.id for c in first.items], first.next) == (ids[:2], ids[1])
    rest = customers.page(agent, after=first.next, limit=2)
    assert ([c.id for c in rest.items], rest.next) == (ids[2:], None)


def test_a_dealer_registers_customers_of_their_markets_only(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    with pytest.raises(Forbidden, match="registers customers of CN only, not of JP"):
        CustomerService(application).create(people["Shanghai Motors"], NewCustomer(market="JP"))
    assert count(migrated, Customer) == 0


def test_an_auditor_reads_no_customer(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    customers = CustomerService(application)
    known = customers.create(people["Shanghai Call"], NewCustomer(market="CN"), [PHONE]).id
    auditor = people["Audit Partners"]
    for attempt in (
        lambda: customers.create(auditor, NewCustomer(market="CN")),
        lambda: customers.find(auditor, PHONE, "CN"),
        lambda: customers.page(auditor, after=None, limit=10),
        lambda: customers.get(auditor, known),
        lambda: customers.timeline(auditor, known, after=None, limit=10),
    ):
        with pytest.raises(Forbidden, match="reads the audit trail only"):
            attempt()
    assert count(migrated, Customer) == 1


def test_the_view_is_what_the_api_answers(
    application: Application, people: dict[str, Caller]
) -> None:
    customers = CustomerService(application)
    agent = people["Shanghai Call"]
    customer = customers.create(
        agent, NewCustomer(market="CN", family_name="王", given_name="芳"), [PHONE]
    )
    assert customers.find(agent, IdentityRef("phone", "+8613800138000"), None) == [customer]
    assert customer.as_json() == {
        "id": str(customer.id),
        "market": "CN",
        "kind": "person",
        "display_name": customer.display_name,
        "family_name": "王",
        "given_name": "芳",
        "family_name_phonetic": None,
        "given_name_phonetic": None,
        "company_name": None,
        "preferred_locale": None,
        "identities": [{"kind": "phone", "value": "+8613800138000", "verified": False}],
        "merged_ids": [],
        "addresses": [],
    }
    assert customer.display_name == "王芳"
    assert uuid.UUID(customer.as_json()["id"]) == customer.id
