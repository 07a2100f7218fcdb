"""Country packs: how a market differs from the regional template, as validated data.

A pack module declares a :class:`PackSpec` through the ``register_packs`` hook. A spec sets
only what differs from the pack it ``extends``; :func:`resolve_packs` walks the chain and
gives every pack as a complete, immutable :class:`Pack`. Markets are the exception: a market
belongs to exactly one pack, so ``markets`` is never inherited.
"""

from __future__ import annotations

import enum
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from typing import Any, Literal

import pycountry
from babel import Locale, UnknownLocaleError
from babel.numbers import is_currency
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import LeadStatus, LicenceTier, Priority
from regiocrm.platform.i18n import _

PACK_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
ZONE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class PackError(Exception):
    """A pack that cannot be loaded, or a pack or market that does not exist."""


class NameOrder(enum.StrEnum):
    FAMILY_FIRST = "family_first"
    GIVEN_FIRST = "given_first"


class PhoneticRule(enum.StrEnum):
    """Whether a reading of the name is kept and shown: furigana in Japan, pinyin in China."""

    NONE = "none"
    FURIGANA = "furigana"
    PINYIN = "pinyin"


ExportRequirement = Literal["consent", "assessment"]


def _country(value: str) -> str:
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def _locale(value: str) -> str:
    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"{value!r} is not a locale Babel knows") from None
    return value


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone") from None
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(_Spec):
    """When dealers and offices work: these weekdays (Monday is 0), from ``opens`` to ``closes``."""

    days: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), min_length=1)
    opens: time = time(9)
    closes: time = time(18)

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day not in range(7) for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(value)))

    @field_validator("closes")
    @classmethod
    def _closes_after_opening(cls, value: time, info: Any) -> time:
        if "opens" in info.data and value <= info.data["opens"]:
            raise ValueError("business hours must close after they open")
        return value


class ResidencyRule(_Spec):
    """Where one class of a market's data may live, first zone preferred, and what taking
    it across the border needs."""

    zones: tuple[str, ...] = Field(min_length=1)
    export_requires: tuple[ExportRequirement, ...] = ()

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            if not ZONE_NAME.match(zone):
                raise ValueError(f"{zone!r} is not a zone name")
        return value


class CaseTarget(_Spec):
    """How soon a case of one priority gets its first answer and its resolution, in business
    hours of the market's calendar (around the clock for a 24×7 call centre)."""

    response_hours: float = Field(gt=0)
    resolution_hours: float = Field(gt=0)

    @field_validator("resolution_hours")
    @classmethod
    def _resolution_after_response(cls, value: float, info: Any) -> float:
        if "response_hours" in info.data and value < info.data["response_hours"]:
            raise ValueError("a case cannot be due for resolution before its first answer")
        return value


