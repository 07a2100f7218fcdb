"""Languages: message catalogs, locale negotiation, and dates, numbers and money per locale.

User-facing strings are written in English inside ``_()`` and translated through gettext
catalogs (domain ``regiocrm``) kept in ``regiocrm/locale/<catalog>/LC_MESSAGES``. A plugin
or pack that ships a ``locale/`` folder of its own beside its module has its catalogs merged
over the core's, so a market can add or reword strings without touching the core.

Catalogs are named by language and script only (``zh_Hans``, ``zh_Hant``, ``ja``): a
locale such as ``zh_Hant_HK`` uses the most specific catalog that exists.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from io import BytesIO
from typing import Any

from babel import Locale, UnknownLocaleError, dates, numbers
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "regiocrm"
SOURCE_LOCALE = "en"
CATALOG_LOCALES = ("en", "zh_Hans", "zh_Hant", "ja", "ko")
# What gettext reads, in this order, for the language of messages.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def core_catalogs() -> Traversable:
    """The folder holding the core's template (``regiocrm.pot``) and its catalogs."""
    return files("regiocrm") / "locale"


def catalog_names(locale: Locale) -> list[str]:
    """Catalog folder names for a locale, most specific first (``zh_Hant_HK``, ``zh_Hant``,
    ``zh``); gettext's own search knows nothing of scripts."""
    names = []
    if locale.script and locale.territory:
        names.append(f"{locale.language}_{locale.script}_{locale.territory}")
    if locale.script:
        names.append(f"{locale.language}_{locale.script}")
    if locale.territory:
        names.append(f"{locale.language}_{locale.territory}")
    names.append(locale.language)
    return names


def parse_locale(value: str | Locale) -> Locale:
    """A Babel locale from ``ja_JP``, ``ja-JP`` or ``zh_Hant_TW``.

    :raises ValueError: for a value Babel does not know.
    """
    if isinstance(value, Locale):
        return value
    try:
        return Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"{value!r} is not a locale") from None


def _catalog_file(folder: Traversable, locale: Locale, suffix: str) -> Traversable | None:
    for name in catalog_names(locale):
        candidate = folder / name / "LC_MESSAGES" / f"{DOMAIN}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def has_catalog(locale: Locale, folders: Iterable[Traversable] = ()) -> bool:
    """Whether a catalog exists for the locale in the core or one of ``folders``."""
    return _has_catalog(str(locale), tuple(folders))


@cache
def _has_catalog(locale: str, folders: tuple[Traversable, ...]) -> bool:
    # Catalogs are package data, as for :func:`translations`: looked for once per process,
    # not on every inbound message whose reply is negotiated.
    parsed = parse_locale(locale)
    return any(_catalog_file(folder, parsed, ".mo") for folder in (core_catalogs(), *folders))


@cache
def translations(locale: str, folders: tuple[Traversable, ...] = ()) -> gettext.NullTranslations:
    """The core's catalog for a locale with each plugin folder's catalog merged over it.

    A locale with no catalog gets the English source strings unchanged.
    """
    parsed = parse_locale(locale)
    merged: gettext.NullTranslations = gettext.NullTranslations()
    for folder in (core_catalogs(), *folders):
        compiled = _catalog_file(folder, parsed, ".mo")
        if compiled is None:
            continue
        catalog = Translations(BytesIO(compiled.read_bytes()), domain=DOMAIN)
        if isinstance(merged, Translations):
            merged.merge(catalog)
        else:
            merged = catalog
    return merged


# Unset means the English source strings.
_active: ContextVar[gettext.NullTranslations | None] = ContextVar(
    "regiocrm_translations", default=None
)
_SOURCE = gettext.NullTranslations()


def _(message: str) -> str:
    """Translate ``message`` into the active locale; also the marker ``pybabel extract``
    looks for, so write the English text inline: ``_("unknown pack {code!r}")``."""
    return (_active.get() or _SOURCE).gettext(message)


def activate(locale: str | Locale, folders: Iterable[Traversable] = ()) -> None:
    """Make ``locale`` the language of every ``_()`` call in this context from now on."""
    _active.set(translations(str(parse_locale(locale)), tuple(folders)))


@contextmanager
def use_locale(locale: str | Locale, folders: Iterable[Traversable] = ()) -> Iterator[None]:
    """Translate into ``locale`` inside the block only (a request, a reply to one customer)."""
    token = _active.set(translations(str(parse_locale(locale)), tuple(folders)))
    try:
        yield
    finally:
        _active.reset(token)


def negotiate(*preferences: str | Locale | None, folders: Iterable[Traversable] = ()) -> Locale:
    """The first preference that has a catalog, else English.

    Call it with the customer's preferred locale, then the market's default, so that a
    customer is answered in their language where it is translated and the market's
    language otherwise. Values that are empty or not locales at all are passed over.
    """
    folders = tuple(folders)
    for preference in preferences:
        if not preference:
            continue
        try:
            locale = parse_locale(preference)
        except ValueError:
            continue
        if has_catalog(locale, folders):
            return locale
    return Locale.parse(SOURCE_LOCALE)


