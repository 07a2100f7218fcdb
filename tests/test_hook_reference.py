"""The hook specifications are the reference: documented, tested, and in the docs."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

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
