"""Rolling out two markets as a rollout team would: Thailand (a market of its own) and Hong
Kong (taken over from the Greater China pack), each generated with ``--no-input``, installed
into a fresh virtual environment beside regiocrm, passing its own tests, seen by regiocrm,
migrated on its own branch, and checked for go-live."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from regiocrm.markets.scaffold import template
from regiocrm.testing import deployment_environment


def fresh_environment(folder: Path) -> Path:
    """A new virtual environment that sees this one's packages (regiocrm and what it needs)
    beside its own, without downloading them again; its Python."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    (Path(site) / "regiocrm-beside.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    return python


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=deployment_environment(),
        capture_output=True,
        text=True,
        check=False,
    )


def roll_out(folder: Path, *values: str) -> tuple[Path, Path]:
    """Generate a market, install it into a fresh environment; its project and Python."""
    made = run(
        sys.executable,
        "-m",
        "regiocrm",
        "new-market",
        "--no-input",
        *values,
        "-o",
        folder,
        cwd=folder,
    )
    assert made.returncode == 0, made.stderr
    project = Path(made.stdout.splitlines()[0].removeprefix("created "))
    python = fresh_environment(folder / f"venv-{project.name}")
    install(python, project, cwd=folder)
    return project, python


def install(python: Path, *projects: Path, cwd: Path, editable: bool = False) -> None:
    """Install generated markets into the environment of ``python``, from their folders
    alone: what they need is regiocrm's, there already. Editable: the installed pack is the
    folder's, as it changes."""
    installed = run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        *(["-e"] if editable else []),
        *projects,
        cwd=cwd,
    )
    assert installed.returncode == 0, installed.stderr


def passes_its_own_tests(project: Path, python: Path) -> str:
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    return tested.stdout.strip().splitlines()[-1]


def test_thailand_rolls_out_and_lacks_only_credentials_and_translations(tmp_path: Path) -> None:
    project, python = roll_out(
        tmp_path,
        "country_code=TH",
        "locales=th_TH",
        "currency=THB",
        "timezone=Asia/Bangkok",
        "channels=line",
    )
    summary = passes_its_own_tests(project, python)
    assert " passed" in summary
    assert "failed" not in summary
    regiocrm = [python, "-m", "regiocrm"]
    deployment = tmp_path / "deployment"
    deployment.mkdir()

    packs = {
        p["code"]: p
        for p in json.loads(run(*regiocrm, "packs", "list", "--json", cwd=deployment).stdout)
    }
    assert packs["th"]["extends"] == "asia"
    assert packs["th"]["markets"] == ["TH"]
    assert packs["th"]["channels"] == ["line"]
    assert (packs["th"]["currency"], packs["th"]["timezones"]) == ("THB", ["Asia/Bangkok"])

    assert run(*regiocrm, "db", "upgrade", cwd=deployment).returncode == 0
    [migration] = (project / "regiocrm_market_th" / "migrations").glob("*.py")
    revision = migration.name.split("-")[1].split("_")[0]
    zones = json.loads(run(*regiocrm, "db", "current", "--json", cwd=deployment).stdout)
    assert {zone["zone"] for zone in zones} >= {"main", "th"}
    assert all(zone["migrated"] and revision in zone["heads"] for zone in zones)

    checked = run(*regiocrm, "rollout", "check", "--market", "TH", "--json", cwd=deployment)
    assert checked.returncode == 1
    failed = {f["check"]: f for f in json.loads(checked.stdout) if f["outcome"] == "fail"}
    assert set(failed) == {"channel line", "translations th_TH"}
    assert failed["channel line"]["fix"].startswith(
        "add [channel_accounts.<name>] with channel = 'line', market = 'TH'"
    )
    assert failed["translations th_TH"]["reason"].endswith("messages are not translated")
    diff = run(*regiocrm, "packs", "diff", "th", "--json", cwd=deployment)
    assert diff.returncode == 0
    changed = {change["field"] for change in json.loads(diff.stdout)["changes"]}
    assert {"markets", "channels", "locales"} <= changed


def test_hong_kong_is_taken_over_from_the_greater_china_pack(tmp_path: Path) -> None:
    project, python = roll_out(
        tmp_path, "country_code=HK", "locales=zh_Hant_HK", "currency=HKD", "channels=wechat,sms"
    )
    assert " passed" in passes_its_own_tests(project, python)
    regiocrm = [python, "-m", "regiocrm"]
    packs = {
        p["code"]: p
        for p in json.loads(run(*regiocrm, "packs", "list", "--json", cwd=tmp_path).stdout)
    }
    assert (packs["hk"]["extends"], packs["hk"]["markets"]) == ("cn", ["HK"])
    assert packs["cn"]["markets"] == ["CN", "TW"]
    assert run(*regiocrm, "db", "upgrade", cwd=tmp_path).returncode == 0
    checked = run(*regiocrm, "rollout", "check", "--market", "HK", "--json", cwd=tmp_path)
    failed = {f["check"] for f in json.loads(checked.stdout) if f["outcome"] == "fail"}
    assert failed == {"channel wechat", "channel sms"}, "its catalogs come from zh_Hant, complete"


def test_two_markets_from_the_stock_cookiecutter_install_side_by_side(tmp_path: Path) -> None:
    """The template used with cookiecutter's own command and only a country code: each
    market is its country's, passes its own tests (which check it against ISO 3166 and
    CLDR), and both, installed into one environment, upgrade without a revision clash."""
    python = fresh_environment(tmp_path / "venv")
    with template() as folder:
        projects = []
        for country in ("VN", "PH"):
            made = run(
                sys.executable,
                "-m",
                "cookiecutter",
                "--no-input",
                folder,
                f"country_code={country}",
                "-o",
                tmp_path,
                "--config-file",
                _cookiecutter_config(tmp_path),
                cwd=tmp_path,
            )
            assert made.returncode == 0, made.stderr
            projects.append(tmp_path / f"regiocrm-market-{country.lower()}")
    install(python, *projects, cwd=tmp_path)
    for project in projects:
        assert "failed" not in passes_its_own_tests(project, python)
    regiocrm = [python, "-m", "regiocrm"]
    packs = {
        p["code"]: p
        for p in json.loads(run(*regiocrm, "packs", "list", "--json", cwd=tmp_path).stdout)
    }
    assert (packs["vn"]["currency"], packs["vn"]["timezones"]) == ("VND", ["Asia/Ho_Chi_Minh"])
    assert (packs["ph"]["currency"], packs["ph"]["locales"]) == ("PHP", ["en_PH", "fil_PH"])
    upgraded = run(*regiocrm, "db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    revisions = {
        next((project / f"regiocrm_market_{project.name[-2:]}" / "migrations").glob("*.py"))
        .name.split("-")[1]
        .split("_")[0]
        for project in projects
    }
    assert len(revisions) == 2
    zones = json.loads(run(*regiocrm, "db", "current", "--json", cwd=tmp_path).stdout)
    assert {"vn", "ph"} <= {zone["zone"] for zone in zones}
    assert all(zone["migrated"] and revisions <= set(zone["heads"]) for zone in zones)


def _cookiecutter_config(folder: Path) -> Path:
    """Replays and caches in the test's folder, not the user's home."""
    config = folder / "cookiecutter.yaml"
    config.write_text(f"replay_dir: {folder}/replay\ncookiecutters_dir: {folder}/templates\n")
    return config


@pytest.fixture(autouse=True)
def _not_in_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
