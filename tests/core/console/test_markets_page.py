"""The competence centre's /markets pages: every served market with its rollout findings
and their fixes, the residency report with what is misplaced first, and the storage
forecast drawn from the service's figures; refused to every other role."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from pathlib import Path

import pytest
from console_client import ConsoleDeployment, serve_console
from defusedxml import ElementTree
from service_people import Person, sign_in

from regiocrm.console.charts import (
    ARROW,
    MIN_USED_WIDTH,
    PLOT_WIDTH,
    PLOT_X,
    SCALE_DAYS,
    WIDTH,
    storage_chart,
)
from regiocrm.models import (
    Customer,
    Direction,
    Interaction,
    OrganizationKind,
    Ownership,
    TelematicsEvent,
    UserRole,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import format_date
from regiocrm.platform.settings import load_settings
from regiocrm.services.application import Application
from regiocrm.services.storage import StorageForecast, StorageReport, StorageService
from regiocrm.testing import upgrade_zones

PAGES = ("/markets", "/markets/residency", "/markets/storage")
# The people below work in Japan: without this, their pages are in Japanese.
ENGLISH = {"accept-language": "en"}


def served(deployment_dir: Path, hooks: Hooks, toml: str = "", **settings: object):
    (deployment_dir / "regiocrm.toml").write_text(toml)
    return serve_console(load_settings(hooks, **settings), hooks)


def people(console: ConsoleDeployment) -> None:
    brand = console.organization("Brand Japan", market="JP")
    dealer = console.organization("Ginza Motors", OrganizationKind.DEALER, market="JP")
    console.user("mori", UserRole.COMPETENCE_CENTRE, brand)
    console.user("root", UserRole.ADMIN, brand)
    console.user("sato", UserRole.CALL_CENTRE_AGENT, brand)
    console.user("ginza", UserRole.DEALER_STAFF, dealer)
    console.user("audrey", UserRole.PARTNER_AUDITOR, brand)


@pytest.fixture
def console(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[ConsoleDeployment]:
    """A deployment as `regiocrm serve` loads it, with no channel account configured."""
    with served(deployment_dir, regiocrm_hooks) as deployment:
        people(deployment)
        yield deployment


def test_every_market_is_shown_with_its_pack_and_its_failing_checks_with_their_fixes(
    console: ConsoleDeployment,
) -> None:
    browser = console.browser()
    browser.sign_in("mori")
    page = browser.get("/markets", **ENGLISH)
    assert page.status_code == 200
    assert 'aria-current="page">' in page.text
    codes = re.findall(r'<li id="market-([A-Z]{2})" data-outcome="(\w+)"', page.text)
    assert sorted(code for code, _outcome in codes) == ["AU", "CN", "HK", "JP", "KR", "TW"]
    # With no channel account, every market fails, and the failures come first.
    assert {outcome for _code, outcome in codes} == {"fail"}
    japan = page.text[page.text.index('id="market-JP"') :]
    japan = japan[: japan.index("</li>\n")]
    assert "<code>jp</code> (jp → asia)" in japan
    assert "ja_JP, en" in japan
    assert "google → gazetteer" in japan
    row = re.search(r'<tr data-check="channel line">(.*?)</tr>', japan, re.S)
    assert row, japan
    assert 'class="badge fail"' in row.group(1)
    assert "no line account for JP: its credentials are missing" in row.group(1)
    fix = "add [channel_accounts.<name>] with channel = 'line', market = 'JP'"
    assert fix in unescape(row.group(1))
    # Failing checks come before the warnings; passes are folded away below them.
    checks = re.findall(r'<tr data-check="[^"]+">.*?class="badge (\w+)"', japan, re.S)
    assert checks == sorted(checks, key=["fail", "warn"].index)
    assert "checks pass</summary>" in japan


def test_the_rollout_findings_are_in_the_readers_language(console: ConsoleDeployment) -> None:
    browser = console.browser()
    browser.sign_in("root")
    page = browser.get("/markets", **{"accept-language": "ja"})
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "no line account for JP" not in page.text
    assert "channel = &#39;line&#39;、market = &#39;JP&#39; と認証情報" in page.text


@pytest.mark.parametrize("user", ["sato", "ginza", "audrey"])
def test_other_roles_get_the_refusal_page(console: ConsoleDeployment, user: str) -> None:
    browser = console.browser()
    browser.sign_in(user)
    for path in PAGES:
        page = browser.get(path, **ENGLISH)
        assert page.status_code == 403, path
        assert "Only administrators and the competence centre see this page." in page.text
        assert "channel_accounts" not in page.text


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(console: ConsoleDeployment) -> None:
    for path in PAGES:
        answer = console.browser().get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=%2Fmarkets")


def test_misplaced_rows_are_shown_first_and_named(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """China's CRM rows were kept in the Japanese zone; the rule now keeps them in China."""
    before = Application.open(
        load_settings(regiocrm_hooks, residency={"placement": {"CN": {"crm": "jp"}}}),
        regiocrm_hooks,
    )
    upgrade_zones(before.stores, regiocrm_hooks)
    with before.transaction() as session:
        customer = Customer(market="CN")
        session.add(customer)
        session.flush()
        for n in range(3):
            session.add(
                Interaction(
                    market="CN",
                    customer_id=customer.id,
                    channel="sms",
                    direction=Direction.INBOUND,
                    touchpoint="test",
                    text=str(n),
                    occurred_at=utcnow(),
                )
            )
    before.close()
    with served(
        deployment_dir, regiocrm_hooks, '[residency.restrict.CN]\ncrm = ["cn"]\n'
    ) as console:
        people(console)
        browser = console.browser()
        browser.sign_in("mori")
        page = browser.get("/markets/residency", **ENGLISH)
    assert page.status_code == 200
    assert 'id="misplaced"' in page.text
    assert "3 rows are not where their market&#39;s rules place them" in page.text
    statuses = re.findall(r'<tr data-status="(\w+)">', page.text)
    assert statuses[0] != "ok"
    assert statuses == sorted(statuses, key=lambda status: status == "ok")
    first = page.text[page.text.index(f'<tr data-status="{statuses[0]}">') :]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first[: first.index("</tr>")])
    assert cells[:5] == ["jp", "CN", "crm", "3", "cn"]


