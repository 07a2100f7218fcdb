"""The references cover what the code has: every setting and every command."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import BaseModel

from regiocrm.cli.main import build_cli
from regiocrm.hooks import Hooks
from regiocrm.settings import RegiocrmSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_in_the_reference() -> None:
    reference = (DOCS / "reference" / "settings.md").read_text()
    for name, field in RegiocrmSettings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            assert f"## `[{name}]`" in reference
            for key in section.model_fields:
                assert f"| `{key}` |" in reference, f"[{name}] {key}"
        else:
            assert f"| `{name}` |" in reference, name


def test_every_command_is_in_the_reference(regiocrm_hooks: Hooks) -> None:
    reference = (DOCS / "reference" / "cli.md").read_text()
    root = typer.main.get_command(build_cli(regiocrm_hooks))
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        for sub in getattr(command, "commands", {None: None}):
            usage = f"`regiocrm {name} {sub}" if sub else f"`regiocrm {name}"
            assert usage in reference, usage
