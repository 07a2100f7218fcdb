"""Markets that follow their template: what a market was made from, whether the template
has moved on since, and bringing its changes in while keeping the market's own.

A generated market keeps ``.cruft.json``, in cruft's format (so cruft itself reads it too):
the template's repository and folder, the commit and the answers it was made with, and here
also the template's version. An update renders the template twice with the same answers,
at the recorded commit and at the new one, and merges the difference into the market file by
file, three ways, as ``git merge-file`` does: a file the market left alone takes the
template's new text, a file both changed is merged, and where the two changed the same
lines the file gets conflict markers (or, where markers cannot go, a ``.rej`` file with the
template's change). Nothing is committed: the market's git history is the undo.
"""

from __future__ import annotations

import difflib
import json
import multiprocessing
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import tomlkit

from regiocrm.interfaces.packs import PackSpec
from regiocrm.markets.scaffold import template as shipped_template
from regiocrm.markets.sources import SourceError, TemplateSource, git, work_tree
from regiocrm.markets.template_info import (
    RenameSetting,
    TemplateChange,
    TemplateInfo,
    TemplateInfoError,
    version_key,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import _

STATE_FILE = ".cruft.json"
# Read by the template's pre-generation hook: the market being rendered again, whose own
# pack may be installed already.
UPDATING = "REGIOCRM_UPDATING_MARKET"


COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# How far above a pack's module its market's folder may be (package, then project).
PROJECT_DEPTH = 3


class TrackingError(Exception):
    """A market that cannot be checked or updated as asked; nothing was changed."""


@dataclass(frozen=True)
class MarketState:
    """What a market remembers of its template (``.cruft.json``)."""

    template: str
    commit: str | None
    checkout: str | None
    directory: str | None
    version: str | None
    context: dict[str, Any]
    skip: tuple[str, ...] = ()

    @classmethod
    def read(cls, project: Path) -> MarketState:
        """:raises TrackingError: when ``project`` is not a generated market."""
        path = project / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            commit = data.get("commit")
            if commit is not None and not COMMIT.fullmatch(str(commit)):
                raise ValueError(f"commit {commit!r} is not a git commit id")
            return cls(
                template=str(data["template"]),
                commit=commit,
                checkout=data.get("checkout"),
                directory=data.get("directory"),
                version=data.get("template_version"),
                context=dict(data["context"]["cookiecutter"]),
                skip=tuple(data.get("skip") or ()),
            )
        except FileNotFoundError:
            raise TrackingError(
                _("{path} is not a generated market: it has no {file}").format(
                    path=project, file=STATE_FILE
                )
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TrackingError(
                _("{file} of {path} cannot be read: {reason}").format(
                    file=STATE_FILE, path=project, reason=exc
                )
            ) from None

    def answers(self) -> dict[str, Any]:
        """The values to render the template with again: those asked and those derived
        (``__revision``…), not the template's private settings (``_extensions``…), which
        come from the template version rendered."""
        return {
            key: value
            for key, value in self.context.items()
            if not key.startswith("_") or key.startswith("__")
        }

    def as_json(self) -> str:
        return json.dumps(
            {
                "template": self.template,
                "commit": self.commit,
                "checkout": self.checkout,
                "context": {"cookiecutter": self.context},
                "directory": self.directory,
                "skip": list(self.skip),
                "template_version": self.version,
            },
            indent=2,
            ensure_ascii=False,
        )

    def write(self, project: Path) -> None:
        write_file(project / STATE_FILE, (self.as_json() + "\n").encode())


def write_file(path: Path, content: bytes) -> None:
    """Whole or not at all: an interrupted update leaves no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


@dataclass(frozen=True)
class Origin:
    """The template a market is made from, as its state records it."""

    template: str
    commit: str | None
    checkout: str | None
    directory: str | None
    version: str | None

    def state(self, context: Mapping[str, Any]) -> MarketState:
        private = {"_template": self.template, "_commit": self.commit}
        return MarketState(
            self.template,
            self.commit,
            self.checkout,
            self.directory,
            self.version,
            {**context, **private},
        )


@contextmanager
def template_folder(
    location: str | None, directory: str | None = None, checkout: str | None = None
) -> Iterator[tuple[Path, Origin]]:
    """The template to make a market from, as a folder, and its origin to record.

    :param location: a folder or a git repository (path or URL); ``None``: the template
        shipped in regiocrm, recorded with its repository's commit when it lies in a clean
        git working tree (a development install), else as a folder with its version.
    :param checkout: a branch, tag or commit of the repository (default: its HEAD).
    :raises TrackingError: an unreachable source, an unknown ref, no template there.
    """
    with tempfile.TemporaryDirectory(prefix="regiocrm-template-") as folder:
        scratch = Path(folder)
        try:
            if location is None:
                with shipped_template() as shipped:
                    yield _shipped(shipped, checkout, scratch)
                return
            source = TemplateSource.open(location, directory, scratch)
            if not source.versioned:
                if checkout is not None:
                    raise SourceError(
                        _("--checkout needs a git repository; {source} is a folder").format(
                            source=location
                        )
                    )
                yield (
                    Path(source.location),
                    Origin(source.location, None, None, None, _version(source, None)),
                )
                return
            commit = source.resolve(checkout)
            exported = source.export(commit, scratch / "template" / "market")
            yield (
                exported,
                Origin(
                    source.location, commit, checkout, source.directory, _version(source, commit)
                ),
            )
        except SourceError as exc:
            raise TrackingError(str(exc)) from None


def _shipped(folder: Path, checkout: str | None, scratch: Path) -> tuple[Path, Origin]:
    source = TemplateSource.open(str(folder), None, scratch)
    if checkout is None:
        if source.versioned and not git("status", "--porcelain", "--", ".", cwd=folder).strip():
            commit = source.resolve(None)
            return folder, Origin(
                source.location, commit, None, source.directory, _version(source, commit)
            )
        unversioned = TemplateSource(str(folder.resolve()), versioned=False)
        return folder, Origin(unversioned.location, None, None, None, _version(unversioned, None))
    if not source.versioned:
        raise SourceError(_("--checkout needs the template in a git repository: give --template"))
    commit = source.resolve(checkout)
    exported = source.export(commit, scratch / "template" / "market")
    return exported, Origin(
        source.location, commit, checkout, source.directory, _version(source, commit)
    )


def _version(source: TemplateSource, commit: str | None) -> str | None:
    return source.template_file(commit).version


# Rendering -------------------------------------------------------------------------------


def render(template: Path, answers: Mapping[str, Any], into: Path, market: str | None) -> Rendered:
    """The project the template makes with ``answers``, under ``into``.

    :param market: the pack code of the market being rendered again, for the template's
        check of the answers (its own pack is installed, and may be).
    :raises TrackingError: when the template refuses the answers.
    """
    # Imported here: cookiecutter brings requests and its charset tables (0.2 s), which every
    # other command would pay for at start-up.
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.main import cookiecutter

    into.mkdir(parents=True, exist_ok=True)
    config = into / "cookiecutter.yaml"
    config.write_text(f"cookiecutters_dir: {into}/templates\nreplay_dir: {into}/replay\n")
    if market is not None:
        os.environ[UPDATING] = market
    try:
        made = cookiecutter(
            str(template),
            no_input=True,
            extra_context=dict(answers),
            output_dir=str(into / "out"),
            config_file=str(config),
        )
    except FailedHookException:
        raise TrackingError(_("the template refuses the market's answers (see above)")) from None
    except CookiecutterException as exc:
        raise TrackingError(str(exc)) from None
    finally:
        os.environ.pop(UPDATING, None)
    [replay] = (into / "replay").glob("*.json")
    context = json.loads(replay.read_text(encoding="utf-8"))["cookiecutter"]
    return Rendered(Path(made), recorded_context(context))


def recorded_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """cookiecutter's context as a market keeps it: without the scratch folders it was
    rendered from and into."""
    scratch_only = {"_output_dir", "_repo_dir", "_checkout"}
    return {key: value for key, value in context.items() if key not in scratch_only}


@dataclass(frozen=True)
class Rendered:
    project: Path
    context: dict[str, Any]


@contextmanager
def renderers() -> Iterator[Executor | None]:
    """Two renders side by side where processes can be forked cheaply (each runs the
    template's hooks, which start Python and load the plugins, so both take about the time
    of one); one after the other elsewhere, and in a process running threads, which a fork
    would copy half-way."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        yield None
        return
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


# Merging ---------------------------------------------------------------------------------


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


def _unified(before: bytes | None, after: bytes | None, path: str, labels: tuple[str, str]) -> str:
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
        raise TrackingError(done.stderr.decode(errors="replace").strip())
    return done.stdout, done.returncode > 0


def plan(
    base: Path, theirs: Path, ours: Path, skip: tuple[str, ...], labels: tuple[str, str]
) -> list[FileChange]:
    """What bringing the template's change from ``base`` to ``theirs`` does to the market
    in ``ours``: one change per file the template changed and the update touches."""
    old, new = _files(base), _files(theirs)
    changes = []
    for path in sorted(old.keys() | new.keys()):
        if path == STATE_FILE or any(path == s or path.startswith(f"{s}/") for s in skip):
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
    template_change = _unified(before, after, path, labels).encode()
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


# Upgrade steps ---------------------------------------------------------------------------


def rename_setting(text: str, old: str, new: str) -> str | None:
    """The TOML with the key at dotted path ``old`` moved to ``new``, comments kept;
    ``None`` when it has no such key.

    :raises TrackingError: for text that is not TOML, or a ``new`` path through a value
        that is not a table.
    """
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise TrackingError(str(exc)) from None
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
            raise TrackingError(
                _("{path} cannot hold a setting: it is not a table").format(path=new)
            )
    target[new_key] = value
    return tomlkit.dumps(document)


def apply_steps(
    changes: list[FileChange], steps: list[TemplateChange], project: Path
) -> tuple[list[FileChange], list[str]]:
    """The upgrade steps the update applies (settings renamed in the market's TOML files),
    folded into the file changes; and what it explains, for the person to do.

    :raises TrackingError: a step naming a file outside the market, or one that is not
        TOML.
    """
    by_path = {change.path: change for change in changes}
    told = []
    for change in steps:
        told += [f"{change.version}: {text}" for text in change.explanations()]
        for step in change.steps:
            if not isinstance(step, RenameSetting):
                continue
            path = _inside(project, step.file)
            planned = by_path.get(path)
            current = (project / path).read_bytes() if (project / path).is_file() else None
            text = planned.content if planned is not None and planned.content else current
            if text is None:
                continue
            try:
                renamed = rename_setting(text.decode("utf-8"), step.old, step.new)
            except (TrackingError, UnicodeDecodeError) as exc:
                raise TrackingError(
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


def _inside(project: Path, name: str) -> str:
    """A path of the market's, relative to it: a template's step reaches no further."""
    path = (project / name).resolve()
    if not path.is_relative_to(project.resolve()):
        raise TrackingError(
            _("an upgrade step names {file}, which is outside the market").format(file=name)
        )
    return path.relative_to(project.resolve()).as_posix()


# Check and update ------------------------------------------------------------------------


class Standing(StrEnum):
    CURRENT = "current"
    BEHIND = "behind"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TemplateStatus:
    """Whether a market is behind its template, and by what."""

    project: Path
    template: str
    standing: Standing
    commit: str | None
    latest: str | None
    version: str | None
    latest_version: str | None
    commits: list[tuple[str, str]] = field(default_factory=list)
    changes: list[TemplateChange] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.project),
            "template": self.template,
            "status": self.standing.value,
            "commit": self.commit,
            "latest_commit": self.latest,
            "version": self.version,
            "latest_version": self.latest_version,
            "commits": [{"commit": c, "subject": s} for c, s in self.commits],
            "changes": [
                {"version": c.version, "summary": c.summary, "explain": c.explanations()}
                for c in self.changes
            ],
            "reason": self.reason,
        }


def check(project: Path, checkout: str | None = None) -> TemplateStatus:
    """Whether the market in ``project`` is behind its template (at ``checkout``, or the
    ref it follows, or the template's HEAD).

    :raises TrackingError: not a generated market, a template that cannot be reached or
        read, an unknown ref.
    """
    state = MarketState.read(project)
    with _reasons(), tempfile.TemporaryDirectory(prefix="regiocrm-market-") as scratch:
        source = TemplateSource.open(state.template, state.directory, Path(scratch))
        if not source.versioned:
            return _folder_status(project, state, source.template_file(None))
        latest = source.resolve(checkout or state.checkout)
        recorded = _recorded(source, state)
        info = source.template_file(latest)
        commits = source.history(recorded, latest) if recorded != latest else []
        behind = bool(commits) and source.changed(recorded, latest)
        return TemplateStatus(
            project,
            state.template,
            Standing.BEHIND if behind else Standing.CURRENT,
            recorded,
            latest,
            state.version,
            info.version,
            commits if behind else [],
            info.between(state.version, info.version) if behind else [],
        )


def _folder_status(project: Path, state: MarketState, info: TemplateInfo) -> TemplateStatus:
    """A template outside git: only the versions tell whether it moved on."""
    if state.version is None or info.version is None:
        standing = Standing.UNKNOWN
    elif version_key(info.version) > version_key(state.version):
        standing = Standing.BEHIND
    else:
        standing = Standing.CURRENT
    return TemplateStatus(
        project,
        state.template,
        standing,
        None,
        None,
        state.version,
        info.version,
        changes=info.between(state.version, info.version) if standing is Standing.BEHIND else [],
        reason=_("the template is a folder, not a git repository: only its version is compared"),
    )


@contextmanager
def _reasons() -> Iterator[None]:
    """A template that cannot be read, or a version that does not compare, as the reason
    a check or an update stops."""
    try:
        yield
    except (SourceError, TemplateInfoError) as exc:
        raise TrackingError(str(exc)) from None


def market_project(hooks: Hooks, code: str) -> Path | None:
    """The folder of the generated market registering pack ``code``, when it is installed
    from there (an editable install)."""
    for impl in hooks.pm.hook.register_packs.get_hookimpls():
        specs = cast("list[PackSpec]", impl.function())
        if any(spec.code == code for spec in specs):
            module = getattr(impl.plugin, "__file__", None)
            return project_holding(Path(module).resolve()) if module else None
    return None


def project_holding(module: Path) -> Path | None:
    """The generated market's folder holding a module: the nearest folder above it with
    ``.cruft.json``."""
    for folder in list(module.parents)[:PROJECT_DEPTH]:
        if (folder / STATE_FILE).is_file():
            return folder
    return None


def _recorded(source: TemplateSource, state: MarketState) -> str:
    if state.commit is None:
        raise TrackingError(
            _(
                "the market records no commit of its template (it was made from a folder):"
                " its version cannot be read back from {source}"
            ).format(source=state.template)
        )
    if not source.has(state.commit):
        raise TrackingError(
            _(
                "the template at {source} has no commit {commit}, which the market was made from"
            ).format(source=state.template, commit=state.commit)
        )
    return state.commit


@dataclass(frozen=True)
class UpdateResult:
    """What an update did (or, dry, would do)."""

    project: Path
    commit: str
    latest: str
    version: str | None
    latest_version: str | None
    changes: list[FileChange]
    told: list[str]

    @property
    def conflicts(self) -> list[FileChange]:
        return [change for change in self.changes if change.action is Action.CONFLICT]

    def diff(self) -> str:
        """The market's files before and after, as a unified diff."""
        return "".join(
            _unified(change.before, change.after, change.path, ("a", "b"))
            for change in self.changes
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.project),
            "commit": self.commit,
            "latest_commit": self.latest,
            "version": self.version,
            "latest_version": self.latest_version,
            "files": [
                {"path": c.path, "action": c.action.value, "reason": c.reason} for c in self.changes
            ],
            "conflicts": [c.path for c in self.conflicts],
            "steps": self.told,
        }