def process_locale(folders: Iterable[Traversable] = ()) -> Locale:
    """The locale of the person at the terminal, read as gettext reads it: the first of
    :data:`LOCALE_VARIABLES` that is set, ``LANGUAGE`` being a ``:``-separated list of
    preferences; English when none has a catalog.

    ``LC_CTYPE`` is not consulted: Python itself sets it to ``C.UTF-8`` when the system lacks
    the requested locale, which would hide the language the person asked for.
    """
    for name in LOCALE_VARIABLES:
        if value := os.environ.get(name):
            wanted = [part.split(".")[0].split("@")[0] for part in value.split(":")]
            return negotiate(*(w for w in wanted if w not in ("C", "POSIX")), folders=folders)
    return Locale.parse(SOURCE_LOCALE)


# ---------------------------------------------------------------------------
# Dates, numbers and money
# ---------------------------------------------------------------------------


def format_money(amount: Decimal | float | int, currency: str, locale: str | Locale) -> str:
    """An amount in the currency's usual digits for the locale (``￥1,235`` for JPY)."""
    return numbers.format_currency(amount, currency, locale=parse_locale(locale))


def to_minor_units(amount: Decimal | str | int, currency: str) -> int:
    """An amount as whole minor units (cents, fen), the form money is stored in.

    JPY and KRW have no minor unit, so ``to_minor_units(1234, "JPY") == 1234``.

    :raises ValueError: for an amount finer than the currency's minor unit.
    """
    scaled = Decimal(amount).scaleb(numbers.get_currency_precision(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} is finer than the currency's smallest unit")
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    """Stored minor units back as an amount: ``from_minor_units(123450, "CNY") == 1234.50``."""
    return Decimal(units).scaleb(-numbers.get_currency_precision(currency))


def format_number(value: Decimal | float | int, locale: str | Locale) -> str:
    return numbers.format_decimal(value, locale=parse_locale(locale))


def format_date(value: date, locale: str | Locale, width: str = "medium") -> str:
    """A date as the locale writes it (``2025年3月9日`` in zh_Hans_CN, ``9 Mar 2025`` in en_AU)."""
    return dates.format_date(value, format=width, locale=parse_locale(locale))


def format_datetime(
    value: datetime, locale: str | Locale, timezone: str, width: str = "medium"
) -> str:
    """An aware datetime shown in ``timezone`` as the locale writes it.

    :raises ValueError: for a naive datetime, whose moment in time is unknown.
    """
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return dates.format_datetime(
        value, format=width, tzinfo=dates.get_timezone(timezone), locale=parse_locale(locale)
    )


# ---------------------------------------------------------------------------
# Completeness
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogStatus:
    """How much of a catalog is translated against the template it was made from."""

    folder: str
    catalog: str
    total: int
    translated: int
    fuzzy: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.fuzzy

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100 * self.translated / self.total, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "catalog": self.catalog,
            "total": self.total,
            "translated": self.translated,
            "percent": self.percent,
            "complete": self.complete,
            "fuzzy": list(self.fuzzy),
            "missing": list(self.missing),
        }


def catalog_status(folder: Traversable, label: str = "regiocrm") -> list[CatalogStatus]:
    """Each catalog in ``folder`` against the folder's ``regiocrm.pot``.

    A message is translated when its catalog entry is neither empty nor fuzzy; a message of
    the template that the catalog lacks altogether counts as missing.
    """
    template = folder / f"{DOMAIN}.pot"
    if not template.is_file():
        return []
    wanted = [message.id for message in _read_catalog(template) if message.id]
    statuses = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        po = entry / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po.is_file():
            continue
        catalog = _read_catalog(po)
        fuzzy, missing = [], []
        for message_id in wanted:
            message = catalog.get(message_id)
            if message is None or not _is_translated(message.string):
                missing.append(_message_key(message_id))
            elif message.fuzzy:
                fuzzy.append(_message_key(message_id))
        statuses.append(
            CatalogStatus(
                folder=label,
                catalog=entry.name,
                total=len(wanted),
                translated=len(wanted) - len(missing) - len(fuzzy),
                fuzzy=tuple(fuzzy),
                missing=tuple(missing),
            )
        )
    return statuses


def untranslated(locale: str, folders: Iterable[Traversable]) -> tuple[list[str], int]:
    """The messages a locale has no translation for, from the catalogs of ``folders`` merged
    (the core's first, plugins' over it), against every folder's template; and how many
    messages there are in all. The source language needs none."""
    wanted: dict[str, None] = {}
    searched = tuple(folders)
    for folder in searched:
        template = folder / f"{DOMAIN}.pot"
        if template.is_file():
            wanted.update(
                dict.fromkeys(_message_key(m.id) for m in _read_catalog(template) if m.id)
            )
    if parse_locale(locale).language == SOURCE_LOCALE:
        return [], len(wanted)
    others = tuple(folder for folder in searched if folder != core_catalogs())
    catalog = translations(str(parse_locale(locale)), others)
    return [message for message in wanted if catalog.gettext(message) == message], len(wanted)


def _read_catalog(path: Traversable) -> Any:
    with path.open("rb") as handle:
        return read_po(handle)


def _is_translated(string: str | tuple[str, ...] | list[str]) -> bool:
    if isinstance(string, str):
        return bool(string)
    return all(string)


def _message_key(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]
