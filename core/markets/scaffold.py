"""Scaffolding a new market from the regional template, with cookiecutter.

``regiocrm new-market`` is thin over cookiecutter's own API. What it adds: the defaults of a
country from what CLDR (Babel) and ISO 3166 (pycountry) say of it, so that a country code
alone makes a working market; a check of every value against what is installed (the same
check the template's pre-generation hook runs, so the template may be used with cookiecutter
directly); and, after generation, message catalogs for the market's languages, started from
the core's.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import secrets
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pycountry
from babel.core import get_global
from babel.languages import get_official_languages
from babel.numbers import get_territory_currencies, is_currency
from jinja2 import Environment
from jinja2.ext import Extension

from regiocrm.interfaces.packs import PACK_CODE, Pack, PackError

# Re-exported: the post-generation hook of a template forked before finish() moved to
# regiocrm.markets.catalogs imports it from here.
from regiocrm.markets.catalogs import finish as finish
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import (
    SOURCE_LOCALE,
    _,
    parse_locale,
)
from regiocrm.platform.migrations import core_head
from regiocrm.platform.settings import ZONE_NAME

TEMPLATE = "market"
# The pack a market extends when no installed pack serves it yet.
REGIONAL_TEMPLATE = "asia"
KEYS = (
    "country_code",
    "country_name",
    "locales",
    "default_locale",
    "currency",
    "timezone",
    "extends",
    "channels",
    "map_providers",
    "zone",
)
# Where the IANA database lists each country's zones, most populous region first.
ZONE_TAB = "zone.tab"


class ScaffoldError(Exception):
    """Values that cannot make a market, one reason per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def template() -> Any:
    """The market template's folder, as shipped in the wheel (a context manager giving a
    filesystem path)."""
    return as_file(files("regiocrm.templates") / TEMPLATE)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def country_defaults(country_code: str, hooks: Hooks) -> dict[str, str]:
    """What CLDR and ISO 3166 say of a country: its name, official-language locales,
    currency and main time zone; the pack serving it already (or the regional template) to
    extend, with that pack's channels and map providers; a zone of its own.

    :raises ScaffoldError: for a code that is not an ISO 3166-1 alpha-2 country.
    """
    return market_values({"country_code": country_code}, hooks)


def market_values(given: Mapping[str, str], hooks: Hooks) -> dict[str, str]:
    """Every value of the template: those given, and each other one derived, in the order
    of :data:`KEYS`, from the values before it (channels follow the pack extended, whether
    given or derived), as the template derives them when used with cookiecutter directly.

    :raises ScaffoldError: for a country code that is not an ISO 3166-1 alpha-2 country.
    """
    code = given["country_code"].strip().upper()
    if _country(code) is None:
        raise ScaffoldError([_not_a_country(given["country_code"])])
    values = {**given, "country_code": code}
    for key in KEYS:
        if key not in values:
            values[key] = derive(key, values, hooks)
    return {key: values[key] for key in KEYS}


def derive(key: str, values: Mapping[str, Any], hooks: Hooks) -> str:
    """The default of one template value from the values before it: what both
    ``regiocrm new-market`` and the template's own defaults (through
    :class:`MarketDefaults`) use. A value that cannot be derived (the country code is not
    one) is empty, for the pre-generation check to name.

    :param key: a key of :data:`KEYS`, or one the template derives (``__revision``…).
    """
    return _DERIVED[key](values, hooks)


def _country(code: str) -> Any:
    return pycountry.countries.get(alpha_2=code) if re.fullmatch(r"[A-Z]{2}", code) else None


def _code(values: Mapping[str, Any]) -> str:
    return str(values["country_code"]).strip().upper()


def country_name(code: str) -> str:
    """ISO 3166's common name of the country (Taiwan, not "Taiwan, Province of China")."""
    country = _country(code)
    if country is None:
        return ""
    return str(getattr(country, "common_name", None) or country.name)


def official_locales(code: str) -> list[str]:
    """Locales of the country's official languages Babel knows (two at most), or else the
    source language."""
    locales = [f"{language}_{code}" for language in get_official_languages(code, de_facto=True)]
    return [locale for locale in locales if _is_locale(locale)][:2] or [SOURCE_LOCALE]


def country_currency(code: str) -> str:
    """The currency CLDR says the country uses today."""
    currencies = get_territory_currencies(code) if _country(code) is not None else []
    return currencies[0] if currencies else ""


def parent_pack(code: str, hooks: Hooks) -> str:
    """The pack a new market extends: the one serving it already, or the regional template."""
    packs = hooks.packs()
    try:
        return packs.for_market(code).code
    except PackError:
        return packs.get(REGIONAL_TEMPLATE).code


