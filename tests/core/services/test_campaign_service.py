"""The campaign service: who plans campaigns and sees which, decided in the service
itself; a plan refused stores nothing; reading who got a message is audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from service_people import Person, actions, sign_in
from sqlalchemy import func, select

from regiocrm.crm.access import Forbidden
from regiocrm.crm.accounts import UnknownOrganization
from regiocrm.crm.campaigns import CampaignError, NoAudience, UnknownCampaign
from regiocrm.crm.contracts import NewContract
from regiocrm.crm.customers import NewConsent, NewCustomer
from regiocrm.crm.segments import SegmentError
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.terms import ContractKind, ContractStatus, OrganizationKind, UserRole
from regiocrm.models import Campaign, CampaignMember
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.campaigns import CampaignService, Draft
from regiocrm.services.contracts import ContractService
from regiocrm.services.customers import CustomerService
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
SEGMENT = {"markets": ["JP"], "contract_ends_within_days": 60}
RENEWAL = Draft(
    name="契約更新のご案内",
    segment=SEGMENT,
    channels=("line",),
    messages={"ja_JP": "{name}様、更新のご案内です。"},
)


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def application(
    deployment_dir: Path, regiocrm_hooks: Hooks, sent: list[httpx.Request]
) -> Iterator[Application]:
    """A Japanese deployment with a LINE account, whose API records what it is sent."""
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})

    def provider(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return LINE.provider_api(request)

    client = httpx.Client(transport=httpx.MockTransport(provider))
    app = Application.open(settings, regiocrm_hooks, http_client=client)
    upgrade_zones(app.stores, regiocrm_hooks)
    yield app
    app.close()
    client.close()


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    """Two Tokyo dealers, a call centre agent and a partner auditor, as the services see
    them once authenticated."""
    return sign_in(
        application,
        Person("Ginza Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF, market="JP"),
        Person("Shibuya Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF, market="JP"),
        Person("Tokyo Call", OrganizationKind.CALL_CENTRE, UserRole.CALL_CENTRE_AGENT, market="JP"),
        Person("Audit Partners", OrganizationKind.OEM, UserRole.PARTNER_AUDITOR, market="JP"),
    )


@pytest.fixture
def renewal_customer(application: Application, people: dict[str, Caller]) -> uuid.UUID:
    """Ginza Motors' customer, reachable on LINE, whose lease ends within the month."""
    dealer = people["Ginza Motors"]
    customer = CustomerService(application).create(
        dealer,
        NewCustomer(market="JP", family_name="有村", given_name="太郎"),
        [IdentityRef("line", LINE.sender(1))],
        [NewConsent("marketing", "line")],
    )
    ContractService(application).create(
        dealer,
        NewContract(
            customer_id=customer.id,
            market="JP",
            kind=ContractKind.LEASE,
            starts_on=date.today() - timedelta(days=1000),
            ends_on=date.today() + timedelta(days=30),
            status=ContractStatus.ACTIVE,
        ),
    )
    return customer.id


def count(stores: ZoneStores, model: type[Campaign] | type[CampaignMember]) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_dealer_plans_for_their_organization_and_another_dealer_sees_none_of_it(
    application: Application, people: dict[str, Caller], renewal_customer: uuid.UUID
) -> None:
    campaigns = CampaignService(application)
    dealer, other = people["Ginza Motors"], people["Shibuya Motors"]
    planned = campaigns.plan(dealer, RENEWAL)
    assert (planned.campaign.organization_id, planned.audience.by_channel()) == (
        dealer.organization_id,
        {"line": 1},
    )
    assert "campaign.planned" in actions(application.stores, dealer)
    campaign = planned.campaign.id
    for attempt in (
        lambda: campaigns.get(other, campaign),
        lambda: campaigns.preview(other, campaign),
        lambda: campaigns.launchable(other, campaign),
        lambda: campaigns.launch(other, campaign),
        lambda: campaigns.members(other, campaign, limit=10),
    ):
        with pytest.raises(UnknownCampaign, match=f"no campaign {campaign}"):
            attempt()
    assert count(application.stores, CampaignMember) == 0
    assert actions(application.stores, other) == []
    # Shibuya Motors' segments reach only its own customers, and it has none.
    assert campaigns.count(other, SEGMENT) == {"JP": 0}
    assert campaigns.count(dealer, SEGMENT) == {"JP": 1}


