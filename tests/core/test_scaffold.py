"""Scaffolding a market: defaults from CLDR and ISO 3166, every bad value refused with its
reason before anything is written, and what the template makes of good ones."""

from __future__ import annotations

import compileall
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.pofile import read_po
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from regiocrm.markets.catalogs import write_catalogs
from regiocrm.markets.scaffold import (
    KEYS,
    context,
    country_defaults,
    market_values,
    problems,
    template,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import core_catalogs
from regiocrm.platform.migrations import core_head
from regiocrm.testing import deployment_environment


def test_a_country_code_alone_gives_what_cldr_and_iso_say(regiocrm_hooks: Hooks) -> None:
    assert country_defaults("th", regiocrm_hooks) == {
        "country_code": "TH",
        "country_name": "Thailand",
        "locales": "th_TH",
        "default_locale": "th_TH",
        "currency": "THB",
        "timezone": "Asia/Bangkok",
        "extends": "asia",
        "channels": "sms,email",
        "map_providers": "gazetteer",
        "zone": "th",
    }
    hong_kong = country_defaults("HK", regiocrm_hooks)
    assert (hong_kong["locales"], hong_kong["currency"], hong_kong["timezone"]) == (
        "zh_Hant_HK,en_HK",
        "HKD",
        "Asia/Hong_Kong",
    )
    assert hong_kong["extends"] == "cn", "the pack serving Hong Kong now is the one to extend"
    assert country_defaults("ID", regiocrm_hooks)["timezone"] == "Asia/Jakarta", "the main zone"
    assert country_defaults("TW", regiocrm_hooks)["country_name"] == "Taiwan"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"country_code": "XX"}, "country_code: 'XX' is not an ISO 3166-1 alpha-2 code"),
        ({"locales": "th_TH,xx_YY"}, "locales: 'xx_YY': not a locale Babel knows"),
        ({"default_locale": "en"}, "default_locale: 'en' is not one of the locales"),
        ({"currency": "BAHT"}, "currency: 'BAHT' is not an ISO 4217 currency code"),
        ({"timezone": "Asia/Atlantis"}, "timezone: 'Asia/Atlantis' is not an IANA time zone"),
        ({"extends": "europe"}, "extends: 'europe' is not an installed pack"),
        ({"channels": "line,telegram"}, "channels: 'telegram' is not an installed channel"),
        ({"map_providers": "osm"}, "map_providers: 'osm' is not an installed map provider"),
        ({"zone": "Bangkok-1"}, "zone: 'Bangkok-1' is not a zone name"),
    ],
    ids=[
        "country",
        "locale",
        "default-locale",
        "currency",
        "timezone",
        "parent",
        "channel",
        "map-provider",
        "zone",
    ],
)
def test_a_bad_value_is_named_with_its_reason(
    regiocrm_hooks: Hooks, change: dict[str, str], reason: str
) -> None:
    values = {**country_defaults("TH", regiocrm_hooks), **change}
    [found] = problems(values, regiocrm_hooks)
    assert found.startswith(reason)


def test_a_market_an_installed_pack_serves_is_only_taken_over_by_extending_it(
    regiocrm_hooks: Hooks,
) -> None:
    values = {**country_defaults("HK", regiocrm_hooks), "extends": "asia"}
    assert problems(values, regiocrm_hooks) == [
        "extends: HK is served by pack 'cn'; a new HK pack must extend it (extends=cn) to take"
        " the market over"
    ]
    japan = country_defaults("JP", regiocrm_hooks)
    assert problems(japan, regiocrm_hooks) == ["country_code: a pack 'jp' is installed already"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["country_code=XX"], "Error: country_code: 'XX' is not an ISO 3166-1 alpha-2 code"),
        (["country_code=TH", "locales=th_XX"], "locales: 'th_XX': not a locale Babel knows"),
        (["country_code=TH", "currency=BAHT"], "currency: 'BAHT' is not an ISO 4217 currency"),
        (["country_code=TH", "extends=europe"], "extends: 'europe' is not an installed pack"),
        (["country_code=TH", "colour=blue"], "Error: unknown key 'colour': use country_code,"),
        (["TH"], "Error: 'TH' is not KEY=VALUE"),
        ([], "Error: country_code is needed: e.g. country_code=TH"),
    ],
    ids=["country", "locale", "currency", "parent", "unknown-key", "not-key-value", "no-country"],
)
def test_bad_input_exits_2_and_generates_nothing(
    regiocrm_cli, deployment_dir: Path, args: list[str], message: str
) -> None:
    result = regiocrm_cli("new-market", "--no-input", *args, "-o", "markets")
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(deployment_dir.iterdir()) == []


