"""One module writes the customer's timeline: no other module of the framework, its
plugins or its packs makes a timeline entry itself, and so every step is kept with its
audit record the one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITER = ROOT / "core" / "crm" / "timeline.py"
# The model declares how a step is made; the timeline module is what calls it.
MODEL = ROOT / "core" / "models" / "interaction.py"


def entries_made(tree: ast.AST) -> list[int]:
    """The lines of ``Interaction(...)`` and ``Interaction.step(...)`` calls."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if isinstance(called, ast.Attribute) and called.attr == "step":
            called = called.value
        if isinstance(called, ast.Name) and called.id == "Interaction":
            lines.append(node.lineno)
    return lines


def test_only_the_timeline_module_makes_timeline_entries() -> None:
    makers = {
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("core", "plugins", "regions")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path not in (WRITER, MODEL)
        for line in entries_made(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert makers == set()


def test_the_check_sees_an_entry_made_either_way() -> None:
    made = ast.parse("Interaction(market='CN')\nx = Interaction.step(market='CN')\n")
    assert entries_made(made) == [1, 2]
    assert entries_made(ast.parse(WRITER.read_text(encoding="utf-8"))) != []