@pytest.mark.parametrize("name", ["Tokyo Call", "Audit Partners"])
def test_roles_that_plan_no_campaigns_are_refused_and_nothing_is_stored(
    application: Application, people: dict[str, Caller], renewal_customer: uuid.UUID, name: str
) -> None:
    campaigns = CampaignService(application)
    campaign = campaigns.plan(people["Ginza Motors"], RENEWAL).campaign.id
    refused = people[name]
    for attempt in (
        lambda: campaigns.count(refused, SEGMENT),
        lambda: campaigns.audience(refused, SEGMENT, ["line"]),
        lambda: campaigns.plan(refused, RENEWAL),
        lambda: campaigns.get(refused, campaign),
        lambda: campaigns.members(refused, campaign, limit=10),
    ):
        with pytest.raises(Forbidden):
            attempt()
    assert actions(application.stores, refused) == []
    assert count(application.stores, Campaign) == 1


@pytest.mark.parametrize(
    ("draft", "refusal", "reason"),
    [
        (
            Draft(**{**vars(RENEWAL), "segment": {**SEGMENT, "colour": "red"}}),
            SegmentError,
            "colour",
        ),
        (Draft(**{**vars(RENEWAL), "channels": ("fax",)}), CampaignError, "unknown channel 'fax'"),
        (Draft(**{**vars(RENEWAL), "messages": {"ja_JP": "{nom}"}}), CampaignError, "{nom}"),
        (
            Draft(**{**vars(RENEWAL), "segment": {**SEGMENT, "contract_ends_within_days": 7}}),
            NoAudience,
            "no one to send to",
        ),
    ],
    ids=["unknown segment field", "unknown channel", "unknown placeholder", "no one in it"],
)
def test_a_plan_refused_stores_nothing(
    application: Application,
    people: dict[str, Caller],
    renewal_customer: uuid.UUID,
    draft: Draft,
    refusal: type[Exception],
    reason: str,
) -> None:
    dealer = people["Ginza Motors"]
    with pytest.raises(refusal, match=reason):
        CampaignService(application).plan(dealer, draft)
    assert count(application.stores, Campaign) == 0
    assert "campaign.planned" not in actions(application.stores, dealer)


def test_a_launch_sends_and_reading_its_members_is_audited(
    application: Application,
    people: dict[str, Caller],
    renewal_customer: uuid.UUID,
    sent: list[httpx.Request],
) -> None:
    campaigns = CampaignService(application)
    dealer = people["Ginza Motors"]
    campaign = campaigns.plan(dealer, RENEWAL).campaign.id
    assert campaigns.launchable(dealer, campaign).status == "draft"
    assert campaigns.launch(dealer, campaign).by_status == {"sent": 1}
    assert len(sent) == 1
    page = campaigns.members(dealer, campaign, limit=10)
    assert [(m.customer_id, m.channel, m.status) for m in page.items] == [
        (renewal_customer, "line", "sent")
    ]
    assert page.next is None
    assert {"campaign.planned", "campaign.launched", "campaign.members_read"} <= set(
        actions(application.stores, dealer)
    )
    with pytest.raises(CampaignError, match="completed"):
        campaigns.launchable(dealer, campaign)


def test_the_operator_plans_for_an_organization_named(
    application: Application, people: dict[str, Caller], renewal_customer: uuid.UUID
) -> None:
    campaigns = CampaignService(application)
    with pytest.raises(UnknownOrganization):
        campaigns.plan_as_operator("Nowhere Motors", RENEWAL)
    planned = campaigns.plan_as_operator("Ginza Motors", RENEWAL)
    assert planned.campaign.organization_id == people["Ginza Motors"].organization_id
    assert campaigns.preview_as_operator(planned.campaign.id).reachable == 1
    assert campaigns.results_as_operator(planned.campaign.id).status.value == "draft"
    with pytest.raises(UnknownCampaign):
        campaigns.results_as_operator(uuid.UUID(int=1))


def test_a_planner_lists_the_campaigns_in_their_scope_and_the_channels_they_may_use(
    application: Application, people: dict[str, Caller], renewal_customer: uuid.UUID
) -> None:
    campaigns = CampaignService(application)
    dealer, other = people["Ginza Motors"], people["Shibuya Motors"]
    first = campaigns.plan(dealer, RENEWAL).campaign.id
    second = campaigns.plan(dealer, RENEWAL).campaign.id
    assert [c.id for c in campaigns.recent(dealer, limit=10)] == [second, first]
    assert [c.id for c in campaigns.recent(dealer, limit=1)] == [second]
    assert campaigns.recent(other, limit=10) == []
    assert campaigns.channels(dealer) == ["line"]
    for refused in (people["Tokyo Call"], people["Audit Partners"]):
        with pytest.raises(Forbidden):
            campaigns.recent(refused, limit=10)
        with pytest.raises(Forbidden):
            campaigns.channels(refused)
