"""The deployment's zones for front ends: where each stands against the migration heads,
upgrading them, and the settings they are opened with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from regiocrm.platform.migrations import ZoneState

# Front ends catch it from here: the stores themselves are below them.
from regiocrm.platform.stores import ZoneError as ZoneError
from regiocrm.services.application import Application


class ZoneService:
    """What the operator and the health check ask of the zones."""

    def __init__(self, app: Application) -> None:
        self.app = app

    @property
    def names(self) -> list[str]:
        """The configured zones, the home zone first."""
        return self.app.stores.names

    @property
    def home(self) -> str:
        """The zone that holds the directory (organizations, users, tokens)."""
        return self.app.stores.home

    def states(self, zones: list[str] | None = None) -> list[ZoneState]:
        """Where the zones (every zone by default) stand; an unreachable zone is reported
        in its state, never raised.

        :raises ZoneError: for a zone that is not configured.
        """
        migrator = self.app.migrator
        return [migrator.state(name) for name in (zones or self.names)]

    def upgrade(
        self, zones: list[str] | None = None, *, on_zone: Callable[[str], None] | None = None
    ) -> list[ZoneState]:
        """Upgrade the zones (every zone by default) to the migration heads, and where they
        stand then.

        :param on_zone: called with each zone's name before it is upgraded.
        :raises ZoneError: for an unknown or unwritable zone, before any zone is touched,
            and for a zone whose database cannot be reached.
        """
        names = zones or self.names
        self.app.migrator.upgrade(names, on_zone=on_zone)
        return self.states(names)

    def check_writable(self) -> None:
        """Refuse a zone whose SQLite file could not be created or written.

        :raises ZoneError: naming the zone, the file and the reason.
        """
        self.app.stores.check_writable()

    def masked_settings(self) -> dict[str, Any]:
        """The settings in force with the zones in use, secrets and passwords masked."""
        return self.app.settings.masked(self.app.stores.urls)
