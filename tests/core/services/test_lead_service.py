"""The lead service: each method one transaction, committed before it returns, scoped to
its caller and audited in the service itself, with no route in between."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from service_people import AUDIT_PARTNERS, SHANGHAI_CALL, Person, actions, sign_in
from sqlalchemy import func, select

from regiocrm.crm.access import Forbidden
from regiocrm.crm.customers import NewCustomer, UnknownCustomer
from regiocrm.crm.lead_lifecycle import LeadError, Sale, UnknownLead
from regiocrm.crm.leads import NewLead
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import LeadStatus, OrganizationKind, UserRole
from regiocrm.models import Contract, Interaction, Lead, Ownership
from regiocrm.models.base import utcnow
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.customers import CustomerService
from regiocrm.services.leads import LeadService

PUDONG = Point(31.2090, 121.5960)
MINHANG = Point(31.1120, 121.3810)
NEAR_PUDONG = Point(31.2035, 121.5907)
VIN = "LSVAU2180N2183456"


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    """Two Shanghai dealers with a location, the Shanghai call centre and a partner
    auditor, as the services see them once authenticated."""
    return sign_in(
        application,
        Person("Pudong Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF, PUDONG),
        Person("Minhang Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF, MINHANG),
        SHANGHAI_CALL,
        AUDIT_PARTNERS,
    )


def count(
    stores: ZoneStores, model: type[Lead] | type[Interaction] | type[Ownership] | type[Contract]
) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def a_lead(
    application: Application, caller: Caller, customer_id: uuid.UUID | None = None
) -> uuid.UUID:
    """A lead near Pudong Motors, which it is routed to."""
    new = NewLead(market="CN", point=NEAR_PUDONG, customer_id=customer_id)
    return LeadService(application).create(caller, new).id


def test_a_lead_is_routed_and_kept_before_create_returns(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    lead = LeadService(application).create(
        people["Shanghai Call"], NewLead(market="CN", point=NEAR_PUDONG, vehicle_model="Tourer")
    )
    assert lead.dealer is not None
    assert (lead.status, lead.dealer.name, lead.dealer.id) == (
        "new",
        "Pudong Motors",
        people["Pudong Motors"].organization_id,
    )
    assert lead.as_json()["dealer"]["id"] == str(people["Pudong Motors"].organization_id)
    # Another session, after the call: the service committed before it returned.
    with migrated.session() as session:
        stored = session.get_one(Lead, lead.id)
    assert (stored.dealer_id, stored.vehicle_model) == (lead.dealer.id, "Tourer")


def test_another_dealer_is_refused_by_the_service_and_nothing_is_written(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    lead = a_lead(application, people["Shanghai Call"])
    other = people["Minhang Motors"]
    for attempt in (
        lambda: leads.get(other, lead),
        lambda: leads.transition(other, lead, LeadStatus.CONTACTED),
        lambda: leads.convert(other, lead, Sale(VIN, date.today())),
    ):
        with pytest.raises(UnknownLead, match=f"no lead {lead}"):
            attempt()
    assert leads.find(other, limit=50) == []
    assert actions(migrated, other) == []
    assert leads.get(people["Pudong Motors"], lead).status == "new"
    assert count(migrated, Interaction) == count(migrated, Ownership) == 0


def test_a_role_that_reads_no_customer_data_is_refused_everything(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    lead = a_lead(application, people["Shanghai Call"])
    auditor = people["Audit Partners"]
    for attempt in (
        lambda: leads.create(auditor, NewLead(market="CN", point=NEAR_PUDONG)),
        lambda: leads.find(auditor, limit=50),
        lambda: leads.get(auditor, lead),
        lambda: leads.transition(auditor, lead, LeadStatus.CONTACTED),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert count(migrated, Lead) == 1
    assert actions(migrated, auditor) == []


def test_every_lead_listed_or_read_is_audited_with_its_reader(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    first, second = (a_lead(application, people["Shanghai Call"]) for _ in range(2))
    dealer = people["Pudong Motors"]
    listed = leads.find(dealer, limit=50)
    assert {lead.id for lead in listed} == {first, second}
    leads.get(dealer, first)
    assert actions(migrated, dealer) == ["lead.read"] * 3
    assert leads.find(dealer, status=LeadStatus.WON, limit=50) == []
    assert leads.find(dealer, overdue_only=True, limit=50) == []
    assert [lead.id for lead in leads.find(dealer, limit=1)] == [listed[0].id]


def test_a_lead_for_a_customer_the_dealer_does_not_see_stores_nothing(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    theirs = (
        CustomerService(application).create(people["Minhang Motors"], NewCustomer(market="CN")).id
    )
    with pytest.raises(UnknownCustomer):
        a_lead(application, people["Pudong Motors"], customer_id=theirs)
    with pytest.raises(ValueError, match="an address or a point"):
        LeadService(application).create(people["Shanghai Call"], NewLead(market="CN"))
    assert count(migrated, Lead) == 0


def test_a_step_the_lead_cannot_take_stores_nothing(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    lead = a_lead(application, people["Shanghai Call"])
    dealer = people["Pudong Motors"]
    for to, reason in ((LeadStatus.LOST, " "), (LeadStatus.WON, ""), (LeadStatus.QUALIFIED, "")):
        with pytest.raises(LeadError):
            leads.transition(dealer, lead, to, reason=reason)
    with pytest.raises(LeadError, match="not a VIN"):
        leads.convert(dealer, lead, Sale("I0", date.today()))
    assert leads.get(dealer, lead).status == "new"
    assert actions(migrated, dealer) == ["lead.read"]
    moved = leads.transition(dealer, lead, LeadStatus.LOST, reason="bought elsewhere")
    assert (moved.status, moved.lost_reason) == ("lost", "bought elsewhere")
    assert actions(migrated, dealer) == ["lead.lost", "lead.read"]


def test_a_lead_is_won_by_the_sale_of_a_vehicle_to_a_customer_the_dealer_sees(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    dealer = people["Pudong Motors"]
    buyer = CustomerService(application).create(dealer, NewCustomer(market="CN")).id
    lead = a_lead(application, dealer, customer_id=buyer)
    for to in (LeadStatus.CONTACTED, LeadStatus.QUALIFIED):
        leads.transition(dealer, lead, to)
    won = leads.convert(dealer, lead, Sale(VIN, date.today()))
    assert (won.status, won.customer_id) == ("won", buyer)
    assert won.ownership_id is not None
    with migrated.session() as session:
        steps = session.scalar(
            select(func.count()).where(
                Interaction.customer_id == buyer, Interaction.channel == "lead"
            )
        )
    assert steps == 3


def test_the_nearest_dealer_is_anyones_to_ask(
    application: Application, people: dict[str, Caller]
) -> None:
    leads = LeadService(application)
    nearest = leads.nearest_dealer(people["Audit Partners"], "CN", NEAR_PUDONG)
    assert nearest is not None
    assert (nearest.dealer.name, nearest.as_json()["dealer"]["lat"]) == (
        "Pudong Motors",
        PUDONG.lat,
    )
    assert leads.nearest_dealer(people["Audit Partners"], "JP", NEAR_PUDONG) is None


def test_the_work_list_puts_the_overdue_first_with_each_customer_at_hand_and_audited(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    dealer = people["Pudong Motors"]
    wang = (
        CustomerService(application)
        .create(
            dealer,
            NewCustomer(market="CN", family_name="王", given_name="芳"),
            [IdentityRef("phone", "13800138000"), IdentityRef("line", "U4af4980629")],
        )
        .id
    )
    later, late, closed = (a_lead(application, people["Shanghai Call"], wang) for _ in range(3))
    with migrated.session() as session:
        session.get_one(Lead, late).follow_up_due_at = utcnow() - timedelta(hours=1)
        session.get_one(Lead, closed).follow_up_due_at = None
        session.commit()
    listed = leads.worklist(dealer, limit=50)
    assert [item.lead.id for item in listed] == [late, later, closed]
    assert [item.overdue for item in listed] == [True, False, False]
    first = listed[0]
    assert first.steps == ("contacted", "lost")
    assert (first.currency, first.phone) == ("CNY", "+8613800138000")
    assert first.customer is not None
    assert first.customer.display_name == "王芳"
    assert actions(migrated, dealer).count("customer.read") == 1
    assert actions(migrated, dealer).count("lead.read") == 3
    assert leads.worklist(people["Minhang Motors"], limit=50) == []
    assert leads.worklist(dealer, status=LeadStatus.WON, limit=50) == []
    with pytest.raises(UnknownLead):
        leads.at_hand(people["Minhang Motors"], late)
    assert leads.at_hand(dealer, late).overdue


def test_a_sale_with_a_price_is_kept_as_a_sales_contract_and_a_bad_one_stores_nothing(
    application: Application, people: dict[str, Caller], migrated: ZoneStores
) -> None:
    leads = LeadService(application)
    dealer = people["Pudong Motors"]
    wang = CustomerService(application).create(dealer, NewCustomer(market="CN")).id
    lead = a_lead(application, people["Shanghai Call"], wang)
    for step in (LeadStatus.CONTACTED, LeadStatus.QUALIFIED):
        leads.transition(dealer, lead, step)
    yesterday = date.today() - timedelta(days=1)
    for price, started_on, field in (
        (Decimal("0"), yesterday, "price"),
        (Decimal("12.345"), yesterday, "price"),
        (Decimal("NaN"), yesterday, "price"),
        (Decimal("100"), date.today() + timedelta(days=2), "started_on"),
    ):
        with pytest.raises(LeadError) as refused:
            leads.convert(dealer, lead, Sale(VIN, started_on, price=price))
        assert refused.value.field == field
    assert count(migrated, Ownership) == count(migrated, Contract) == 0
    assert leads.get(dealer, lead).status == "qualified"
    won = leads.convert(dealer, lead, Sale(VIN, yesterday, price=Decimal("189000.50")))
    assert won.status == "won"
    again = leads.convert(dealer, lead, Sale(VIN, yesterday, price=Decimal("189000.50")))
    assert again.ownership_id == won.ownership_id
    with migrated.session() as session:
        contract = session.scalars(select(Contract)).one()
    assert (contract.amount, contract.currency, contract.kind.value, contract.customer_id) == (
        Decimal("189000.50"),
        "CNY",
        "sales",
        wang,
    )
