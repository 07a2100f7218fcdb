"""Data residency: which zones each market's classes of data may live in, and where this
deployment keeps them.

Packs declare the rules: per data class (and, where a market differs, per market), the
zones allowed (first preferred) and what taking the data elsewhere needs. The deployment
chooses among the allowed zones with ``[residency.placement.<MARKET>]`` and may narrow a
rule further with ``[residency.restrict.<MARKET>]`` (when a law changes before its pack
does); it can never widen one. A placement the rules forbid, or one naming a zone the
deployment does not have, is refused at start-up.

:class:`Residency` is the result: the one answer to "where does this row go, and may it be
here?" that the stores' routing and write guard ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from regiocrm.interfaces.packs import ExportRequirement, PackError, PackRegistry
from regiocrm.models import DataClass, Model, PlacedBy
from regiocrm.platform.i18n import _
from regiocrm.platform.settings import RegiocrmSettings


class ResidencyError(Exception):
    """A row that cannot be placed, or may not be written where it was sent."""


@dataclass(frozen=True)
class Rule:
    """Where one class of a market's data may live, after the deployment's restriction.

    :param zones: the zones allowed, the pack's preferred first.
    :param export_requires: what taking the data anywhere else needs.
    :param pack: the pack the rule comes from.
    """

    zones: tuple[str, ...]
    export_requires: tuple[ExportRequirement, ...]
    pack: str


class ApartError(ResidencyError):
    """Classes of a market's data a query must read together are kept in different zones."""


@dataclass(frozen=True)
class ResidencyProblem:
    """A residency setting that cannot be used: the settings key and why."""

    key: tuple[str, ...]
    reason: str


class ResidencyConfigError(Exception):
    def __init__(self, problems: Iterable[ResidencyProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"{'.'.join(p.key)}: {p.reason}" for p in self.problems))


