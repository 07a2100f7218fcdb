"""Shared test helpers. The fixtures themselves come from regiocrm's own pytest plugin
(``regiocrm.testing``), exactly as plugin authors get them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from desk import Desk, open_desk
from imap_server import dovecot  # noqa: F401 - a session fixture: the email tests' IMAP server
from smtp_server import smtp_catcher  # noqa: F401 - a session fixture: their SMTP server
from template_markets import ThaiMarket

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(deployment_dir: Path) -> RegiocrmSettings:
    """The embedded default: a SQLite zone under ``deployment_dir/var`` for the home zone
    and for each zone the packs place data in."""
    return RegiocrmSettings()


@pytest.fixture
def stores(settings: RegiocrmSettings, regiocrm_hooks: Hooks):
    zone_stores = ZoneStores.open(settings, regiocrm_hooks)
    yield zone_stores
    zone_stores.dispose()


@pytest.fixture
def desk(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[Desk]:
    """A competence-centre user, who sees every market, at a served deployment (see
    ``tests/desk.py``)."""
    with open_desk(settings, regiocrm_hooks) as opened:
        yield opened


@pytest.fixture
def migrated(stores: ZoneStores, regiocrm_hooks: Hooks) -> ZoneStores:
    """The default zone stores, upgraded to head."""
    upgrade_zones(stores, regiocrm_hooks)
    return stores


LOOPBACK = {"127.0.0.1", "localhost", "::1", "testserver"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outbound provider calls in tests go through mocked transports; anything that reaches
    httpx's real transport for a host off this machine is a test bug, and fails loudly."""
    real = httpx.HTTPTransport.handle_request

    def guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.host not in LOOPBACK:
            raise RuntimeError(f"network at test time: {request.method} {request.url}")
        return real(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", guarded)


@pytest.fixture(scope="session")
def thai_market(tmp_path_factory: pytest.TempPathFactory) -> ThaiMarket:
    """A market template in git and Thailand made from it, once per test process: copy
    it with ``ThaiMarket.copy`` before changing either (see ``tests/template_markets.py``)."""
    return ThaiMarket.make(tmp_path_factory.mktemp("thai-market"))


@pytest.fixture
def load_package(
    monkeypatch: pytest.MonkeyPatch, register_plugin
) -> Iterator[Callable[[Path, str], ModuleType]]:
    """Import a package from a folder and register it as a plugin, as its entry point would
    once installed; forgotten again after the test."""
    imported: list[str] = []

    def load(folder: Path, package: str) -> ModuleType:
        monkeypatch.syspath_prepend(str(folder))
        module = importlib.import_module(package)
        imported.append(package)
        register_plugin(module, name=package)
        return module

    yield load
    for package in imported:
        for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
            del sys.modules[name]
