"""Where a market's template comes from: a folder, or a git repository at a commit.

A market remembers the repository, the folder of the template inside it and the commit it
was made from (in ``.cruft.json``, see :mod:`regiocrm.markets.tracking`), so the template can
be read back at that commit and at any later one. A remote repository is cloned once per
command into a scratch folder; a local one is read in place.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from regiocrm.markets.template_info import TemplateInfo, TemplateInfoError
from regiocrm.platform.i18n import _

# The template's own file, beside cookiecutter.json: its version and upgrade steps.
TEMPLATE_FILE = "template.toml"
# ssh's scp-like form (git@host:owner/repo) is a URL too.
REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")


class SourceError(Exception):
    """A template source that cannot be read: unreachable, not a template, an unknown ref."""


def git(*args: str | Path, cwd: Path | None = None, data: bytes | None = None) -> bytes:
    """Run git; its output. Git's own words are the reason when it fails."""
    done = subprocess.run(  # noqa: S603 - git, with arguments we build
        ["git", "-c", "core.quotePath=false", *map(str, args)],  # noqa: S607 - git from PATH
        cwd=cwd,
        input=data,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise SourceError(reason[-1] if reason else f"git {args[0]} failed")
    return done.stdout


def work_tree(path: Path) -> Path | None:
    """The top of the git working tree holding ``path``, if any."""
    try:
        return Path(git("rev-parse", "--show-toplevel", cwd=path).decode().strip())
    except (SourceError, OSError):
        return None


def commit_of(repository: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the repository, if it names one (never an option of
    git's, whatever the ref says)."""
    if ref.startswith("-"):
        return None
    try:
        found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repository)
    except SourceError:
        return None
    return found.decode().strip()


def extract(archive: bytes, into: Path) -> None:
    """A ``git archive`` tarball written under ``into``, nothing outside it."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


@dataclass
class TemplateSource:
    """A template as a market records it: ``location`` is a git repository (a path or a
    URL) with the template in ``directory``, or a plain folder (``versioned`` false)."""

    location: str
    directory: str | None = None
    versioned: bool = True
    repository: Path | None = field(default=None, repr=False)

    @classmethod
    def open(cls, location: str, directory: str | None, scratch: Path) -> TemplateSource:
        """The source, readable: a remote repository is cloned (bare) into ``scratch``; a
        local folder inside a git working tree is that repository, with the folder as
        ``directory``.

        :raises SourceError: when it cannot be reached or read.
        """
        if REMOTE.match(location):
            clone = scratch / "template.git"
            try:
                git("clone", "--quiet", "--bare", "--", location, clone)
            except SourceError as exc:
                raise SourceError(
                    _("cannot reach the template at {source}: {reason}").format(
                        source=location, reason=exc
                    )
                ) from None
            return cls(location, directory, True, clone)
        path = Path(location)
        if not path.is_dir():
            raise SourceError(
                _("cannot reach the template at {source}: no such folder").format(source=location)
            )
        top = work_tree(path)
        # A folder git does not track (an installed regiocrm in a project's ignored .venv)
        # has no history there.
        if top is None or not git("ls-files", "--", ".", cwd=path).strip():
            return cls(str(path.resolve()), None, False, None)
        inside = path.resolve().relative_to(top.resolve()).as_posix()
        # A folder inside a repository is that repository's template directory.
        if directory is None and inside != ".":
            directory = inside
        return cls(str(top), directory, True, top)

    def resolve(self, ref: str | None) -> str:
        """The commit ``ref`` names (default: the repository's HEAD).

        :raises SourceError: for a ref the repository does not have.
        """
        assert self.repository is not None
        name = ref or "HEAD"
        found = commit_of(self.repository, name)
        if found is None:
            raise SourceError(
                _("{ref!r} is not a branch, tag or commit of the template at {source}").format(
                    ref=name, source=self.location
                )
            )
        return found

    def _tree(self, commit: str) -> str:
        return f"{commit}:{self.directory}" if self.directory else f"{commit}:"

    def export(self, commit: str, into: Path) -> Path:
        """The template folder as it was at ``commit``, written under ``into``.

        :raises SourceError: when the commit holds no template there.
        """
        assert self.repository is not None
        extract(git("archive", "--format=tar", self._tree(commit), cwd=self.repository), into)
        if not (into / "cookiecutter.json").is_file():
            raise SourceError(
                _("no cookiecutter.json in {folder} at {commit}: not a template").format(
                    folder=self.directory or ".", commit=commit[:12]
                )
            )
        return into

    def changed(self, old: str, new: str) -> bool:
        """Whether the template folder differs between two commits."""
        assert self.repository is not None
        return bool(
            git("diff", "--name-only", old, new, "--", self.directory or ".", cwd=self.repository)
        )

    def history(self, old: str, new: str) -> list[tuple[str, str]]:
        """The commits after ``old`` up to ``new`` that change the template: (id, subject)."""
        assert self.repository is not None
        lines = git(
            "log",
            "--format=%H %s",
            f"{old}..{new}",
            "--",
            self.directory or ".",
            cwd=self.repository,
        ).decode()
        return [tuple(line.split(" ", 1)) for line in lines.splitlines()]  # type: ignore[misc]

    def has(self, commit: str) -> bool:
        assert self.repository is not None
        try:
            git("cat-file", "-e", f"{commit}^{{commit}}", cwd=self.repository)
        except SourceError:
            return False
        return True

    def template_file(self, commit: str | None) -> TemplateInfo:
        """The template's ``template.toml`` at ``commit`` (the folder itself for a plain
        folder); empty when it has none.

        :raises SourceError: for a file that is not valid.
        """
        if self.repository is None or commit is None:
            path = Path(self.location) / TEMPLATE_FILE
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        else:
            try:
                text = git(
                    "show", f"{commit}:{self._path(TEMPLATE_FILE)}", cwd=self.repository
                ).decode()
            except SourceError:
                text = ""
        try:
            return TemplateInfo.parse(text)
        except TemplateInfoError as exc:
            raise SourceError(
                _("{file} of the template is not valid: {reason}").format(
                    file=TEMPLATE_FILE, reason=exc
                )
            ) from None

    def _path(self, name: str) -> str:
        return f"{self.directory}/{name}" if self.directory else name
