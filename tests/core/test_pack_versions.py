"""``regiocrm packs diff CODE --against REF``: a pack's effective values at another version
of its template (a generated market) or of its git repository, with nothing installed or on
disk changed."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from template_markets import PACK_MODULE, ThaiMarket, commit_all, edit, git

from regiocrm.platform.hooks import Hooks

ALIAS = "_regiocrm_pack_at_ref_"


def status(folder: Path) -> str:
    return git("status", "--porcelain", cwd=folder)


# A generated market: REF is a version of its template -------------------------------------


@pytest.fixture
def made_market(thai_market: ThaiMarket, deployment_dir: Path) -> tuple[Path, Path, str]:
    """Thailand made from a template kept in git and committed; then the template's
    branch ``longer-retention`` keeps vehicles' raw events 400 days. The template's repo,
    the market's folder and the branch's commit."""
    copied = thai_market.copy(
        deployment_dir / "template", deployment_dir / "out" / "regiocrm-market-th"
    )
    repository, project = copied.template, copied.market
    git("checkout", "--quiet", "-b", "longer-retention", cwd=repository)
    edit(
        repository / PACK_MODULE,
        "            residency=RESIDENCY,\n",
        "            residency=RESIDENCY,\n            telematics_retention_days=400,\n",
    )
    commit = commit_all(repository, "raw events kept 400 days")
    git("checkout", "--quiet", "main", cwd=repository)
    return repository, project, commit


@pytest.fixture
def market(
    made_market: tuple[Path, Path, str], load_package: Callable[[Path, str], ModuleType]
) -> tuple[Path, Path, str]:
    """The market made, its pack registered."""
    load_package(made_market[1], "regiocrm_market_th")
    return made_market


def test_a_market_against_its_templates_branch_shows_the_field_it_changes(
    regiocrm_cli, regiocrm_hooks: Hooks, market: tuple[Path, Path, str]
) -> None:
    repository, project, _commit = market
    before = (project / "regiocrm_market_th" / "__init__.py").read_bytes()
    result = regiocrm_cli("packs", "diff", "th", "--against", "longer-retention", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pack": "th",
        "against": "th@longer-retention",
        "changes": [{"field": "telematics_retention_days", "value": 90, "against": 400}],
    }
    assert regiocrm_hooks.packs().get("th").telematics_retention_days == 90, "installed as was"
    assert (project / "regiocrm_market_th" / "__init__.py").read_bytes() == before
    assert status(project) == "", "nothing written in the market, not even bytecode"
    assert status(repository) == ""
    assert not [name for name in sys.modules if name.startswith(ALIAS)]


def test_a_market_against_a_template_commit_as_a_table(
    regiocrm_cli, market: tuple[Path, Path, str]
) -> None:
    _repository, _project, commit = market
    result = regiocrm_cli("packs", "diff", "th", "--against", commit[:10])
    assert result.exit_code == 0, result.stderr
    label = f"th@{commit[:10]}"
    assert f"th against {label}" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "field" in line)
    assert [cell.strip() for cell in header.split("┃")[1:4]] == ["field", "th", label]
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row.split("│")[1:4]] for row in rows] == [
        ["telematics_retention_days", "90", "400"]
    ]


def test_a_market_against_the_commit_it_was_made_from_changes_nothing(
    regiocrm_cli, market: tuple[Path, Path, str]
) -> None:
    result = regiocrm_cli("packs", "diff", "th", "--against", "main", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changes"] == []


def test_the_markets_own_edits_are_kept_at_the_ref(
    regiocrm_cli,
    made_market: tuple[Path, Path, str],
    load_package: Callable[[Path, str], ModuleType],
) -> None:
    """The pack at REF is the market as the update would make it: its own change merged
    with the template's, so only the template's change shows."""
    _repository, project, _commit = made_market
    module = project / "regiocrm_market_th" / "__init__.py"
    module.write_text(
        module.read_text().replace(
            '            name="Thailand",\n',
            '            name="Thailand",\n            service_due_leads=False,\n',
        )
    )
    commit_all(project, "no service leads in Thailand")
    load_package(project, "regiocrm_market_th")
    result = regiocrm_cli("packs", "diff", "th", "--against", "longer-retention", "--json")
    assert result.exit_code == 0, result.stderr
    assert [c["field"] for c in json.loads(result.stdout)["changes"]] == [
        "telematics_retention_days"
    ]


def test_an_unknown_template_ref_is_named_and_changes_nothing(
    regiocrm_cli, market: tuple[Path, Path, str]
) -> None:
    repository, project, _commit = market
    result = regiocrm_cli("packs", "diff", "th", "--against", "no-such-branch")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'no-such-branch' is not a branch, tag or commit of the template" in result.stderr
    assert "Traceback" not in result.stderr
    assert status(project) == ""
    assert status(repository) == ""


# A pack in a git repository: REF is one of its commits -------------------------------------

PACKAGE = "versioned_pack_for_test"
INIT = '''"""A pack whose retention comes from a module beside it."""

from regiocrm import hookimpl
from regiocrm.interfaces.packs import PackSpec

from .values import DAYS


@hookimpl
def register_packs():
    return [PackSpec.declare(code="vp", extends="asia", telematics_retention_days=DAYS)]
'''


CHILD = "versioned_child_for_test"
CHILD_INIT = """from regiocrm import hookimpl
from regiocrm.interfaces.packs import PackSpec


@hookimpl
def register_packs():
    return [PackSpec.declare(code="vc", extends="vp", name="Child")]
