"""Three-way merge of a template's change into a market, file by file.

The template rendered at the market's recorded commit is the base, the template rendered at
the new commit is theirs, the market's files are ours. A file the market left alone takes
the template's new text; one both changed is merged as ``git merge-file`` does, with
conflict markers where both changed the same lines; where markers cannot go (a file removed
on one side, a binary file) the template's change is kept for a ``.rej`` file.
"""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from regiocrm.platform.i18n import _


class MergeError(Exception):
    """``git merge-file`` could not merge (not a conflict: git itself failed)."""


class Action(StrEnum):
    ADD = "add"
    DELETE = "delete"
    UPDATE = "update"
    MERGE = "merge"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class FileChange:
    """What an update does to one file of the market.

    :param content: the file's new bytes (``None``: deleted, or left as it is for a
        conflict told in ``reject``).
    :param reject: for a conflict markers cannot show, the template's change, written beside
        the file as ``<file>.rej``.
    """

    path: str
    action: Action
    content: bytes | None
    before: bytes | None
    reject: bytes | None = None
    reason: str = ""

    @property
    def after(self) -> bytes | None:
        """The file once the update is done (``None``: not there)."""
        if self.action is Action.DELETE:
            return None
        return self.content if self.content is not None else self.before


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def _text(content: bytes | None) -> str | None:
    if content is None:
        return ""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unified_diff(
    before: bytes | None, after: bytes | None, path: str, labels: tuple[str, str]
) -> str:
    old, new = _text(before), _text(after)
    if old is None or new is None:
        return _("Binary file {path} differs\n").format(path=path)
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            f"{labels[0]}/{path}" if before is not None else "/dev/null",
            f"{labels[1]}/{path}" if after is not None else "/dev/null",
        )
    )


def merge_file(
    ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]
) -> tuple[bytes, bool]:
    """``git merge-file``'s three-way merge: the result, and whether it has conflicts."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(scratch) / name
            path.write_bytes(content)
            paths.append(path)
        done = subprocess.run(  # noqa: S603 - git, with arguments we build
            ["git", "merge-file", "-p", *(f"-L{label}" for label in labels), *map(str, paths)],  # noqa: S607
            capture_output=True,
            check=False,
        )
    if done.returncode < 0 or done.returncode > 127:
        raise MergeError(done.stderr.decode(errors="replace").strip())
    return done.stdout, done.returncode > 0


def plan(
    base: Path, theirs: Path, ours: Path, skip: tuple[str, ...], labels: tuple[str, str]
) -> list[FileChange]:
    """What bringing the template's change from ``base`` to ``theirs`` does to the market
    in ``ours``: one change per file the template changed and the update touches, but the
    paths in ``skip`` (files, or folders with everything in them)."""
    old, new = _files(base), _files(theirs)
    changes = []
    for path in sorted(old.keys() | new.keys()):
        if any(path == s or path.startswith(f"{s}/") for s in skip):
            continue
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        current_path = ours / path
        current = current_path.read_bytes() if current_path.is_file() else None
        change = _change(path, before, after, current, labels)
        if change is not None:
            changes.append(change)
    return changes


def _change(
    path: str,
    before: bytes | None,
    after: bytes | None,
    current: bytes | None,
    labels: tuple[str, str],
) -> FileChange | None:
    if current == after:
        return None
    template_change = unified_diff(before, after, path, labels).encode()
    if current == before:
        action = (
            Action.ADD if current is None else Action.DELETE if after is None else Action.UPDATE
        )
        return FileChange(path, action, after, current)
    if current is None:
        return FileChange(
            path,
            Action.CONFLICT,
            None,
            None,
            template_change,
            _("removed in the market, changed in the template"),
        )
    if after is None:
        return FileChange(
            path,
            Action.CONFLICT,
            None,
            current,
            template_change,
            _("changed in the market, removed from the template"),
        )
    if _text(current) is None or _text(before) is None or _text(after) is None:
        return FileChange(
            path,
            Action.CONFLICT,
            None,
            current,
            after,
            _("a binary file both changed: the template's is in the .rej file"),
        )
    merged, conflicts = merge_file(current, before or b"", after, ("market", labels[0], labels[1]))
    if conflicts:
        return FileChange(
            path,
            Action.CONFLICT,
            merged,
            current,
            None,
            _("both changed the same lines: see the conflict markers"),
        )
    return FileChange(path, Action.MERGE, merged, current)
