"""The plugin manager: where built-in and installed plugins are found and registered.

There is no module-level manager. Every caller builds one with :func:`get_plugin_manager`,
so each CLI run, each served application and each test sees exactly the plugins it asked for.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy
from pluggy import HookImpl, Result

from regiocrm import hookspecs

ENTRY_POINT_GROUP = "regiocrm"

# The core's tables and migrations every deployment needs: blocking one would leave the
# core unable to open a zone, so they cannot be disabled.
ESSENTIAL_PLUGINS: tuple[str, ...] = ("regiocrm.models", "regiocrm.platform.migrations")

# Built-in capabilities, registered exactly as a third-party plugin would be: a module
# whose functions carry ``@hookimpl``. Any of them can be disabled.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "regiocrm.cli.analytics",
    "regiocrm.cli.audit",
    "regiocrm.cli.campaigns",
    "regiocrm.cli.cases",
    "regiocrm.cli.channels",
    "regiocrm.cli.config",
    "regiocrm.cli.db",
    "regiocrm.cli.export",
    "regiocrm.cli.imports",
    "regiocrm.cli.inbox",
    "regiocrm.cli.maps",
    "regiocrm.cli.new_market",
    "regiocrm.cli.market",
    "regiocrm.cli.plugins",
    "regiocrm.cli.orgs",
    "regiocrm.cli.packs",
    "regiocrm.cli.residency",
    "regiocrm.cli.rollout",
    "regiocrm.cli.users",
    "regiocrm.cli.serve",
    "regiocrm.cli.worker",
    "regiocrm.cli.storage",
    "regiocrm.cli.telematics",
    "regiocrm.cli.translations",
    "regiocrm.http.health",
    "regiocrm.http.me",
    "regiocrm.http.customers",
    "regiocrm.http.webhooks",
    "regiocrm.http.leads",
    "regiocrm.http.cases",
    "regiocrm.http.conversations",
    "regiocrm.http.contracts",
    "regiocrm.http.telematics",
    "regiocrm.http.audit",
    "regiocrm.http.campaigns",
    "regiocrm.http.exports",
    "regiocrm.http.imports",
    "regiocrm.console.assets",
    "regiocrm.console.signin",
    "regiocrm.console.leads",
    "regiocrm.console.customers_list",
    "regiocrm.console.audit",
    "regiocrm.console.markets",
    "regiocrm.console.campaigns",
    "regiocrm.console.inbox",
    "regiocrm.console.cases",
    "regiocrm.console.customers",
    "regiocrm.markets.rollout",
    "regiocrm.plugins.channels.wechat",
    "regiocrm.plugins.channels.line",
    "regiocrm.plugins.channels.kakao",
    "regiocrm.plugins.channels.whatsapp",
    "regiocrm.plugins.channels.sms",
    "regiocrm.plugins.channels.email",
    "regiocrm.plugins.maps.amap",
    "regiocrm.plugins.maps.baidu",
    "regiocrm.plugins.maps.naver",
    "regiocrm.plugins.maps.kakaomap",
    "regiocrm.plugins.maps.google",
    "regiocrm.plugins.maps.gazetteer",
    "regiocrm.plugins.streams.mqtt",
    "regiocrm.plugins.streams.jetstream",
    "regiocrm.regions.asia",
    "regiocrm.regions.cn",
    "regiocrm.regions.jp",
    "regiocrm.regions.kr",
    "regiocrm.regions.au",
)

DISABLED_ENV = "REGIOCRM_DISABLED_PLUGINS"
TRACE_ENV = "REGIOCRM_TRACE_HOOKS"


class PluginError(Exception):
    """A plugin could not be loaded or a plugin setting is wrong."""


@dataclass(frozen=True)
class PluginInfo:
    """What ``regiocrm plugins list`` reports about one registered plugin."""

    name: str
    hooks: tuple[str, ...]
    builtin: bool
    essential: bool
    distribution: str | None
    version: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hooks": list(self.hooks),
            "builtin": self.builtin,
            "essential": self.essential,
            "distribution": self.distribution,
            "version": self.version,
        }


def get_plugin_manager(
    *, entry_points: bool = True, blocked: Iterable[str] = ()
) -> pluggy.PluginManager:
    """Build a plugin manager with the specs, the built-ins and (optionally) installed plugins.

    :param entry_points: also load plugins from the ``regiocrm`` entry-point group; tests
        pass ``False`` to see only the built-ins.
    :param blocked: plugin names to leave out, added to those named (comma-separated) in
        ``REGIOCRM_DISABLED_PLUGINS``.
    :raises PluginError: when an essential plugin is blocked or a plugin fails to import.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    names = {name.strip() for name in os.environ.get(DISABLED_ENV, "").split(",")}
    names = (names | set(blocked)) - {""}
    if essential := sorted(names & set(ESSENTIAL_PLUGINS)):
        raise PluginError(
            f"{DISABLED_ENV}: {', '.join(essential)} is essential and cannot be disabled"
        )
    for name in names:
        pm.set_blocked(name)

    for module_name in (*ESSENTIAL_PLUGINS, *BUILTIN_PLUGINS):
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    # Historic: a plugin registered from now on adds its specifications as it registers.
    pm.hook.add_hookspecs.call_historic(kwargs={"pm": pm})

    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(
                f"a plugin of the {ENTRY_POINT_GROUP!r} group failed to load: {exc}"
            ) from exc
    pm.check_pending()

    if os.environ.get(TRACE_ENV) == "1":
        pm.add_hookcall_monitoring(_trace_before, _trace_after)
    return pm


def _trace_before(hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
    plugins = ", ".join(impl.plugin_name for impl in impls)
    print(f"hook {hook_name}({', '.join(kwargs)}) -> [{plugins}]", file=sys.stderr)


def _trace_after(
    outcome: Result[Any], hook_name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]
) -> None:
    if outcome.exception is not None:
        print(f"hook {hook_name} raised {outcome.exception!r}", file=sys.stderr)


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin with the hooks it implements, built-ins first."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        callers = pm.get_hookcallers(plugin) or []
        dist = dists.get(id(plugin))
        infos.append(
            PluginInfo(
                name=name,
                hooks=tuple(sorted(caller.name for caller in callers)),
                builtin=name in ESSENTIAL_PLUGINS or name in BUILTIN_PLUGINS,
                essential=name in ESSENTIAL_PLUGINS,
                distribution=dist.project_name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    return sorted(infos, key=lambda info: (not info.builtin, info.name))
