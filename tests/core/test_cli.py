"""The command line as a user meets it: exit codes, messages, JSON for tools."""

from __future__ import annotations

import io
import json
import os
import stat
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from regiocrm import SettingsSection
from regiocrm.crm.accounts import PASSWORDS
from regiocrm.hookspecs import hookimpl
from regiocrm.http.app import create_app
from regiocrm.models import ApiToken, AuditEvent, Organization, User
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.plugins import get_plugin_manager
from regiocrm.platform.settings import RegiocrmSettings, Section
from regiocrm.platform.stores import ZoneStores

ZONES = ["main", "au", "cn", "jp", "kr"]


def query(deployment_dir: Path, statement):
    stores = ZoneStores.open(RegiocrmSettings(), Hooks(get_plugin_manager(entry_points=False)))
    try:
        with stores.session() as session:
            return session.execute(statement).all()
    finally:
        stores.dispose()


def test_version(regiocrm_cli) -> None:
    result = regiocrm_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"regiocrm {version('regiocrm')}\n"


def test_help_lists_every_builtin_group(regiocrm_cli) -> None:
    result = regiocrm_cli("--help")
    assert result.exit_code == 0
    groups = ("config", "db", "orgs", "plugins", "serve", "users")
    positions = [result.stdout.index(f"│ {group} ") for group in groups]
    assert positions == sorted(positions), "commands are listed alphabetically"


