"""Zone stores: one database per zone, an engine and a session factory for each.

A zone is opened on first use. The embedded default is a SQLite file per zone under the
deployment's ``data_dir``, in WAL mode with foreign keys enforced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from regiocrm.i18n import _
from regiocrm.settings import RegiocrmSettings

SQLITE_BUSY_TIMEOUT_MS = 5000


class ZoneError(Exception):
    """A zone that is not configured, or whose database cannot be opened or written."""


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite zone URL; ``None`` for any other database."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


def _prepare_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: URL) -> Engine:
    """An engine for one zone, with the SQLite pragmas every connection needs."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _prepare_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


class ZoneStores:
    """The deployment's zones, opened lazily. Close with :meth:`dispose`."""

    def __init__(self, settings: RegiocrmSettings) -> None:
        self.settings = settings
        self.urls = settings.zone_urls()
        self._engines: dict[str, Engine] = {}
        self._sessions: dict[str, sessionmaker[Session]] = {}

    @property
    def names(self) -> list[str]:
        return list(self.urls)

    @property
    def home(self) -> str:
        return self.settings.home_zone

    def url(self, zone: str) -> URL:
        try:
            return self.urls[zone]
        except KeyError:
            known = ", ".join(self.urls) or _("none")
            raise ZoneError(
                _("unknown zone {zone!r} (configured zones: {known})").format(
                    zone=zone, known=known
                )
            ) from None

    def check_writable(self, zones: Iterable[str] | None = None) -> None:
        """Refuse, before anything is created, a SQLite zone whose file cannot be written.

        :raises ZoneError: naming the zone, the file and the reason.
        """
        for zone in self.names if zones is None else zones:
            path = sqlite_path(self.url(zone))
            if path is not None:
                problem = _sqlite_file_problem(path)
                if problem:
                    raise ZoneError(
                        _("zone {zone!r}: cannot use {path}: {problem}").format(
                            zone=zone, path=path, problem=problem
                        )
                    )

    def engine(self, zone: str) -> Engine:
        if zone not in self._engines:
            url = self.url(zone)
            path = sqlite_path(url)
            if path is not None:
                self.check_writable([zone])
                path.parent.mkdir(parents=True, exist_ok=True)
            self._engines[zone] = make_engine(url)
        return self._engines[zone]

    def sessionmaker(self, zone: str) -> sessionmaker[Session]:
        if zone not in self._sessions:
            self._sessions[zone] = sessionmaker(self.engine(zone), expire_on_commit=False)
        return self._sessions[zone]

    @contextmanager
    def session(self, zone: str | None = None) -> Iterator[Session]:
        """A session on ``zone`` (the home zone by default) that commits when the block ends
        without an exception and rolls back otherwise."""
        with self.sessionmaker(zone or self.home).begin() as session:
            yield session

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._sessions.clear()


def _sqlite_file_problem(path: Path) -> str | None:
    if path.exists():
        if not path.is_file():
            return "it exists and is not a file"
        if not os.access(path, os.R_OK | os.W_OK):
            return "the file is not writable"
        return None
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    return None


_AFTER_COMMIT = "regiocrm_after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction has committed, and never if it rolls
    back: event hooks must not announce a change that was not kept."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, []):
        action()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
