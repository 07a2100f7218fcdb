"""Built-in plugin discovery: every module of the distribution that implements a hook is
registered, and every registered name is such a module.

A module with ``@hookimpl`` functions that is left out of ``BUILTIN_PLUGINS`` is silently
never called; this test finds them by reading the source of every module the package
ships (its plugins and regions included) without importing it.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import regiocrm
from regiocrm.platform.plugins import BUILTIN_PLUGINS, ESSENTIAL_PLUGINS


def _is_hookimpl(decorator: ast.expr) -> bool:
    marker = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(marker, ast.Name) and marker.id == "hookimpl") or (
        isinstance(marker, ast.Attribute) and marker.attr == "hookimpl"
    )


def _implements_hooks(source: str) -> bool:
    """Whether a module has a module-level function marked ``@hookimpl``. Classes with
    marked methods (the testing kit's) are plugins their users register themselves."""
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_hookimpl(decorator) for decorator in node.decorator_list)
        for node in ast.parse(source).body
    )


def _modules() -> dict[str, Path]:
    modules = {}
    for info in pkgutil.walk_packages(regiocrm.__path__, f"{regiocrm.__name__}."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin is not None and spec.origin.endswith(".py"):
            modules[info.name] = Path(spec.origin)
    return modules


MODULES = _modules()
IMPLEMENTING = {name for name, path in MODULES.items() if _implements_hooks(path.read_text())}
REGISTERED = set(ESSENTIAL_PLUGINS) | set(BUILTIN_PLUGINS)


def test_the_walk_reaches_the_core_the_plugins_and_the_regions() -> None:
    assert {
        "regiocrm.cli.db",
        "regiocrm.platform.migrations",
        "regiocrm.plugins.channels.wechat",
        "regiocrm.plugins.maps.gazetteer",
        "regiocrm.regions.asia",
    } <= IMPLEMENTING
    assert "regiocrm.testing.conformance" not in IMPLEMENTING, "a class's hooks are its own"


def test_every_module_implementing_a_hook_is_registered() -> None:
    unregistered = sorted(IMPLEMENTING - REGISTERED)
    assert unregistered == [], "add them to BUILTIN_PLUGINS"


def test_every_registered_plugin_is_a_module_implementing_a_hook() -> None:
    missing = sorted(REGISTERED - set(MODULES))
    assert missing == [], "no such module"
    idle = sorted(REGISTERED - IMPLEMENTING - set(missing))
    assert idle == [], "no @hookimpl function in the module"


def test_no_plugin_is_registered_twice() -> None:
    assert len(REGISTERED) == len(ESSENTIAL_PLUGINS) + len(BUILTIN_PLUGINS)
