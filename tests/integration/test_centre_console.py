"""The competence centre in Chromium: Thailand's failing rollout checks with their fixes and
the storage forecast chart, on a served deployment whose Thailand pack is installed (a
distribution in a folder on the path, as pip would put it) and whose organizations' storage
grows (:mod:`storage_growth`); every page of theirs free of serious accessibility
violations and fitting a phone."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import assert_fits, serious_violations, sign_in
from served import Console, serving
from storage_growth import OSAKA, PUDONG, TOKYO, grow

from regiocrm.console.charts import PLOT_WIDTH
from regiocrm.testing import run_regiocrm

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

THAILAND = Path(__file__).resolve().parent.parent / "fixtures" / "thailand-site"
PASSWORD = "a long centre password"
PAGES = ("/markets", "/markets/residency", "/markets/storage", "/campaigns", "/campaigns/new")


@dataclass(frozen=True)
class Centre:
    """The served deployment and the quotas its settings give the growing organizations."""

    console: Console
    quotas_mib: dict[str, float]

    @property
    def base(self) -> str:
        return self.console.base


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    """A deployment serving Thailand too, whose organizations' storage grows, and a
    competence-centre user, ``mori``."""
    folder = tmp_path_factory.mktemp("centre")
    with pytest.MonkeyPatch.context() as patch:
        inherited = os.environ.get("PYTHONPATH")
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(THAILAND), inherited])))
        upgraded = run_regiocrm("db", "upgrade", cwd=folder)
        assert upgraded.returncode == 0, upgraded.stderr
        quotas = grow(folder)
        with serving(folder) as server:
            served = Console(folder, server)
            served.add_user("mori", "competence_centre", PASSWORD)
            yield Centre(served, quotas.mib)


def test_the_centre_sees_thailands_failing_checks(
    centre: Centre, desktop_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    page = desktop_page
    assert sign_in(page, centre.base, "mori", PASSWORD).endswith("/markets")
    thailand = page.locator("#market-TH")
    assert thailand.get_attribute("data-outcome") == "fail"
    assert "Thailand" in thailand.locator("h2").inner_text()
    line = thailand.locator('tr[data-check="channel line"]')
    assert line.locator(".badge.fail").inner_text() == "Fail"
    assert "market = 'TH'" in line.locator("td.fix").inner_text()
    translations = thailand.locator('tr[data-check="translations th_TH"]')
    assert "regiocrm translations check" in translations.locator("td.fix").inner_text()
    screenshot(page, "competence_centre-desktop")
    assert serious_violations(page) == []
    for path in ("/markets/residency", "/campaigns", "/campaigns/new"):
        page.goto(f"{centre.base}{path}")
        assert serious_violations(page) == [], path


def reported(centre: Centre) -> dict[str, dict[str, Any]]:
    """``regiocrm storage report --json`` in the deployment's folder, by organization."""
    report = run_regiocrm("storage", "report", "--json", cwd=centre.console.folder)
    assert report.returncode == 0, report.stderr
    return {forecast["organization"]: forecast for forecast in json.loads(report.stdout)}


def share_shown(bar: Locator) -> float:
    """The used share the bar's label gives, e.g. ``(71.3 %)`` → 71.3."""
    label = bar.locator("text.usage").text_content() or ""
    return float(label[label.rindex("(") + 1 : label.rindex("%")].strip())


def test_the_centre_sees_each_quotas_use_and_the_day_it_runs_out(
    centre: Centre, desktop_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    """The chart and the table give what the command line's report, reading the same
    deployment, says: each organization's share used and the day its quota runs out."""
    page = desktop_page
    sign_in(page, centre.base, "mori", PASSWORD)
    page.goto(f"{centre.base}/markets/storage")
    forecasts = reported(centre)
    osaka, tokyo, pudong = forecasts[OSAKA], forecasts[TOKYO], forecasts[PUDONG]
    # The deployment is as seeded: one quota runs out within the chart's year, one later,
    # one never; each is the quota the settings give it.
    assert 0 < osaka["days_left"] <= 365 < tokyo["days_left"]
    assert (pudong["runs_out_on"], pudong["growth_mib_per_day"]) == (None, 0)
    for name, quota in centre.quotas_mib.items():
        assert forecasts[name]["quota_mib"] == quota
    rows = page.locator("table.storage tbody tr")
    order = [rows.nth(n).get_attribute("data-organization") for n in range(rows.count())]
    assert order[:2] == [OSAKA, TOKYO]
    assert set(order) == set(forecasts)

    chart = page.locator('svg[role="img"]')
    assert chart.is_visible()
    assert chart.locator("title").text_content() == "Storage forecast by organization"
    assert chart.locator("g.organization").count() == len(forecasts)
    for name in (OSAKA, TOKYO, PUDONG):
        forecast = forecasts[name]
        bar = chart.locator(f'g.organization[data-organization="{name}"]')
        share = forecast["used_mib"] / forecast["quota_mib"]
        assert share_shown(bar) == round(share * 100, 1), name
        used = bar.locator("rect.used")
        assert float(used.get_attribute("width") or "") == pytest.approx(
            share * PLOT_WIDTH, abs=0.01
        )
        assert used.bounding_box()["width"] >= 2, name  # type: ignore[index]
        cell = page.locator(f'table.storage tr[data-organization="{name}"] td.runs-out')
        if forecast["runs_out_on"] is None:
            assert cell.inner_text() == "not growing"
            assert bar.locator(".runway").count() == 0
            continue
        day = cell.locator("time")
        assert day.get_attribute("datetime") == forecast["runs_out_on"], name
        assert f"runs out on {day.inner_text()}" in (
            bar.locator("text.usage").text_content() or ""
        ), name
    # Within the chart's year the runway ends in a point on the day; beyond it, it runs off
    # the chart's edge.
    osaka_bar = chart.locator(f'g.organization[data-organization="{OSAKA}"]')
    point = osaka_bar.locator("circle.runs-out")
    assert point.get_attribute("data-runs-out") == osaka["runs_out_on"]
    assert float(osaka_bar.locator("rect.runway").get_attribute("width") or "") == (
        pytest.approx(osaka["days_left"] / 365 * PLOT_WIDTH, abs=0.01)
    )
    tokyo_bar = chart.locator(f'g.organization[data-organization="{TOKYO}"]')
    assert tokyo_bar.locator("circle.runs-out").count() == 0
    assert tokyo_bar.locator(".beyond").get_attribute("data-runs-out") == tokyo["runs_out_on"]
    screenshot(page, "competence_centre-storage-desktop")
    assert serious_violations(page) == []


def test_the_centres_pages_fit_a_phone(
    centre: Centre, phone_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(phone_page, centre.base, "mori", PASSWORD)
    for path in PAGES:
        phone_page.goto(f"{centre.base}{path}")
        assert_fits(phone_page)
        if path == "/markets":
            screenshot(phone_page, "competence_centre-phone")
        elif path == "/markets/storage":
            screenshot(phone_page, "competence_centre-storage-phone")
            assert serious_violations(phone_page) == []
