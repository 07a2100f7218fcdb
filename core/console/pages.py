"""Rendering console pages: one Jinja environment, each page in its reader's language, with
dates, numbers and money formatted for them, and the headers a console page is sent with.

A page's language is the one its user chose, else the first their browser asks for that has
a catalog (``Accept-Language``), else their market's, else English
(:func:`page_locale`). Templates translate with ``_()``, the same catalogs as the rest of
regiocrm, so ``pybabel extract`` finds their strings (``babel.cfg``) and ``regiocrm
translations check`` covers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from fastapi import Request, status
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from regiocrm import __version__
from regiocrm.http.deps import services
from regiocrm.http.problems import AnswerInstead
from regiocrm.interfaces.packs import PackError
from regiocrm.interfaces.terms import UserRole
from regiocrm.platform import i18n
from regiocrm.platform.i18n import _
from regiocrm.services.application import Application
from regiocrm.services.signin import Visitor

# Scripts and styles from the console's own files only: no inline code, no CDN. Forms post
# to the console itself.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
}

TEMPLATES = Environment(
    loader=PackageLoader("regiocrm.console", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.globals.update(_=_, version=__version__)


def _navigation() -> dict[UserRole, tuple[str, ...]]:
    dealer = ("/leads", "/customers", "/cases")
    centre = ("/markets", "/campaigns", "/inbox", "/cases")
    return {
        UserRole.CALL_CENTRE_AGENT: ("/inbox", "/cases", "/customers"),
        UserRole.DEALER_STAFF: dealer,
        UserRole.WHOLESALER_STAFF: dealer,
        UserRole.COMPETENCE_CENTRE: centre,
        UserRole.ADMIN: (*centre, "/audit"),
        UserRole.PARTNER_AUDITOR: ("/audit",),
    }


NAVIGATION = _navigation()
"""The pages each role works in, its home page first (``base.html`` labels them)."""


def home_of(role: UserRole) -> str:
    """The page a user of ``role`` lands on after signing in."""
    return NAVIGATION[role][0]


def accepted_languages(header: str | None) -> list[str]:
    """The languages an ``Accept-Language`` header asks for, most wanted first (ties in
    the order given); ``*`` and malformed entries are passed over."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _semicolon, parameters = part.strip().partition(";")
        quality = 1.0
        name, _equals, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if tag and tag != "*" and 0 < quality <= 1:
            weighted.append((-quality, position, tag))
    return [tag for _quality, _position, tag in sorted(weighted)]


def page_locale(app: Application, request: Request, visitor: Visitor | None) -> Locale:
    """The language to show ``request``'s page in (see the module's documentation)."""
    market_locale = None
    if visitor is not None:
        market_locale = _market(app, visitor.market, "locale")
    return i18n.negotiate(
        visitor.locale if visitor else None,
        *accepted_languages(request.headers.get("accept-language")),
        market_locale,
        folders=app.hooks.catalog_folders().values(),
    )


def _market(app: Application, market: str, attribute: str) -> str | None:
    try:
        value: str = getattr(app.hooks.packs().market(market), attribute)
    except PackError:
        return None
    return value


@dataclass(frozen=True)
class Formats:
    """Dates, times, numbers and money as a page's reader reads them: in their language,
    times in their market's time zone."""

    locale: Locale
    timezone: str

    def when(self, value: datetime | None, width: str = "medium") -> str:
        if value is None:
            return ""
        return i18n.format_datetime(self._aware(value), self.locale, self.timezone, width)

    def day(self, value: date | None, width: str = "medium") -> str:
        return "" if value is None else i18n.format_date(value, self.locale, width)

    def number(self, value: Decimal | float | int) -> str:
        return i18n.format_number(value, self.locale)

    def money(self, amount: Decimal | float | int, currency: str) -> str:
        return i18n.format_money(amount, currency, self.locale)

    def relative(self, value: datetime, now: datetime) -> str:
        """How far ``value`` is from ``now``: "in 3 hours", "2 days ago"."""
        delta: timedelta = self._aware(value) - self._aware(now)
        return format_timedelta(delta, add_direction=True, locale=self.locale, threshold=1.0)

    def iso(self, value: datetime) -> str:
        """For a ``<time datetime>`` attribute: what machines (and tests) read."""
        return self._aware(value).isoformat()

    @staticmethod
    def _aware(value: datetime) -> datetime:
        # SQLite hands back the naive UTC times PostgreSQL hands back aware.
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def formats(app: Application, locale: Locale, visitor: Visitor | None) -> Formats:
    """How ``visitor``'s pages format values: UTC for a market no pack serves."""
    zone = _market(app, visitor.market, "timezone") if visitor else None
    return Formats(locale, zone or "UTC")


@dataclass(frozen=True)
class Reader:
    """Who a page is rendered for: the signed-in user (``None`` on the sign-in page), in
    what language, and the CSRF token their forms carry."""

    visitor: Visitor | None
    locale: Locale
    formats: Formats
    csrf_token: str = ""

    @property
    def lang(self) -> str:
        """The page's ``<html lang>``: a BCP 47 tag (``zh-Hant``, ``ja``)."""
        return str(self.locale).replace("_", "-")

    def navigation(self) -> tuple[str, ...]:
        return NAVIGATION[self.visitor.caller.role] if self.visitor else ()


def reader_of(request: Request, visitor: Visitor | None, csrf_token: str = "") -> Reader:
    app = services(request)
    locale = page_locale(app, request, visitor)
    return Reader(visitor, locale, formats(app, locale, visitor), csrf_token)


def render(
    reader: Reader,
    request: Request,
    template: str,
    *,
    status_code: int = status.HTTP_200_OK,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` for ``reader``, in their language; a template whose name starts
    with ``_`` is a fragment htmx swaps into a page."""
    folders = services(request).hooks.catalog_folders().values()
    with i18n.use_locale(reader.locale, folders):
        body = TEMPLATES.get_template(template).render(
            reader=reader,
            fmt=reader.formats,
            request=request,
            path=request.url.path,
            languages=LANGUAGES,
            **context,
        )
    return HTMLResponse(body, status_code, headers={**PAGE_HEADERS, **(headers or {})})


def not_found(reader: Reader, request: Request) -> AnswerInstead:
    """The console's 404 page, to raise: what the API answers 404 is not found here either,
    whether it does not exist or is out of the reader's scope."""
    return AnswerInstead(
        render(reader, request, "not_found.html", status_code=status.HTTP_404_NOT_FOUND)
    )


def _language_names(locales: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Each catalog's locale with its name in its own language, for the language menu."""
    return tuple((code, Locale.parse(code).get_display_name(code) or code) for code in locales)


LANGUAGES = _language_names(i18n.CATALOG_LOCALES)
