"""The upgrade steps of a template's versions, as ``regiocrm market update`` applies them:
a setting renamed in one of the market's TOML files (comments kept, with tomlkit), folded
into the update's file changes so a dry run shows it too; and what only a person can do,
explained.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import tomlkit

from regiocrm.markets.merge import Action, FileChange
from regiocrm.markets.template_info import RenameSetting, TemplateChange
from regiocrm.platform.i18n import _


class StepError(Exception):
    """A step that cannot be taken: a file outside the market, or one that is not TOML."""


def rename_setting(text: str, old: str, new: str) -> str | None:
    """The TOML with the key at dotted path ``old`` moved to ``new``, comments kept;
    ``None`` when it has no such key.

    :raises StepError: for text that is not TOML, or a ``new`` path through a value
        that is not a table.
    """
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise StepError(str(exc)) from None
    *old_tables, old_key = old.split(".")
    *new_tables, new_key = new.split(".")
    table: Any = document
    for name in old_tables:
        table = table.get(name)
        if not isinstance(table, dict):
            return None
    if old_key not in table:
        return None
    value = table.pop(old_key)
    target: Any = document
    for name in new_tables:
        target = target.setdefault(name, tomlkit.table())
        if not isinstance(target, dict):
            raise StepError(_("{path} cannot hold a setting: it is not a table").format(path=new))
    target[new_key] = value
    return tomlkit.dumps(document)


def apply_steps(
    changes: list[FileChange], steps: list[TemplateChange], project: Path
) -> tuple[list[FileChange], list[str]]:
    """The upgrade steps the update applies (settings renamed in the market's TOML files),
    folded into the file changes; and what it explains, for the person to do.

    :raises StepError: a step naming a file outside the market, or one that is not
        TOML.
    """
    by_path = {change.path: change for change in changes}
    told = []
    for change in steps:
        told += [f"{change.version}: {text}" for text in change.explanations()]
        for step in change.steps:
            if not isinstance(step, RenameSetting):
                continue
            path = inside_market(project, step.file)
            planned = by_path.get(path)
            current = (project / path).read_bytes() if (project / path).is_file() else None
            text = planned.content if planned is not None and planned.content else current
            if text is None:
                continue
            try:
                renamed = rename_setting(text.decode("utf-8"), step.old, step.new)
            except (StepError, UnicodeDecodeError) as exc:
                raise StepError(
                    _("{version}: {file} is not TOML: {reason}").format(
                        version=change.version, file=path, reason=exc
                    )
                ) from None
            if renamed is None:
                continue
            told.append(
                _("{version}: {file}: setting {old} renamed {new}").format(
                    version=change.version, file=path, old=step.old, new=step.new
                )
            )
            if planned is not None and planned.action is Action.CONFLICT:
                by_path[path] = replace(planned, content=renamed.encode())
            else:
                by_path[path] = FileChange(path, Action.UPDATE, renamed.encode(), current)
    return sorted(by_path.values(), key=lambda change: change.path), told


def inside_market(project: Path, name: str) -> str:
    """A path of the market's, relative to it: a template's step reaches no further."""
    path = (project / name).resolve()
    if not path.is_relative_to(project.resolve()):
        raise StepError(
            _("an upgrade step names {file}, which is outside the market").format(file=name)
        )
    return path.relative_to(project.resolve()).as_posix()
