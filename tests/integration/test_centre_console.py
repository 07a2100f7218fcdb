"""The competence centre in Chromium: Thailand's failing rollout checks with their fixes and
the storage forecast chart, on a served deployment whose Thailand pack is installed (a
distribution in a folder on the path, as pip would put it); every page of theirs free of
serious accessibility violations and fitting a phone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import assert_fits, serious_violations, sign_in
from served import Console, serving_console

if TYPE_CHECKING:
    from playwright.sync_api import Page

THAILAND = Path(__file__).resolve().parent.parent / "fixtures" / "thailand-site"
PASSWORD = "a long centre password"
PAGES = ("/markets", "/markets/residency", "/markets/storage", "/campaigns", "/campaigns/new")


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A deployment serving Thailand too, and a competence-centre user, ``mori``."""
    with pytest.MonkeyPatch.context() as patch:
        inherited = os.environ.get("PYTHONPATH")
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(THAILAND), inherited])))
        with serving_console(tmp_path_factory.mktemp("centre")) as served:
            served.add_user("mori", "competence_centre", PASSWORD)
            yield served


def test_the_centre_sees_thailands_failing_checks_and_the_storage_chart(
    centre: Console, desktop_page: Page, screenshot: Callable[[Page, str], Path]
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
    page.goto(f"{centre.base}/markets/storage")
    chart = page.locator('svg[role="img"]')
    assert chart.is_visible()
    assert chart.locator("title").text_content() == "Storage forecast by organization"
    organizations = page.locator("table.storage tbody tr").count()
    assert organizations > 0
    assert chart.locator("g.organization").count() == organizations
    screenshot(page, "competence_centre-storage-desktop")
    assert serious_violations(page) == []
    for path in ("/markets/residency", "/campaigns", "/campaigns/new"):
        page.goto(f"{centre.base}{path}")
        assert serious_violations(page) == [], path


def test_the_centres_pages_fit_a_phone(
    centre: Console, phone_page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(phone_page, centre.base, "mori", PASSWORD)
    for path in PAGES:
        phone_page.goto(f"{centre.base}{path}")
        assert_fits(phone_page)
        if path == "/markets":
            screenshot(phone_page, "competence_centre-phone")
        elif path == "/markets/storage":
            screenshot(phone_page, "competence_centre-storage-phone")