def today() -> date:
    """Asked when used, not when the module is collected: a suite running past midnight
    (UTC) must compare with the day the page is drawn on."""
    return utcnow().date()


def seed_storage(app: Application) -> None:
    """Osaka Motors' cars report telematics every day of the last month."""
    with app.transaction() as session:
        osaka = sign_in(
            app, Person("Osaka Motors", OrganizationKind.DEALER, UserRole.DEALER_STAFF, market="JP")
        )["Osaka Motors"].organization
        cars = []
        for number in range(3):
            car = Vehicle(market="JP", vin=f"JTDBR32E5300{number:05d}", model="Tourer")
            session.add(car)
            session.flush()
            session.add(
                Ownership(
                    market="JP",
                    vehicle_id=car.id,
                    customer_id=uuid.uuid4(),
                    dealer_id=osaka,
                    started_on=date(2025, 4, 1),
                )
            )
            cars.append(car.id)
        for days_ago in range(30):
            moment = datetime.combine(today() - timedelta(days=days_ago), time(12), UTC)
            for n in range(6):
                session.add(
                    TelematicsEvent(
                        market="JP",
                        vehicle_id=cars[n % len(cars)],
                        kind="position",
                        occurred_at=moment,
                        created=moment,
                        payload={"odometer_km": n, "pad": "x" * 300},
                    )
                )


