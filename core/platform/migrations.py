"""Schema migrations for every zone: one shared alembic history, upgraded in each zone.

This module is an essential plugin: it contributes the core's own version folder through
``register_migrations``, the same hook packs and plugins use for theirs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from regiocrm.hookspecs import hookimpl
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZoneError, ZoneStores, sqlite_path

CORE_BRANCH = "regiocrm"
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s"


@hookimpl
def register_migrations() -> list[Path]:
    return [Path(str(files("regiocrm.migrations") / "versions"))]


def alembic_config(locations: list[Path], connection: Connection | None = None) -> Config:
    """alembic's configuration for the shared history in ``locations``, run on
    ``connection`` (``None`` to read the history only)."""
    config = Config()
    config.set_main_option("script_location", str(files("regiocrm.migrations")))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes["connection"] = connection
    return config


def core_head(hooks: Hooks) -> str:
    """The head of the core's own branch: the revision a pack's first one depends on."""
    script = ScriptDirectory.from_config(alembic_config(hooks.migration_locations()))
    head = script.get_revision(f"{CORE_BRANCH}@head")
    assert head is not None, "the core's branch always has a head"
    return head.revision


@dataclass(frozen=True)
class ZoneState:
    """Where one zone stands against the migration heads."""

    zone: str
    url: str
    reachable: bool
    revisions: tuple[str, ...]
    heads: tuple[str, ...]
    pending: tuple[str, ...]
    error: str | None = None

    @property
    def migrated(self) -> bool:
        return self.reachable and not self.pending

    def as_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "url": self.url,
            "reachable": self.reachable,
            "revisions": list(self.revisions),
            "heads": list(self.heads),
            "pending": list(self.pending),
            "migrated": self.migrated,
            "error": self.error,
        }


class Migrator:
    """Runs alembic against each zone of a deployment."""

    def __init__(self, stores: ZoneStores, hooks: Hooks) -> None:
        self.stores = stores
        self.locations = hooks.migration_locations()

    def config(self, connection: Connection | None = None) -> Config:
        return alembic_config(self.locations, connection)

    @cached_property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def heads(self) -> tuple[str, ...]:
        return tuple(sorted(self.script.get_heads()))

    def pending(self, revisions: tuple[str, ...]) -> tuple[str, ...]:
        """Revisions not yet applied to a database at ``revisions``.

        A zone's version table lists only its heads; a branch's base that ``depends_on`` the
        core hides the core head, so applied revisions are found by walking down from them.
        """
        applied = {rev.revision for rev in self.script.iterate_revisions(revisions, "base")}
        every = [rev.revision for rev in self.script.iterate_revisions("heads", "base")]
        return tuple(rev for rev in reversed(every) if rev not in applied)

    def upgrade(
        self,
        zones: list[str] | None = None,
        revision: str = "heads",
        on_zone: Callable[[str], None] | None = None,
    ) -> None:
        """Upgrade the zones (all by default) after checking every one can be written.

        :param on_zone: called with each zone's name before it is upgraded.
        :raises ZoneError: for an unknown or unwritable zone, before any zone is touched, and
            for a zone whose database cannot be reached.
        """
        names = self.stores.names if zones is None else zones
        self.stores.check_writable(names)
        for zone in names:
            if on_zone is not None:
                on_zone(zone)
            try:
                with self.stores.engine(zone).begin() as connection:
                    command.upgrade(self.config(connection), revision)
            except OperationalError as exc:
                raise ZoneError(f"zone {zone!r}: {one_line(exc)}") from exc

    def downgrade(self, zone: str, revision: str) -> None:
        with self.stores.engine(zone).begin() as connection:
            command.downgrade(self.config(connection), revision)

    def state(self, zone: str) -> ZoneState:
        """The zone's current revisions; an unreachable zone is reported, never raised."""
        url = self.stores.url(zone).render_as_string(hide_password=True)
        heads = self.heads()
        path = sqlite_path(self.stores.url(zone))
        if path is not None and not path.exists():
            # Looking must not create the file: the zone is created on first real use, if
            # its place can take it.
            try:
                self.stores.check_writable([zone])
            except ZoneError as exc:
                return ZoneState(zone, url, False, (), heads, (), str(exc))
            return ZoneState(zone, url, True, (), heads, self.pending(()), "not created yet")
        try:
            with self.stores.engine(zone).connect() as connection:
                revisions = MigrationContext.configure(connection).get_current_heads()
        except (SQLAlchemyError, ZoneError, OSError) as exc:
            return ZoneState(zone, url, False, (), heads, (), one_line(exc))
        current = tuple(sorted(revisions))
        return ZoneState(zone, url, True, current, heads, self.pending(current))

    def states(self) -> list[ZoneState]:
        return [self.state(zone) for zone in self.stores.names]


def one_line(exc: BaseException) -> str:
    """The first line of what went wrong with a database, for a one-line error."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