def update(project: Path, checkout: str | None = None, dry_run: bool = False) -> UpdateResult:
    """Bring the template's changes since the market's recorded commit into the market.

    :raises TrackingError: not a generated market, a working tree with uncommitted
        changes (unless ``dry_run``), a template that cannot be reached, an unknown ref,
        answers the new template refuses. Nothing is changed then.
    """
    state = MarketState.read(project)
    if not dry_run:
        ensure_clean(project)
    with _reasons(), tempfile.TemporaryDirectory(prefix="regiocrm-market-") as folder:
        scratch = Path(folder)
        source = TemplateSource.open(state.template, state.directory, scratch)
        if not source.versioned:
            raise TrackingError(
                _(
                    "the template at {source} is not in a git repository, so the version the"
                    " market was made from cannot be read back: keep the template in git"
                ).format(source=state.template)
            )
        latest = source.resolve(checkout or state.checkout)
        recorded = _recorded(source, state)
        info = source.template_file(latest)
        latest_version = info.version
        steps = info.between(state.version, latest_version)
        for version in steps:
            for step in version.steps:
                if isinstance(step, RenameSetting):
                    _inside(project, step.file)
        labels = (f"template@{recorded[:12]}", f"template@{latest[:12]}")
        changes: list[FileChange] = []
        context = state.context
        if recorded != latest and source.changed(recorded, latest):
            base_template = source.export(recorded, scratch / "base" / "market")
            # The recorded answers were checked when the market was made or last updated;
            # only the new template's check is news (and it loads every plugin: seconds).
            for check_hook in (base_template / "hooks").glob("pre_gen_project.*"):
                check_hook.unlink()
            new_template = source.export(latest, scratch / "new" / "market")
            market = state.context.get("__pack_code")
            answers = state.answers()
            jobs = [
                (base_template, answers, scratch / "base-out", market),
                (new_template, answers, scratch / "new-out", market),
            ]
            with renderers() as pool:
                if pool is None:
                    base, new = (render(*job) for job in jobs)
                else:
                    base, new = (f.result() for f in [pool.submit(render, *j) for j in jobs])
            changes = plan(base.project, new.project, project, state.skip, labels)
            context = new.context
        changes, told = apply_steps(changes, steps, project)
        result = UpdateResult(
            project, recorded, latest, state.version, latest_version, changes, told
        )
        if not dry_run and (recorded != latest or changes):
            for change in changes:
                _write(project, change)
            new_state = replace(
                state,
                commit=latest,
                checkout=checkout or state.checkout,
                version=latest_version,
                context={**context, "_commit": latest, "_template": state.template},
            )
            new_state.write(project)
        return result


def _write(project: Path, change: FileChange) -> None:
    path = project / change.path
    if change.content is not None:
        write_file(path, change.content)
    elif change.action is Action.DELETE:
        path.unlink()
    if change.reject is not None:
        write_file(path.with_name(f"{path.name}.rej"), change.reject)


def ensure_clean(project: Path) -> None:
    """:raises TrackingError: outside a git working tree, or with uncommitted changes."""
    if work_tree(project) is None:
        raise TrackingError(
            _(
                "{path} is not in a git working tree: commit the market first, so an update"
                " can be looked at and undone"
            ).format(path=project)
        )
    status = git("status", "--porcelain", "--", ".", cwd=project).decode()
    if status.strip():
        raise TrackingError(
            _("{path} has uncommitted changes: commit or stash them first\n{status}").format(
                path=project, status=status.rstrip()
            )
        )