def _parent(values: Mapping[str, Any], hooks: Hooks) -> Pack | None:
    return hooks.packs().packs.get(str(values["extends"]))


def parent_channels(values: Mapping[str, Any], hooks: Hooks) -> str:
    """The channels of the pack extended that are installed here."""
    parent = _parent(values, hooks)
    installed = hooks.channels()
    return ",".join(c for c in parent.channels if c in installed) if parent else ""


def _parent_list(name: str) -> Callable[[Mapping[str, Any], Hooks], str]:
    def values_of_parent(values: Mapping[str, Any], hooks: Hooks) -> str:
        parent = _parent(values, hooks)
        return ",".join(getattr(parent, name)) if parent else ""

    return values_of_parent


def market_timezones(values: Mapping[str, Any]) -> str:
    """The pack's time zones: the market's own first, then the country's others."""
    first = str(values["timezone"])
    zones = [first, *(zone for zone in country_timezones(_code(values)) if zone != first)]
    return ",".join(zone for zone in zones if zone)


def _conformance(values: Mapping[str, Any], hooks: Hooks) -> str:
    drivers = conformance_drivers(_split(str(values["channels"])), hooks)
    return ",".join(f"{d.channel}={d.module}:{d.driver}" for d in drivers)


def new_revision() -> str:
    """An alembic revision id of the branch's base, new for every market made: two markets
    installed side by side must not share one."""
    return secrets.token_hex(6)


_DERIVED: dict[str, Callable[[Mapping[str, Any], Hooks], str]] = {
    "country_name": lambda values, hooks: country_name(_code(values)),
    "locales": lambda values, hooks: ",".join(official_locales(_code(values))),
    "default_locale": lambda values, hooks: next(iter(_split(str(values["locales"]))), ""),
    "currency": lambda values, hooks: country_currency(_code(values)),
    "timezone": lambda values, hooks: main_timezone(_code(values)),
    "extends": lambda values, hooks: parent_pack(_code(values), hooks),
    "channels": parent_channels,
    "map_providers": _parent_list("map_providers"),
    "zone": lambda values, hooks: _code(values).lower(),
    "__parent_locales": _parent_list("locales"),
    "__parent_channels": _parent_list("channels"),
    "__parent_map_providers": _parent_list("map_providers"),
    "__timezones": lambda values, hooks: market_timezones(values),
    "__conformance": _conformance,
    "__core_revision": lambda values, hooks: core_head(hooks),
    "__revision": lambda values, hooks: new_revision(),
    "__created": lambda values, hooks: datetime.now(UTC).strftime("%Y_%m_%d_%H%M"),
}
# What the template derives beyond the values a person chooses.
DERIVED_ONLY = tuple(key for key in _DERIVED if key.startswith("__"))


class MarketDefaults(Extension):
    """The market template's Jinja extension (its ``_extensions``): the filter
    ``market_default`` gives each default through :func:`derive`, so ``cookiecutter``
    used directly on the template makes the market ``regiocrm new-market`` would, with the
    plugins installed here.

    In ``cookiecutter.json``: ``"currency": "{{ cookiecutter | market_default('currency') }}"``.
    """

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._hooks: Hooks | None = None
        environment.filters["market_default"] = self.market_default

    def market_default(self, values: Mapping[str, Any], key: str) -> str:
        if self._hooks is None:
            # Imported here: the plugin manager imports the built-in commands, this module's
            # caller among them.
            from regiocrm.platform.plugins import get_plugin_manager

            self._hooks = Hooks(get_plugin_manager())
        return derive(key, values, self._hooks)


def _is_locale(value: str) -> bool:
    try:
        parse_locale(value)
    except ValueError:
        return False
    return True


def country_timezones(country_code: str) -> list[str]:
    """The country's time zones, its main one first: as the IANA database lists them (most
    populous region first; Jakarta for Indonesia), or else as CLDR knows them."""
    tables = (Path(folder) / ZONE_TAB for folder in zoneinfo.TZPATH)
    table = next((table for table in tables if table.is_file()), None)
    rows = (line.split("\t") for line in table.read_text().splitlines()) if table else ()
    listed = [fields[2] for fields in rows if len(fields) >= 3 and fields[0] == country_code]
    return listed or [str(zone) for zone in get_global("territory_zones").get(country_code, [])]


def main_timezone(country_code: str) -> str:
    """The country's main time zone: the first of :func:`country_timezones`."""
    return next(iter(country_timezones(country_code)), "")


