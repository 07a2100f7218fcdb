"""regiocrm's pytest plugin: fixtures for regiocrm itself and for plugin authors.

Installed with regiocrm and loaded by pytest through the ``pytest11`` entry point, so a
channel plugin or a market pack gets these fixtures without any ``conftest.py``:

* ``plugin_manager`` - a fresh plugin manager with the built-ins only (no entry points);
* ``regiocrm_hooks`` - the typed hook facade over it;
* ``register_plugin`` - register an object or module as a plugin for one test;
* ``deployment_dir`` - an empty working folder with no ``REGIOCRM_*`` settings leaking in;
* ``regiocrm_cli`` - run the ``regiocrm`` command line in-process and see its output;
* ``postgres_url`` - a new, empty PostgreSQL database for one test, dropped afterwards;
* ``provider_api`` - an ``httpx.Client`` whose transport plays a provider's API: it answers
  with a function of yours and records every request (see :func:`answering`).

and helpers to run the real ``regiocrm`` command in a child process
(:func:`deployment_environment` and :func:`run_regiocrm`), and to migrate a test's zones
quickly (:func:`upgrade_zones`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pluggy
import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import LOCALE_VARIABLES
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.stores import ZoneStores, sqlite_path

POSTGRES_URL_ENV = "REGIOCRM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the specs and built-in plugins, no installed ones."""
    return get_plugin_manager(entry_points=False)


@pytest.fixture
def regiocrm_hooks(plugin_manager: pluggy.PluginManager) -> Hooks:
    return Hooks(plugin_manager)


@pytest.fixture
def register_plugin(plugin_manager: pluggy.PluginManager) -> Iterator[Callable[[Any], str]]:
    """Register a plugin (a module, class or object with ``@hookimpl`` methods) for one test."""
    registered: list[Any] = []

    def register(plugin: Any, name: str | None = None) -> str:
        plugin_name = plugin_manager.register(plugin, name=name)
        if plugin_name is None:
            raise ValueError(f"plugin {plugin!r} is blocked or already registered")
        plugin_manager.check_pending()
        registered.append(plugin)
        return plugin_name

    yield register
    for plugin in registered:
        plugin_manager.unregister(plugin)


@pytest.fixture
def deployment_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder for a deployment, with no REGIOCRM_* settings inherited and
    messages in English (set ``LANG`` in a test to see another language)."""
    for name in list(os.environ):
        if name.startswith("REGIOCRM_") and not name.startswith("REGIOCRM_TEST_"):
            monkeypatch.delenv(name)
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class RecordedAPI:
    """A provider's API for one test: answers each request with ``answer`` and keeps them."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def query(self) -> dict[str, list[str]]:
        """The last request's query string, parsed."""
        return parse_qs(urlsplit(str(self.requests[-1].url)).query)


def answering(body: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    """An answer that is always ``body`` as JSON, with ``status``."""
    return lambda request: httpx.Response(status, json=body)


@pytest.fixture
def provider_api() -> Iterator[Callable[..., tuple[httpx.Client, RecordedAPI]]]:
    """``client, api = provider_api(answering({...}))``: the real client code of a channel or
    map plugin runs against a recorded fake of its provider; no request leaves the process."""
    clients: list[httpx.Client] = []

    def make(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.Client, RecordedAPI]:
        api = RecordedAPI(answer)
        clients.append(httpx.Client(transport=httpx.MockTransport(api)))
        return clients[-1], api

    yield make
    for client in clients:
        client.close()


def deployment_environment(*, python_path: Sequence[Path] = (), **variables: str) -> dict[str, str]:
    """This process's environment without its ``REGIOCRM_*`` settings or language, for a
    child process (whose messages are then in English unless ``LANG`` is given).

    :param python_path: folders put first on the child's ``PYTHONPATH``.
    :param variables: variables to set in the child, e.g. ``REGIOCRM_DISABLED_PLUGINS``.
    """
    environ = {
        name: value
        for name, value in os.environ.items()
        if (not name.startswith("REGIOCRM_") or name.startswith("REGIOCRM_TEST_"))
        and name not in LOCALE_VARIABLES
    }
    if python_path:
        inherited = [environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else []
        environ["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), *inherited])
    environ.update(variables)
    return environ


def run_regiocrm(
    *args: str, cwd: Path, python_path: Sequence[Path] = (), **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m regiocrm ARGS...`` in ``cwd`` and capture its output as text."""
    return subprocess.run(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "regiocrm", *args],
        cwd=cwd,
        env=deployment_environment(python_path=python_path, **variables),
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        return self.stdout.rstrip("\n").rsplit("\n", 1)[-1]


@pytest.fixture
def regiocrm_cli(
    regiocrm_hooks: Hooks, deployment_dir: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """Run ``regiocrm ARGS...`` in-process, in ``deployment_dir``, with this test's plugins."""
    from regiocrm.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args), hooks=regiocrm_hooks)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def _server_url() -> URL:
    return make_url(os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL)


class PostgresUnavailable(Exception):
    """The PostgreSQL server for tests cannot be reached."""


@contextmanager
def scratch_database(server: URL | None = None) -> Iterator[URL]:
    """Create a new, empty database on ``server`` and drop it when the block ends.

    :param server: a URL of the server; default ``$REGIOCRM_TEST_POSTGRES_URL`` or the local
        ``test`` database.
    :raises PostgresUnavailable: when the server cannot be reached.
    """
    server = server or _server_url()
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"regiocrm_scratch_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        detail = " ".join(str(exc.orig).split())
        raise PostgresUnavailable(
            f"PostgreSQL at {server.render_as_string()} is unreachable: {detail}"
        ) from None
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[URL]:
    """A new PostgreSQL database on the server named by ``REGIOCRM_TEST_POSTGRES_URL``.

    Skips with the reason when the server is unreachable, but fails under ``CI=true``,
    where a missing database means the suite would silently test less.
    """
    try:
        with scratch_database() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (CI=true: PostgreSQL tests must run)")
        pytest.skip(str(exc))


_TEMPLATES: dict[tuple[str, ...], Path] = {}


def upgrade_zones(stores: ZoneStores, hooks: Hooks) -> None:
    """Bring every zone to the migration heads, as ``regiocrm db upgrade`` does, quickly.

    A deployment has a zone per placement, and a test makes a new deployment: running
    every migration in every zone of every test would cost most of a suite's time. A
    SQLite zone whose file does not exist yet is instead copied from a database migrated
    once per process and set of migration folders; every other zone runs alembic.
    """
    migrator = Migrator(stores, hooks)
    others = []
    for zone in stores.names:
        path = sqlite_path(stores.url(zone))
        if path is None or path.exists():
            others.append(zone)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(migrator), path)
    if others:
        migrator.upgrade(others)


def _template(migrator: Migrator) -> Path:
    key = tuple(str(location) for location in migrator.locations)
    if key not in _TEMPLATES:
        folder = tempfile.mkdtemp(prefix="regiocrm-template-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "zone.db"
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as connection:
            command.upgrade(migrator.config(connection), "heads")
        engine.dispose()
        _TEMPLATES[key] = path
    return _TEMPLATES[key]
