"""A market follows its template, as a rollout team lives it: Thailand is generated from a
template kept in its own git repository at version A and committed; the market takes another
map provider first and commits; the template reaches version B (a new test, a README line
changed); `regiocrm market update` brings B in and keeps Thailand's edit; the market's own
tests pass before and after; `market check` and `rollout check` say behind, then current; an
edit both sides made to the same line is a conflict, and git restores the tree."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from test_new_market import fresh_environment, install, passes_its_own_tests, run

from regiocrm.markets.scaffold import template

SLUG = "{{cookiecutter.__project_slug}}"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Rollout Team",
    "GIT_AUTHOR_EMAIL": "rollout@example.com",
    "GIT_COMMITTER_NAME": "Rollout Team",
    "GIT_COMMITTER_EMAIL": "rollout@example.com",
}


def git(*args: str, cwd: Path) -> str:
    done = run("git", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit_all(folder: Path, message: str) -> None:
    git("add", "-A", cwd=folder)
    git("commit", "--quiet", "-m", message, cwd=folder)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def files_of(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts}


def test_thailand_follows_its_template_from_a_to_b(tmp_path: Path, monkeypatch) -> None:
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    repository = tmp_path / "market-template"
    with template() as folder:
        shutil.copytree(folder, repository, ignore=shutil.ignore_patterns("__pycache__"))
    git("init", "--quiet", "--initial-branch=main", cwd=repository)
    commit_all(repository, "Market template, version A")
    git("tag", "A", cwd=repository)

    python = fresh_environment(tmp_path / "venv")
    regiocrm = [python, "-m", "regiocrm"]
    made = run(
        *regiocrm,
        "new-market",
        "--no-input",
        "country_code=TH",
        "-o",
        tmp_path,
        "--template",
        repository,
        "--checkout",
        "A",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    market = tmp_path / "regiocrm-market-th"
    git("init", "--quiet", "--initial-branch=main", cwd=market)
    commit_all(market, "Thailand, from the template at A")

    # Thailand routes with amap first: its pack and the test of it say so.
    pack = market / "regiocrm_market_th" / "__init__.py"
    replace_in(
        pack,
        "            residency=RESIDENCY,",
        '            map_providers=["amap", "gazetteer"],\n            residency=RESIDENCY,',
    )
    replace_in(
        market / "tests" / "test_pack.py",
        'list(pack.map_providers) == ["gazetteer"]',
        'list(pack.map_providers) == ["amap", "gazetteer"]',
    )
    commit_all(market, "Thailand: amap first")
    install(python, market, cwd=tmp_path, editable=True)
    before = passes_its_own_tests(market, python)
    deployment = tmp_path / "deployment"
    deployment.mkdir()

    # Version B of the template: a new test, a README line changed; the market follows main.
    replace_in(
        repository / SLUG / "README.md",
        "A new market usually still lacks:",
        "A new market usually still lacks (the rollout guide lists it all):",
    )
    (repository / SLUG / "tests" / "test_catalogs.py").write_text(
        '"""Added in version B: every language of the market has its catalog."""\n\n'
        "from importlib.resources import files\n\n"
        "import {{ cookiecutter.__package_name }}\n\n\n"
        "def test_every_language_but_english_has_a_catalog() -> None:\n"
        '    locales = "{{ cookiecutter.locales }}".split(",")\n'
        '    folder = files({{ cookiecutter.__package_name }}) / "locale"\n'
        "    for locale in locales:\n"
        '        if not locale.startswith("en"):\n'
        '            assert (folder / locale / "LC_MESSAGES" / "regiocrm.mo").is_file()\n',
        encoding="utf-8",
    )
    replace_in(repository / "template.toml", 'version = "1.0"\n\n', 'version = "1.1"\n\n')
    with (repository / "template.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[[changes]]\nversion = "1.1"\nsummary = "Every language has its catalog."\n')
    commit_all(repository, "Market template, version B")

    behind = run(*regiocrm, "market", "check", market, "--checkout", "main", "--json", cwd=market)
    assert behind.returncode == 1, behind.stderr
    assert json.loads(behind.stdout)["status"] == "behind"
    assert json.loads(behind.stdout)["latest_version"] == "1.1"

    started = time.perf_counter()
    updated = run(*regiocrm, "market", "update", "--checkout", "main", cwd=market)
    took = time.perf_counter() - started
    assert updated.returncode == 0, updated.stdout + updated.stderr
    print(f"market update: {took:.1f} s")

    assert "the rollout guide lists it all" in (market / "README.md").read_text()
    assert (market / "tests" / "test_catalogs.py").is_file()
    assert 'map_providers=["amap", "gazetteer"]' in pack.read_text(), "Thailand's edit stays"
    after = passes_its_own_tests(market, python)
    passed = {summary: int(summary.split(" passed")[0].split()[-1]) for summary in (before, after)}
    assert passed[after] == passed[before] + 1, "the template's new test runs, and passes"

    current = run(*regiocrm, "market", "check", market, "--json", cwd=market)
    assert current.returncode == 0, current.stdout + current.stderr
    assert json.loads(current.stdout)["status"] == "current"
    rollout = run(*regiocrm, "rollout", "check", "--market", "TH", "--json", cwd=deployment)
    [finding] = [f for f in json.loads(rollout.stdout) if f["check"] == "template"]
    assert finding["outcome"] == "pass", finding
    commit_all(market, "Follow the template to B")

    # Both change the same README line: a conflict, listed, exit 1; git restores the tree.
    replace_in(market / "README.md", "(the rollout guide lists it all):", "for Thailand:")
    commit_all(market, "Thailand's README")
    replace_in(
        repository / SLUG / "README.md", "(the rollout guide lists it all):", "before go-live:"
    )
    commit_all(repository, "Market template: README")
    rollout = run(*regiocrm, "rollout", "check", "--market", "TH", "--json", cwd=deployment)
    [finding] = [f for f in json.loads(rollout.stdout) if f["check"] == "template"]
    assert finding["outcome"] == "warn"
    assert f"regiocrm market update {market}" in finding["fix"]
    snapshot = {
        p: p.read_bytes() for p in market.rglob("*") if p.is_file() and ".git" not in p.parts
    }

    conflict = run(*regiocrm, "market", "update", cwd=market)

    assert conflict.returncode == 1
    assert "README.md" in conflict.stderr
    assert "<<<<<<< market" in (market / "README.md").read_text()
    git("checkout", "--", ".", cwd=market)
    git("clean", "-fdq", cwd=market)
    assert git("status", "--porcelain", cwd=market) == ""
    assert snapshot == files_of(market)
    assert os.environ.get("REGIOCRM_UPDATING_MARKET") is None
