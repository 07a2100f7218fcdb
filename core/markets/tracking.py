"""Markets that follow their template: what a market was made from, whether the template
has moved on since, and bringing its changes in while keeping the market's own.

A generated market keeps ``.cruft.json``, in cruft's format (so cruft itself reads it too):
the template's repository and folder, the commit and the answers it was made with, and here
also the template's version. An update renders the template twice with the same answers,
at the recorded commit and at the new one, merges the difference into the market file by
file (:mod:`regiocrm.markets.merge`) and takes the upgrade steps of the versions it brings
in (:mod:`regiocrm.markets.upgrade_steps`). Nothing is committed: the market's git history
is the undo.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from regiocrm.interfaces.packs import PackSpec
from regiocrm.markets.merge import Action, FileChange, MergeError, plan, unified_diff
from regiocrm.markets.scaffold import template as shipped_template
from regiocrm.markets.sources import SourceError, TemplateSource, git, work_tree
from regiocrm.markets.template_info import (
    RenameSetting,
    TemplateChange,
    TemplateInfo,
    TemplateInfoError,
    version_key,
)
from regiocrm.markets.upgrade_steps import StepError, apply_steps, inside_market
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
    """A template that cannot be read, a version that does not compare, a file git cannot
    merge or a step that cannot be taken, as the reason a check or an update stops."""
    try:
        yield
    except (SourceError, TemplateInfoError, MergeError, StepError) as exc:
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
            unified_diff(change.before, change.after, change.path, ("a", "b"))
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
                    inside_market(project, step.file)
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
            skip = (*state.skip, STATE_FILE)
            changes = plan(base.project, new.project, project, skip, labels)
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
