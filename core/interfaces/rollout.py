"""The rollout-check contract: what a check contributed through ``register_rollout_checks``
is given for one market and what it answers. The core's own checks and the command that
runs them are :mod:`regiocrm.markets.rollout`."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regiocrm.interfaces.packs import Market, Pack
    from regiocrm.platform.hooks import Hooks
    from regiocrm.platform.settings import RegiocrmSettings, SettingsError
    from regiocrm.platform.stores import ZoneStores


class Outcome(enum.StrEnum):
    """A check's verdict; any ``fail`` makes ``regiocrm rollout check`` exit 1."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """What one check found: the outcome, why, and (short of a pass) what to do."""

    check: str
    outcome: Outcome
    reason: str
    fix: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "fix": self.fix,
        }


@dataclass
class Target:
    """What a check may look at for one market.

    :param settings: the deployment's settings, or ``None`` when they are invalid
        (``settings_error`` says why, and ``stores`` is ``None`` too).
    """

    hooks: Hooks
    market: str
    pack: Pack
    settings: RegiocrmSettings | None
    settings_error: SettingsError | None
    stores: ZoneStores | None

    @property
    def profile(self) -> Market:
        return self.pack.market(self.market)


@dataclass(frozen=True)
class RolloutCheck:
    """A named check; ``run`` gives its findings for one market."""

    name: str
    run: Callable[[Target], Iterable[Finding]]
