"""The deployment as its overseers see it: every market the packs serve with its rollout
readiness, the residency report and the storage forecast, for administrators and the
competence centre only.

The figures are the deployment's operator's (``regiocrm rollout check``, ``residency
report``, ``storage report``); what this adds is who may read them. None of it is personal
data (markets, zones, row counts, organizations' storage), so reading it is not audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from regiocrm.interfaces.packs import Pack
from regiocrm.interfaces.rollout import Finding, Outcome, Target
from regiocrm.interfaces.terms import UserRole
from regiocrm.markets.rollout import run_checks
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.residency import ResidencyReport, ResidencyService
from regiocrm.services.storage import StorageReport, StorageService

OVERSEERS = frozenset({UserRole.ADMIN, UserRole.COMPETENCE_CENTRE})

# Worst first: what blocks a rollout comes before what only needs a look.
_SEVERITY = {Outcome.FAIL: 0, Outcome.WARN: 1, Outcome.PASS: 2}


def _worst_first(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda finding: _SEVERITY[finding.outcome]))


@dataclass(frozen=True)
class MarketView:
    """One served market: its pack, languages, channels and map chain, and what its
    rollout check found, failures first.

    :param languages: the market's own locale first, then the rest of its pack's.
    :param chain: the packs its pack's values come through, itself first.
    """

    code: str
    pack: str
    pack_name: str
    chain: tuple[str, ...]
    languages: tuple[str, ...]
    currency: str
    timezone: str
    channels: tuple[str, ...]
    map_providers: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def outcome(self) -> Outcome:
        """The market's verdict: its worst finding's (a pass with no findings at all)."""
        return self.findings[0].outcome if self.findings else Outcome.PASS

    def count(self, outcome: Outcome) -> int:
        return sum(1 for finding in self.findings if finding.outcome is outcome)


class MarketService:
    """Markets, residency and storage for the deployment's overseers.

    Every method raises :class:`~regiocrm.crm.access.Forbidden` for a role other than
    ``admin`` and ``competence_centre``.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def markets(self, caller: Caller) -> list[MarketView]:
        """Every market an installed pack serves, with every rollout check run against this
        deployment's settings and zones; markets that fail first, then those that warn,
        each group by code.

        :raises regiocrm.interfaces.packs.PackError: for packs that cannot be loaded.
        """
        caller.scope.require(*OVERSEERS)
        views = [
            self._market(code, pack)
            for pack in self.app.hooks.packs()
            for code in sorted(pack.markets)
        ]
        return sorted(views, key=lambda view: (_SEVERITY[view.outcome], view.code))

    def residency(self, caller: Caller) -> ResidencyReport:
        """Rows per zone, market and data class, and what is misplaced or unreachable."""
        caller.scope.require(*OVERSEERS)
        return ResidencyService(self.app).report()

    def storage(self, caller: Caller, today: date | None = None) -> StorageReport:
        """Each organization's storage and the day its quota runs out, soonest first."""
        caller.scope.require(*OVERSEERS)
        return StorageService(self.app).report(today)

    def _market(self, code: str, pack: Pack) -> MarketView:
        market = pack.market(code)
        app = self.app
        target = Target(app.hooks, code, pack, app.settings, None, app.stores)
        return MarketView(
            code=code,
            pack=pack.code,
            pack_name=pack.name,
            chain=pack.chain,
            languages=tuple(dict.fromkeys((market.locale, *pack.locales))),
            currency=market.currency,
            timezone=market.timezone,
            channels=pack.channels,
            map_providers=pack.map_providers,
            findings=_worst_first(run_checks(target)),
        )
