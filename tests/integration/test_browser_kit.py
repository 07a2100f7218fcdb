"""The browser-test kit (tests/browser.py and the fixtures in conftest.py) can fail: each
check is shown a page that breaks it and one that keeps it, served from loopback."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import browser
import httpx
import pytest
from browser import DoesNotFit, SignInFailed, assert_fits, serious_violations, sign_in
from served import Console, add_user_with_password

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.services.application import Application
from regiocrm.services.signin import SignInRefused, SignInService
from regiocrm.testing import run_regiocrm

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine whose Chromium is missing."""
    missing = tmp_path / "chromium"
    monkeypatch.setattr(browser, "CHROMIUM", missing)
    return missing


def test_a_missing_chromium_skips_with_the_reason(
    no_chromium: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"no browser at {no_chromium} "):
        browser.require_chromium()


def test_a_missing_chromium_fails_under_ci(
    no_chromium: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: the browser tests must run"):
        browser.require_chromium()


def test_a_chromium_that_is_not_executable_is_missing(no_chromium: Path) -> None:
    no_chromium.write_text("")
    assert browser.chromium_unavailable() == (
        f"no browser at {no_chromium} (apt-get install chromium fonts-noto-cjk)"
    )


def document(body: str, *, head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Kit</title>{head}</head><body><main><h1>Kit</h1>{body}</main></body></html>"
    )


LOGIN_FORM = document(
    '<form method="post" action="/login"><p>{error}</p>'
    '<label>Name <input name="username"></label>'
    '<label>Password <input name="password" type="password"></label>'
    "<button>Sign in</button></form>"
)


class Site:
    """Pages served from loopback by path, a sign-in form that lets ``mei`` in with
    ``right``, and the headers of every request."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {"/home": document("<p>Welcome</p>")}
        self.headers: list[dict[str, str]] = []
        self.base = ""


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.headers.append(dict(self.headers))
            if self.path == "/login":
                return self.answer(LOGIN_FORM.format(error=""))
            page = served.pages.get(self.path)
            if page is None:
                return self.send_error(HTTPStatus.NOT_FOUND)
            return self.answer(page)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            if form.get("username") == ["mei"] and form.get("password") == ["right"]:
                self.send_response(HTTPStatus.SEE_OTHER)
                self.send_header("Location", "/home")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self.answer(LOGIN_FORM.format(error="Wrong name or password."))

        def answer(self, html: str) -> None:
            body = html.encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request on stderr would bury a failing test's report

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def show(page: Page, site: Site, body: str, *, head: str = "") -> None:
    site.pages["/page"] = document(body, head=head)
    page.goto(f"{site.base}/page")


def test_serious_violations_names_an_unlabelled_input_and_a_nameless_button(
    desktop_page: Page, site: Site
) -> None:
    show(desktop_page, site, '<input id="phone"><button class="send"></button>')
    found = {violation.rule: violation for violation in serious_violations(desktop_page)}
    assert set(found) == {"label", "button-name"}
    assert found["label"].targets == ("#phone",)
    assert found["button-name"].targets == ("button",)
    assert found["label"].impact == "critical"
    assert "#phone" in repr(found["label"])


def test_serious_violations_is_empty_for_labelled_controls(desktop_page: Page, site: Site) -> None:
    show(
        desktop_page,
        site,
        '<label for="phone">Phone</label><input id="phone"><button class="send">Send</button>',
    )
    assert serious_violations(desktop_page) == []


def test_serious_violations_leaves_out_moderate_ones(desktop_page: Page, site: Site) -> None:
    """A page without a level-one heading is a moderate violation: reported by axe-core,
    not by the check the console's pages must pass."""
    site.pages["/page"] = document("").replace("<h1>Kit</h1>", "<p>Kit</p>")
    desktop_page.goto(f"{site.base}/page")
    assert serious_violations(desktop_page) == []


WIDE = '<div id="wide" style="width: 600px; height: 10px"></div>'


def test_assert_fits_names_an_element_wider_than_a_phone(phone_page: Page, site: Site) -> None:
    show(phone_page, site, f"<p>Short</p>{WIDE}")
    with pytest.raises(DoesNotFit) as refused:
        assert_fits(phone_page)
    message = str(refused.value)
    assert "does not fit a 390px window: it is 608px wide" in message
    assert "div#wide (600px wide" in message


def test_assert_fits_refuses_a_page_a_phone_lays_out_at_desktop_width(
    phone_page: Page, site: Site
) -> None:
    """Without a width=device-width viewport, a phone lays the page out 980px wide and
    zooms it out: nothing scrolls, and nothing can be read either."""
    site.pages["/page"] = document("<p>Short</p>").replace('<meta name="viewport"', "<meta")
    phone_page.goto(f"{site.base}/page")
    with pytest.raises(DoesNotFit, match=r"laid out 980px wide: its head lacks <meta"):
        assert_fits(phone_page)


def test_assert_fits_sees_overflow_that_the_page_hides(phone_page: Page, site: Site) -> None:
    """overflow-x: hidden on the body stops the scrolling but cuts the element off."""
    show(phone_page, site, WIDE, head="<style>html, body { overflow-x: hidden }</style>")
    with pytest.raises(DoesNotFit, match=r"div#wide \(600px wide"):
        assert_fits(phone_page)


def test_assert_fits_passes_a_page_that_fits_with_a_table_scrolling_in_its_box(
    phone_page: Page, site: Site
) -> None:
    table = f'<div style="overflow-x: auto">{WIDE}</div>'
    show(phone_page, site, f"<p>{'A sentence that wraps. ' * 20}</p>{table}")
    assert_fits(phone_page)


def test_assert_fits_passes_the_same_wide_element_on_a_desktop(
    desktop_page: Page, site: Site
) -> None:
    show(desktop_page, site, WIDE)
    assert_fits(desktop_page)


# --8<-- [start:browser_locale]
@pytest.mark.parametrize("browser_locale", ["ja-JP"])
def test_the_browser_asks_for_pages_in_the_chosen_language(phone_page: Page, site: Site) -> None:
    show(phone_page, site, "<p>ようこそ</p>")
    assert site.headers[-1]["Accept-Language"].startswith("ja-JP")
    assert phone_page.evaluate("navigator.language") == "ja-JP"


# --8<-- [end:browser_locale]


def test_the_browser_asks_in_english_unless_told(desktop_page: Page, site: Site) -> None:
    show(desktop_page, site, "<p>Welcome</p>")
    assert site.headers[-1]["Accept-Language"].startswith("en-US")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_goes_to_the_tests_folder_unless_told(
    phone_page: Page,
    site: Site,
    screenshot: Callable[[Page, str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGIOCRM_SCREENSHOTS", raising=False)
    show(phone_page, site, "<p>Welcome</p>")
    assert screenshot(phone_page, "agent-phone") == tmp_path / "agent-phone.png"
    # The contexts keep a device scale factor of 1: the picture is the window's size.
    assert png_size(tmp_path / "agent-phone.png") == (390, 844)


def test_screenshot_goes_where_regiocrm_screenshots_says(
    desktop_page: Page,
    site: Site,
    screenshot: Callable[[Page, str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGIOCRM_SCREENSHOTS", str(tmp_path / "docs-images"))
    show(desktop_page, site, "<p>Welcome</p>")
    assert screenshot(desktop_page, "agent-desktop") == tmp_path / "docs-images/agent-desktop.png"
    assert png_size(tmp_path / "docs-images/agent-desktop.png") == (1280, 800)


@pytest.mark.parametrize("name", ["", "../agent", "images/agent", ".hidden"])
def test_screenshot_refuses_a_name_that_is_not_a_file_name(
    desktop_page: Page,
    site: Site,
    screenshot: Callable[[Page, str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.delenv("REGIOCRM_SCREENSHOTS", raising=False)
    show(desktop_page, site, "<p>Welcome</p>")
    with pytest.raises(ValueError, match="a file name without a folder"):
        screenshot(desktop_page, name)
    assert list(tmp_path.rglob("*.png")) == []


def test_sign_in_fills_the_form_and_follows_the_redirect(desktop_page: Page, site: Site) -> None:
    assert sign_in(desktop_page, site.base, "mei", "right") == f"{site.base}/home"
    assert desktop_page.locator("p").inner_text() == "Welcome"


def test_sign_in_with_a_wrong_password_says_what_the_page_said(
    desktop_page: Page, site: Site
) -> None:
    with pytest.raises(SignInFailed, match=r"'mei' stayed on /login: .*Wrong name or password"):
        sign_in(desktop_page, site.base, "mei", "wrong")


def test_the_console_deployment_serves_and_takes_users(console: Console) -> None:
    token = console.add_user("kenji", "admin", "a long passphrase")
    me = httpx.get(f"{console.base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.status_code, me.json()["name"]) == (200, "kenji")


def test_add_user_with_password_lets_them_sign_in_with_it(
    console: Console, deployment_dir: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user_with_password(console.folder, "mei", "admin", "a long passphrase")
    # deployment_dir keeps this shell's REGIOCRM_* settings out; the settings are the folder's.
    monkeypatch.chdir(console.folder)
    app = Application.open(RegiocrmSettings(), regiocrm_hooks)
    try:
        signin = SignInService(app)
        assert signin.sign_in("mei", "a long passphrase", address="127.0.0.1").caller.name == "mei"
        with pytest.raises(SignInRefused):
            signin.sign_in("mei", "another passphrase", address="127.0.0.1")
    finally:
        app.close()


def test_add_user_with_a_password_too_short_fails_and_adds_nobody(console: Console) -> None:
    with pytest.raises(AssertionError, match="password"):
        add_user_with_password(console.folder, "jun", "admin", "short")
    listed = run_regiocrm("users", "list", "--json", cwd=console.folder)
    assert listed.returncode == 0, listed.stderr
    assert [user["name"] for user in json.loads(listed.stdout)].count("jun") == 0
