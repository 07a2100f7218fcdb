"""A pack as another version of its source would make it: ``regiocrm packs diff CODE
--against REF``.

A competence centre wants to see what an update brings to each market *before* applying
it, in the pack's effective values (after inheritance), not as a text diff of Python files.
So the pack modules are read at REF, loaded beside the installed ones under alias module
names, and the registry is resolved again with their specs in place of the installed ones.
Nothing installed, imported or on disk is changed: the files at REF go to a scratch folder
and the alias modules are forgotten once their specs are read.

Where REF is looked up depends on where the pack comes from:

* a generated market (its package lies in a project folder with ``.cruft.json``): REF is a
  branch, tag or commit of the market's template, and the pack at REF is the market as
  ``regiocrm market update --checkout REF`` would make it (a dry run of that update, the
  market's own edits merged in);
* a pack module in a git working tree (regiocrm's own ``regions/`` in a development
  checkout, a plugin's repository): REF is a ref of that repository, and every installed
  pack module of that working tree is read at REF, so the packs it extends (``asia``) are
  the REF versions too.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pluggy

from regiocrm.interfaces.packs import Pack, PackError, PackSpec, resolve_packs
from regiocrm.markets.merge import Action, FileChange
from regiocrm.markets.sources import SourceError, commit_of, extract, git, work_tree
from regiocrm.markets.tracking import STATE_FILE, TrackingError, project_holding, update
from regiocrm.platform.i18n import _


class PackVersionError(Exception):
    """A pack that cannot be read at the version asked; nothing was changed."""


@dataclass(frozen=True)
class _Source:
    """One installed ``register_packs`` implementation whose module can be read again at
    another version: ``rel`` is the module's file relative to ``root`` (the market's project
    folder or the git working tree)."""

    index: int
    function: str
    module: ModuleType
    file: Path
    root: Path
    rel: str

    @property
    def is_package(self) -> bool:
        return self.file.name == "__init__.py"

    @property
    def in_package(self) -> bool:
        """A module of a package (``pkg/packs.py``), whose relative imports need the
        package's other files."""
        return not self.is_package and bool(self.module.__package__)

    @property
    def unit(self) -> str:
        """What is read at REF: the module's folder for a package or one of its modules (its
        relative imports reach the rest), else the file alone."""
        if self.is_package or self.in_package:
            return Path(self.rel).parent.as_posix()
        return self.rel


def pack_at(pm: pluggy.PluginManager, code: str, ref: str) -> Pack:
    """Pack ``code`` resolved with the pack modules of its source read at ``ref``.

    :param pm: the plugin manager whose packs are installed (the source of ``Hooks.packs``).
    :raises PackVersionError: for an unknown ref, a pack whose source is neither a generated
        market nor in a git working tree, a module at ``ref`` that fails to import or to
        declare its packs, packs that do not resolve at ``ref``, or ``code`` missing there.
    """
    impls = [
        impl
        for impl in pm.hook.register_packs.get_hookimpls()
        if not (impl.hookwrapper or impl.wrapper)
    ]
    installed = [list(cast("list[PackSpec]", impl.function())) for impl in impls]
    owner = next(
        (i for i, specs in enumerate(installed) if any(s.code == code for s in specs)), None
    )
    if owner is None:
        raise PackVersionError(_("no installed plugin registers pack {code!r}").format(code=code))
    target = _target(impls[owner], code)
    project = project_holding(target)
    with tempfile.TemporaryDirectory(prefix="regiocrm-pack-at-") as folder:
        scratch = Path(folder)
        if project is not None:
            market = _relative(owner, impls[owner], project.resolve())
            at_ref = {owner: _market_at(market, project, ref, scratch)}
        else:
            at_ref = _repository_at(impls, owner, target, ref, scratch)
        specs = [spec for index, specs in enumerate(installed) for spec in at_ref.get(index, specs)]
    try:
        packs = resolve_packs(specs)
    except PackError as exc:
        raise PackVersionError(
            _("the packs do not resolve at {ref}: {reason}").format(ref=ref, reason=exc)
        ) from None
    if code not in packs:
        raise PackVersionError(
            _("pack {code!r} does not exist at {ref}").format(code=code, ref=ref)
        )
    return packs[code]


def _module_file(impl: Any) -> tuple[ModuleType, Path] | None:
    """The module of a ``register_packs`` implementation and its file, links resolved (an
    editable install links the files of the source tree), when the plugin is a module read
    from a file."""
    module = impl.plugin
    file = getattr(module, "__file__", None)
    if not isinstance(module, ModuleType) or file is None:
        return None
    return module, Path(file).resolve()


def _target(impl: Any, code: str) -> Path:
    """The file of the module registering pack ``code``.

    :raises PackVersionError: when the plugin is not a module read from a file.
    """
    found = _module_file(impl)
    if found is None:
        raise PackVersionError(
            _(
                "pack {code!r} is registered by {plugin!r}, which is not a module read from a"
                " file: it has no other version to read"
            ).format(code=code, plugin=impl.plugin_name)
        )
    return found[1]


def _relative(index: int, impl: Any, root: Path) -> _Source:
    found = _module_file(impl)
    assert found is not None
    module, file = found
    rel = file.relative_to(root).as_posix()
    return _Source(index, impl.function.__name__, module, file, root, rel)


# A generated market -----------------------------------------------------------------------


