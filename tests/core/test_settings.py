"""Settings: source priority, validation, and errors that name the key and its source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from regiocrm import SettingsSection
from regiocrm.hookspecs import hookimpl
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, Section, SettingsError, load_settings


def problem_lines(exc: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def test_source_priority_is_init_then_env_then_dotenv_then_toml(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[http]\nport = 8001\nhost = "::1"\n[deployment]\nmarket = "JP"\norganization = "toml"\n'
    )
    assert load_settings().http.port == 8001

    (deployment_dir / ".env").write_text(
        "REGIOCRM_HTTP__PORT=8002\nREGIOCRM_DEPLOYMENT__MARKET=KR\n"
    )
    settings = load_settings()
    assert settings.http.port == 8002
    assert settings.deployment.market == "KR"
    # Nested sections merge across sources: what the .env does not set still comes from TOML.
    assert settings.http.host == "::1"
    assert settings.deployment.organization == "toml"

    monkeypatch.setenv("REGIOCRM_HTTP__PORT", "8003")
    assert load_settings().http.port == 8003

    assert load_settings(http={"port": 8004}).http.port == 8004


def test_dotenv_ignores_other_tools_variables_but_not_unknown_settings(
    deployment_dir: Path,
) -> None:
    (deployment_dir / ".env").write_text("DATABASE_URL=postgres://x\nREGIOCRM_HTTP__PORT=8100\n")
    assert load_settings().http.port == 8100
    (deployment_dir / ".env").write_text("REGIOCRM_HTTP__PROT=8100\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [f"http.prot: unknown setting ({deployment_dir / '.env'})"]


def test_regiocrm_config_names_the_toml_file(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (deployment_dir / "regiocrm.toml").write_text("[http]\nport = 8001\n")
    other = deployment_dir / "elsewhere.toml"
    other.write_text("[http]\nport = 9001\n")
    monkeypatch.setenv("REGIOCRM_CONFIG", str(other))
    assert load_settings().http.port == 9001


def test_regiocrm_config_naming_a_missing_file_is_an_error(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_CONFIG", str(deployment_dir / "missing.toml"))
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"REGIOCRM_CONFIG: {deployment_dir / 'missing.toml'} does not exist (environment)"
    ]


def test_defaults_give_one_sqlite_zone_under_data_dir(deployment_dir: Path) -> None:
    urls = load_settings().zone_urls()
    assert list(urls) == ["main"]
    assert urls["main"].get_backend_name() == "sqlite"
    assert Path(urls["main"].database) == deployment_dir / "var" / "main.db"


def test_unknown_key_in_toml_names_key_and_file(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text("[http]\nprot = 1\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"http.prot: unknown setting ({deployment_dir / 'regiocrm.toml'})"
    ]


def test_unknown_top_level_environment_variable_is_an_error(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_DATADIR", "/tmp")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == ["REGIOCRM_DATADIR: unknown setting (environment variable)"]


def test_process_variables_are_not_settings(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_TRACE_HOOKS", "0")
    monkeypatch.setenv("REGIOCRM_DISABLED_PLUGINS", "")
    assert load_settings().home_zone == "main"


def test_wrong_value_from_environment_names_the_variable(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_HTTP__PORT", "70000")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    [line] = problem_lines(exc)
    assert line.startswith("http.port: Input should be less than or equal to 65535")
    assert line.endswith("(environment variable REGIOCRM_HTTP__PORT)")


def test_malformed_zone_url_names_zone_and_source(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[zones]\nmain = "not a url"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        "zones.main: 'not a url' is not a database URL (e.g. sqlite:///var/main.db)"
        f" ({deployment_dir / 'regiocrm.toml'})"
    ]


def test_unsupported_database_is_refused(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_ZONES__MAIN", "mysql://root@localhost/test")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    [line] = problem_lines(exc)
    assert line.startswith("zones.main: unsupported database 'mysql'")
    assert "REGIOCRM_ZONES__MAIN" in line


def test_bad_zone_name_is_refused(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[zones]\n"Main Zone" = "sqlite:///x.db"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert "is not a zone name" in str(exc.value)


def test_home_zone_must_be_configured(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        'home_zone = "eu"\n[zones]\ncn = "sqlite:///cn.db"\njp = "sqlite:///jp.db"\n'
    )
    with pytest.raises(SettingsError) as exc:
        load_settings()
    toml = deployment_dir / "regiocrm.toml"
    assert problem_lines(exc) == [
        f"home_zone: 'eu' is not a configured zone (zones: cn, jp) ({toml})"
    ]


def test_postgresql_urls_use_psycopg3(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_ZONES__MAIN", "postgresql://crm:s3cret@db.example/crm")
    url = load_settings().zone_urls()["main"]
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "s3cret"


def test_unreadable_toml_is_one_clear_error(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text("[http\nport = 1\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    [line] = problem_lines(exc)
    assert line.startswith("config file: not valid TOML:")
    assert line.endswith(f"({deployment_dir / 'regiocrm.toml'})")


def test_config_file_that_is_not_utf8_is_one_clear_error(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_bytes(b"\xff\xfe[http]\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    [line] = problem_lines(exc)
    assert line.startswith("config file: not valid TOML: 'utf-8' codec can't decode")


def test_config_file_that_is_a_folder_cannot_be_read(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = deployment_dir / "conf.toml"
    folder.mkdir()
    monkeypatch.setenv("REGIOCRM_CONFIG", str(folder))
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"config file: cannot read: Is a directory ({folder}, named by REGIOCRM_CONFIG)"
    ]


class GatewaySettings(Section):
    api_key: SecretStr
    endpoint: str = "https://gateway.example"


class GatewayPlugin:
    @hookimpl
    def register_settings(self) -> list[SettingsSection]:
        return [SettingsSection("gateway", GatewaySettings)]


def test_hook_register_settings(
    deployment_dir: Path, register_plugin, regiocrm_hooks: Hooks
) -> None:
    register_plugin(GatewayPlugin())
    (deployment_dir / "regiocrm.toml").write_text('[gateway]\napi_key = "k-123"\n')
    settings = load_settings(regiocrm_hooks)
    section = settings.gateway  # type: ignore[attr-defined]
    assert isinstance(section, GatewaySettings)
    assert section.api_key.get_secret_value() == "k-123"
    assert section.endpoint == "https://gateway.example"
    assert "k-123" not in repr(settings)
    assert settings.masked()["gateway"]["api_key"] == "**********"


def test_missing_required_secret_names_the_key_and_where_to_set_it(
    deployment_dir: Path, register_plugin, regiocrm_hooks: Hooks
) -> None:
    register_plugin(GatewayPlugin())
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = exc.value.problems
    assert problem.key == "gateway"
    assert problem.reason == "required"
    assert "REGIOCRM_GATEWAY" in problem.source


def test_missing_field_of_present_section(
    deployment_dir: Path, register_plugin, regiocrm_hooks: Hooks
) -> None:
    register_plugin(GatewayPlugin())
    (deployment_dir / "regiocrm.toml").write_text('[gateway]\nendpoint = "https://x.example"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = exc.value.problems
    assert (problem.key, problem.reason) == ("gateway.api_key", "required")
    assert "REGIOCRM_GATEWAY__API_KEY" in problem.source


def test_plugin_section_cannot_take_a_core_name(register_plugin, regiocrm_hooks: Hooks) -> None:
    class Clash:
        @hookimpl
        def register_settings(self) -> list[SettingsSection]:
            return [SettingsSection("http", GatewaySettings)]

    register_plugin(Clash())
    with pytest.raises(SettingsError, match="already taken"):
        load_settings(regiocrm_hooks)


def test_masked_hides_database_passwords(deployment_dir: Path) -> None:
    settings = RegiocrmSettings(zones={"main": "postgresql://crm:s3cret@db.example/crm"})
    assert "s3cret" not in str(settings.masked())
    assert settings.masked()["zones"]["main"] == "postgresql+psycopg://crm:***@db.example/crm"


@pytest.mark.parametrize(
    ("rate", "reason"),
    [
        ("nan", "Input should be a finite number"),
        ("inf", "Input should be a finite number"),
        ("-inf", "Input should be a finite number"),
        ("0", "Input should be greater than 0"),
    ],
)
def test_a_send_rate_is_a_finite_number_above_0(
    deployment_dir: Path, rate: str, reason: str
) -> None:
    """nan compares false with every bound: it passed, and the limiter then never waited."""
    (deployment_dir / "regiocrm.toml").write_text(f"[campaigns]\nsend_rates = {{line = {rate}}}\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"campaigns.send_rates.line: {reason} ({deployment_dir / 'regiocrm.toml'})"
    ]


def test_no_number_of_any_section_may_be_nan_or_infinite(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_STORAGE__QUOTAS_MIB", '{"Acme": Infinity}')
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        "storage.quotas_mib.Acme: Input should be a finite number"
        " (environment variable REGIOCRM_STORAGE__QUOTAS_MIB)"
    ]


def _never_served(*args: object, **kwargs: object) -> None:
    raise AssertionError("served with settings that should have stopped it")


@pytest.mark.parametrize(
    ("market", "reason"),
    [
        ("XX", "'XX' is not an ISO 3166-1 alpha-2 country code"),
        ("TH", "no pack serves market 'TH' (served: AU, CN, HK, JP, KR, TW)"),
    ],
    ids=["not-a-country", "no-pack"],
)
def test_the_deployments_market_is_a_country_an_installed_pack_serves(
    deployment_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    regiocrm_hooks: Hooks,
    regiocrm_cli,
    market: str,
    reason: str,
) -> None:
    monkeypatch.setenv("REGIOCRM_DEPLOYMENT__MARKET", market)
    monkeypatch.setattr("regiocrm.cli.serve.uvicorn.run", _never_served)
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    line = f"deployment.market: {reason} (environment variable REGIOCRM_DEPLOYMENT__MARKET)"
    assert problem_lines(exc) == [line]
    for command in (["config", "check"], ["serve"]):
        result = regiocrm_cli(*command)
        assert (result.exit_code, result.stderr) == (2, f"Error: {line}\n")
    assert not (deployment_dir / "var").exists()


def test_the_deployments_organization_has_a_name(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_DEPLOYMENT__ORGANIZATION", "   ")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        "deployment.organization: an organization's name cannot be blank"
        " (environment variable REGIOCRM_DEPLOYMENT__ORGANIZATION)"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("REGIOCRM_ZONES", "{main", "not valid JSON: Expecting property name enclosed"),
        ("REGIOCRM_ZONES", "[" * 100_000, "not valid JSON: nested too deeply"),
        ("REGIOCRM_CAMPAIGNS__SEND_RATES", '{"a": ' * 100_000, "not valid JSON: nested too deeply"),
    ],
    ids=["malformed", "deep", "deep-nested-key"],
)
def test_a_table_in_a_variable_that_is_not_json_names_the_variable(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    [problem] = exc.value.problems
    key = variable.removeprefix("REGIOCRM_").lower().replace("__", ".")
    assert (problem.key, problem.source) == (key, f"environment variable {variable}")
    assert problem.reason.startswith(reason)


def test_a_table_in_the_dotenv_file_that_is_too_deep_names_the_file(deployment_dir: Path) -> None:
    (deployment_dir / ".env").write_text("REGIOCRM_ZONES=" + "[" * 100_000 + "\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"zones: not valid JSON: nested too deeply ({deployment_dir / '.env'})"
    ]


def test_a_config_file_nested_too_deeply_is_one_clear_error(deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text("a = " + "[" * 100_000 + "\n")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"config file: not valid TOML: nested too deeply ({deployment_dir / 'regiocrm.toml'})"
    ]


@pytest.mark.parametrize("below", ["", "/zones"], ids=["itself", "a-folder-below"])
def test_data_dir_naming_a_file_is_refused(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch, below: str
) -> None:
    (deployment_dir / "notes.txt").write_text("a file")
    monkeypatch.setenv("REGIOCRM_DATA_DIR", f"notes.txt{below}")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"data_dir: {deployment_dir / 'notes.txt'} is not a folder"
        " (environment variable REGIOCRM_DATA_DIR)"
    ]
    # Unused when every zone is configured: no error then.
    monkeypatch.setenv("REGIOCRM_ZONES__MAIN", "sqlite:///main.db")
    assert load_settings().data_dir == Path(f"notes.txt{below}")


def test_data_dir_that_cannot_be_looked_into_is_refused(
    deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for a user without access to a folder above it: a reason, not a traceback."""
    looked = Path.exists

    def exists(path: Path, *args: Any, **kwargs: Any) -> bool:
        if "sealed" in path.parts:
            raise PermissionError(13, "Permission denied", str(path))
        return looked(path, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    monkeypatch.setenv("REGIOCRM_DATA_DIR", "sealed/var")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert problem_lines(exc) == [
        f"data_dir: cannot look into {deployment_dir / 'sealed' / 'var'}: Permission denied"
        " (environment variable REGIOCRM_DATA_DIR)"
    ]