class MarketProfile(_Spec):
    """One market of a pack; what is left out comes from the pack."""

    locale: str
    currency: str | None = None
    timezone: str | None = None
    holiday_subdivision: str | None = Field(
        default=None, description="a subdivision for the holidays library, e.g. NSW"
    )
    residency: dict[DataClass, ResidencyRule] | None = Field(
        default=None,
        description="this market's own rules for some data classes, over the pack's",
    )

    @field_validator("locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        return _locale(value)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        return None if value is None else _timezone(value)


class PackSpec(_Spec):
    """What a pack declares. ``None`` means "as the pack it extends"."""

    code: str
    extends: str | None = None
    name: str | None = None
    markets: dict[str, MarketProfile] = Field(default_factory=dict)
    locales: tuple[str, ...] | None = None
    currency: str | None = None
    timezones: tuple[str, ...] | None = None
    name_order: NameOrder | None = None
    name_separator: str | None = Field(default=None, max_length=3)
    phonetic_name: PhoneticRule | None = None
    address_format: str | None = Field(
        default=None, description="fields in braces, lines split by \\n, e.g. '{street}\\n{city}'"
    )
    business_hours: BusinessHours | None = None
    call_centre_24x7: bool | None = None
    channels: tuple[str, ...] | None = None
    map_providers: tuple[str, ...] | None = None
    leads_to_selling_dealer: bool | None = Field(
        default=None,
        description="a lead from a customer who owns a vehicle goes to the dealer who sold it",
    )
    residency: dict[DataClass, ResidencyRule] | None = None
    storage_quotas_mib: dict[LicenceTier, int] | None = None
    case_targets: dict[Priority, CaseTarget] | None = Field(
        default=None, description="response and resolution targets by case priority"
    )
    lead_follow_up_hours: dict[LeadStatus, float] | None = Field(
        default=None,
        description="business hours a dealer has for the next step of a lead in each open"
        " status (new, contacted, qualified)",
    )
    telematics_retention_days: int | None = Field(
        default=None,
        gt=0,
        description="days a vehicle's raw events are kept before they are summed by day",
    )
    service_due_leads: bool | None = Field(
        default=None,
        description="a vehicle reporting its service due becomes a lead for its servicing dealer",
    )
    warning_lamp_priorities: dict[str, Priority | None] | None = Field(
        default=None,
        description="the priority of the case a warning lamp opens, by lamp code; '*' for any"
        " other lamp; None for a lamp that opens no case",
    )

    @field_validator("lead_follow_up_hours")
    @classmethod
    def _follow_up_of_open_leads(
        cls, value: dict[LeadStatus, float] | None
    ) -> dict[LeadStatus, float] | None:
        for status, hours in (value or {}).items():
            if status in (LeadStatus.WON, LeadStatus.LOST):
                raise ValueError(f"a {status.value} lead has no next step to follow up")
            if hours <= 0:
                raise ValueError(f"the follow-up of a {status.value} lead needs hours above 0")
        return value

    @field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        if not PACK_CODE.match(value):
            raise ValueError(f"{value!r} is not a pack code: lower-case letters, digits and '_'")
        return value

    @field_validator("markets")
    @classmethod
    def _check_markets(cls, value: dict[str, MarketProfile]) -> dict[str, MarketProfile]:
        for market in value:
            _country(market)
        return value

    @field_validator("locales")
    @classmethod
    def _check_locales(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(_locale(locale) for locale in value)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)

    @field_validator("timezones")
    @classmethod
    def _check_timezones(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(_timezone(zone) for zone in value)

    @field_validator("address_format")
    @classmethod
    def _check_address_format(cls, value: str | None) -> str | None:
        if value is not None:
            unknown = set(re.findall(r"{(\w+)}", value)) - set(ADDRESS_FIELDS)
            if unknown:
                raise ValueError(f"unknown address fields {sorted(unknown)}")
        return value

    @field_validator("storage_quotas_mib")
    @classmethod
    def _check_quotas(cls, value: dict[LicenceTier, int] | None) -> dict[LicenceTier, int] | None:
        if value is not None and any(quota <= 0 for quota in value.values()):
            raise ValueError("storage quotas are positive numbers of MiB")
        return value

    @classmethod
    def declare(cls, **values: Any) -> PackSpec:
        """Validate a pack declaration.

        :raises PackError: naming the pack, the field and the value for each problem.
        """
        try:
            return cls(**values)
        except ValidationError as exc:
            code = values.get("code", "?")
            problems = [
                f"pack {code!r}: {'.'.join(map(str, error['loc']))}:"
                f" {error['msg'].removeprefix('Value error, ')}"
                for error in exc.errors()
            ]
            raise PackError("\n".join(problems)) from None


ADDRESS_FIELDS = (
    "recipient",
    "building",
    "street",
    "district",
    "city",
    "region",
    "postal_code",
    "country",
)


@dataclass(frozen=True)
class Market:
    """A market as a pack serves it, every value resolved.

    :param residency: where each class of its data may live: the pack's rules with the
        market's own over them.
    """

    code: str
    locale: str
    currency: str
    timezone: str
    holiday_subdivision: str | None
    residency: dict[DataClass, ResidencyRule]


@dataclass(frozen=True)
class Pack:
    """A resolved pack: the template's values with every override of the chain applied."""

    code: str
    extends: str | None
    name: str
    chain: tuple[str, ...]
    markets: dict[str, Market]
    locales: tuple[str, ...]
    currency: str | None
    timezones: tuple[str, ...]
    name_order: NameOrder
    name_separator: str
    phonetic_name: PhoneticRule
    address_format: str
    business_hours: BusinessHours
    call_centre_24x7: bool
    channels: tuple[str, ...]
    map_providers: tuple[str, ...]
    leads_to_selling_dealer: bool
    residency: dict[DataClass, ResidencyRule]
    storage_quotas_mib: dict[LicenceTier, int]
    case_targets: dict[Priority, CaseTarget]
    lead_follow_up_hours: dict[LeadStatus, float]
    telematics_retention_days: int
    service_due_leads: bool
    warning_lamp_priorities: dict[str, Priority | None]

    def warning_lamp_priority(self, lamp: str) -> Priority | None:
        """The priority of the case a warning lamp opens; ``None`` for none."""
        if lamp in self.warning_lamp_priorities:
            return self.warning_lamp_priorities[lamp]
        return self.warning_lamp_priorities.get(WARNING_LAMP_OTHERS)

    def market(self, code: str) -> Market:
        try:
            return self.markets[code]
        except KeyError:
            raise PackError(
                _("pack {pack!r} does not serve market {market!r}").format(
                    pack=self.code, market=code
                )
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``markets`` as a list of codes and their details apart."""
        return {
            "code": self.code,
            "extends": self.extends,
            "name": self.name,
            "chain": list(self.chain),
            "markets": list(self.markets),
            "market_profiles": {
                code: {
                    "locale": m.locale,
                    "currency": m.currency,
                    "timezone": m.timezone,
                    "holiday_subdivision": m.holiday_subdivision,
                    "residency": _rules(m.residency),
                }
                for code, m in self.markets.items()
            },
            "locales": list(self.locales),
            "currency": self.currency,
            "timezones": list(self.timezones),
            "name_order": self.name_order.value,
            "name_separator": self.name_separator,
            "phonetic_name": self.phonetic_name.value,
            "address_format": self.address_format,
            "business_hours": {
                "days": list(self.business_hours.days),
                "opens": self.business_hours.opens.isoformat("minutes"),
                "closes": self.business_hours.closes.isoformat("minutes"),
            },
            "call_centre_24x7": self.call_centre_24x7,
            "channels": list(self.channels),
            "map_providers": list(self.map_providers),
            "leads_to_selling_dealer": self.leads_to_selling_dealer,
            "residency": _rules(self.residency),
            "storage_quotas_mib": {
                tier.value: mib for tier, mib in self.storage_quotas_mib.items()
            },
            "case_targets": {
                priority.value: {
                    "response_hours": target.response_hours,
                    "resolution_hours": target.resolution_hours,
                }
                for priority, target in self.case_targets.items()
            },
            "lead_follow_up_hours": {
                status.value: hours for status, hours in self.lead_follow_up_hours.items()
            },
            "telematics_retention_days": self.telematics_retention_days,
            "service_due_leads": self.service_due_leads,
            "warning_lamp_priorities": {
                lamp: None if priority is None else priority.value
                for lamp, priority in self.warning_lamp_priorities.items()
            },
        }


def _rules(rules: Mapping[DataClass, ResidencyRule]) -> dict[str, Any]:
    return {
        data_class.value: {"zones": list(rule.zones), "export_requires": list(rule.export_requires)}
        for data_class, rule in rules.items()
    }


# Fields a spec may leave out (None) to inherit; identity fields are handled apart.
_INHERITED = [f.name for f in fields(Pack) if f.name not in ("code", "extends", "chain", "markets")]
_MERGED_BY_KEY = (
    "residency",
    "storage_quotas_mib",
    "case_targets",
    "lead_follow_up_hours",
    "warning_lamp_priorities",
)
# The key of ``warning_lamp_priorities`` for every lamp not named.
WARNING_LAMP_OTHERS = "*"
# What a root pack that predates the connected car gets: raw events kept a quarter, service
# due a lead, and no case for any lamp until a pack names the lamps that need one.
DEFAULT_TELEMATICS_RETENTION_DAYS = 90


def resolve_packs(specs: Iterable[PackSpec]) -> dict[str, Pack]:
    """Every pack resolved against the chain of packs it extends.

    :raises PackError: for a duplicate code, an unknown parent, a cycle, a root pack that
        leaves something undefined, or a market claimed by two packs.
    """
    by_code: dict[str, PackSpec] = {}
    for spec in specs:
        if spec.code in by_code:
            raise PackError(f"pack {spec.code!r} is registered twice")
        by_code[spec.code] = spec

    resolved: dict[str, Pack] = {}

    def resolve(code: str, seen: tuple[str, ...]) -> Pack:
        if code in resolved:
            return resolved[code]
        spec = by_code[code]
        if code in seen:
            cycle = " -> ".join((*seen[seen.index(code) :], code))
            raise PackError(f"pack {code!r} extends itself: {cycle}")
        values: dict[str, Any] = {}
        chain: tuple[str, ...] = (code,)
        if spec.extends is not None:
            if spec.extends not in by_code:
                known = ", ".join(sorted(by_code))
                raise PackError(
                    f"pack {code!r} extends unknown pack {spec.extends!r} (known: {known})"
                )
            parent = resolve(spec.extends, (*seen, code))
            values = {name: getattr(parent, name) for name in _INHERITED}
            chain = (code, *parent.chain)
        for name in _INHERITED:
            own = getattr(spec, name)
            if own is None:
                continue
            values[name] = {**values.get(name, {}), **own} if name in _MERGED_BY_KEY else own
        values.setdefault("currency", None)
        # A policy added after packs were first written: a root that says nothing routes
        # every lead to the nearest dealer, as before.
        values.setdefault("leads_to_selling_dealer", False)
        # Likewise case targets: a root that sets none gives its markets' cases no due time
        # until a pack sets one.
        values.setdefault("case_targets", {})
        values.setdefault("lead_follow_up_hours", {})
        values.setdefault("telematics_retention_days", DEFAULT_TELEMATICS_RETENTION_DAYS)
        values.setdefault("service_due_leads", True)
        values.setdefault("warning_lamp_priorities", {})
        missing = [name for name in _INHERITED if values.get(name) is None and name != "currency"]
        if missing:
            raise PackError(f"pack {code!r} extends nothing and leaves {', '.join(missing)} unset")
        markets = {
            market: _market(code, market, profile, values)
            for market, profile in spec.markets.items()
        }
        pack = Pack(code=code, extends=spec.extends, chain=chain, markets=markets, **values)
        resolved[code] = pack
        return pack

    for code in by_code:
        resolve(code, ())
    return _hand_over_markets(resolved)


def _market(pack: str, code: str, profile: MarketProfile, values: Mapping[str, Any]) -> Market:
    currency = profile.currency or values.get("currency")
    timezone = profile.timezone or (values["timezones"][0] if values.get("timezones") else None)
    if currency is None or timezone is None:
        raise PackError(f"pack {pack!r}: market {code} needs a currency and a time zone")
    residency = {**values["residency"], **(profile.residency or {})}
    return Market(code, profile.locale, currency, timezone, profile.holiday_subdivision, residency)


def _hand_over_markets(packs: dict[str, Pack]) -> dict[str, Pack]:
    """Give each market to the one pack that serves it. A pack extending another may take
    over one of its markets (Hong Kong rolled out on its own from the Greater China
    template): the most derived claimant keeps it and the packs it extends let it go.

    :raises PackError: for a market claimed by two packs neither of which extends the other.
    """
    claims: dict[str, list[Pack]] = {}
    for pack in packs.values():
        for market in pack.markets:
            claims.setdefault(market, []).append(pack)
    released: dict[str, set[str]] = {}
    for market, claimants in claims.items():
        owner = max(claimants, key=lambda pack: len(pack.chain))
        for other in claimants:
            if other is owner:
                continue
            if other.code not in owner.chain:
                first, second = sorted((other.code, owner.code))
                raise PackError(f"market {market} is claimed by packs {first!r} and {second!r}")
            released.setdefault(other.code, set()).add(market)
    return {
        code: replace(
            pack,
            markets={m: v for m, v in pack.markets.items() if m not in released[code]},
        )
        if code in released
        else pack
        for code, pack in packs.items()
    }


@dataclass(frozen=True)
class FieldChange:
    field: str
    this: Any
    other: Any


def diff(pack: Pack, other: Pack) -> list[FieldChange]:
    """What ``pack`` changes against ``other``, as JSON-ready values.

    Tables are compared key by key (``residency.financial.zones``), so a change to one
    data class's rule is not reported as a change to every rule.
    """
    mine, theirs = _flatten(pack.as_dict()), _flatten(other.as_dict())
    skip = ("code", "extends", "name", "chain")
    return [
        FieldChange(name, mine.get(name), theirs.get(name))
        for name in dict.fromkeys([*mine, *theirs])
        if name.split(".")[0] not in skip and mine.get(name) != theirs.get(name)
    ]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class PackRegistry:
    """The resolved packs of a deployment, by code and by market."""

    def __init__(self, packs: Mapping[str, Pack]) -> None:
        self.packs = dict(packs)
        self._by_market = {market: pack for pack in packs.values() for market in pack.markets}

    def __iter__(self) -> Any:
        return iter(self.packs.values())

    def get(self, code: str) -> Pack:
        try:
            return self.packs[code]
        except KeyError:
            known = ", ".join(sorted(self.packs)) or _("none")
            raise PackError(
                _("unknown pack {code!r} (known packs: {known})").format(code=code, known=known)
            ) from None

    def for_market(self, market: str) -> Pack:
        try:
            return self._by_market[market]
        except KeyError:
            known = ", ".join(sorted(self._by_market)) or _("none")
            raise PackError(
                _("no pack serves market {market!r} (served: {known})").format(
                    market=market, known=known
                )
            ) from None

    def market(self, market: str) -> Market:
        return self.for_market(market).market(market)
