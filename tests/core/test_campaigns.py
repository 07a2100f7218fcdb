"""Campaigns: a segment evaluated by the database, consent per purpose and channel, delivery
through the channel plugins within their rate limits, and each member's result."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from desk import Desk, open_desk
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization
from regiocrm.crm.campaigns import INTERRUPTED, Campaigns, Launcher, NoAudience, Plan
from regiocrm.crm.segments import Segment
from regiocrm.interfaces.formats import PersonName
from regiocrm.models import (
    Campaign,
    CampaignMember,
    ConsentAction,
    Contract,
    ContractKind,
    ContractStatus,
    Customer,
    Direction,
    Identity,
    Interaction,
    OrganizationKind,
)
from regiocrm.models import Consent as ConsentRow
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.plugins.channels.whatsapp.testing import WhatsAppDriver
from regiocrm.testing.channels import SignedRequest

LINE = LineDriver()
WHATSAPP = WhatsAppDriver()
MESSAGE = "{name}様、ご契約が満了に近づいています。更新のご案内です。"


@dataclass
class Provider:
    """LINE's and Meta's APIs, recording every send; the ``killed_at``-th request dies as
    a killed process would (not a provider error: the launch itself stops)."""

    calls: list[httpx.Request] = field(default_factory=list)
    killed_at: int | None = None
    requests: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests == self.killed_at:
            raise KeyboardInterrupt("the launch was killed")
        self.calls.append(request)
        if request.url.host == "graph.facebook.com":
            return WHATSAPP.provider_api(request)
        return LINE.provider_api(request)

    def recipients(self) -> list[str]:
        return [json.loads(call.content)["to"] for call in self.calls]


@dataclass
class Shop:
    desk: Desk
    provider: Provider
    customers: dict[str, uuid.UUID] = field(default_factory=dict)

    def customer(
        self,
        name: str,
        *,
        market: str = "JP",
        contract_ends_in: int | None = 30,
        contract_status: ContractStatus = ContractStatus.ACTIVE,
        identities: tuple[tuple[str, str], ...] = (),
        consents: tuple[tuple[str, str, ConsentAction], ...] = (),
        locale: str | None = None,
    ) -> uuid.UUID:
        """A customer with a contract ending in some days and consents given in order."""
        with self.desk.stores.session() as session:
            person = Customer(
                market=market, family_name=name, given_name="太郎", preferred_locale=locale
            )
            session.add(person)
            session.flush()
            for kind, value in identities:
                session.add(Identity(market=market, customer_id=person.id, kind=kind, value=value))
            start = utcnow() - timedelta(days=30)
            for step, (purpose, channel, action) in enumerate(consents):
                session.add(
                    ConsentRow(
                        market=market,
                        customer_id=person.id,
                        purpose=purpose,
                        channel=channel,
                        action=action,
                        occurred_at=start + timedelta(days=step),
                    )
                )
            if contract_ends_in is not None:
                session.add(
                    Contract(
                        market=market,
                        customer_id=person.id,
                        kind=ContractKind.LEASE,
                        status=contract_status,
                        starts_on=date.today() - timedelta(days=1000),
                        ends_on=date.today() + timedelta(days=contract_ends_in),
                    )
                )
            session.commit()
            self.customers[name] = person.id
            return person.id

    def plan(self, **values: Any) -> Any:
        body = {
            "name": "契約更新のご案内",
            "segment": {"markets": ["JP"], "contract_ends_within_days": 60},
            "channels": ["line"],
            "messages": {"ja_JP": MESSAGE},
            **values,
        }
        return self.desk.post("/api/campaigns", body)

    def deliver(self, path: str, request: SignedRequest) -> httpx.Response:
        query = f"?{urlencode(request.query)}" if request.query else ""
        answer = self.desk.client.post(
            f"{path}{query}", content=request.body, headers=request.headers
        )
        self.desk.client.app.state.services.inbox.drain()  # type: ignore[attr-defined]
        return answer

    def members(self, campaign: str) -> dict[str, dict[str, Any]]:
        names = {str(value): key for key, value in self.customers.items()}
        answer = self.desk.get(f"/api/campaigns/{campaign}/members")
        assert answer.status_code == 200, answer.text
        return {names[item["customer_id"]]: item for item in answer.json()["items"]}

    def count(self, model: Any) -> int:
        return self.desk.count(model)


GRANT, WITHDRAW = ConsentAction.GRANT, ConsentAction.WITHDRAW


@pytest.fixture
def shop(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[Shop]:
    settings = load_settings(
        regiocrm_hooks,
        channel_accounts={
            "line_jp": LINE.account_settings(),
            "wa_jp": {**WHATSAPP.account_settings(), "market": "JP"},
        },
    )
    provider = Provider()
    client = httpx.Client(transport=httpx.MockTransport(provider))
    with open_desk(settings, regiocrm_hooks, market="JP", http_client=client) as desk:
        yield Shop(desk, provider)


def line_id(number: int) -> tuple[str, str]:
    return ("line", LINE.sender(number))


@pytest.fixture
def renewals(shop: Shop) -> Shop:
    """Japanese customers whose leases end soon, and some who are not the audience."""
    shop.customer("有村", identities=(line_id(1),), consents=(("marketing", "line", GRANT),))
    shop.customer(
        "伊藤",
        identities=(line_id(2),),
        consents=(("marketing", "line", GRANT), ("marketing", "line", WITHDRAW)),
    )
    shop.customer(
        "上田",
        contract_ends_in=90,
        identities=(line_id(3),),
        consents=(("marketing", "line", GRANT),),
    )
    shop.customer("江口", identities=(line_id(4),), consents=(("marketing", "*", GRANT),))
    shop.customer(
        "大野",
        identities=(("phone", "+819012345678"),),
        consents=(("marketing", "line", GRANT),),
    )
    shop.customer(
        "加藤",
        contract_status=ContractStatus.CANCELLED,
        identities=(line_id(6),),
        consents=(("marketing", "line", GRANT),),
    )
    shop.customer(
        "王", market="CN", identities=(line_id(7),), consents=(("marketing", "line", GRANT),)
    )
    shop.customer("菊池", identities=(line_id(8),), consents=(("service", "line", GRANT),))
    shop.customer(
        "木村",
        identities=(line_id(9),),
        consents=(("marketing", "*", GRANT), ("marketing", "line", WITHDRAW)),
    )
    return shop


def test_a_renewal_campaign_reaches_only_consenting_customers_through_line(
    renewals: Shop, regiocrm_hooks: Hooks
) -> None:
    """JP customers whose contracts end within 60 days, by LINE: 有村 (consented on LINE)
    and 江口 (consented on every channel) get it. 伊藤 and 木村 withdrew, 菊池 consented to
    service messages only, 大野 has no LINE; 上田's lease ends later, 加藤's was cancelled
    and 王 is in China."""
    planned = renewals.plan()
    assert planned.status_code == 201, planned.text
    campaign = planned.json()
    assert campaign["audience"]["matched"] == 6
    assert campaign["audience"]["by_channel"] == {"line": 2}
    assert campaign["audience"]["unreachable"] == 4
    assert renewals.provider.calls == []

    launched = renewals.desk.post(f"/api/campaigns/{campaign['id']}/launch", {})
    assert launched.status_code == 202, launched.text
    assert sorted(renewals.provider.recipients()) == [LINE.sender(1), LINE.sender(4)]
    texts = {LINE.sent_text(call) for call in renewals.provider.calls}
    for family in ("有村", "江口"):
        written = regiocrm_hooks.format_name(name=PersonName(family, "太郎"), market="JP")
        assert MESSAGE.format(name=written) in texts

    members = renewals.members(campaign["id"])
    assert set(members) == {"有村", "江口"}
    for member in members.values():
        assert (member["channel"], member["status"], member["locale"]) == ("line", "sent", "ja_JP")
        assert member["sent_at"] is not None
    status = renewals.desk.get(f"/api/campaigns/{campaign['id']}").json()
    assert status["status"] == "completed"
    assert status["results"]["by_status"] == {"sent": 2}
    with renewals.desk.stores.session() as session:
        timeline = session.scalars(
            select(Interaction.summary).where(
                Interaction.customer_id == renewals.customers["有村"],
                Interaction.direction == Direction.OUTBOUND,
            )
        ).all()
    assert timeline == ["campaign '契約更新のご案内'"]


def test_a_members_reply_on_line_is_their_result(renewals: Shop) -> None:
    campaign = renewals.plan().json()
    renewals.desk.post(f"/api/campaigns/{campaign['id']}/launch", {})
    url = "http://testserver/webhooks/line/line_jp"
    reply = LINE.text_message(
        url, sender=LINE.sender(1), text="更新します", message_id="500001", at=datetime.now(UTC)
    )
    assert renewals.deliver("/webhooks/line/line_jp", reply).status_code == 200
    members = renewals.members(campaign["id"])
    assert members["有村"]["status"] == "replied"
    assert members["有村"]["replied_at"] is not None
    assert members["江口"]["status"] == "sent"


def test_launching_again_sends_nothing_twice(renewals: Shop) -> None:
    campaign = renewals.plan().json()
    renewals.desk.post(f"/api/campaigns/{campaign['id']}/launch", {})
    again = renewals.desk.post(f"/api/campaigns/{campaign['id']}/launch", {})
    assert again.status_code == 400
    assert again.json()["detail"] == "campaign '契約更新のご案内' is completed"
    assert len(renewals.provider.calls) == 2


def launcher(shop: Shop, hooks: Hooks) -> Launcher:
    """A launcher of the served deployment, as ``regiocrm campaigns launch`` makes one."""
    services = shop.desk.client.app.state.services  # type: ignore[attr-defined]
    return Launcher(
        services.stores,
        hooks,
        services.channels,
        services.http_client,
        services.settings.campaigns,
        sleep=lambda seconds: None,
    )


def test_a_launch_killed_while_sending_goes_on_without_sending_twice(
    renewals: Shop, regiocrm_hooks: Hooks
) -> None:
    """Killed during the second send: the first member is sent, the second's send was
    under way. A second launch marks that one failed (it may or may not have gone out)
    rather than send it again, and completes."""
    campaign = uuid.UUID(renewals.plan().json()["id"])
    renewals.provider.killed_at = 2
    with pytest.raises(KeyboardInterrupt):
        launcher(renewals, regiocrm_hooks).launch(campaign)
    results = launcher(renewals, regiocrm_hooks).launch(campaign)
    assert len(renewals.provider.calls) == 1
    assert renewals.provider.requests == 2
    assert results.by_status == {"failed": 1, "sent": 1}
    [failed] = [m for m in renewals.members(str(campaign)).values() if m["status"] == "failed"]
    assert failed["error"] == INTERRUPTED


def test_a_launch_killed_while_listing_lists_each_member_once(
    renewals: Shop, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = uuid.UUID(renewals.plan().json()["id"])
    monkeypatch.setattr("regiocrm.crm.campaigns.LIST_BATCH", 1)
    listed = Launcher._list_members

    def killed_after_listing(*args: Any) -> int:
        listed(*args)
        raise KeyboardInterrupt("killed before the listing was recorded as done")

    monkeypatch.setattr(Launcher, "_list_members", killed_after_listing)
    with pytest.raises(KeyboardInterrupt):
        launcher(renewals, regiocrm_hooks).launch(campaign)
    assert renewals.count(CampaignMember) == 2
    monkeypatch.setattr(Launcher, "_list_members", listed)
    results = launcher(renewals, regiocrm_hooks).launch(campaign)
    assert renewals.count(CampaignMember) == 2
    assert results.by_status == {"sent": 2}
    assert len(renewals.provider.calls) == 2


def test_channels_are_tried_in_order_of_preference(shop: Shop) -> None:
    """WhatsApp first: who consented there and has a number gets it there; the others
    get LINE where they consented to it."""
    shop.customer(
        "両方",
        identities=(line_id(1), ("whatsapp", "819011110001")),
        consents=(("marketing", "*", GRANT),),
    )
    shop.customer(
        "LINEだけ",
        identities=(line_id(2), ("whatsapp", "819011110002")),
        consents=(("marketing", "line", GRANT),),
    )
    planned = shop.plan(channels=["whatsapp", "line"]).json()
    assert planned["audience"]["by_channel"] == {"whatsapp": 1, "line": 1}
    shop.desk.post(f"/api/campaigns/{planned['id']}/launch", {})
    members = shop.members(planned["id"])
    assert (members["両方"]["channel"], members["LINEだけ"]["channel"]) == ("whatsapp", "line")


def test_whatsapp_delivery_receipts_complete_the_results(shop: Shop) -> None:
    shop.customer(
        "配達",
        identities=(("whatsapp", "819011110003"),),
        consents=(("marketing", "whatsapp", GRANT),),
    )
    shop.customer(
        "不達",
        identities=(("whatsapp", "819011110004"),),
        consents=(("marketing", "whatsapp", GRANT),),
    )
    planned = shop.plan(channels=["whatsapp"]).json()
    shop.desk.post(f"/api/campaigns/{planned['id']}/launch", {})
    assert len(shop.provider.calls) == 2
    with shop.desk.stores.session() as session:
        sent = {
            member.customer_id: member.external_id
            for member in session.scalars(select(CampaignMember))
        }
    now = datetime.now(UTC)
    url = "http://testserver/webhooks/whatsapp/wa_jp"
    for name, status, error in (("配達", "delivered", None), ("不達", "failed", 131026)):
        body = WHATSAPP.status_body(
            wamid=str(sent[shop.customers[name]]),
            status=status,
            recipient="81901111000",
            at=now,
            error=error,
        )
        for _ in range(2):  # Meta delivers again until it sees a 200: the same result
            signed = WHATSAPP.sign(url, body, at=now)
            assert shop.deliver("/webhooks/whatsapp/wa_jp", signed).status_code == 200
    members = shop.members(planned["id"])
    assert members["配達"]["status"] == "delivered"
    assert members["配達"]["delivered_at"] is not None
    assert (members["不達"]["status"], members["不達"]["error"]) == (
        "failed",
        "131026 Message undeliverable",
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            {"segment": {"markets": ["JP"], "colour": "red"}},
            "unknown segment field 'colour'",
        ),
        (
            {"segment": {"markets": ["JP"], "ownership_years": {"min": 5, "max": 2}}},
            "segment.ownership_years.max: max 2.0 is below min 5.0: the range is backwards",
        ),
        (
            {"starts_at": "2027-03-01T09:00:00+09:00", "ends_at": "2027-02-01T09:00:00+09:00"},
            "the date range is backwards",
        ),
        ({"channels": ["pigeon"]}, "channels: unknown channel 'pigeon'"),
        ({"channels": ["kakao"]}, "channels: no kakao account is configured"),
        ({"messages": {"en_AU": "Hello {name}"}}, "messages: none for ja_JP"),
        ({"messages": {"ja_JP": "{name}様 {points}ポイント"}}, "unknown placeholder {points}"),
        ({"segment": {"markets": ["ZZ"]}}, "markets: no installed pack serves 'ZZ'"),
    ],
)
def test_a_bad_campaign_is_refused_and_nothing_is_stored(
    renewals: Shop, values: dict[str, Any], reason: str
) -> None:
    answer = renewals.plan(**values)
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["detail"]
    assert renewals.count(Campaign) == 0


def test_a_campaign_no_one_can_receive_is_refused(renewals: Shop) -> None:
    answer = renewals.plan(segment={"markets": ["JP"], "purpose": "surveys"})
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "none of the 8 customers matching the segment can receive it: none has consented"
        " to surveys messages on line with an identity the channel reaches"
    )
    assert renewals.count(Campaign) == 0


def test_a_segment_is_counted_before_any_campaign(renewals: Shop) -> None:
    counted = renewals.desk.post(
        "/api/segments/count",
        {"segment": {"markets": ["JP", "CN"], "contract_ends_within_days": 60}},
    )
    assert counted.json() == {"by_market": {"JP": 6, "CN": 1}}
    by_channel = renewals.desk.post(
        "/api/segments/count",
        {"segment": {"markets": ["JP"], "contract_ends_within_days": 60}, "channels": ["line"]},
    ).json()
    assert by_channel["by_channel"] == {"line": 2}


def test_a_scheduled_campaign_waits_for_its_start(renewals: Shop) -> None:
    later = (utcnow() + timedelta(days=3)).isoformat()
    planned = renewals.plan(starts_at=later).json()
    assert planned["status"] == "scheduled"
    early = renewals.desk.post(f"/api/campaigns/{planned['id']}/launch", {})
    assert early.status_code == 400
    assert "launch it then" in early.json()["detail"]
    assert renewals.count(CampaignMember) == 0


@pytest.fixture
def cli_shop(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[Shop]:
    """The deployment as ``regiocrm`` commands read it: a LINE account in regiocrm.toml."""
    account = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in LINE.account_settings().items()
    )
    (deployment_dir / "regiocrm.toml").write_text(f"[channel_accounts.line_jp]\n{account}\n")
    with open_desk(load_settings(regiocrm_hooks), regiocrm_hooks, market="JP") as desk:
        shop = Shop(desk, Provider())
        shop.customer("有村", identities=(line_id(1),), consents=(("marketing", "line", GRANT),))
        shop.customer("江口", identities=(line_id(4),), consents=(("marketing", "*", GRANT),))
        shop.customer("菊池", identities=(line_id(8),), consents=(("service", "line", GRANT),))
        yield shop


CAMPAIGN_TOML = """\
name = "契約更新のご案内"
channels = ["line"]

