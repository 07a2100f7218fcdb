"""Signing in to the console and out of it: the form, the cookies, where a user is sent,
CSRF on every form, the limit on failed attempts, and the language a page is in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from console_client import PASSWORD, ConsoleDeployment, html_lang
from sqlalchemy import func, select

from regiocrm.console.pages import accepted_languages
from regiocrm.console.sessions import CSRF_COOKIE, SESSION_COOKIE
from regiocrm.models import ConsoleSession, OrganizationKind, SignInFailure, User, UserRole


@pytest.fixture
def world(console: ConsoleDeployment) -> ConsoleDeployment:
    brand = console.organization("Brand China")
    dealer = console.organization("Shanghai Motors", OrganizationKind.DEALER)
    console.user("lin", UserRole.CALL_CENTRE_AGENT, brand)
    console.user("zhou", UserRole.DEALER_STAFF, dealer)
    console.user("audrey", UserRole.PARTNER_AUDITOR, brand)
    return console


def sessions(console: ConsoleDeployment) -> int:
    with console.stores.session() as session:
        return int(session.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


def set_cookies(answer: object) -> list[str]:
    return answer.headers.get_list("set-cookie")  # type: ignore[attr-defined]


def test_the_sign_in_form_is_labelled_and_only_runs_the_consoles_own_scripts(
    world: ConsoleDeployment,
) -> None:
    page = world.browser().get("/login")
    assert page.status_code == 200
    for field in ('name="username"', 'name="password"', 'type="password"'):
        assert field in page.text
    assert '<label for="username">' in page.text
    assert '<label for="password">' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert '<script src="/static/htmx.min.js' in page.text


@pytest.mark.parametrize(
    ("user", "home"),
    [("lin", "/inbox"), ("zhou", "/leads"), ("audrey", "/audit")],
)
def test_signing_in_sends_each_role_to_its_work_with_an_http_only_lax_session(
    world: ConsoleDeployment, user: str, home: str
) -> None:
    browser = world.browser()
    answer = browser.sign_in(user)
    assert answer.status_code == 303
    assert answer.headers["location"] == home
    cookies = {c.split("=", 1)[0]: c.lower() for c in set_cookies(answer)}
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        assert "httponly" in cookies[name]
        assert "samesite=lax" in cookies[name]
        assert "secure" not in cookies[name]
    assert browser.get("/").headers["location"] == home


def test_over_https_the_session_cookies_are_secure(world: ConsoleDeployment) -> None:
    answer = world.browser("https://crm.example").sign_in("lin")
    assert answer.status_code == 303
    session_cookie = next(c for c in set_cookies(answer) if c.startswith(SESSION_COOKIE))
    assert "secure" in session_cookie.lower()


def test_a_wrong_password_is_refused_with_one_message_and_opens_no_session(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    wrong = browser.sign_in("lin", "not the password at all")
    unknown = browser.sign_in("nobody", PASSWORD)
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "wrong user name or password" in wrong.text
    assert 'value="lin"' in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert not any(c.startswith(SESSION_COOKIE) for c in set_cookies(wrong))
    assert sessions(world) == 0


def test_a_sign_in_posted_without_the_forms_own_token_is_refused(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    answer = browser.client.post(
        "/login", data={"username": "lin", "password": PASSWORD, "login_token": "forged"}
    )
    assert answer.status_code == 400
    assert "expired" in answer.text
    assert sessions(world) == 0


def test_too_many_failures_answer_429_with_when_to_try_again(world: ConsoleDeployment) -> None:
    browser = world.browser()
    limit = world.settings.console.max_failed_attempts
    for _attempt in range(limit):
        assert browser.sign_in("lin", "guess guess guess").status_code == 401
    refused = browser.sign_in("lin")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "too many failed sign-ins" in refused.text
    assert sessions(world) == 0


def test_a_page_without_a_session_goes_to_sign_in_and_comes_back(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    sent = browser.get("/?from=bookmark")
    assert sent.status_code == 303
    target = urlsplit(sent.headers["location"])
    assert target.path == "/login"
    next_page = parse_qs(target.query)["next"][0]
    assert next_page == "/?from=bookmark"
    assert browser.sign_in("lin", next_page=next_page).headers["location"] == next_page


def test_htmx_is_told_to_send_the_whole_page_to_sign_in(world: ConsoleDeployment) -> None:
    answer = world.browser().get("/", **{"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/login?next=%2F"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_sends_a_user_to_another_site(world: ConsoleDeployment, target: str) -> None:
    answer = world.browser().sign_in("lin", next_page=target)
    assert answer.headers["location"] == "/inbox"


def test_signing_out_needs_the_sessions_csrf_token_and_ends_the_session(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    browser.sign_in("lin")
    forged = browser.client.post("/logout", data={"csrf_token": "guessed"})
    assert forged.status_code == 403
    assert browser.get("/").status_code == 303
    assert browser.get("/").headers["location"] == "/inbox"
    signed_out = browser.post_form("/logout", {})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login"
    assert urlsplit(browser.get("/").headers["location"]).path == "/login"
    with world.stores.session() as session:
        assert session.scalar(select(ConsoleSession.ended_at)) is not None


def test_a_page_speaks_the_browsers_language_until_the_user_chooses_one(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    login = browser.get("/login", **{"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert html_lang(login.text) == "ja-JP"
    assert "サインイン" in login.text
    browser.sign_in("lin")
    refused = browser.client.post("/logout", data={"csrf_token": "x"})
    assert html_lang(refused.text).startswith("zh-Hans"), "the market's, the browser asks none"
    chosen = browser.post_form("/language", {"locale": "ko", "next": "/inbox"})
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/inbox")
    refused = browser.client.post(
        "/logout", data={"csrf_token": "x"}, headers={"Accept-Language": "ja"}
    )
    assert html_lang(refused.text) == "ko"


def test_a_language_the_console_lacks_is_refused_and_nothing_is_stored(
    world: ConsoleDeployment,
) -> None:
    browser = world.browser()
    browser.sign_in("lin")
    answer = browser.post_form("/language", {"locale": "xx_YY"})
    assert answer.status_code == 400
    assert "is not a console language" in answer.text
    with world.stores.session() as session:
        assert session.scalar(select(User.locale).where(User.name == "lin")) is None


def test_accept_language_is_read_by_quality_then_order() -> None:
    header = "en;q=0.3, ja-JP, ko;q=0.8, *;q=0.1, zh-Hant;q=0.8, bad;q=x"
    assert accepted_languages(header) == ["ja-JP", "ko", "zh-Hant", "en"]
    assert accepted_languages(None) == []


def test_only_the_vendored_files_are_served_as_static(world: ConsoleDeployment) -> None:
    browser = world.browser()
    script = browser.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "htmx" in script.text[:2000]
    licence = browser.get("/static/htmx.LICENSE.txt")
    assert "Zero-Clause BSD" in licence.text
    for path in ("/static/pages.py", "/static/..%2Fpages.py", "/static/templates"):
        assert browser.get(path).status_code == 404


def test_a_form_holding_nul_is_refused_before_anything_is_counted(
    world: ConsoleDeployment,
) -> None:
    answer = world.browser().client.post(
        "/login", data={"username": "lin\x00", "password": "x", "login_token": "t"}
    )
    assert answer.status_code == 422
    assert "NUL" in answer.text
    with world.stores.session() as session:
        assert session.scalar(select(func.count()).select_from(SignInFailure)) == 0
