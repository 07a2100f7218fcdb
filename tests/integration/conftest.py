"""What the PostgreSQL and browser tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import (
    DESKTOP,
    PHONE,
    Screen,
    launch,
    open_page,
    require_chromium,
    save_screenshot,
    screenshot_folder,
)
from fake_line import FakeLine, serving_fake_line
from served import Console, serving_console
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application
from regiocrm.testing import scratch_database, upgrade_zones

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def second_postgres_url(postgres_url: URL) -> Iterator[URL]:
    """Another scratch database beside ``postgres_url`` (skipped or failed as it is)."""
    with scratch_database() as url:
        yield url


@pytest.fixture
def postgres_zone(postgres_url: URL) -> Iterator[Engine]:
    """The test's own way into ``postgres_url``, beside what it serves: a new connection
    for every use, so none is left open for the server to wait on or a fault to cut."""
    engine = create_engine(postgres_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def cn_application(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> Iterator[Application]:
    """The application with zone ``cn`` (the home zone) on ``postgres_url``, migrated."""
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)}, home_zone="cn"
    )
    app = Application.open(settings, regiocrm_hooks)
    upgrade_zones(app.stores, regiocrm_hooks)
    yield app
    app.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once per test process (each xdist worker).

    Skips with the reason where Playwright or ``/usr/bin/chromium`` is missing, but fails
    under ``CI=true`` (:func:`browser.require_chromium`). While it runs, Playwright's event
    loop is the test process's running loop, so a later test in the same process cannot
    call ``asyncio.run``.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_locale() -> str:
    """The language the test's browser asks pages in; override it for one test with
    ``@pytest.mark.parametrize("browser_locale", ["ja-JP"])``."""
    return "en-US"


def _page(browser: Browser, screen: Screen, locale: str) -> Iterator[Page]:
    page = open_page(browser, screen, locale)
    yield page
    page.context.close()


@pytest.fixture
def desktop_page(browser: Browser, browser_locale: str) -> Iterator[Page]:
    """A fresh page (no cookies) in a 1280 × 800 desktop window."""
    yield from _page(browser, DESKTOP, browser_locale)


@pytest.fixture
def phone_page(browser: Browser, browser_locale: str) -> Iterator[Page]:
    """A fresh page (no cookies) on a 390 × 844 touch phone."""
    yield from _page(browser, PHONE, browser_locale)


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, name)`` saves the page's window as ``name.png``: into the folder
    ``$REGIOCRM_SCREENSHOTS`` names (``docs/images/console`` for the docs), else into the
    test's temporary folder. Returns the file's path."""

    def take(page: Page, name: str) -> Path:
        return save_screenshot(page, name, screenshot_folder(tmp_path))

    return take


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A migrated deployment served by ``regiocrm serve``, shared by a test module's tests
    (starting one takes seconds): give each test's users names of their own."""
    with serving_console(tmp_path_factory.mktemp("console")) as served:
        yield served


@pytest.fixture(scope="module")
def fake_line() -> Iterator[FakeLine]:
    """LINE's Messaging API on loopback (:mod:`fake_line`), for a module's deployment."""
    with serving_fake_line() as line:
        yield line