def test_the_storage_chart_draws_the_services_forecast(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """Osaka Motors' quota is set 45 days of growth above its use: the page shows the day
    the service forecasts, as a point on the chart and a date in the table."""
    measuring = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    upgrade_zones(measuring.stores, regiocrm_hooks)
    seed_storage(measuring)
    [osaka] = [
        f
        for f in StorageService(measuring).report(today()).forecasts
        if f.organization == "Osaka Motors"
    ]
    measuring.close()
    assert osaka.growth_mib_per_day > 0
    quota = osaka.used_mib + 45 * osaka.growth_mib_per_day
    with served(
        deployment_dir, regiocrm_hooks, storage={"quotas_mib": {"Osaka Motors": quota}}
    ) as console:
        people(console)
        expected = {
            f.organization: f for f in StorageService(console.app.state.services).report().forecasts
        }["Osaka Motors"]
        browser = console.browser()
        browser.sign_in("mori")
        page = browser.get("/markets/storage", **ENGLISH)
    assert page.status_code == 200
    assert expected.runs_out_on is not None
    days = (expected.runs_out_on - today()).days
    assert 40 <= days <= 50
    shown = format_date(expected.runs_out_on, "en")
    # The table: the same day, readable and machine-readable.
    row = re.search(r'<tr data-organization="Osaka Motors">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert f'<time datetime="{expected.runs_out_on.isoformat()}">{shown}</time>' in row.group(1)
    # The chart: an accessible image whose bars and point come from the same forecast.
    svg = ElementTree.fromstring(re.search(r"<svg.*?</svg>", page.text, re.S).group(0))  # type: ignore[union-attr]
    assert svg.get("role") == "img"
    assert svg.get("viewBox") == f"0 0 400 {svg.get('viewBox').split()[-1]}"  # type: ignore[union-attr]
    assert svg.get("width") == "100%"
    assert svg.find("title") is not None
    assert svg.find("desc") is not None
    group = svg.find("g[@data-organization='Osaka Motors']")
    assert group is not None
    used = group.find("rect[@class='used']")
    assert used is not None
    share = expected.used_mib / quota
    assert float(used.get("width", "")) == pytest.approx(share * PLOT_WIDTH, abs=0.01)
    point = group.find("circle[@class='runs-out']")
    assert point is not None
    assert point.get("data-runs-out") == expected.runs_out_on.isoformat()
    assert float(point.get("cx", "")) == pytest.approx(
        PLOT_X + days / SCALE_DAYS * PLOT_WIDTH, abs=0.01
    )
    assert any(f"runs out on {shown}" in (text.text or "") for text in group.iter("text"))
    # An organization with no growth has no runway, only its use.
    quiet = svg.find("g[@data-organization='Brand Japan']")
    assert quiet is not None
    assert quiet.find("circle") is None


def forecast(name: str, used: float, quota: float | None, days_left: int | None) -> StorageForecast:
    runs_out = None if days_left is None else today() + timedelta(days=days_left)
    return StorageForecast(
        organization=name,
        tier="community",
        quota_mib=quota,
        used_mib=used,
        growth_mib_per_day=0.0 if days_left is None else 0.1,
        fastest_growing=None,
        runs_out_on=runs_out,
        growing=days_left is not None,
        detail={},
    )


def report(*forecasts: StorageForecast) -> StorageReport:
    return StorageReport(today(), today() + timedelta(days=36500), list(forecasts))


def test_runways_share_the_coming_year_however_far_one_quota_lasts() -> None:
    """A quota lasting decades does not squeeze next month's runway: it runs to an arrow
    at the edge, and the others keep the year's scale."""
    chart = storage_chart(
        report(forecast("Soon", 8, 10, 73), forecast("Decades", 1, 1000, 30 * 365))
    )
    soon, decades = chart.bars
    assert (chart.scale_days, chart.year_end) == (SCALE_DAYS, today() + timedelta(days=365))
    assert soon.runway_width == pytest.approx(73 / 365 * PLOT_WIDTH, abs=0.01)
    assert not soon.beyond
    assert decades.beyond
    assert decades.runway_width == PLOT_WIDTH - ARROW
    tips = [point.split(",") for point in decades.arrow.split()]
    assert float(tips[0][0]) == PLOT_X + decades.runway_width
    assert max(float(x) for x, _y in tips) <= WIDTH


def test_a_quota_running_out_on_the_years_last_day_ends_in_a_point() -> None:
    [last] = storage_chart(report(forecast("Last", 5, 10, SCALE_DAYS))).bars
    assert not last.beyond
    assert last.point_x == PLOT_X + PLOT_WIDTH


def test_a_small_share_of_a_large_quota_stays_visible_and_none_stays_empty() -> None:
    tiny, empty, full = storage_chart(
        report(
            forecast("Tiny", 0.2, 102400, None),
            forecast("Empty", 0, 102400, None),
            forecast("Over", 12, 10, 0),
        )
    ).bars
    assert tiny.used_width == MIN_USED_WIDTH
    assert empty.used_width == 0
    assert full.used_width == PLOT_WIDTH


def test_the_chart_draws_the_arrow_and_the_years_axis(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """Osaka Motors' quota lasts three years at its growth: its runway ends in an arrow at
    the chart's edge that names the service's day, below an axis from today to a year on."""
    measuring = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    upgrade_zones(measuring.stores, regiocrm_hooks)
    seed_storage(measuring)
    [osaka] = [
        f
        for f in StorageService(measuring).report(today()).forecasts
        if f.organization == "Osaka Motors"
    ]
    measuring.close()
    quota = osaka.used_mib + 3 * 365 * osaka.growth_mib_per_day
    with served(
        deployment_dir, regiocrm_hooks, storage={"quotas_mib": {"Osaka Motors": quota}}
    ) as console:
        people(console)
        expected = {
            f.organization: f for f in StorageService(console.app.state.services).report().forecasts
        }["Osaka Motors"]
        browser = console.browser()
        browser.sign_in("mori")
        page = browser.get("/markets/storage", **ENGLISH)
    assert page.status_code == 200
    assert expected.runs_out_on is not None
    assert (expected.runs_out_on - today()).days > SCALE_DAYS
    svg = ElementTree.fromstring(re.search(r"<svg.*?</svg>", page.text, re.S).group(0))  # type: ignore[union-attr]
    group = svg.find("g[@data-organization='Osaka Motors']")
    assert group is not None
    assert group.find("circle") is None
    arrow = group.find("polygon[@class='beyond']")
    assert arrow is not None
    assert arrow.get("data-runs-out") == expected.runs_out_on.isoformat()
    shown = format_date(expected.runs_out_on, "en")
    assert any(f"runs out on {shown}" in (text.text or "") for text in group.iter("text"))
    axis = svg.find("g[@class='axis']")
    assert axis is not None
    assert [text.text for text in axis.iter("text")] == [
        format_date(today(), "en"),
        format_date(today() + timedelta(days=SCALE_DAYS), "en"),
    ]