"""


@pytest.fixture
def pack_repository(tmp_path: Path) -> tuple[Path, str]:
    """A git repository whose pack ``vp`` kept raw events 30 days, then 60 (HEAD); its
    pack ``vc``, in a package of its own, extends ``vp`` and sets no retention."""
    repository = tmp_path / "packs"
    package = repository / PACKAGE
    package.mkdir(parents=True)
    (repository / CHILD).mkdir()
    (repository / CHILD / "__init__.py").write_text(CHILD_INIT)
    (package / "__init__.py").write_text(INIT)
    (package / "values.py").write_text("DAYS = 30\n")
    git("init", "--quiet", "-b", "main", cwd=repository)
    (repository / ".gitignore").write_text("__pycache__/\n")
    first = commit_all(repository, "30 days")
    (package / "values.py").write_text("DAYS = 60\n")
    commit_all(repository, "60 days")
    return repository, first


def test_a_pack_against_an_earlier_commit_of_its_repository(
    regiocrm_cli,
    regiocrm_hooks: Hooks,
    pack_repository: tuple[Path, str],
    load_package: Callable[[Path, str], ModuleType],
) -> None:
    repository, first = pack_repository
    load_package(repository, PACKAGE)
    result = regiocrm_cli("packs", "diff", "vp", "--against", "HEAD~1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pack": "vp",
        "against": "vp@HEAD~1",
        "changes": [{"field": "telematics_retention_days", "value": 60, "against": 30}],
    }
    table = regiocrm_cli("packs", "diff", "vp", "--against", first)
    assert table.exit_code == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row.split("│")[1:4]] for row in rows] == [
        ["telematics_retention_days", "60", "30"]
    ]
    assert regiocrm_hooks.packs().get("vp").telematics_retention_days == 60
    assert sys.modules[f"{PACKAGE}.values"].DAYS == 60, "the installed module is untouched"
    assert not [name for name in sys.modules if name.startswith(ALIAS)]
    assert git("status", "--porcelain", cwd=repository) == ""


def test_a_parent_from_the_same_repository_is_read_at_the_ref_too(
    regiocrm_cli, pack_repository: tuple[Path, str], load_package
) -> None:
    """``vc`` did not change, but the pack it extends did: what an update brings to it."""
    load_package(pack_repository[0], PACKAGE)
    load_package(pack_repository[0], CHILD)
    result = regiocrm_cli("packs", "diff", "vc", "--against", "HEAD~1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changes"] == [
        {"field": "telematics_retention_days", "value": 60, "against": 30}
    ]


def test_another_pack_code_is_still_compared_as_a_pack(
    regiocrm_cli, pack_repository: tuple[Path, str], load_package
) -> None:
    load_package(pack_repository[0], PACKAGE)
    result = regiocrm_cli("packs", "diff", "vp", "--against", "asia", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["against"] == "asia"
    assert json.loads(result.stdout)["changes"] == [
        {"field": "telematics_retention_days", "value": 60, "against": 90}
    ]


def test_an_unknown_ref_of_the_repository_is_named(
    regiocrm_cli, pack_repository: tuple[Path, str], load_package
) -> None:
    load_package(pack_repository[0], PACKAGE)
    result = regiocrm_cli("packs", "diff", "vp", "--against", "v9.9")
    assert result.exit_code == 2
    assert "'v9.9' is not a branch, tag or commit of the repository at" in result.stderr
    assert "Traceback" not in result.stderr
    assert "no installed pack" not in result.stderr, "v9.9 cannot be a pack code"
    typo = regiocrm_cli("packs", "diff", "vp", "--against", "asai")
    assert typo.exit_code == 2
    assert "'asai' is not a branch, tag or commit" in typo.stderr
    assert "no installed pack is called 'asai' (known: asia, au, cn, jp, kr, vp)" in typo.stderr


def test_a_module_that_fails_to_import_at_the_ref_is_named(
    regiocrm_cli, pack_repository: tuple[Path, str], load_package
) -> None:
    repository, _first = pack_repository
    (repository / PACKAGE / "values.py").write_text("DAYS = undefined_name\n")
    broken = commit_all(repository, "broken")
    (repository / PACKAGE / "values.py").write_text("DAYS = 60\n")
    commit_all(repository, "mended")
    load_package(repository, PACKAGE)
    result = regiocrm_cli("packs", "diff", "vp", "--against", broken)
    assert result.exit_code == 2
    assert f"module {PACKAGE} at {broken} cannot be imported: NameError" in result.stderr
    assert not [name for name in sys.modules if name.startswith(ALIAS)]


def test_a_pack_missing_at_the_ref_is_named(
    regiocrm_cli, pack_repository: tuple[Path, str], load_package
) -> None:
    repository, _first = pack_repository
    (repository / PACKAGE / "__init__.py").write_text(INIT.replace('code="vp"', 'code="vq"'))
    commit_all(repository, "renamed vq")
    load_package(repository, PACKAGE)
    result = regiocrm_cli("packs", "diff", "vq", "--against", "HEAD~1")
    assert result.exit_code == 2
    assert "pack 'vq' does not exist at HEAD~1" in result.stderr


def test_a_pack_neither_in_git_nor_a_generated_market_cannot_be_compared(
    regiocrm_cli, tmp_path: Path, load_package
) -> None:
    folder = tmp_path / "plain"
    (folder / PACKAGE).mkdir(parents=True)
    (folder / PACKAGE / "__init__.py").write_text(INIT)
    (folder / PACKAGE / "values.py").write_text("DAYS = 30\n")
    load_package(folder, PACKAGE)
    result = regiocrm_cli("packs", "diff", "vp", "--against", "main")
    assert result.exit_code == 2
    assert "neither in a generated market (no .cruft.json above it) nor in a git" in result.stderr