def test_serve_help_names_the_settings_its_options_default_to(
    regiocrm_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[http]`` is text in the help, not markup that swallows it."""
    monkeypatch.setenv("COLUMNS", "300")
    result = regiocrm_cli("serve", "--help")
    assert result.exit_code == 0
    for option in ("host", "port", "workers"):
        assert f"default [http] {option}" in result.stdout


def test_unknown_command_is_a_usage_error(regiocrm_cli) -> None:
    result = regiocrm_cli("frobnicate")
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.stderr


def test_db_upgrade_then_current(regiocrm_cli, deployment_dir: Path) -> None:
    before = regiocrm_cli("db", "current", "--json")
    assert before.exit_code == 1
    assert json.loads(before.stdout)[0]["migrated"] is False

    upgraded = regiocrm_cli("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert (deployment_dir / "var" / "main.db").is_file()

    after = regiocrm_cli("db", "current", "--json")
    assert after.exit_code == 0
    zones = json.loads(after.stdout)
    assert [zone["zone"] for zone in zones] == ZONES, "the home zone, then each placement's"
    assert all(zone["migrated"] and zone["revisions"] == zone["heads"] for zone in zones)
    assert upgraded.stdout == "".join(f"zone {z}: at {zones[0]['heads'][0]}\n" for z in ZONES)
    assert sorted(p.name for p in (deployment_dir / "var").glob("*.db")) == sorted(
        f"{zone}.db" for zone in ZONES
    )


def test_db_upgrade_acts_on_every_zone(regiocrm_cli, deployment_dir: Path) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        'home_zone = "cn"\n[zones]\ncn = "sqlite:///zones/cn.db"\njp = "sqlite:///zones/jp.db"\n'
    )
    assert regiocrm_cli("db", "upgrade").exit_code == 0
    states = json.loads(regiocrm_cli("db", "current", "--json").stdout)
    assert [(s["zone"], s["migrated"]) for s in states] == [("cn", True), ("jp", True)]


def test_db_upgrade_of_an_unknown_zone(regiocrm_cli, deployment_dir: Path) -> None:
    result = regiocrm_cli("db", "upgrade", "--zone", "xx")
    assert result.exit_code == 2
    assert result.stderr == "Error: unknown zone 'xx' (configured zones: main, au, cn, jp, kr)\n"
    assert not (deployment_dir / "var").exists()


def test_unreachable_zone_is_one_clear_error(regiocrm_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIOCRM_HOME_ZONE", "cn")
    monkeypatch.setenv("REGIOCRM_ZONES__CN", "postgresql://nobody@127.0.0.1:1/none")
    result = regiocrm_cli("db", "upgrade")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: zone 'cn': connection failed:")
    assert result.stderr.count("\n") == 1
    added = regiocrm_cli("users", "add", "mei", "--role", "call_centre_agent")
    assert added.exit_code == 2
    assert added.stderr.startswith("Error: zone 'cn' is unreachable: connection failed:")


def test_unwritable_zone_stops_upgrade_before_any_zone_is_created(
    regiocrm_cli, deployment_dir: Path
) -> None:
    (deployment_dir / "blocker").write_text("a file where a folder should be")
    (deployment_dir / "regiocrm.toml").write_text(
        'home_zone = "cn"\n[zones]\ncn = "sqlite:///ok/cn.db"\njp = "sqlite:///blocker/jp.db"\n'
    )
    result = regiocrm_cli("db", "upgrade")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: zone 'jp': cannot use ")
    assert "blocker is not a folder" in result.stderr
    assert not (deployment_dir / "ok").exists()


def test_config_check_passes_on_defaults(regiocrm_cli) -> None:
    result = regiocrm_cli("config", "check")
    assert result.exit_code == 0
    assert result.stdout == f"settings OK (defaults and environment); zones: {', '.join(ZONES)}\n"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[zones]\nmain = "nonsense"\n', "Error: zones.main: 'nonsense' is not a database URL"),
        ("unknown_key = 1\n", "Error: unknown_key: unknown setting"),
        ("[http\n", "Error: config file: not valid TOML"),
        (
            'home_zone = "kr"\n[zones]\ncn = "sqlite:///cn.db"\n',
            "Error: home_zone: 'kr' is not a configured zone",
        ),
    ],
    ids=["malformed-url", "unknown-key", "unreadable-toml", "unknown-zone"],
)
def test_config_check_reports_bad_settings_in_one_line(
    regiocrm_cli, deployment_dir: Path, toml: str, expected: str
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(toml)
    result = regiocrm_cli("config", "check")
    assert result.exit_code == 2
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    assert str(deployment_dir / "regiocrm.toml") in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_masks_passwords(regiocrm_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIOCRM_HOME_ZONE", "cn")
    monkeypatch.setenv("REGIOCRM_ZONES__CN", "postgresql://crm:hunter2@db.internal/crm")
    result = regiocrm_cli("config", "show")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["zones"] == {"cn": "postgresql+psycopg://crm:***@db.internal/crm"}
    assert "hunter2" not in result.stdout


@pytest.mark.usefixtures("migrated")
def test_users_add_prints_a_token_stored_only_hashed(regiocrm_cli, deployment_dir: Path) -> None:
    result = regiocrm_cli("users", "add", "mei", "--role", "call_centre_agent")
    assert result.exit_code == 0, result.stderr
    token = result.last_line
    assert token.startswith("rcm_")
    assert len(token) > 40

    [(user, org)] = query(deployment_dir, select(User, Organization).join(Organization))
    assert (user.name, user.role.value, org.name, org.kind.value) == (
        "mei",
        "call_centre_agent",
        "Headquarters",
        "oem",
    )
    [(api_token,)] = query(deployment_dir, select(ApiToken))
    assert api_token.token_hash != token
    assert token.encode() not in (deployment_dir / "var" / "main.db").read_bytes()
    wal = deployment_dir / "var" / "main.db-wal"
    assert not wal.exists() or token.encode() not in wal.read_bytes()
    actions = {row.action for (row,) in query(deployment_dir, select(AuditEvent))}
    assert {"organization.created", "user.created", "token.issued"} <= actions


@pytest.mark.usefixtures("migrated")
def test_users_add_json_gives_tools_the_user_and_a_token_that_works(
    regiocrm_cli, deployment_dir: Path, settings, regiocrm_hooks
) -> None:
    result = regiocrm_cli("users", "add", "mei", "--role", "call_centre_agent", "--json")
    assert result.exit_code == 0, result.stderr
    added = json.loads(result.stdout)
    assert (added["name"], added["role"], added["organization"]) == (
        "mei",
        "call_centre_agent",
        "Headquarters",
    )
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {added['token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "mei"


@pytest.mark.usefixtures("migrated")
def test_users_add_into_a_named_organization(regiocrm_cli, deployment_dir: Path) -> None:
    added = regiocrm_cli("orgs", "add", "Shanghai Motors", "--kind", "dealer", "--market", "cn")
    assert added.exit_code == 0, added.stderr
    assert (
        regiocrm_cli(
            "users", "add", "li", "--role", "dealer_staff", "--org", "Shanghai Motors"
        ).exit_code
        == 0
    )
    users = json.loads(regiocrm_cli("users", "list", "--json").stdout)
    assert [(u["name"], u["organization"], u["tokens"]) for u in users] == [
        ("li", "Shanghai Motors", 1)
    ]
    [org] = json.loads(regiocrm_cli("orgs", "list", "--json").stdout)
    assert (org["market"], org["licence_tier"]) == ("CN", "community")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["users", "add", "x", "--role", "call_centre_agent", "--org", "Nowhere"],
            "Error: unknown organization 'Nowhere'",
        ),
        (["users", "add", "x", "--role", "emperor"], "Invalid value for '--role'"),
        (
            ["orgs", "add", "X", "--kind", "dealer", "--market", "China"],
            "is not an ISO 3166-1 alpha-2 code",
        ),
        (
            ["orgs", "add", "", "--kind", "dealer", "--market", "CN"],
            "Error: an organization needs a name that is not blank",
        ),
        (
            ["orgs", "add", " \t ", "--kind", "dealer", "--market", "CN"],
            "Error: an organization needs a name that is not blank",
        ),
        (["users", "add", " ", "--role", "admin"], "Error: a user needs a login name"),
    ],
    ids=["unknown-org", "unknown-role", "bad-market", "empty-org", "blank-org", "blank-user"],
)
@pytest.mark.usefixtures("migrated")
def test_bad_account_input_stores_nothing(
    regiocrm_cli, deployment_dir: Path, args: list[str], message: str
) -> None:
    result = regiocrm_cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert query(deployment_dir, select(User)) == []
    assert query(deployment_dir, select(Organization)) == []
    assert query(deployment_dir, select(AuditEvent)) == []


@pytest.mark.usefixtures("migrated")
def test_orgs_add_a_dealer_in_a_subdivision(regiocrm_cli, deployment_dir: Path) -> None:
    dealer = ("orgs", "add", "--kind", "dealer")
    added = regiocrm_cli(*dealer, "Parramatta Motors", "--market", "au", "--subdivision", "nsw")
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "created dealer Parramatta Motors (AU-NSW, community licence)\n"
    perth = regiocrm_cli(*dealer, "Perth Motors", "--market", "AU", "--subdivision", "AU-WA")
    assert perth.exit_code == 0, perth.stderr
    listed = json.loads(regiocrm_cli("orgs", "list", "--json").stdout)
    assert [(org["name"], org["market"], org["subdivision"]) for org in listed] == [
        ("Parramatta Motors", "AU", "NSW"),
        ("Perth Motors", "AU", "WA"),
    ]
    assert "NSW" in regiocrm_cli("orgs", "list").stdout


@pytest.mark.parametrize(
    ("market", "subdivision", "message"),
    [
        (
            "AU",
            "Sydney",
            "Error: 'Sydney' is not an ISO 3166-2 subdivision of AU:"
            " it has ACT, NSW, NT, QLD, SA, TAS, VIC, WA\n",
        ),
        ("AU", "NSW Western", "Error: 'NSW Western' is not an ISO 3166-2 subdivision of AU:"),
        ("AU", "", "Error: '' is not an ISO 3166-2 subdivision of AU:"),
        ("JP", "NSW", "Error: 'NSW' is not an ISO 3166-2 subdivision of JP: it has 01, 02,"),
    ],
    ids=["a-city", "not-iso", "empty", "another-markets"],
)
@pytest.mark.usefixtures("migrated")
def test_orgs_add_refuses_a_subdivision_the_market_does_not_have(
    regiocrm_cli, deployment_dir: Path, market: str, subdivision: str, message: str
) -> None:
    result = regiocrm_cli(
        "orgs", "add", "X", "--kind", "dealer", "--market", market, "--subdivision", subdivision
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert query(deployment_dir, select(Organization)) == []
    assert query(deployment_dir, select(AuditEvent)) == []


@pytest.mark.usefixtures("migrated")
def test_duplicate_user_is_refused(regiocrm_cli, deployment_dir: Path) -> None:
    regiocrm_cli("users", "add", "mei", "--role", "call_centre_agent")
    result = regiocrm_cli("users", "add", "mei", "--role", "admin")
    assert (result.exit_code, result.stderr) == (2, "Error: user 'mei' already exists\n")
    assert len(query(deployment_dir, select(ApiToken))) == 1


@pytest.mark.usefixtures("migrated")
def test_users_add_reads_a_console_password_from_stdin(
    regiocrm_cli, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    result = regiocrm_cli("users", "add", "mei", "--role", "admin", "--password-stdin")
    assert result.exit_code == 0, result.stderr
    assert result.last_line.startswith("rcm_")
    [(user,)] = query(deployment_dir, select(User))
    # The line end echo adds is not part of the password.
    assert PASSWORDS.verify(user.password_hash, "correct horse battery")
    assert "correct horse battery" not in user.password_hash
    actions = [row.action for (row,) in query(deployment_dir, select(AuditEvent))]
    assert "user.password_set" in actions


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "Error: no password on standard input"),
        ("\n", "Error: no password on standard input"),
        ("short\n", "Error: a password needs at least 12 characters"),
    ],
    ids=["empty", "blank-line", "too-short"],
)
@pytest.mark.usefixtures("migrated")
def test_users_add_with_a_bad_password_adds_no_one(
    regiocrm_cli, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch, stdin: str, message: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    result = regiocrm_cli("users", "add", "mei", "--role", "admin", "--password-stdin")
    assert result.exit_code == 2
    assert message in result.stderr
    assert query(deployment_dir, select(User)) == []
    assert query(deployment_dir, select(AuditEvent)) == []


@pytest.mark.usefixtures("migrated")
def test_users_passwd_sets_a_console_password_from_stdin(
    regiocrm_cli, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regiocrm_cli("users", "add", "mei", "--role", "admin")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    result = regiocrm_cli("users", "passwd", "mei")
    assert result.exit_code == 0, result.stderr
    assert "console password set for mei" in result.stdout
    [(user,)] = query(deployment_dir, select(User))
    assert PASSWORDS.verify(user.password_hash, "a long enough secret")
    [(event,)] = query(
        deployment_dir, select(AuditEvent).where(AuditEvent.action == "user.password_set")
    )
    assert event.actor_id is None


@pytest.mark.parametrize(
    ("name", "stdin", "message"),
    [
        ("nobody", "a long enough secret\n", "Error: unknown user 'nobody'"),
        ("mei", "", "Error: no password on standard input"),
        ("mei", "short\n", "Error: a password needs at least 12 characters"),
        ("mei", "x" * 1025, "Error: a password has at most 1024 characters"),
    ],
    ids=["unknown-user", "empty", "too-short", "too-long"],
)
@pytest.mark.usefixtures("migrated")
def test_users_passwd_with_bad_input_changes_nothing(
    regiocrm_cli,
    deployment_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    stdin: str,
    message: str,
) -> None:
    regiocrm_cli("users", "add", "mei", "--role", "admin")
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    result = regiocrm_cli("users", "passwd", name)
    assert result.exit_code == 2
    assert message in result.stderr
    [(user,)] = query(deployment_dir, select(User))
    assert user.password_hash is None
    assert (
        query(deployment_dir, select(AuditEvent).where(AuditEvent.action == "user.password_set"))
        == []
    )


def test_users_add_before_migration_says_what_to_run(regiocrm_cli, deployment_dir: Path) -> None:
    result = regiocrm_cli("users", "add", "mei", "--role", "call_centre_agent")
    assert result.exit_code == 2
    assert (
        result.stderr == "Error: zone 'main' is not migrated to head: run `regiocrm db upgrade`\n"
    )


# --8<-- [start:hook_register_commands]
def test_hook_register_commands(regiocrm_cli, register_plugin) -> None:
    class Greeter:
        @hookimpl
        def register_commands(self, cli: typer.Typer) -> None:
            @cli.command()
            def greet(name: str) -> None:
                """Say hello."""
                typer.echo(f"你好, {name}")

    register_plugin(Greeter())
    result = regiocrm_cli("greet", "Wang")
    assert (result.exit_code, result.stdout) == (0, "你好, Wang\n")
    assert "greet" in regiocrm_cli("--help").stdout


# --8<-- [end:hook_register_commands]


def test_plugins_list_json(regiocrm_cli) -> None:
    result = regiocrm_cli("plugins", "list", "--json")
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["regiocrm.platform.migrations"]["hooks"] == ["register_migrations"]
    assert plugins["regiocrm.platform.migrations"]["essential"] is True
    assert plugins["regiocrm.cli.users"]["builtin"] is True
    assert plugins["regiocrm.http.health"]["hooks"] == ["register_routes"]


class VaultSettings(Section):
    token: SecretStr


class Vault:
    @hookimpl
    def register_settings(self) -> list[SettingsSection]:
        return [SettingsSection("vault", VaultSettings)]


def test_missing_required_secret_exits_2_naming_where_to_set_it(
    regiocrm_cli, register_plugin, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_plugin(Vault())
    (deployment_dir / "regiocrm.toml").write_text("[vault]\n")
    result = regiocrm_cli("config", "check")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: vault.token: required (not set: add it to {deployment_dir / 'regiocrm.toml'}"
        " or set REGIOCRM_VAULT__TOKEN)\n"
    )

    monkeypatch.setenv("REGIOCRM_VAULT__TOKEN", "s.3cr3t")
    assert regiocrm_cli("config", "check").exit_code == 0
    shown = regiocrm_cli("config", "show")
    assert json.loads(shown.stdout)["vault"]["token"] == "**********"
    assert "s.3cr3t" not in shown.stdout


def _never_served(*args: object, **kwargs: object) -> None:
    raise AssertionError("served with settings that should have stopped it")


@pytest.mark.parametrize(
    "command",
    [["config", "check"], ["db", "upgrade"], ["orgs", "list"], ["serve"]],
    ids=["config-check", "db-upgrade", "orgs-list", "serve"],
)
def test_data_dir_naming_a_file_is_one_error_line(
    regiocrm_cli, deployment_dir: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    (deployment_dir / "var").write_text("a file where the zones' folder should be")
    monkeypatch.setenv("REGIOCRM_DATA_DIR", "var")
    monkeypatch.setattr("regiocrm.cli.serve.uvicorn.run", _never_served)
    result = regiocrm_cli(*command)
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: data_dir: {deployment_dir / 'var'} is not a folder"
        " (environment variable REGIOCRM_DATA_DIR)\n",
    )


def test_config_check_names_a_zone_file_that_cannot_be_made(
    regiocrm_cli, deployment_dir: Path
) -> None:
    (deployment_dir / "blocker").write_text("a file where a folder should be")
    (deployment_dir / "regiocrm.toml").write_text(
        'home_zone = "cn"\n[zones]\ncn = "sqlite:///blocker/cn.db"\njp = "sqlite:///ok/jp.db"\n'
        'au = "sqlite:///ok/au.db"\nkr = "sqlite:///ok/kr.db"\n'
    )
    result = regiocrm_cli("config", "check")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: zone 'cn': cannot use ")
    assert result.stderr.endswith("blocker is not a folder\n")
    assert result.stderr.count("\n") == 1
    added = regiocrm_cli("users", "add", "mei", "--role", "admin")
    assert added.exit_code == 2
    assert added.stderr.startswith("Error: zone 'cn' is unreachable: "), "not: not migrated"
    assert added.stderr.endswith("blocker is not a folder\n")


def _organization_with_history(regiocrm_cli) -> None:
    added = regiocrm_cli("orgs", "add", "Acme", "--kind", "dealer", "--market", "CN")
    assert added.exit_code == 0, added.stderr


def _audit_exports(deployment_dir: Path) -> list[AuditEvent]:
    return [
        row
        for (row,) in query(deployment_dir, select(AuditEvent))
        if row.action == "audit.exported"
    ]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("missing/audit.csv", "the folder missing does not exist"),
        ("/proc/audit.csv", "No such file or directory"),
    ],
    ids=["missing-folder", "proc"],
)
@pytest.mark.usefixtures("migrated")
def test_audit_export_into_a_place_it_cannot_write_is_one_error_line(
    regiocrm_cli, deployment_dir: Path, output: str, reason: str
) -> None:
    _organization_with_history(regiocrm_cli)
    result = regiocrm_cli("audit", "export", "--org", "Acme", "--since", "2020-01-01", "-o", output)
    assert (result.exit_code, result.stderr) == (2, f"Error: cannot write {output}: {reason}\n")
    assert _audit_exports(deployment_dir) == []


@pytest.mark.usefixtures("migrated")
def test_an_audit_export_is_readable_by_its_owner_alone(regiocrm_cli, deployment_dir: Path) -> None:
    """It names people and what they did: 0600 from its creation, whatever the umask."""
    _organization_with_history(regiocrm_cli)
    previous = os.umask(0)
    try:
        result = regiocrm_cli(
            "audit", "export", "--org", "Acme", "--since", "2020-01-01", "-o", "a.csv"
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE((deployment_dir / "a.csv").stat().st_mode) == 0o600
    assert len(_audit_exports(deployment_dir)) == 1
