"""The distribution: one wheel holding the core, plugins, regions, migrations and templates,
which migrates a deployment with no source tree in sight."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from regiocrm.platform.i18n import CATALOG_LOCALES
from regiocrm.testing import deployment_environment, run_regiocrm

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    "pyproject.toml",
    "setup.py",
    "README.md",
    "core",
    "plugins",
    "regions",
    "migrations",
    "templates",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline from a copy of the sources (the checkout is left untouched)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("regiocrm-*.whl")
    return built


def test_wheel_holds_every_folder_of_the_layout(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = [
        n for n in names if n.startswith("regiocrm/migrations/versions/") and n.endswith(".py")
    ]
    assert len(migrations) == len(list((ROOT / "migrations" / "versions").glob("*.py")))
    for expected in (
        "regiocrm/__init__.py",
        "regiocrm/py.typed",
        "regiocrm/hookspecs.py",
        "regiocrm/models/customer.py",
        "regiocrm/testing/__init__.py",
        "regiocrm/testing/maps.py",
        "regiocrm/plugins/__init__.py",
        "regiocrm/regions/__init__.py",
        "regiocrm/migrations/env.py",
        "regiocrm/migrations/script.py.mako",
        "regiocrm/templates/__init__.py",
        "regiocrm/templates/market/cookiecutter.json",
        "regiocrm/templates/market/hooks/pre_gen_project.py",
        "regiocrm/templates/market/{{cookiecutter.__project_slug}}/pyproject.toml",
        "regiocrm/templates/market/{{cookiecutter.__project_slug}}/.gitignore",
        "regiocrm/templates/market/{{cookiecutter.__project_slug}}/tests/test_pack.py",
    ):
        assert expected in names
    assert not any(name.startswith(("tests/", "core/", "docs/")) for name in names)
    for catalog in CATALOG_LOCALES:
        for suffix in ("po", "mo"):
            assert f"regiocrm/locale/{catalog}/LC_MESSAGES/regiocrm.{suffix}" in names
    assert "regiocrm/locale/regiocrm.pot" in names
    # The offline gazetteer's places: without them no lead is routed without a map key.
    assert "regiocrm/plugins/maps/gazetteer/places.json" in names


def test_wheel_declares_the_console_script_and_pytest_plugin(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode()
    assert "regiocrm = regiocrm.cli.main:run" in text
    assert "[pytest11]" in text
    assert "regiocrm = regiocrm.testing" in text


def test_unpacked_wheel_migrates_without_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "deployment"
    work.mkdir()
    located = subprocess.run(
        [sys.executable, "-c", "import regiocrm.migrations as m; print(m.__file__)"],
        cwd=work,
        env=deployment_environment(python_path=[site]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.startswith(str(site))
    upgraded = run_regiocrm("db", "upgrade", cwd=work, python_path=[site])
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_regiocrm("db", "current", cwd=work, python_path=[site]).returncode == 0
    japanese = run_regiocrm("packs", "show", "XX", cwd=work, python_path=[site], LANG="ja_JP")
    assert japanese.stderr.startswith("エラー: パック 'XX' が見つかりません")