def _market_at(source: _Source, project: Path, ref: str, scratch: Path) -> list[PackSpec]:
    """The market's specs as an update of the market to its template at ``ref`` would make
    them: the update's dry run gives each file's new content, laid over a copy of the
    market's package."""
    try:
        result = update(project, ref, dry_run=True)
    except TrackingError as exc:
        raise PackVersionError(str(exc)) from None
    unit = source.unit
    copy = scratch / "market"
    origin = project / unit
    if origin.is_dir():
        shutil.copytree(origin, copy / unit, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (copy / unit).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, copy / unit)
    touched = [change for change in result.changes if _inside(change, unit)]
    conflicts = [change.path for change in touched if change.action is Action.CONFLICT]
    if conflicts:
        raise PackVersionError(
            _(
                "updating the market to {ref} conflicts in {files}: its pack at {ref} is"
                " unknown until the conflicts are resolved"
            ).format(ref=ref, files=", ".join(conflicts))
        )
    for change in touched:
        path = copy / change.path
        if change.content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(change.content)
        elif change.action is Action.DELETE:
            path.unlink(missing_ok=True)
    return _specs_at(source, copy, ref)


def _inside(change: FileChange, unit: str) -> bool:
    return change.path == unit or change.path.startswith(f"{unit}/")


# A git working tree -----------------------------------------------------------------------


def _repository_at(
    impls: list[Any], owner: int, target: Path, ref: str, scratch: Path
) -> dict[int, list[PackSpec]]:
    """The specs of every installed pack module of the target's working tree, read at
    ``ref``: a pack's parents move with it when they come from the same repository. A
    module git does not track (a scratch plugin beside the sources) keeps its installed
    specs, unless it registers the pack asked about."""
    top = work_tree(target.parent)
    if top is None:
        raise PackVersionError(
            _(
                "{file} is neither in a generated market (no {state} above it) nor in a git"
                " working tree: there is no other version of its packs to read"
            ).format(file=target, state=STATE_FILE)
        )
    top = top.resolve()
    at = commit_of(top, ref)
    if at is None:
        raise PackVersionError(
            _("{ref!r} is not a branch, tag or commit of the repository at {top}").format(
                ref=ref, top=top
            )
        )
    found: dict[int, list[PackSpec]] = {}
    for index, impl in enumerate(impls):
        located = _module_file(impl)
        if located is None or not located[1].is_relative_to(top):
            continue
        source = _relative(index, impl, top)
        if index != owner and not _tracked(top, source.rel):
            continue
        folder = scratch / f"repository-{index}"
        found[index] = _specs_at(source, folder, ref) if _export(top, at, source, folder) else []
    return found


def _tracked(top: Path, rel: str) -> bool:
    try:
        git("ls-files", "--error-unmatch", "--", rel, cwd=top)
    except SourceError:
        return False
    return True


def _export(top: Path, commit: str, source: _Source, into: Path) -> bool:
    """The module's unit written under ``into`` as it is at ``commit``; false when the
    module's file is not there at that commit."""
    try:
        git("cat-file", "-e", f"{commit}:{source.rel}", cwd=top)
    except SourceError:
        return False
    extract(git("archive", "--format=tar", commit, "--", source.unit, cwd=top), into)
    return True


# Loading a module at another version -------------------------------------------------------


def _specs_at(source: _Source, folder: Path, ref: str) -> list[PackSpec]:
    """The specs the module's file under ``folder`` declares, the module loaded under an
    alias name (so the installed module is untouched) and forgotten again."""
    file = folder / source.rel
    if not file.is_file():
        return []
    name = source.module.__name__
    with _aliases() as alias:
        try:
            module = _load(alias, source, file)
        except Exception as exc:  # whatever the module at REF raises is its reason
            raise PackVersionError(
                _("module {module} at {ref} cannot be imported: {reason}").format(
                    module=name, ref=ref, reason=f"{type(exc).__name__}: {exc}"
                )
            ) from None
        declare: Callable[[], Any] | None = getattr(module, source.function, None)
        if declare is None:
            return []
        try:
            return list(declare())
        except Exception as exc:  # as above: its reason, not a traceback
            raise PackVersionError(
                _("module {module} at {ref} cannot declare its packs: {reason}").format(
                    module=name, ref=ref, reason=exc
                )
            ) from None


@contextmanager
def _aliases() -> Iterator[str]:
    """A module name no installed module has; it and its submodules leave ``sys.modules``
    afterwards."""
    alias = f"_regiocrm_pack_at_ref_{uuid.uuid4().hex[:12]}"
    try:
        yield alias
    finally:
        for name in [n for n in sys.modules if n == alias or n.startswith(f"{alias}.")]:
            del sys.modules[name]


def _load(alias: str, source: _Source, file: Path) -> ModuleType:
    """The module in ``file`` executed as ``alias`` (a package keeps its folder for its
    submodules); a module of a package as ``alias.<name>`` under a stand-in package whose
    path is the folder read at REF, so its relative imports find the files of that version."""
    if source.is_package:
        return _execute(alias, file, [str(file.parent)])
    if source.in_package:
        parent = ModuleType(alias)
        parent.__path__ = [str(file.parent)]
        parent.__package__ = alias
        parent.__spec__ = ModuleSpec(alias, None, is_package=True)
        parent.__spec__.submodule_search_locations = [str(file.parent)]
        sys.modules[alias] = parent
        return _execute(f"{alias}.{file.stem}", file, None)
    return _execute(alias, file, None)


def _execute(name: str, file: Path, search: list[str] | None) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, file, submodule_search_locations=search)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