def test_an_existing_project_folder_is_not_touched(regiocrm_cli, deployment_dir: Path) -> None:
    existing = deployment_dir / "markets" / "regiocrm-market-th"
    existing.mkdir(parents=True)
    (existing / "notes.txt").write_text("ours")
    result = regiocrm_cli("new-market", "--no-input", "country_code=TH", "-o", "markets")
    assert result.exit_code == 2
    assert "regiocrm-market-th exists already: choose another --output-dir" in result.stderr
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("output", "reason"),
    [("/proc", "No such file or directory"), ("notes.txt", "Not a directory")],
    ids=["proc", "a-file"],
)
def test_an_output_folder_that_cannot_be_made_is_one_error_line(
    regiocrm_cli, deployment_dir: Path, output: str, reason: str
) -> None:
    (deployment_dir / "notes.txt").write_text("a file")
    result = regiocrm_cli("new-market", "--no-input", "country_code=VN", "-o", output)
    project = Path(output) / "regiocrm-market-vn"
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: cannot write {project}: {reason}\n",
    )
    assert [p.name for p in deployment_dir.iterdir()] == ["notes.txt"]


def test_the_templates_own_hook_refuses_bad_values_and_leaves_nothing(
    regiocrm_hooks: Hooks,
    deployment_dir: Path,
    capfd: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Used with cookiecutter directly, the template checks its values itself."""
    values = {**context(country_defaults("TH", regiocrm_hooks), regiocrm_hooks), "currency": "XYZ"}
    with template() as folder, pytest.raises(FailedHookException):
        cookiecutter(
            str(folder),
            no_input=True,
            extra_context=values,
            output_dir=str(deployment_dir),
            config_file=str(_config(tmp_path_factory.mktemp("cookiecutter"))),
        )
    assert "Error: currency: 'XYZ' is not an ISO 4217 currency code" in capfd.readouterr().err
    assert list(deployment_dir.iterdir()) == []


def _config(folder: Path) -> Path:
    config = folder / "cookiecutter.yaml"
    config.write_text(f"replay_dir: {folder}/replay\ncookiecutters_dir: {folder}/templates\n")
    return config


def test_what_the_template_makes_of_a_market(
    regiocrm_cli, regiocrm_hooks: Hooks, deployment_dir: Path
) -> None:
    result = regiocrm_cli(
        "new-market", "--no-input", "country_code=HK", "channels=whatsapp,sms", "-o", "markets"
    )
    assert result.exit_code == 0, result.stderr
    project = deployment_dir / "markets" / "regiocrm-market-hk"
    assert result.stdout.splitlines()[0] == f"created {project}"
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    [migration] = [f for f in files if f.startswith("regiocrm_market_hk/migrations/")]
    assert files == sorted(
        [
            ".cruft.json",
            ".gitignore",
            "README.md",
            "pyproject.toml",
            "regiocrm.toml",
            "tox.ini",
            "regiocrm_market_hk/__init__.py",
            migration,
            "regiocrm_market_hk/locale/regiocrm.pot",
            "regiocrm_market_hk/locale/zh_Hant_HK/LC_MESSAGES/regiocrm.po",
            "regiocrm_market_hk/locale/zh_Hant_HK/LC_MESSAGES/regiocrm.mo",
            "tests/conftest.py",
            "tests/test_channels.py",
            "tests/test_pack.py",
        ]
    ), "no catalog for en_HK: English is the source language"
    # The catalogs are the core's messages, copied; the record holds the template's name.
    rendered = [f for f in files if not f.endswith((".mo", ".po", ".pot", ".cruft.json"))]
    text = "\n".join((project / f).read_text() for f in rendered)
    assert "{{" not in text
    assert "cookiecutter" not in text.replace("new-market", "")
    module = (project / "regiocrm_market_hk" / "__init__.py").read_text()
    assert 'extends="cn"' in module
    assert 'channels=["whatsapp", "sms"]' in module
    assert "map_providers=" not in module, "only what differs from cn"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'hk = "regiocrm_market_hk"' in pyproject
    migration_text = (project / migration).read_text()
    assert (
        f'depends_on: str | Sequence[str] | None = "{core_head(regiocrm_hooks)}"' in migration_text
    )
    assert 'branch_labels: str | Sequence[str] | None = ("regiocrm_market_hk",)' in migration_text
    channels = (project / "tests" / "test_channels.py").read_text()
    assert "class TestWhatsapp(ChannelConformance)" in channels
    assert "class TestSms(ChannelConformance)" in channels
    with (project / "regiocrm_market_hk/locale/zh_Hant_HK/LC_MESSAGES/regiocrm.po").open(
        "rb"
    ) as po:
        catalog = read_po(po)
    assert all(message.string for message in catalog if message.id), "zh_Hant's translations"


def test_a_market_with_no_channel_driver_gets_no_conformance_tests(
    regiocrm_cli, deployment_dir: Path
) -> None:
    result = regiocrm_cli("new-market", "--no-input", "country_code=VN", "channels=", "-o", ".")
    assert result.exit_code == 0, result.stderr
    project = deployment_dir / "regiocrm-market-vn"
    assert not (project / "tests" / "test_channels.py").exists()
    module = (project / "regiocrm_market_vn" / "__init__.py").read_text()
    assert "channels=[]" in module
    [po] = (project / "regiocrm_market_vn" / "locale").glob("*/LC_MESSAGES/regiocrm.po")
    assert po.parent.parent.name == "vi_VN"
    with po.open("rb") as handle:
        assert not any(message.string for message in read_po(handle) if message.id)


def test_new_market_help_names_every_key(regiocrm_cli) -> None:
    result = regiocrm_cli("new-market", "--help")
    assert result.exit_code == 0
    for key in ("country_code", "default_locale", "map_providers", "zone"):
        assert key in result.stdout


def _ask(folder: Path, answers: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regiocrm", "new-market", "-o", "."],
        cwd=folder,
        env=deployment_environment(),
        input=answers,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_person_is_asked_for_each_value_with_the_countrys_defaults(deployment_dir: Path) -> None:
    asked = _ask(deployment_dir, "VN\n" + "\n" * len(KEYS))
    assert asked.returncode == 0, asked.stderr
    for prompt in ("country_name (Vietnam)", "currency (VND)", "timezone (Asia/Ho_Chi_Minh)"):
        assert prompt in asked.stdout
    module = (
        deployment_dir / "regiocrm-market-vn" / "regiocrm_market_vn" / "__init__.py"
    ).read_text()
    assert 'currency="VND"' in module


def test_a_bad_answer_stops_the_template_and_leaves_nothing(deployment_dir: Path) -> None:
    answers = ["VN", "", "", "", "", "DONG", *[""] * (len(KEYS) - 5)]
    asked = _ask(deployment_dir, "\n".join(answers) + "\n")
    assert asked.returncode == 2
    assert "Error: currency: 'DONG' is not an ISO 4217 currency code" in asked.stderr
    assert "nothing was generated" in asked.stderr
    assert list(deployment_dir.iterdir()) == []


def test_bytecode_an_installer_compiled_in_the_template_is_not_copied(
    regiocrm_cli, deployment_dir: Path
) -> None:
    """pip compiles every .py of a wheel, the template's own files included."""
    copy = deployment_dir.parent / "template"
    with template() as folder:
        shutil.copytree(folder, copy)
    compileall.compile_dir(copy, quiet=2)
    assert list(copy.rglob("*.pyc")), "some of the template's files compile"
    result = regiocrm_cli(
        "new-market", "--no-input", "country_code=TH", "-o", "out", "--template", str(copy)
    )
    assert result.exit_code == 0, result.stderr
    assert list((deployment_dir / "out").rglob("__pycache__")) == []


@pytest.fixture
def load_market(load_package: Callable[[Path, str], ModuleType]) -> Callable[[Path], ModuleType]:
    """Import a generated market's package from its project folder and register it, as its
    entry point would once installed; forgotten again after the test."""

    def load(project: Path) -> ModuleType:
        [package] = [p.parent.name for p in project.glob("regiocrm_market_*/__init__.py")]
        return load_package(project, package)

    return load


def _stock_cookiecutter(output: Path, country: str, config: Path) -> Path:
    """The template used with cookiecutter's own API, as a rollout team without regiocrm's
    command would: only the country code given."""
    with template() as folder:
        made = cookiecutter(
            str(folder),
            no_input=True,
            extra_context={"country_code": country},
            output_dir=str(output),
            config_file=str(config),
        )
    return Path(made)


def _stock_cookiecutter_cli(output: Path, country: str, config: Path) -> Path:
    """The template used with the ``cookiecutter`` command itself."""
    with template() as folder:
        command = ["--no-input", str(folder), f"country_code={country}", "-o", str(output)]
        made = subprocess.run(
            [sys.executable, "-m", "cookiecutter", *command, "--config-file", str(config)],
            env=deployment_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert made.returncode == 0, made.stderr
    return output / f"regiocrm-market-{country.lower()}"


@pytest.mark.parametrize(
    ("make", "country", "expected"),
    [
        (
            _stock_cookiecutter_cli,
            "VN",
            ("Vietnam", ("vi_VN",), "VND", ("Asia/Ho_Chi_Minh",), ("sms", "email")),
        ),
        (
            _stock_cookiecutter,
            "ID",
            (
                "Indonesia",
                ("id_ID",),
                "IDR",
                ("Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura"),
                ("sms", "email"),
            ),
        ),
        (
            _stock_cookiecutter,
            "HK",
            (
                "Hong Kong",
                ("zh_Hant_HK", "en_HK"),
                "HKD",
                ("Asia/Hong_Kong",),
                ("wechat", "sms", "email"),
            ),
        ),
    ],
    ids=["vietnam-cli", "indonesia-api", "hong-kong-api"],
)
def test_the_stock_cookiecutter_derives_every_value_from_the_country(
    make: Callable[[Path, str, Path], Path],
    country: str,
    expected: tuple[str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...]],
    deployment_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    regiocrm_hooks: Hooks,
    load_market: Callable[[Path], ModuleType],
) -> None:
    """Not Thailand's values with another code: the country's own, as `new-market` derives
    them, and the pack extending the one that serves the market already (Hong Kong: cn)."""
    project = make(deployment_dir, country, _config(tmp_path_factory.mktemp("cookiecutter")))
    load_market(project)
    pack = regiocrm_hooks.packs().for_market(country)
    market = pack.market(country)
    name, locales, currency, timezones, channels = expected
    assert (pack.code, pack.name, pack.locales, pack.channels) == (
        country.lower(),
        name,
        locales,
        channels,
    )
    assert (market.locale, market.currency, market.timezone) == (
        locales[0],
        currency,
        timezones[0],
    )
    assert (pack.currency, pack.timezones) == (currency, timezones)
    assert pack.extends == ("cn" if country == "HK" else "asia")
    text = "\n".join(p.read_text() for p in project.rglob("*.py"))
    assert "THB" not in text
    assert "Bangkok" not in text
    assert "000000000000" not in text


def test_two_markets_made_by_cookiecutter_upgrade_side_by_side(
    regiocrm_cli,
    deployment_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    load_market: Callable[[Path], ModuleType],
) -> None:
    """Each market's branch starts at a revision of its own: two installed together do not
    collide ("Revision … is present more than once")."""
    config = _config(tmp_path_factory.mktemp("cookiecutter"))
    markets = deployment_dir / "markets"
    revisions = set()
    for country in ("VN", "PH"):
        project = _stock_cookiecutter(markets, country, config)
        [migration] = (project / f"regiocrm_market_{country.lower()}" / "migrations").glob("*.py")
        revisions.add(migration.name.split("-")[1].split("_")[0])
        load_market(project)
    upgraded = regiocrm_cli("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert len(revisions) == 2
    zones = json.loads(regiocrm_cli("db", "current", "--json").stdout)
    assert {"vn", "ph"} <= {zone["zone"] for zone in zones}
    assert all(zone["migrated"] and revisions <= set(zone["heads"]) for zone in zones)


@pytest.mark.parametrize(
    ("country", "currency", "timezones"),
    [
        ("TH", "THB", ["Asia/Bangkok"]),
        ("ID", "IDR", ["Asia/Jakarta", "Asia/Pontianak", "Asia/Makassar", "Asia/Jayapura"]),
    ],
)
def test_a_generated_packs_currency_and_time_zones_are_listed(
    regiocrm_cli,
    deployment_dir: Path,
    load_market: Callable[[Path], ModuleType],
    country: str,
    currency: str,
    timezones: list[str],
) -> None:
    """As cn, jp, kr and au show theirs: not null and [] for a pack `new-market` made."""
    made = regiocrm_cli("new-market", "--no-input", f"country_code={country}", "-o", "markets")
    assert made.exit_code == 0, made.stderr
    load_market(deployment_dir / "markets" / f"regiocrm-market-{country.lower()}")
    listed = {p["code"]: p for p in json.loads(regiocrm_cli("packs", "list", "--json").stdout)}
    pack = listed[country.lower()]
    assert (pack["currency"], pack["timezones"]) == (currency, timezones)
    assert pack["market_profiles"][country]["timezone"] == timezones[0]


def test_the_generated_tests_check_the_country_not_the_values_given(
    regiocrm_cli, deployment_dir: Path
) -> None:
    """A market made with a value its country does not have fails its own tests: they
    derive what to expect from ISO 3166 and CLDR, not from the template's answers."""
    made = regiocrm_cli(
        "new-market", "--no-input", "country_code=VN", "currency=THB", "-o", "markets"
    )
    assert made.exit_code == 0, made.stderr
    project = deployment_dir / "markets" / "regiocrm-market-vn"
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "country"],
        cwd=project,
        env=deployment_environment(python_path=[project]),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert tested.returncode == 1, tested.stdout
    assert "1 failed" in tested.stdout
    assert "'THB' in ['VND']" in tested.stdout


def test_new_market_and_the_template_derive_alike(regiocrm_hooks: Hooks) -> None:
    """The channels follow the pack extended, given or derived, in both."""
    values = market_values({"country_code": "TW", "extends": "asia"}, regiocrm_hooks)
    assert values["channels"] == "sms,email"
    assert values["map_providers"] == "gazetteer"
    assert market_values({"country_code": "TW"}, regiocrm_hooks)["channels"] == "wechat,sms,email"


def test_a_markets_catalogs_are_dated_as_the_cores_not_when_they_were_written(
    tmp_path: Path,
) -> None:
    """Rendering a market again (``market update``) must find its catalogs unchanged, in
    whatever minute it runs."""
    package = tmp_path / "regiocrm_market_th"
    package.mkdir()
    [written] = write_catalogs(package, ["th_TH"])
    with (core_catalogs() / "regiocrm.pot").open("rb") as handle:
        core = read_po(handle)
    with written.open("rb") as handle:
        market = read_po(handle)
    assert market.creation_date == core.creation_date
    assert market.revision_date == core.creation_date
    again = tmp_path / "again" / "regiocrm_market_th"
    again.mkdir(parents=True)
    [rewritten] = write_catalogs(again, ["th_TH"])
    assert rewritten.read_bytes() == written.read_bytes()
    assert rewritten.with_suffix(".mo").read_bytes() == written.with_suffix(".mo").read_bytes()
