"""Rollout readiness for front ends: every registered check run for the markets asked
about (:mod:`regiocrm.markets.rollout` holds the checks)."""

from __future__ import annotations

from collections.abc import Sequence

from regiocrm.interfaces.rollout import Finding, Target
from regiocrm.markets.rollout import run_checks
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, SettingsError, load_settings
from regiocrm.platform.stores import ZoneStores


class NoMarkets(Exception):
    """No market was named, and the settings that name the deployment's are invalid."""


class RolloutService:
    """Runs the readiness checks.

    It is built from the hooks, not from an :class:`~regiocrm.services.application.Application`:
    invalid settings do not stop it, they are one of the things the checks report.
    """

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks

    def check(self, markets: Sequence[str] = ()) -> dict[str, list[Finding]]:
        """Every check's findings per market (upper-cased, each once), in the order named;
        by default for the deployment's own market and those of its channel accounts.

        :raises regiocrm.interfaces.packs.PackError: for packs that cannot be loaded, or a
            market no pack serves.
        :raises NoMarkets: when none is named and the settings are invalid.
        """
        packs = self.hooks.packs()
        settings: RegiocrmSettings | None = None
        problem: SettingsError | None = None
        stores: ZoneStores | None = None
        try:
            settings = load_settings(self.hooks)
            stores = ZoneStores.open(settings, self.hooks)
        except SettingsError as exc:
            problem = exc
        findings: dict[str, list[Finding]] = {}
        try:
            for code in dict.fromkeys(m.upper() for m in markets or _served(settings)):
                target = Target(self.hooks, code, packs.for_market(code), settings, problem, stores)
                findings[code] = run_checks(target)
        finally:
            if stores is not None:
                stores.dispose()
        return findings


def _served(settings: RegiocrmSettings | None) -> list[str]:
    """The deployment's own market and its channel accounts'."""
    if settings is None:
        raise NoMarkets("the settings are invalid: name the markets to check")
    accounts = settings.channel_accounts.values()
    return [settings.deployment.market, *(account.market for account in accounts)]
