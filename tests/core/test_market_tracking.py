"""Markets that follow their template: a market made from a template in a git repository
remembers where it came from; `market check` says when the template moved on; `market
update` brings the template's change in and keeps the market's own; conflicts, bad sources
and bad refs change nothing a git command cannot restore."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import cruft
import pytest
from template_markets import SLUG, ThaiMarket, commit_all, edit, git

from regiocrm.markets.scaffold import template
from regiocrm.markets.sources import TEMPLATE_FILE
from regiocrm.markets.template_info import TemplateInfoError, version_key
from regiocrm.markets.tracking import STATE_FILE, update, write_file
from regiocrm.markets.upgrade_steps import rename_setting


def add_version(repository: Path, version: str, summary: str, steps: str = "") -> None:
    """A new version in the template's template.toml, as a template keeper writes it."""
    path = repository / TEMPLATE_FILE
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8").replace(
        f'version = "{data["version"]}"', f'version = "{version}"', 1
    )
    text += f'\n[[changes]]\nversion = "{version}"\nsummary = "{summary}"\n{steps}'
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def copied(thai_market: ThaiMarket, tmp_path: Path, deployment_dir: Path) -> ThaiMarket:
    """The template's repository at version A, and Thailand made from it and committed."""
    return thai_market.copy(
        tmp_path / "template", deployment_dir / "markets" / "regiocrm-market-th"
    )


@pytest.fixture
def template_repo(copied: ThaiMarket) -> Path:
    return copied.template


def changed_readme_and_new_test(repository: Path, steps: str = "") -> str:
    """Version B: a README line changed and a test added."""
    edit(
        repository / SLUG / "README.md",
        "A new market usually still lacks:",
        "A new market usually still lacks (the rollout guide has more):",
    )
    (repository / SLUG / "tests" / "test_docstring.py").write_text(
        "import {{ cookiecutter.__package_name }}\n\n\n"
        "def test_the_pack_says_what_it_is() -> None:\n"
        "    assert {{ cookiecutter.__package_name }}.__doc__\n",
        encoding="utf-8",
    )
    add_version(
        repository, "1.1", "A test of the pack's docstring; the README names the guide.", steps
    )
    return commit_all(repository, "template B")


@pytest.fixture
def market(copied: ThaiMarket) -> Path:
    """Thailand, which took another map provider after it was made."""
    project = copied.market
    edit(
        project / "regiocrm_market_th" / "__init__.py",
        "            residency=RESIDENCY,",
        '            map_providers=["amap", "gazetteer"],\n            residency=RESIDENCY,',
    )
    commit_all(project, "Thailand: amap first")
    return project


def tree(project: Path) -> dict[str, bytes]:
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def test_a_market_remembers_its_template_commit_version_and_answers(
    thai_market: ThaiMarket,
) -> None:
    market, template_repo = thai_market.market, thai_market.template
    state = json.loads((market / STATE_FILE).read_text())
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=template_repo)
    assert state["template"] == str(template_repo)
    assert state["commit"] == first
    assert state["directory"] is None
    shipped = tomllib.loads((template_repo / TEMPLATE_FILE).read_text())["version"]
    assert state["template_version"] == shipped
    answers = state["context"]["cookiecutter"]
    assert (answers["country_code"], answers["currency"], answers["_commit"]) == (
        "TH",
        "THB",
        first,
    )
    [migration] = (market / "regiocrm_market_th" / "migrations").glob("*.py")
    assert answers["__revision"] in migration.name, "the derived values are kept to render again"
    assert "_output_dir" not in answers, "no scratch folder of the generation is kept"


def test_cruft_reads_the_record_as_its_own(market: Path, template_repo: Path) -> None:
    """cruft, the tool the record's format comes from, agrees on current and behind."""
    assert cruft.check(market) is True
    changed_readme_and_new_test(template_repo)
    assert cruft.check(market) is False


