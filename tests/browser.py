"""The console in a real browser: Debian's Chromium driven by Playwright, with axe-core for
accessibility and a check that a page fits its window. The fixtures built on these are in
``tests/integration/conftest.py``; docs/browser-tests.md shows how a page's test uses them.

Playwright and axe-playwright-python are imported only when a browser is wanted, so this
module loads (and the fixtures can skip with a reason) where they are not installed.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without a sandbox (CI runs as root, where Chromium's sandbox refuses to start) or a GPU (no
# machine here has one), asking nothing of the network on its own (component updates,
# background requests) and showing no first-run dialog.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
SCREENSHOTS_ENV = "REGIOCRM_SCREENSHOTS"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A page of a server on loopback that takes longer than this is broken, not slow: fail then,
# rather than after Playwright's 30 s.
ACTION_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Screen:
    """A window size the console is checked at."""

    name: str
    width: int
    height: int
    mobile: bool


DESKTOP = Screen("desktop", 1280, 800, mobile=False)
PHONE = Screen("phone", 390, 844, mobile=True)


def chromium_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if importlib.util.find_spec("axe_playwright_python") is None:
        return "axe-playwright-python is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    return None


def require_chromium() -> None:
    """Skip the calling test with the reason where the browser tests cannot run, but fail
    it under ``CI=true``, where that would silently leave the console untested (``.ci/run``
    installs Chromium)."""
    reason = chromium_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with the arguments the browser tests are specified with."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
    )


def open_page(browser: Browser, screen: Screen, locale: str) -> Page:
    """A page in a new context (its own cookies) of ``screen``'s size whose browser speaks
    ``locale`` (``navigator.language`` and the ``Accept-Language`` header). Closing the
    page's context is the caller's."""
    context = browser.new_context(
        viewport={"width": screen.width, "height": screen.height},
        is_mobile=screen.mobile,
        has_touch=screen.mobile,
        locale=locale,
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context.new_page()


@dataclass(frozen=True)
class Violation:
    """One axe-core rule a page breaks, with the elements that break it."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def __repr__(self) -> str:
        # An assert on a list of these prints this: what is wrong and where, in one line.
        return f"<{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets)}>"


SERIOUS_IMPACTS = frozenset({"serious", "critical"})


def serious_violations(page: Page) -> list[Violation]:
    """The serious and critical axe-core violations on ``page`` as it stands, every rule
    axe-core runs by default included; ``assert serious_violations(page) == []`` prints
    each rule, its help and the elements (CSS selectors) that break it."""
    from axe_playwright_python.sync_playwright import Axe

    response: dict[str, Any] = Axe().run(page).response
    return [
        Violation(
            rule=violation["id"],
            impact=violation["impact"],
            help=violation["help"],
            help_url=violation["helpUrl"],
            targets=tuple(" ".join(map(str, node["target"])) for node in violation["nodes"]),
        )
        for violation in response["violations"]
        if violation["impact"] in SERIOUS_IMPACTS
    ]


# The page's width against its window's, and every rendered element whose box reaches past
# the window's right edge, widest first, each named by a short CSS path.
# The window is the narrower of the root element's client width (the window less its
# scroll bar) and the screen's: innerWidth will not do, since a phone's browser widens it to
# fit content wider than the screen (zooming the page out), and a page without a
# width=device-width viewport is laid out 980px wide on a phone.
# An element inside a box that scrolls or clips sideways itself (a wide table in an
# overflow-x: auto wrapper) does not widen the page and is left out; html and body are not
# such boxes, since overflow-x: hidden there only hides the overflow.
_OVERFLOWING = """() => {
  const root = document.documentElement;
  const limit = Math.min(root.clientWidth, screen.width);
  const contained = (element) => {
    for (let box = element.parentElement; box && box !== document.body
         && box !== root; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== "visible") return true;
    }
    return false;
  };
  const name = (element) => {
    const parts = [];
    for (let node = element; node && node !== document.body && parts.length < 4;
         node = node.parentElement) {
      let part = node.localName;
      if (node.id) { parts.unshift(part + "#" + node.id); break; }
      for (const cls of node.classList) part += "." + cls;
      parts.unshift(part);
    }
    return parts.join(" > ");
  };
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    const right = rect.right + window.scrollX;
    if (right > limit + 0.5 && !contained(element)) {
      found.push({element: name(element), width: rect.width, right: right});
    }
  }
  found.sort((a, b) => b.width - a.width);
  return {
    scrollWidth: root.scrollWidth,
    window: limit,
    layoutWidth: root.clientWidth,
    elements: found,
  };
}"""


class DoesNotFit(AssertionError):
    """A page that scrolls sideways in its window, or has an element wider than it."""


def assert_fits(page: Page) -> None:
    """Fail unless ``page`` fits its window's width: no horizontal scrolling
    (``document.documentElement.scrollWidth`` within the window) and no element reaching
    past the right edge, hidden or not. The message names the widest element that does.

    :raises DoesNotFit: naming the page, both widths and the widest offending element.
    """
    found: dict[str, Any] = page.evaluate(_OVERFLOWING)
    elements: list[dict[str, Any]] = found["elements"]
    if found["scrollWidth"] <= found["window"] and not elements:
        return
    if found["layoutWidth"] > found["window"]:
        widest = (
            f"it is laid out {found['layoutWidth']}px wide: its head lacks"
            ' <meta name="viewport" content="width=device-width, initial-scale=1">'
        )
    elif elements:
        widest = (
            "the widest element past the edge is {element} ({width:.0f}px wide, its right edge at"
            " {right:.0f}px), one of {count}".format(**elements[0], count=len(elements))
        )
    else:
        widest = "no element reaches past the edge (a margin or a transform widens the page)"
    raise DoesNotFit(
        f"{page.url} does not fit a {found['window']}px window: it is"
        f" {found['scrollWidth']}px wide; {widest}"
    )


def screenshot_folder(fallback: Path) -> Path:
    """Where screenshots go: the folder ``$REGIOCRM_SCREENSHOTS`` names (relative to the
    checkout; ``docs/images/console`` regenerates the docs' images), else ``fallback`` (a
    test's temporary folder), so an ordinary run leaves the checkout as it was."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = PROJECT_ROOT / chosen if chosen else fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshot(page: Page, name: str, folder: Path) -> Path:
    """``page``'s window as ``folder/name.png``, without animations or a blinking caret,
    so the same page gives the same picture."""
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"a screenshot's name is a file name without a folder, not {name!r}")
    path = folder / f"{name}.png"
    page.screenshot(path=path, animations="disabled", caret="hide")
    return path


class SignInFailed(AssertionError):
    """The sign-in form did not let the user in."""


def sign_in(page: Page, base: str, username: str, password: str) -> str:
    """Sign in on ``base``'s console as a person does: open ``/login``, fill ``username``
    and ``password``, press the form's submit button and wait for the page that follows.

    :returns: the URL signed in to (the role's home page).
    :raises SignInFailed: when the browser is still on ``/login`` afterwards, with the page's
        text (where the console says why).
    """
    page.goto(f"{base}/login")
    form = page.locator("form", has=page.locator("input[name=password]"))
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    # A button without a type submits its form too.
    submit = form.locator("button:not([type=button]):not([type=reset]), input[type=submit]")
    with page.expect_navigation():
        submit.click()
    if urlsplit(page.url).path == "/login":
        text = " ".join(page.locator("body").inner_text().split())
        raise SignInFailed(f"signing in as {username!r} stayed on /login: {text}")
    return page.url
