"""A market template kept in a git repository and a Thai market generated from it, made
once per test process and copied for each test: generating runs cookiecutter and the
template's hooks (a few seconds), copying two small folders takes milliseconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from regiocrm.markets.scaffold import template
from regiocrm.markets.tracking import MarketState

IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Keeper",
    "GIT_AUTHOR_EMAIL": "keeper@example.com",
    "GIT_COMMITTER_NAME": "Template Keeper",
    "GIT_COMMITTER_EMAIL": "keeper@example.com",
}
# The files of version A that tests change, in the template's repository.
SLUG = "{{cookiecutter.__project_slug}}"
PACK_MODULE = Path(SLUG, "{{cookiecutter.__package_name}}", "__init__.py")


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit_all(folder: Path, message: str) -> str:
    git("add", "-A", cwd=folder)
    git("commit", "--quiet", "--no-gpg-sign", "-m", message, cwd=folder)
    return git("rev-parse", "HEAD", cwd=folder)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@dataclass(frozen=True)
class ThaiMarket:
    """The template's repository at version A and Thailand made from it, committed."""

    template: Path
    market: Path

    @classmethod
    def make(cls, folder: Path) -> ThaiMarket:
        repository = folder / "template"
        with template() as shipped:
            shutil.copytree(shipped, repository, ignore=shutil.ignore_patterns("__pycache__"))
        git("init", "--quiet", "--initial-branch=main", cwd=repository)
        commit_all(repository, "template A")
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "regiocrm",
                "new-market",
                "--no-input",
                "country_code=TH",
                "-o",
                str(folder),
                "--template",
                str(repository),
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        market = folder / "regiocrm-market-th"
        git("init", "--quiet", "--initial-branch=main", cwd=market)
        commit_all(market, "Thailand, from the template")
        return cls(repository, market)

    def copy(self, template_to: Path, market_to: Path) -> ThaiMarket:
        """Both copied, the market's record pointing at the copied template (committed, so
        the market's tree is clean)."""
        shutil.copytree(self.template, template_to)
        shutil.copytree(self.market, market_to)
        state = MarketState.read(market_to)
        context = {**state.context, "_template": str(template_to)}
        replace(state, template=str(template_to), context=context).write(market_to)
        git("commit", "--quiet", "--no-gpg-sign", "--amend", "--all", "--no-edit", cwd=market_to)
        return ThaiMarket(template_to, market_to)