class Residency:
    """The deployment's residency: every served market's rules and placement.

    Build it with :meth:`build`, which validates the settings against the packs.
    """

    def __init__(
        self,
        *,
        home: str,
        rules: Mapping[tuple[str, DataClass], Rule],
        placement: Mapping[tuple[str, DataClass], str],
    ) -> None:
        self.home = home
        self.rules = dict(rules)
        self.placement = dict(placement)
        self._allowed_in: dict[tuple[str, DataClass], frozenset[str]] = {}
        for (market, data_class), rule in self.rules.items():
            for zone in rule.zones:
                key = (zone, data_class)
                self._allowed_in[key] = self._allowed_in.get(key, frozenset()) | {market}

    @classmethod
    def build(cls, packs: PackRegistry, settings: RegiocrmSettings) -> Residency:
        """The residency of a deployment, checked.

        :raises ResidencyConfigError: naming each wrong setting: a market no pack serves, a
            class or zone the pack's rule forbids, a restriction that widens a rule, or a
            zone the deployment does not have for a market it serves.
        """
        section = settings.residency
        problems: list[ResidencyProblem] = []
        rules: dict[tuple[str, DataClass], Rule] = {}
        placement: dict[tuple[str, DataClass], str] = {}
        for market in sorted({*section.placement, *section.restrict}):
            try:
                packs.for_market(market)
            except PackError as exc:
                table = "placement" if market in section.placement else "restrict"
                problems.append(ResidencyProblem(("residency", table, market), str(exc)))
        for pack in packs:
            for market, profile in pack.markets.items():
                for data_class, declared in profile.residency.items():
                    key = ("residency", "restrict", market, data_class.value)
                    zones = declared.zones
                    narrowed = section.restrict.get(market, {}).get(data_class)
                    if narrowed is not None:
                        widened = [zone for zone in narrowed if zone not in declared.zones]
                        if widened:
                            problems.append(
                                ResidencyProblem(key, _widening(pack.code, declared.zones, widened))
                            )
                            continue
                        zones = tuple(zone for zone in declared.zones if zone in narrowed)
                    rule = Rule(zones, declared.export_requires, pack.code)
                    rules[market, data_class] = rule
                    chosen = section.placement.get(market, {}).get(data_class)
                    if chosen is not None and chosen not in rule.zones:
                        problems.append(
                            ResidencyProblem(
                                ("residency", "placement", market, data_class.value),
                                _(
                                    "{market} {data_class} data may not be placed in {zone!r}:"
                                    " the rules allow only {allowed} (pack {pack})"
                                ).format(
                                    market=market,
                                    data_class=data_class.value,
                                    zone=chosen,
                                    allowed=", ".join(repr(z) for z in rule.zones),
                                    pack=pack.code,
                                ),
                            )
                        )
                        continue
                    placement[market, data_class] = chosen or rule.zones[0]
        served = {market for pack in packs for market in pack.markets}
        declared = {
            (market, data_class)
            for pack in packs
            for market, profile in pack.markets.items()
            for data_class in profile.residency
        }
        for table, chosen_by_market in (
            ("placement", section.placement),
            ("restrict", section.restrict),
        ):
            for market, classes in chosen_by_market.items():
                problems += [
                    ResidencyProblem(
                        ("residency", table, market, data_class.value),
                        _("no installed pack has a rule for {data_class} data of {market}").format(
                            data_class=data_class.value, market=market
                        ),
                    )
                    for data_class in classes
                    if market in served and (market, data_class) not in declared
                ]
        residency = cls(home=settings.home_zone, rules=rules, placement=placement)
        if settings.zones:
            problems += residency._missing_zones(settings)
        if problems:
            raise ResidencyConfigError(problems)
        return residency

    def _missing_zones(self, settings: RegiocrmSettings) -> list[ResidencyProblem]:
        """Zones a configured deployment lacks: for every explicit placement, and for every
        class of the markets it serves (its own market and its channel accounts')."""
        in_use = {settings.deployment.market} | {
            account.market for account in settings.channel_accounts.values()
        }
        missing: dict[tuple[tuple[str, ...], str, str], list[str]] = {}
        for (market, data_class), zone in sorted(self.placement.items()):
            explicit = data_class in settings.residency.placement.get(market, {})
            if zone in settings.zones or not (explicit or market in in_use):
                continue
            key = ("residency", "placement", market, data_class.value) if explicit else ("zones",)
            missing.setdefault((key, market, zone), []).append(data_class.value)
        return [
            ResidencyProblem(
                key,
                _(
                    "{market} data ({classes}) is placed in zone {zone!r}, which is not"
                    " configured (zones: {known})"
                ).format(
                    market=market,
                    classes=", ".join(classes),
                    zone=zone,
                    known=", ".join(settings.zones),
                ),
            )
            for (key, market, zone), classes in missing.items()
        ]

    # rules

    def rule(self, market: str, data_class: DataClass) -> Rule:
        """The rule for one class of a market's data.

        :raises ResidencyError: for a market no pack serves.
        """
        try:
            return self.rules[market, data_class]
        except KeyError:
            raise ResidencyError(
                _(
                    "no residency rule places {data_class} data of market {market!r}:"
                    " no installed pack serves it"
                ).format(data_class=data_class.value, market=market)
            ) from None

    def zone_for(self, market: str, data_class: DataClass) -> str:
        """The zone this deployment keeps one class of a market's data in."""
        self.rule(market, data_class)
        return self.placement[market, data_class]

    def zone_together(self, market: str, classes: Iterable[DataClass]) -> str:
        """The one zone keeping every class of ``classes`` of the market's data, where a
        query relating them (customers with their ownerships, say) runs as one statement.

        :raises ApartError: naming where each class is, when they are apart.
        """
        zones = {data_class: self.zone_for(market, data_class) for data_class in classes}
        if len(set(zones.values())) != 1:
            where = ", ".join(f"{c.value} in {zone}" for c, zone in sorted(zones.items()))
            raise ApartError(
                f"{market} keeps {where}: a query relating them cannot run in one zone;"
                " place them in one zone ([residency.placement])"
            )
        return next(iter(zones.values()))

    def allows(self, market: str, data_class: DataClass, zone: str) -> bool:
        rule = self.rules.get((market, data_class))
        return rule is not None and zone in rule.zones

    def markets_allowed_in(self, zone: str, data_class: DataClass) -> frozenset[str]:
        """Every market whose rule lets this class of its data live in ``zone``."""
        return self._allowed_in.get((zone, data_class), frozenset())

    @property
    def markets(self) -> frozenset[str]:
        """Every market a rule places data of: the markets the installed packs serve."""
        return frozenset(market for market, _data_class in self.rules)

    def placed_zones(self) -> set[str]:
        """The home zone and every zone a placement names."""
        return {self.home, *self.placement.values()}

    # rows

    def zone_of(self, model: type[Model], row: Mapping[str, Any]) -> str:
        """The zone a row of ``model`` with these values belongs in.

        :raises ResidencyError: for a row without a market, or of a market no pack serves.
        """
        if model.__placed_by__ is PlacedBy.HOME:
            return self.home
        if model.__placed_by__ is PlacedBy.DESTINATION:
            return str(row["destination"])
        market = row.get("market")
        if not market:
            raise ResidencyError(
                _("a {table} row needs its market before it can be placed").format(
                    table=model.__tablename__
                )
            )
        return self.zone_for(str(market), model.__data_class__)

    def allows_row(self, model: type[Model], row: Mapping[str, Any], zone: str) -> bool:
        """Whether a row with these values may live in ``zone``."""
        if model.__placed_by__ is PlacedBy.HOME:
            return zone == self.home
        if model.__placed_by__ is PlacedBy.DESTINATION:
            return row.get("destination") == zone
        return self.allows(str(row.get("market")), model.__data_class__, zone)


def _widening(pack: str, allowed: tuple[str, ...], widened: list[str]) -> str:
    return _(
        "a restriction can only narrow the rule of pack {pack} ({allowed}), not add {zones}"
    ).format(pack=pack, allowed=", ".join(allowed), zones=", ".join(widened))
