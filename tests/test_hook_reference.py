"""The hook specifications are the reference: documented, tested, and in the docs."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

import regiocrm
from regiocrm import hookspecs
from regiocrm.platform.plugins import get_plugin_manager

TESTS = Path(__file__).resolve().parent
DOCS = TESTS.parent / "docs"
PM = get_plugin_manager(entry_points=False)
HOOKS = sorted(
    (name, caller.spec.argnames)
    for name, caller in vars(PM.hook).items()
    if caller.spec is not None
)
# Cross-references in the specifications' docstrings, e.g. :class:`regiocrm.Channel`.
CROSS_REFERENCE = re.compile(r":(?:mod|class|func|meth|attr|exc|data|obj):`~?(regiocrm(?:\.\w+)+)`")
REFERENCES = sorted(set(CROSS_REFERENCE.findall(inspect.getsource(hookspecs))))


def test_there_are_hooks() -> None:
    assert {"register_settings", "register_commands", "register_routes", "register_migrations"} <= {
        name for name, _ in HOOKS
    }


@pytest.mark.parametrize(("name", "argnames"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hook_docstring_is_complete(name: str, argnames: tuple[str, ...]) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert doc.splitlines()[0].endswith("."), "a one-line summary first"
    for arg in argnames:
        assert f":param {arg}:" in doc
    if name.startswith("register_") and name != "register_commands":
        assert ":returns:" in doc
    assert ".. versionadded::" in doc


@pytest.mark.parametrize(("name", "argnames"), HOOKS, ids=[name for name, _ in HOOKS])
def test_hook_is_in_the_reference(name: str, argnames: tuple[str, ...]) -> None:
    reference = (DOCS / "reference" / "hooks.md").read_text()
    assert f"{name}({', '.join(argnames)})" in reference
    assert f"::: regiocrm.hookspecs.{name}" in reference


def test_every_hook_has_a_test() -> None:
    tested = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                tested.add(node.name.removeprefix("test_hook_"))
    assert {name for name, _ in HOOKS} - tested == set()


def _resolve(dotted: str) -> object:
    """The object a dotted name stands for: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_docstrings_cross_reference_something() -> None:
    assert "regiocrm.SettingsSection" in REFERENCES


@pytest.mark.parametrize("dotted", REFERENCES)
def test_every_cross_reference_in_the_specifications_resolves(dotted: str) -> None:
    _resolve(dotted)


def test_every_type_the_hooks_use_is_in_the_reference() -> None:
    reference = (DOCS / "reference" / "hooks.md").read_text()
    for name in regiocrm.__all__:
        if isinstance(getattr(regiocrm, name), type):
            assert f"| `regiocrm.{name}` |" in reference, name