[segment]
markets = ["JP"]
contract_ends_within_days = 60

[messages]
ja_JP = "{name}様、更新のご案内です。"
"""


def test_plan_preview_launch_and_status_from_the_command_line(
    cli_shop: Shop, regiocrm_cli, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_file = deployment_dir / "renewal.toml"
    plan_file.write_text(CAMPAIGN_TOML, encoding="utf-8")
    planned = regiocrm_cli("campaigns", "plan", str(plan_file), "--org", "Desk", "--json")
    assert planned.exit_code == 0, planned.stderr
    campaign = json.loads(planned.stdout)
    assert campaign["audience"]["by_channel"] == {"line": 2}

    preview = regiocrm_cli("campaigns", "preview", campaign["id"])
    assert preview.stdout.splitlines() == [
        "JP: 3 in the segment, 1 unreachable; line 2",
        "reachable: 2",
    ]

    def provider(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = cli_shop.provider(request)
        response.read()
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", provider)
    launched = regiocrm_cli("campaigns", "launch", campaign["id"], "--json")
    assert launched.exit_code == 0, launched.stderr
    assert json.loads(launched.stdout)["by_status"] == {"sent": 2}
    assert sorted(cli_shop.provider.recipients()) == [LINE.sender(1), LINE.sender(4)]

    status = regiocrm_cli("campaigns", "status", campaign["id"])
    assert status.stdout.splitlines() == [
        "契約更新のご案内: completed, 2 members",
        "  line: sent 2",
    ]


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        (
            CAMPAIGN_TOML.replace("markets =", "colour = 'red'\nmarkets ="),
            "unknown segment field 'colour'",
        ),
        (
            CAMPAIGN_TOML.replace("name =", "name = 1\nnom ="),
            "name: Input should be a valid string; nom: Extra inputs are not permitted",
        ),
        (
            CAMPAIGN_TOML.replace('channels = ["line"]', "channels = []"),
            "channels: List should have at least 1 item",
        ),
        (CAMPAIGN_TOML.replace("[segment]", "[segment"), "bad.toml is not valid: "),
    ],
)
def test_a_bad_plan_file_exits_2_and_stores_nothing(
    cli_shop: Shop, regiocrm_cli, deployment_dir: Path, plan: str, reason: str
) -> None:
    plan_file = deployment_dir / "bad.toml"
    plan_file.write_text(plan, encoding="utf-8")
    refused = regiocrm_cli("campaigns", "plan", str(plan_file), "--org", "Desk")
    assert refused.exit_code == 2
    assert reason in refused.stderr
    assert cli_shop.count(Campaign) == 0


@pytest.mark.parametrize(
    ("name", "plan"),
    [("deep.json", "[" * 100_000), ("deep.toml", "a = " + "[" * 100_000)],
    ids=["json", "toml"],
)
def test_a_plan_file_nested_too_deeply_exits_2_in_one_line(
    cli_shop: Shop, regiocrm_cli, deployment_dir: Path, name: str, plan: str
) -> None:
    plan_file = deployment_dir / name
    plan_file.write_text(plan, encoding="utf-8")
    refused = regiocrm_cli("campaigns", "plan", str(plan_file), "--org", "Desk")
    assert refused.exit_code == 2
    assert refused.stderr == f"Error: {plan_file} is not valid: nested too deeply\n"
    assert cli_shop.count(Campaign) == 0


def test_launching_sends_no_faster_than_the_channel_allows(
    renewals: Shop, regiocrm_hooks: Hooks
) -> None:
    """One message a second on LINE: the second member waits a second."""
    campaign = uuid.UUID(renewals.plan().json()["id"])
    services = renewals.desk.client.app.state.services  # type: ignore[attr-defined]
    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    Launcher(
        services.stores,
        regiocrm_hooks,
        services.channels,
        services.http_client,
        services.settings.campaigns.model_copy(update={"send_rates": {"line": 1.0}}),
        sleep=sleep,
        clock=lambda: now[0],
    ).launch(campaign)
    assert len(renewals.provider.calls) == 2
    assert waits == [pytest.approx(1.0)]


def test_a_wholesaler_is_told_whose_customers_its_segment_searched(
    renewals: Shop, regiocrm_hooks: Hooks
) -> None:
    """Tokyo Hub has no dealers yet: the renewal customers are not its to reach, and the
    refusal says whose customers were searched rather than that no one matched."""
    stores = renewals.desk.stores
    with stores.session() as session:
        hub = create_organization(
            session, name="Tokyo Hub", kind=OrganizationKind.WHOLESALER, market="JP"
        )
        campaigns = Campaigns(
            session, regiocrm_hooks, regiocrm_hooks.channel_registry(stores.settings)
        )
        plan = Plan(
            name="契約更新のご案内",
            organization_id=hub.id,
            segment=Segment.parse({"markets": ["JP"], "contract_ends_within_days": 60}),
            channels=("line",),
            messages={"ja_JP": MESSAGE},
        )
        with pytest.raises(NoAudience) as refused:
            campaigns.plan(plan, actor_id=None)
    assert str(refused.value) == (
        "no customers of Tokyo Hub (linked to it or its dealers) match the segment:"
        " there is no one to send to"
    )
    assert renewals.count(Campaign) == 0
