"""The plugin manager: built-ins through the hooks, blocking, tracing, and a real
third-party distribution found through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from regiocrm import hookimpl
from regiocrm.platform.hooks import Hooks, PluginConflict
from regiocrm.platform.plugins import (
    BUILTIN_PLUGINS,
    ESSENTIAL_PLUGINS,
    PluginError,
    get_plugin_manager,
)
from regiocrm.testing import run_regiocrm

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_builtins_are_registered_as_ordinary_plugins() -> None:
    pm = get_plugin_manager(entry_points=False)
    names = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert names == set(ESSENTIAL_PLUGINS) | set(BUILTIN_PLUGINS)
    for name in names:
        assert pm.get_hookcallers(pm.get_plugin(name)), f"{name} implements no hook"


def test_builtins_can_be_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIOCRM_DISABLED_PLUGINS", "regiocrm.cli.users, regiocrm.http.me")
    pm = get_plugin_manager(entry_points=False)
    assert pm.get_plugin("regiocrm.cli.users") is None
    assert pm.is_blocked("regiocrm.http.me")
    assert pm.get_plugin("regiocrm.cli.db") is not None


def test_essential_plugins_cannot_be_disabled() -> None:
    with pytest.raises(PluginError, match=r"regiocrm\.platform\.migrations is essential"):
        get_plugin_manager(entry_points=False, blocked=["regiocrm.platform.migrations"])


def test_trace_shows_hook_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGIOCRM_TRACE_HOOKS", "1")
    pm = get_plugin_manager(entry_points=False)
    pm.hook.register_migrations()
    assert "hook register_migrations() -> [regiocrm.platform.migrations]" in capsys.readouterr().err


def test_each_manager_is_fresh() -> None:
    first = get_plugin_manager(entry_points=False)
    first.set_blocked("regiocrm.cli.db")
    assert get_plugin_manager(entry_points=False).get_plugin("regiocrm.cli.db") is not None


@pytest.fixture(scope="module")
def installed_hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture distribution, really built and installed (offline) into its own folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(FIXTURES / "regiocrm-hello"),
        ],
        check=True,
        capture_output=True,
    )
    return target


def regiocrm(site: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_regiocrm(*args, cwd=cwd, python_path=[site], **env)


def test_an_installed_distribution_is_found_through_its_entry_point(
    installed_hello: Path, tmp_path: Path
) -> None:
    result = regiocrm(installed_hello, tmp_path, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["hello"]["distribution"] == "regiocrm-hello"
    assert plugins["hello"]["version"] == "1.2.3"
    assert plugins["hello"]["builtin"] is False
    assert plugins["hello"]["hooks"] == [
        "register_commands",
        "register_routes",
        "register_settings",
    ]

    (tmp_path / "regiocrm.toml").write_text('[hello]\ngreeting = "你好"\n')
    greeted = regiocrm(installed_hello, tmp_path, "hello", "Wang")
    assert (greeted.returncode, greeted.stdout) == (0, "你好, Wang\n")


def test_an_installed_plugin_can_be_disabled(installed_hello: Path, tmp_path: Path) -> None:
    result = regiocrm(
        installed_hello, tmp_path, "plugins", "list", "--json", REGIOCRM_DISABLED_PLUGINS="hello"
    )
    assert "hello" not in {p["name"] for p in json.loads(result.stdout)}
    # Its settings section went with it, so its table is now an unknown key.
    (tmp_path / "regiocrm.toml").write_text('[hello]\ngreeting = "hi"\n')
    checked = regiocrm(
        installed_hello, tmp_path, "config", "check", REGIOCRM_DISABLED_PLUGINS="hello"
    )
    assert checked.returncode == 2
    assert checked.stderr.startswith("Error: hello: unknown setting")


class Impostor:
    """A plugin that registers a channel and a map provider under built-in names."""

    @hookimpl
    def register_channels(self) -> list[Any]:
        from regiocrm.plugins.channels.line.channel import LineChannel

        return [LineChannel()]

    @hookimpl
    def register_map_providers(self) -> list[Any]:
        from regiocrm.plugins.maps.gazetteer.provider import GazetteerProvider

        return [GazetteerProvider()]


def test_two_plugins_cannot_share_a_channel_or_map_provider_name(
    regiocrm_hooks: Hooks, register_plugin
) -> None:
    register_plugin(Impostor())
    with pytest.raises(PluginConflict, match="two plugins register a channel named 'line'"):
        regiocrm_hooks.channels()
    with pytest.raises(
        PluginConflict, match="two plugins register a map provider named 'gazetteer'"
    ):
        regiocrm_hooks.map_providers()
