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
import shutil
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pycountry
from babel import Locale
from babel.core import get_global
from babel.languages import get_official_languages
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import get_territory_currencies, is_currency

from regiocrm.hooks import Hooks
from regiocrm.i18n import DOMAIN, SOURCE_LOCALE, _, core_catalogs, parse_locale, translations
from regiocrm.migrate import core_head
from regiocrm.packs import PACK_CODE, PackError
from regiocrm.settings import ZONE_NAME

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
    code = country_code.strip().upper()
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        raise ScaffoldError([_not_a_country(country_code)])
    locales = [f"{language}_{code}" for language in get_official_languages(code, de_facto=True)]
    locales = [locale for locale in locales if _is_locale(locale)][:2] or [SOURCE_LOCALE]
    currencies = get_territory_currencies(code)
    packs = hooks.packs()
    try:
        parent = packs.for_market(code)
    except PackError:
        parent = packs.get(REGIONAL_TEMPLATE)
    installed = hooks.channels()
    return {
        "country_code": code,
        "country_name": getattr(country, "common_name", None) or country.name,
        "locales": ",".join(locales),
        "default_locale": locales[0],
        "currency": currencies[0] if currencies else "",
        "timezone": main_timezone(code),
        "extends": parent.code,
        "channels": ",".join(c for c in parent.channels if c in installed),
        "map_providers": ",".join(parent.map_providers),
        "zone": code.lower(),
    }


def _is_locale(value: str) -> bool:
    try:
        parse_locale(value)
    except ValueError:
        return False
    return True


def main_timezone(country_code: str) -> str:
    """The country's main time zone: the first the IANA database lists for it (Jakarta for
    Indonesia), or else the first CLDR knows."""
    for folder in zoneinfo.TZPATH:
        table = Path(folder) / ZONE_TAB
        if table.is_file():
            for line in table.read_text().splitlines():
                fields = line.split("\t")
                if len(fields) >= 3 and fields[0] == country_code:
                    return fields[2]
    zones = get_global("territory_zones").get(country_code, [])
    return str(zones[0]) if zones else ""


def problems(values: Mapping[str, str], hooks: Hooks) -> list[str]:
    """Why the values cannot make a market, one reason per key; empty when they can."""
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
    if pack_code in packs.packs or not PACK_CODE.match(pack_code):
        found.append(_("country_code: a pack {code!r} is installed already").format(code=pack_code))
    parent = packs.packs.get(values["extends"])
    if parent is None:
        found.append(
            _("extends: {value!r} is not an installed pack ({known})").format(
                value=values["extends"], known=known
            )
        )
    else:
        found += _market_taken(code, parent.chain, hooks)
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
    what is installed (the parent's values, the core's migration head, a new revision id)."""
    parent = hooks.packs().get(values["extends"])
    drivers = conformance_drivers(_split(values["channels"]), hooks)
    return {
        **values,
        "__parent_locales": ",".join(parent.locales),
        "__parent_channels": ",".join(parent.channels),
        "__parent_map_providers": ",".join(parent.map_providers),
        "__conformance": ",".join(f"{d.channel}={d.module}:{d.driver}" for d in drivers),
        "__core_revision": core_head(hooks),
        "__revision": secrets.token_hex(6),
        "__created": datetime.now(UTC).strftime("%Y_%m_%d_%H%M"),
    }


def write_catalogs(package: Path, locales: list[str]) -> list[Path]:
    """The market's message catalogs, one per language but the source one, started from the
    core's: what the core has translated for that language is filled in, the rest is left
    for the rollout team. The core's template goes beside them, so ``regiocrm translations
    check`` measures them."""
    folder = package / "locale"
    folder.mkdir(exist_ok=True)
    core = core_catalogs()
    template_text = (core / f"{DOMAIN}.pot").read_bytes()
    (folder / f"{DOMAIN}.pot").write_bytes(template_text)
    with (core / f"{DOMAIN}.pot").open("rb") as handle:
        messages = [(m.id, m.flags) for m in read_po(handle) if isinstance(m.id, str) and m.id]
    written = []
    for locale in locales:
        parsed = Locale.parse(locale)
        if parsed.language == SOURCE_LOCALE:
            continue
        known = translations(str(parsed))
        catalog = Catalog(locale=parsed, domain=DOMAIN, project=package.name)
        for message_id, flags in messages:
            translated = known.gettext(message_id)
            catalog.add(
                message_id, translated if translated != message_id else "", flags=flags - {"fuzzy"}
            )
        target = folder / str(parsed) / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / f"{DOMAIN}.po").open("wb") as handle:
            write_po(handle, catalog, width=100)
        with (target / f"{DOMAIN}.mo").open("wb") as handle:
            write_mo(handle, catalog)
        written.append(target / f"{DOMAIN}.po")
    return written


def finish(project: Path, values: Mapping[str, str]) -> None:
    """What the post-generation hook does: the catalogs for the market's languages, no
    conformance tests when none of its channels ships a driver, and no bytecode an
    installer compiled from the template's own files (pip compiles package data too)."""
    for cache in list(project.rglob("__pycache__")):
        shutil.rmtree(cache)
    write_catalogs(project / values["__package_name"], _split(values["locales"]))
    if not values.get("__conformance"):
        (project / "tests" / "test_channels.py").unlink()