def problems(values: Mapping[str, str], hooks: Hooks, updating: str | None = None) -> list[str]:
    """Why the values cannot make a market, one reason per key; empty when they can.

    :param updating: the pack code of a market being rendered again to follow its template:
        its own pack, installed, neither takes the code nor serves the market already.
    """
    found = []
    missing = [key for key in KEYS if key not in values]
    if missing:
        return [_("{key}: missing").format(key=key) for key in missing]
    code = values["country_code"]
    if pycountry.countries.get(alpha_2=code) is None or not re.fullmatch(r"[A-Z]{2}", code):
        found.append(_not_a_country(code))
    if not values["country_name"].strip():
        found.append("country_name: empty")
    locales = _split(values["locales"])
    bad = [locale for locale in locales if not _is_locale(locale)]
    if bad or not locales:
        found.append(
            _("locales: {locales}: not a locale Babel knows").format(
                locales=", ".join(map(repr, bad)) or "none"
            )
        )
    if values["default_locale"] not in locales:
        found.append(
            _("default_locale: {value!r} is not one of the locales").format(
                value=values["default_locale"]
            )
        )
    if not is_currency(values["currency"]):
        found.append(
            _("currency: {value!r} is not an ISO 4217 currency code").format(
                value=values["currency"]
            )
        )
    try:
        zoneinfo.ZoneInfo(values["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        found.append(
            _("timezone: {value!r} is not an IANA time zone").format(value=values["timezone"])
        )
    packs = hooks.packs()
    known = ", ".join(sorted(pack.code for pack in packs))
    pack_code = code.lower()
    if (pack_code in packs.packs and pack_code != updating) or not PACK_CODE.match(pack_code):
        found.append(_("country_code: a pack {code!r} is installed already").format(code=pack_code))
    parent = packs.packs.get(values["extends"])
    if parent is None:
        found.append(
            _("extends: {value!r} is not an installed pack ({known})").format(
                value=values["extends"], known=known
            )
        )
    else:
        found += _market_taken(code, (*parent.chain, *filter(None, [updating])), hooks)
    channels = hooks.channels()
    for channel in _split(values["channels"]):
        if channel not in channels:
            found.append(
                _("channels: {value!r} is not an installed channel ({known})").format(
                    value=channel, known=", ".join(sorted(channels))
                )
            )
    providers = hooks.map_providers()
    for provider in _split(values["map_providers"]):
        if provider not in providers:
            found.append(
                _("map_providers: {value!r} is not an installed map provider ({known})").format(
                    value=provider, known=", ".join(sorted(providers))
                )
            )
    if not ZONE_NAME.match(values["zone"]):
        found.append(
            _("zone: {value!r} is not a zone name (lower-case letters, digits, _)").format(
                value=values["zone"]
            )
        )
    return found


def _not_a_country(value: str) -> str:
    return _("country_code: {value!r} is not an ISO 3166-1 alpha-2 code (e.g. TH)").format(
        value=value
    )


def _market_taken(market: str, chain: tuple[str, ...], hooks: Hooks) -> list[str]:
    """A market an installed pack serves may only be taken over by a pack extending it."""
    try:
        serving = hooks.packs().for_market(market)
    except PackError:
        return []
    if serving.code in chain:
        return []
    return [
        _(
            "extends: {market} is served by pack {pack!r}; a new {market} pack must extend it"
            " (extends={pack}) to take the market over"
        ).format(market=market, pack=serving.code)
    ]


@dataclass(frozen=True)
class Conformance:
    """A channel of the market whose plugin ships a driver for the conformance kit."""

    channel: str
    module: str
    driver: str


def conformance_drivers(channels: list[str], hooks: Hooks) -> list[Conformance]:
    """The drivers the chosen channels' plugins ship beside them (``<plugin>.testing``), for
    the generated conformance tests. Found by reading the module, not importing it: a driver
    module needs pytest, which a deployment need not have."""
    installed = hooks.channels()
    found = []
    for name in channels:
        if name not in installed:
            continue
        channel_class = type(installed[name])
        module = f"{channel_class.__module__.rpartition('.')[0]}.testing"
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            continue
        driver = _driver_of(Path(spec.origin).read_text(), channel_class.__name__)
        if driver is not None:
            found.append(Conformance(name, module, driver))
    return found


def _driver_of(source: str, channel_class: str) -> str | None:
    """The class in ``source`` that derives from ``ChannelDriver`` and plays ``channel_class``."""
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
        plays = any(
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == channel_class
            for call in ast.walk(node)
        )
        if "ChannelDriver" in bases and plays:
            return node.name
    return None


def context(values: Mapping[str, str], hooks: Hooks) -> dict[str, str]:
    """Everything the template renders: the values, and what is derived from them and from
    what is installed (the parent's values, the pack's time zones, the core's migration
    head, a new revision id), as the template's own defaults derive it."""
    rendered = dict(values)
    for key in DERIVED_ONLY:
        rendered[key] = derive(key, rendered, hooks)
    return rendered