def test_an_update_brings_the_templates_change_and_keeps_the_markets_edit(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    before = regiocrm_cli("market", "check", str(market))
    assert before.exit_code == 0, before.stderr
    assert "current" in before.stdout
    new = changed_readme_and_new_test(template_repo)

    behind = regiocrm_cli("market", "check", str(market), "--json")
    assert behind.exit_code == 1
    status = json.loads(behind.stdout)
    assert status["status"] == "behind"
    assert [c["commit"] for c in status["commits"]] == [new]
    assert [c["version"] for c in status["changes"]] == ["1.1"]

    dry = regiocrm_cli("market", "update", str(market), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "+A new market usually still lacks (the rollout guide has more):" in dry.stdout
    assert "+++ b/tests/test_docstring.py" in dry.stdout
    assert git("status", "--porcelain", cwd=market) == "", "a dry run changes nothing"

    done = regiocrm_cli("market", "update", str(market), "--json")
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert {(f["path"], f["action"]) for f in report["files"]} == {
        ("README.md", "update"),
        ("tests/test_docstring.py", "add"),
    }
    assert "the rollout guide has more" in (market / "README.md").read_text()
    assert (
        (market / "tests" / "test_docstring.py").read_text().startswith("import regiocrm_market_th")
    )
    assert (
        'map_providers=["amap", "gazetteer"]'
        in (market / "regiocrm_market_th" / "__init__.py").read_text()
    ), "the market's own edit stays"
    state = json.loads((market / STATE_FILE).read_text())
    assert (state["commit"], state["template_version"]) == (new, "1.1")

    after = regiocrm_cli("market", "check", str(market))
    assert after.exit_code == 0
    assert "current" in after.stdout


def test_both_sides_changing_a_line_is_a_conflict_git_can_undo(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    readme = market / "README.md"
    edit(readme, "A new market usually still lacks:", "Thailand still lacks:")
    commit_all(market, "Thailand's README")
    before = tree(market)
    changed_readme_and_new_test(template_repo)

    result = regiocrm_cli("market", "update", str(market))

    assert result.exit_code == 1
    assert "README.md" in result.stderr
    text = readme.read_text()
    assert "<<<<<<< market\nThailand still lacks:\n=======\n" in text
    assert (
        "A new market usually still lacks (the rollout guide has more):\n>>>>>>> template@" in text
    )
    assert (market / "tests" / "test_docstring.py").is_file(), "what merged cleanly is in"
    git("checkout", "--", ".", cwd=market)
    git("clean", "-fdq", cwd=market)
    assert tree(market) == before


def test_a_file_the_market_removed_and_the_template_changed_gets_a_rej_file(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    (market / "README.md").unlink()
    commit_all(market, "no README")
    changed_readme_and_new_test(template_repo)

    result = regiocrm_cli("market", "update", str(market), "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["conflicts"] == ["README.md"]
    assert not (market / "README.md").exists()
    rejected = (market / "README.md.rej").read_text()
    assert "+A new market usually still lacks (the rollout guide has more):" in rejected


def test_upgrade_steps_rename_a_setting_and_explain_the_rest(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    settings = market / "deploy" / "regiocrm.toml"
    settings.parent.mkdir()
    settings.write_text(
        '# Bangkok\n[deployment]\n# the HQ\norganization = "Thailand HQ"\nmarket = "TH"\n'
    )
    commit_all(market, "the deployment's settings")
    steps = (
        'steps = [\n  {kind = "explain", text = "Rebase your migrations on the core head."},\n'
        '  {kind = "rename_setting", file = "deploy/regiocrm.toml",'
        ' from = "deployment.organization", to = "deployment.organization_name"},\n]\n'
    )
    add_version(template_repo, "1.1", "The organization's setting is renamed.", steps)
    commit_all(template_repo, "template B: a renamed setting")

    result = regiocrm_cli("market", "update", str(market), "--json")

    assert result.exit_code == 0, result.stderr
    told = json.loads(result.stdout)["steps"]
    assert "1.1: Rebase your migrations on the core head." in told
    renamed = tomllib.loads(settings.read_text())["deployment"]
    assert renamed == {"organization_name": "Thailand HQ", "market": "TH"}
    assert "# the HQ" in settings.read_text(), "comments are kept"


def test_rename_setting_leaves_a_file_without_the_key() -> None:
    assert rename_setting("[a]\nb = 1\n", "a.c", "a.d") is None
    assert rename_setting("[a]\nb = 1\n", "x.b", "a.d") is None
    moved = rename_setting("[a]\nb = 1\n", "a.b", "z.b")
    assert moved is not None
    assert tomllib.loads(moved) == {"a": {}, "z": {"b": 1}}


def test_versions_compare_number_by_number() -> None:
    assert version_key("1.10") > version_key("1.9") > version_key("1")
    with pytest.raises(TemplateInfoError, match=r"'1\.x' is not numbers and dots"):
        version_key("1.x")


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda market: (market / "README.md").write_text("mine"), "has uncommitted changes"),
        (lambda market: (market / "notes.txt").write_text("mine"), "?? notes.txt"),
    ],
)
def test_an_unclean_tree_is_refused_and_nothing_changes(
    regiocrm_cli,
    market: Path,
    template_repo: Path,
    make_bad: Callable[[Path], object],
    message: str,
) -> None:
    changed_readme_and_new_test(template_repo)
    make_bad(market)
    before = tree(market)
    result = regiocrm_cli("market", "update", str(market))
    assert result.exit_code == 2
    assert message in result.stderr
    assert tree(market) == before


def test_an_unknown_ref_and_an_unreachable_template_change_nothing(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    changed_readme_and_new_test(template_repo)
    before = tree(market)
    unknown = regiocrm_cli("market", "update", str(market), "--checkout", "v9")
    assert unknown.exit_code == 2
    assert "'v9' is not a branch, tag or commit of the template" in unknown.stderr
    shutil.move(template_repo, template_repo.with_name("moved"))
    for command in ("update", "check"):
        gone = regiocrm_cli("market", command, str(market))
        assert gone.exit_code == 2
        assert f"cannot reach the template at {template_repo}" in gone.stderr
    assert tree(market) == before


def test_answers_the_new_template_refuses_change_nothing(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    """Version B validates the currency more strictly: the market's THB is refused."""
    hook = template_repo / "hooks" / "pre_gen_project.py"
    edit(
        hook,
        "for problem in found:",
        'if VALUES["currency"] == "THB":\n'
        '    found.append("currency: THB is no longer accepted")\n'
        "for problem in found:",
    )
    changed_readme_and_new_test(template_repo)
    before = tree(market)
    result = regiocrm_cli("market", "update", str(market))
    assert result.exit_code == 2
    assert "the template refuses the market's answers" in result.stderr
    assert tree(market) == before


def test_not_a_generated_market(regiocrm_cli, deployment_dir: Path) -> None:
    for command in ("update", "check"):
        result = regiocrm_cli("market", command, str(deployment_dir))
        assert result.exit_code == 2
        assert (
            f"{deployment_dir} is not a generated market: it has no {STATE_FILE}" in result.stderr
        )


def test_a_market_outside_git_cannot_be_updated(
    regiocrm_cli, market: Path, template_repo: Path
) -> None:
    shutil.rmtree(market / ".git")
    changed_readme_and_new_test(template_repo)
    result = regiocrm_cli("market", "update", str(market))
    assert result.exit_code == 2
    assert "is not in a git working tree: commit the market first" in result.stderr


def test_a_template_by_url_at_a_tag(
    regiocrm_cli, deployment_dir: Path, template_repo: Path
) -> None:
    git("tag", "v1", cwd=template_repo)
    first = git("rev-parse", "HEAD", cwd=template_repo)
    changed_readme_and_new_test(template_repo)
    url = template_repo.as_uri()
    made = regiocrm_cli(
        "new-market",
        "--no-input",
        "country_code=TH",
        "-o",
        "out",
        "--template",
        url,
        "--checkout",
        "v1",
    )
    assert made.exit_code == 0, made.stderr
    project = deployment_dir / "out" / "regiocrm-market-th"
    state = json.loads((project / STATE_FILE).read_text())
    assert (state["template"], state["commit"], state["checkout"]) == (url, first, "v1")
    assert "the rollout guide" not in (project / "README.md").read_text()
    assert regiocrm_cli("market", "check", str(project)).exit_code == 0, "it follows v1"
    latest = regiocrm_cli("market", "check", str(project), "--checkout", "main")
    assert latest.exit_code == 1


def test_an_unreachable_template_generates_nothing(regiocrm_cli, deployment_dir: Path) -> None:
    for source in ("file:///nowhere/template.git", str(deployment_dir / "nowhere")):
        result = regiocrm_cli(
            "new-market", "--no-input", "country_code=TH", "-o", "out", "--template", source
        )
        assert result.exit_code == 2
        assert f"cannot reach the template at {source}" in result.stderr
    assert not (deployment_dir / "out").exists()


def test_a_template_folder_outside_git_is_compared_by_version(
    regiocrm_cli, deployment_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "plain-template"
    with template() as shipped:
        shutil.copytree(shipped, folder, ignore=shutil.ignore_patterns("__pycache__"))
    made = regiocrm_cli(
        "new-market", "--no-input", "country_code=TH", "-o", "out", "--template", str(folder)
    )
    assert made.exit_code == 0, made.stderr
    project = deployment_dir / "out" / "regiocrm-market-th"
    assert json.loads((project / STATE_FILE).read_text())["commit"] is None
    assert regiocrm_cli("market", "check", str(project)).exit_code == 0
    add_version(folder, "1.1", "Something new.")
    behind = regiocrm_cli("market", "check", str(project), "--json")
    assert behind.exit_code == 1
    assert [c["version"] for c in json.loads(behind.stdout)["changes"]] == ["1.1"]
    git("init", "--quiet", cwd=project)
    commit_all(project, "Thailand")
    refused = regiocrm_cli("market", "update", str(project))
    assert refused.exit_code == 2
    assert "is not in a git repository, so the version the market was made from" in refused.stderr


def test_rollout_check_says_when_a_market_is_behind_its_template(
    regiocrm_cli, market: Path, template_repo: Path, load_package
) -> None:
    load_package(market, "regiocrm_market_th")
    current = regiocrm_cli("rollout", "check", "--market", "TH", "--json")
    [found] = [f for f in json.loads(current.stdout) if f["check"] == "template"]
    assert found["outcome"] == "pass"
    changed_readme_and_new_test(template_repo)
    behind = regiocrm_cli("rollout", "check", "--market", "TH", "--json")
    [found] = [f for f in json.loads(behind.stdout) if f["check"] == "template"]
    assert found["outcome"] == "warn"
    assert "behind its template by 1 commits (version 1.0 → 1.1)" in found["reason"]
    assert f"regiocrm market update {market}" in found["fix"]


def test_the_shipped_templates_versions_are_in_the_changelog() -> None:
    with template() as folder:
        info = tomllib.loads((folder / TEMPLATE_FILE).read_text())
    versions = [change["version"] for change in info["changes"]]
    assert info["version"] == versions[-1], "the template's version is its latest change"
    changelog = (Path(__file__).parents[2] / "docs" / "market-template.md").read_text()
    for version in versions:
        assert f"\n### {version}" in changelog


def test_a_template_in_an_ignored_folder_of_a_repository_is_a_plain_folder(
    regiocrm_cli, deployment_dir: Path, tmp_path: Path
) -> None:
    """regiocrm installed in a project's .venv, which the project's git ignores: its
    template is not the project's history."""
    project = tmp_path / "brand-project"
    folder = project / ".venv" / "market"
    with template() as shipped:
        shutil.copytree(shipped, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".gitignore").write_text(".venv/\n")
    git("init", "--quiet", cwd=project)
    commit_all(project, "the brand's project")
    made = regiocrm_cli(
        "new-market", "--no-input", "country_code=TH", "-o", "out", "--template", str(folder)
    )
    assert made.exit_code == 0, made.stderr
    state = json.loads((deployment_dir / "out" / "regiocrm-market-th" / STATE_FILE).read_text())
    assert (state["template"], state["commit"]) == (str(folder), None)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            'steps = [{kind = "delete_everything"}]\n',
            "template.toml of the template is not valid: changes.1.steps.0",
        ),
        (
            'steps = [{kind = "rename_setting", file = "../../elsewhere.toml",'
            ' from = "a.b", to = "a.c"}]\n',
            "an upgrade step names ../../elsewhere.toml, which is outside the market",
        ),
        (
            'steps = [{kind = "rename_setting", file = "README.md", from = "a.b", to = "a.c"}]\n',
            "1.1: README.md is not TOML",
        ),
    ],
)
def test_a_bad_upgrade_step_stops_the_update_before_anything_changes(
    regiocrm_cli, market: Path, template_repo: Path, steps: str, message: str
) -> None:
    changed_readme_and_new_test(template_repo, steps)
    before = tree(market)
    result = regiocrm_cli("market", "update", str(market))
    assert result.exit_code == 2
    assert message in result.stderr
    assert tree(market) == before


def test_an_update_interrupted_half_way_is_restored_by_git(
    market: Path, template_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The power goes after the first file: git puts the market back as it was."""
    changed_readme_and_new_test(template_repo)
    before = tree(market)
    written = []

    def interrupted(path: Path, content: bytes) -> None:
        if written:
            raise KeyboardInterrupt
        written.append(path)
        write_file(path, content)

    monkeypatch.setattr("regiocrm.markets.tracking.write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        update(market)
    assert len(written) == 1
    assert tree(market) != before
    assert json.loads((market / STATE_FILE).read_text())["template_version"] == "1.0", (
        "the record moves last"
    )
    git("checkout", "--", ".", cwd=market)
    git("clean", "-fdq", cwd=market)
    assert tree(market) == before


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("commit", "--output=/tmp/owned", "commit '--output=/tmp/owned' is not a git commit id"),
        ("template", "--upload-pack=touch owned", "cannot reach the template at --upload-pack"),
        ("context", ["not", "answers"], "cannot be read"),
    ],
)
def test_a_hostile_record_is_refused_and_runs_nothing(
    regiocrm_cli, market: Path, key: str, value: object, message: str
) -> None:
    state = json.loads((market / STATE_FILE).read_text())
    state[key] = value
    (market / STATE_FILE).write_text(json.dumps(state))
    commit_all(market, "a record someone edited")
    before = tree(market)
    for command in ("check", "update"):
        result = regiocrm_cli("market", command, str(market))
        assert result.exit_code == 2, result.stdout
        assert message in result.stderr
    assert not Path("/tmp/owned").exists()
    assert not (market / "owned").exists()
    assert tree(market) == before


def test_a_ref_that_looks_like_an_option_is_not_one(regiocrm_cli, market: Path) -> None:
    result = regiocrm_cli("market", "check", str(market), "--checkout", "--output=/tmp/owned")
    assert result.exit_code == 2
    assert "'--output=/tmp/owned' is not a branch, tag or commit" in result.stderr
    assert not Path("/tmp/owned").exists()
