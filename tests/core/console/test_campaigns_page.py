"""/campaigns in the console: planning through the form with the audience counted first,
launching, each member's result, refusals that store nothing, and roles that plan none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_client import ConsoleDeployment
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.customers import NewConsent, NewCustomer
from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.models import Campaign, CampaignMember, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.services.customers import CustomerService
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
ENGLISH = {"accept-language": "en"}
PLAN = {
    "name": "Spring service check",
    "channel": "line",
    "markets": "jp",
    "locale": "ja_JP",
    "message": "{name}様、春の点検のご案内です。",
}


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def console(
    deployment_dir: Path, regiocrm_hooks: Hooks, sent: list[httpx.Request]
) -> Iterator[ConsoleDeployment]:
    """A Japanese deployment with a LINE account whose API records what it is sent; a
    competence centre, an administrator, an agent, an auditor and a dealer; one customer
    reachable on LINE with consent to marketing."""
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})

    def provider(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return LINE.provider_api(request)

    client = httpx.Client(transport=httpx.MockTransport(provider))
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    app = create_app(settings, regiocrm_hooks, http_client=client)
    try:
        with TestClient(app):
            deployment = ConsoleDeployment(settings, stores, app)
            brand = deployment.organization("Brand Japan", market="JP")
            dealer = deployment.organization("Ginza Motors", OrganizationKind.DEALER, market="JP")
            token = deployment.user("mori", UserRole.COMPETENCE_CENTRE, brand)
            deployment.user("sato", UserRole.CALL_CENTRE_AGENT, brand)
            deployment.user("audrey", UserRole.PARTNER_AUDITOR, brand)
            deployment.user("ginza", UserRole.DEALER_STAFF, dealer)
            application: Application = app.state.services
            centre = application.authenticate(token)
            assert centre is not None
            CustomerService(application).create(
                centre,
                NewCustomer(market="JP", family_name="有村", given_name="太郎"),
                [IdentityRef("line", LINE.sender(1))],
                [NewConsent("marketing", "line")],
            )
            yield deployment
    finally:
        stores.dispose()
        client.close()


def stored(console: ConsoleDeployment, model: type[Campaign] | type[CampaignMember]) -> int:
    with console.stores.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def field_error(page: str, field: str) -> str:
    """The reason shown beside ``field``, checking the field points at it."""
    control = re.search(rf'<(?:input|select|textarea) id="{field}"[^>]*>', page)
    assert control, page
    assert 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="{field}-error"' in control.group(0)
    reason = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert reason, page
    return reason.group(1)


def test_the_centre_counts_the_audience_plans_launches_and_sees_each_result(
    console: ConsoleDeployment, sent: list[httpx.Request]
) -> None:
    browser = console.browser()
    browser.sign_in("mori")
    form = browser.get("/campaigns/new", **ENGLISH)
    assert form.status_code == 200
    assert '<option value="line">line</option>' in form.text
    assert 'hx-post="/campaigns/count"' in form.text
    # Counting, as a plain post and as htmx's: the form comes back as typed, with the count.
    for headers in (ENGLISH, {**ENGLISH, "hx-request": "true"}):
        counted = browser.post_form("/campaigns/count", PLAN, **headers)
        assert counted.status_code == 200
        assert "1 of 1 customers in the segment can be reached." in counted.text
        assert 'value="Spring service check"' in counted.text
        assert 'id="audience" role="status" aria-live="polite"' in counted.text
    assert stored(console, Campaign) == 0
    planned = browser.post_form("/campaigns", PLAN, **ENGLISH)
    assert planned.status_code == 303
    page_path = planned.headers["location"]
    assert re.fullmatch(r"/campaigns/[0-9a-f-]{36}", page_path)
    assert stored(console, Campaign) == 1
    page = browser.get(page_path, **ENGLISH)
    assert "<h1>Spring service check</h1>" in page.text
    assert f'action="{page_path}/launch"' in page.text
    assert 'hx-trigger="every 3s"' not in page.text
    listed = browser.get("/campaigns", **ENGLISH)
    assert f'<a href="{page_path}">Spring service check</a>' in listed.text
    # Just launched and not yet begun, the results are polled.
    waiting = browser.get(f"{page_path}?launched=1", **ENGLISH)
    assert f'hx-get="{page_path}/results?launched=1" hx-trigger="every 3s"' in waiting.text
    launched = browser.post_form(f"{page_path}/launch", {}, **ENGLISH)
    assert launched.status_code == 303
    assert launched.headers["location"] == f"{page_path}?launched=1"
    # The test client runs the sending before it hands back the answer.
    assert len(sent) == 1
    results = browser.get(f"{page_path}/results?launched=1", **ENGLISH)
    assert results.status_code == 200
    assert results.text.startswith('<section id="results"')
    assert 'aria-live="polite"' in results.text
    assert 'data-status="completed"' in results.text
    assert 'hx-trigger="every 3s"' not in results.text
    members = re.findall(r'<tr data-member="([0-9a-f-]{36})" data-delivery="(\w+)">', results.text)
    assert [status for _customer, status in members] == ["sent"]
    assert stored(console, CampaignMember) == 1
    # Launched once, it cannot be launched again: the reason, and nothing sent twice.
    again = browser.post_form(f"{page_path}/launch", {}, **ENGLISH)
    assert again.status_code == 400
    assert 'role="alert" id="launch-error"' in again.text
    assert len(sent) == 1


def test_bad_input_is_shown_beside_its_field_as_typed_and_nothing_is_stored(
    console: ConsoleDeployment,
) -> None:
    browser = console.browser()
    browser.sign_in("mori")
    bad = {**PLAN, "name": "", "markets": "", "contract_days": "soon"}
    page = browser.post_form("/campaigns", bad, **ENGLISH)
    assert page.status_code == 400
    assert field_error(page.text, "name") == "Give the campaign a name."
    assert field_error(page.text, "markets") == "Name at least one market, e.g. JP."
    assert field_error(page.text, "contract_days") == "Enter a whole number of days."
    assert 'value="soon"' in page.text
    assert "春の点検のご案内です。</textarea>" in page.text
    # What only the service knows: a message in no language of the market's customers, a
    # segment nobody in which can be reached.
    korean = browser.post_form("/campaigns", {**PLAN, "locale": "ko_KR"}, **ENGLISH)
    assert korean.status_code == 400
    assert field_error(korean.text, "locale").startswith("messages: none for ja_JP")
    nobody = browser.post_form("/campaigns", {**PLAN, "models": "Roadster"}, **ENGLISH)
    assert nobody.status_code == 400
    assert "no one to send to" in field_error(nobody.text, "markets")
    counted = browser.post_form("/campaigns/count", {**PLAN, "markets": "Japan"}, **ENGLISH)
    assert counted.status_code == 400
    assert "segment.markets" in field_error(counted.text, "markets")
    assert stored(console, Campaign) == 0


def test_a_form_without_the_sessions_token_is_refused_and_stores_nothing(
    console: ConsoleDeployment,
) -> None:
    browser = console.browser()
    browser.sign_in("mori")
    answer = browser.client.post("/campaigns", data={**PLAN, "csrf_token": "forged"})
    assert answer.status_code == 403
    assert stored(console, Campaign) == 0


@pytest.mark.parametrize("user", ["sato", "audrey"])
def test_roles_that_plan_no_campaigns_are_refused_and_nothing_is_stored(
    console: ConsoleDeployment, user: str
) -> None:
    browser = console.browser()
    browser.sign_in(user)
    for path in ("/campaigns", "/campaigns/new"):
        page = browser.get(path, **ENGLISH)
        assert page.status_code == 403, path
        assert "Your role does not plan campaigns." in page.text
    for path in ("/campaigns", "/campaigns/count"):
        assert browser.post_form(path, PLAN, **ENGLISH).status_code == 403
    assert stored(console, Campaign) == 0


def test_a_campaign_out_of_the_callers_scope_or_unknown_is_not_found(
    console: ConsoleDeployment,
) -> None:
    centre = console.browser()
    centre.sign_in("mori")
    path = centre.post_form("/campaigns", PLAN).headers["location"]
    dealer = console.browser()
    dealer.sign_in("ginza")
    assert dealer.get("/campaigns", **ENGLISH).status_code == 200
    assert path not in dealer.get("/campaigns", **ENGLISH).text
    for attempt in (path, f"{path}/results"):
        assert dealer.get(attempt, **ENGLISH).status_code == 404
    assert dealer.post_form(f"{path}/launch", {}).status_code == 404
    assert centre.get("/campaigns/not-a-campaign", **ENGLISH).status_code == 404
    assert stored(console, CampaignMember) == 0
