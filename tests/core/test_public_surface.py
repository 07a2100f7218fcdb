"""The public surface: every type a hook specification names is importable from ``regiocrm``
and listed in its ``__all__``, so a plugin author never reaches into the core for one."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import regiocrm
from regiocrm import hookspecs
from regiocrm.hookspecs import PROJECT_NAME


def _specs() -> dict[str, Callable[..., object]]:
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, f"{PROJECT_NAME}_spec")
    }


def _type_checking_names() -> dict[str, Any]:
    """What ``regiocrm.hookspecs`` imports under ``TYPE_CHECKING``, imported for real, so
    its string annotations can be evaluated."""
    names: dict[str, Any] = {}
    for node in ast.parse(inspect.getsource(hookspecs)).body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module:
                module = importlib.import_module(statement.module)
                for alias in statement.names:
                    names[alias.asname or alias.name] = getattr(module, alias.name)
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    module = importlib.import_module(alias.name)
                    if alias.asname:
                        names[alias.asname] = module
                    else:
                        top = alias.name.partition(".")[0]
                        names[top] = importlib.import_module(top)
    return names


def _classes_in(hint: object) -> Iterator[type]:
    """Every class an annotation names, inside ``Iterable[...]``, unions, ``type[...]``,
    ``Callable[[...], ...]`` and the like."""
    if isinstance(hint, list | tuple):
        for item in hint:
            yield from _classes_in(item)
        return
    if typing.get_origin(hint) is None:
        if isinstance(hint, type):
            yield hint
        return
    yield from _classes_in(typing.get_args(hint))


SPECS = _specs()
NAMES = _type_checking_names()


def _named_types(spec: Callable[..., object]) -> set[type]:
    hints = typing.get_type_hints(spec, globalns={**vars(hookspecs), **NAMES})
    return {cls for hint in hints.values() for cls in _classes_in(hint)}


def test_the_hook_specifications_are_found() -> None:
    assert {"register_settings", "register_rollout_checks", "message_received"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_type_a_hook_names_is_public(name: str) -> None:
    for cls in _named_types(SPECS[name]):
        if cls.__module__.partition(".")[0] != "regiocrm":
            continue
        assert cls.__name__ in regiocrm.__all__, (
            f"{name} names {cls.__module__}.{cls.__qualname__}, missing from regiocrm.__all__"
        )
        assert getattr(regiocrm, cls.__name__) is cls


def test_the_public_types_include_the_hooks_own() -> None:
    named = {cls for spec in SPECS.values() for cls in _named_types(spec)}
    assert {regiocrm.SettingsSection, regiocrm.RolloutCheck, regiocrm.Channel} <= named


def test_everything_in_all_is_importable() -> None:
    for name in regiocrm.__all__:
        assert hasattr(regiocrm, name), name


def test_the_contract_types_keep_their_old_paths() -> None:
    from regiocrm.markets import rollout
    from regiocrm.platform import settings

    assert settings.Section is regiocrm.Section
    assert settings.SettingsSection is regiocrm.SettingsSection
    assert rollout.RolloutCheck is regiocrm.RolloutCheck
    assert (rollout.Finding, rollout.Outcome, rollout.Target) == (
        regiocrm.Finding,
        regiocrm.Outcome,
        regiocrm.Target,
    )
