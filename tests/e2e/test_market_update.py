"""A market follows its template, as a rollout team lives it: Thailand is generated from a
template kept in its own git repository at version A and committed; the market takes another
map provider first and commits; the template reaches version B (a new test, a README line
changed); `market check` and `rollout check` say it is behind; `regiocrm market update`
brings B in and keeps Thailand's edit; the market's own tests pass, the template's new one
among them; `market check` says current. (A conflict and git's undo of it:
tests/core/test_market_tracking.py.)"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from template_markets import SLUG, commit_all, edit, git
from test_new_market import fresh_environment, install, run

from regiocrm.markets.scaffold import template


def test_thailand_follows_its_template_from_a_to_b(tmp_path: Path) -> None:
    repository = tmp_path / "market-template"
    with template() as folder:
        shutil.copytree(folder, repository, ignore=shutil.ignore_patterns("__pycache__"))
    git("init", "--quiet", "--initial-branch=main", cwd=repository)
    commit_all(repository, "Market template, version A")

    python = fresh_environment(tmp_path / "venv")
    regiocrm = [python, "-m", "regiocrm"]
    made = run(
        *regiocrm,
        "new-market",
        "--no-input",
        "country_code=TH",
        # One channel's conformance kit is enough for the story, and keeps it short.
        "channels=sms",
        "-o",
        tmp_path,
        "--template",
        repository,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    market = tmp_path / "regiocrm-market-th"
    git("init", "--quiet", "--initial-branch=main", cwd=market)
    commit_all(market, "Thailand, from the template's version A")

    # Thailand routes with amap first: its pack and the test of it say so.
    pack = market / "regiocrm_market_th" / "__init__.py"
    edit(
        pack,
        "            residency=RESIDENCY,",
        '            map_providers=["amap", "gazetteer"],\n            residency=RESIDENCY,',
    )
    edit(
        market / "tests" / "test_pack.py",
        'list(pack.map_providers) == ["gazetteer"]',
        'list(pack.map_providers) == ["amap", "gazetteer"]',
    )
    commit_all(market, "Thailand: amap first")
    install(python, market, cwd=tmp_path, editable=True)
    deployment = tmp_path / "deployment"
    deployment.mkdir()

    # Version B of the template: a new test, a README line changed; the market follows main.
    edit(
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
    edit(repository / "template.toml", 'version = "1.0"\n\n', 'version = "1.1"\n\n')
    with (repository / "template.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[[changes]]\nversion = "1.1"\nsummary = "Every language has its catalog."\n')
    commit_all(repository, "Market template, version B")

    behind = run(*regiocrm, "market", "check", market, "--json", cwd=market)
    assert behind.returncode == 1, behind.stderr
    assert json.loads(behind.stdout)["status"] == "behind"
    assert json.loads(behind.stdout)["latest_version"] == "1.1"
    rollout = run(*regiocrm, "rollout", "check", "--market", "TH", "--json", cwd=deployment)
    [finding] = [f for f in json.loads(rollout.stdout) if f["check"] == "template"]
    assert finding["outcome"] == "warn"
    assert f"regiocrm market update {market}" in finding["fix"]

    started = time.perf_counter()
    updated = run(*regiocrm, "market", "update", cwd=market)
    took = time.perf_counter() - started
    assert updated.returncode == 0, updated.stdout + updated.stderr
    print(f"market update: {took:.1f} s")

    assert "the rollout guide lists it all" in (market / "README.md").read_text()
    assert 'map_providers=["amap", "gazetteer"]' in pack.read_text(), "Thailand's edit stays"
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", cwd=market)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "PASSED tests/test_pack.py::test_the_pack_serves_its_market" in tested.stdout
    assert (
        "PASSED tests/test_catalogs.py::test_every_language_but_english_has_a_catalog"
        in tested.stdout
    ), "the template's new test is in, and passes"

    current = run(*regiocrm, "market", "check", market, "--json", cwd=market)
    assert current.returncode == 0, current.stdout + current.stderr
    assert json.loads(current.stdout)["status"] == "current"
    assert os.environ.get("REGIOCRM_UPDATING_MARKET") is None
