"""Residency rules and placement: what the packs allow, what a deployment chooses, and the
settings that are refused at start-up with the key, its source and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from regiocrm.models import DataClass
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, SettingsError, load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.residency.rules import Residency, ResidencyError


def residency(hooks: Hooks, **values) -> Residency:
    return Residency.build(hooks.packs(), load_settings(hooks, **values))


def problems(exc: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    return [str(problem) for problem in exc.value.problems]


def test_each_class_goes_to_the_packs_preferred_zone_by_default(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    placed = residency(regiocrm_hooks)
    assert {
        data_class: placed.zone_for("CN", data_class) for data_class in DataClass
    } == dict.fromkeys(DataClass, "cn")
    assert placed.zone_for("JP", DataClass.FINANCIAL) == "jp"
    assert placed.zone_for("KR", DataClass.IDENTITY) == "kr"
    assert placed.zone_for("AU", DataClass.TELEMATICS) == "au"
    # Hong Kong and Taiwan are served from the regional hub unless the deployment says not.
    assert placed.zone_for("HK", DataClass.IDENTITY) == "jp"
    assert placed.rule("TW", DataClass.FINANCIAL).zones == ("jp", "cn")
    assert placed.rule("CN", DataClass.FINANCIAL).zones == ("cn",)
    assert placed.rule("CN", DataClass.CRM).export_requires == ("consent", "assessment")
    assert placed.rule("JP", DataClass.IDENTITY).export_requires == ("consent",)
    assert placed.rule("AU", DataClass.CRM).export_requires == ()


def test_the_deployment_chooses_among_the_allowed_zones(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.placement.CN]\ncrm = "jp"\n')
    placed = residency(regiocrm_hooks)
    assert placed.zone_for("CN", DataClass.CRM) == "jp"
    assert placed.zone_for("CN", DataClass.IDENTITY) == "cn"
    assert placed.allows("CN", DataClass.CRM, "cn"), "placing elsewhere does not forbid cn"
    assert placed.markets_allowed_in("jp", DataClass.FINANCIAL) == {"HK", "JP", "TW"}
    assert "CN" in placed.markets_allowed_in("jp", DataClass.CRM)


def test_a_forbidden_placement_is_refused_at_start_up_and_nothing_is_written(
    deployment_dir: Path, regiocrm_hooks: Hooks, regiocrm_cli
) -> None:
    config = deployment_dir / "regiocrm.toml"
    config.write_text('[residency.placement.CN]\nfinancial = "jp"\n')
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    assert problems(exc) == [
        "residency.placement.CN.financial: CN financial data may not be placed in 'jp':"
        f" the rules allow only 'cn' (pack cn) ({config})"
    ]
    result = regiocrm_cli("db", "upgrade")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: residency.placement.CN.financial: CN financial data")
    assert list(deployment_dir.iterdir()) == [config]


def test_a_placement_from_the_environment_names_the_variable(
    deployment_dir: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGIOCRM_RESIDENCY__PLACEMENT__KR__CRM", "jp")
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = problems(exc)
    assert problem.startswith("residency.placement.KR.crm: KR crm data may not be placed in 'jp'")
    assert problem.endswith("(environment variable REGIOCRM_RESIDENCY__PLACEMENT__KR__CRM)")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[residency.placement.XX]\ncrm = "cn"\n',
            "residency.placement.XX: no pack serves market 'XX'",
        ),
        (
            '[residency.placement.CN]\ngossip = "cn"\n',
            "residency.placement.CN.gossip: no installed pack has a rule for gossip data of CN",
        ),
        (
            '[residency.placement.C1]\ncrm = "cn"\n',
            "residency.placement.C1.[key]: String should match pattern '^[A-Z]{2}$'",
        ),
        (
            '[residency.restrict.CN]\ncrm = ["cn", "kr"]\n',
            "residency.restrict.CN.crm: a restriction can only narrow the rule of pack cn"
            " (cn, jp), not add kr",
        ),
        (
            "[residency.restrict.CN]\ncrm = []\n",
            "residency.restrict.CN.crm: List should have at least 1 item",
        ),
    ],
    ids=["unserved-market", "unknown-class", "not-a-market", "widening", "empty"],
)
def test_bad_residency_settings_name_the_key(
    deployment_dir: Path, regiocrm_hooks: Hooks, toml: str, expected: str
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(toml)
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = problems(exc)
    assert problem.startswith(expected)


def test_a_restriction_narrows_the_rule_and_moves_the_default(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.restrict.hk]\ncrm = ["cn"]\n')
    placed = residency(regiocrm_hooks)
    assert placed.rule("HK", DataClass.CRM).zones == ("cn",)
    assert placed.zone_for("HK", DataClass.CRM) == "cn"
    assert not placed.allows("HK", DataClass.CRM, "jp")
    assert placed.zone_for("HK", DataClass.IDENTITY) == "jp", "other classes keep their rule"


def test_a_placement_outside_a_restriction_is_refused(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[residency.restrict.CN]\ncrm = ["cn"]\n[residency.placement.CN]\ncrm = "jp"\n'
    )
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = problems(exc)
    assert problem.startswith(
        "residency.placement.CN.crm: CN crm data may not be placed in 'jp':"
        " the rules allow only 'cn'"
    )


def test_configured_zones_must_hold_every_market_the_deployment_serves(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        'home_zone = "cn"\n[zones]\ncn = "sqlite:///cn.db"\n[residency.placement.CN]\ncrm = "jp"\n'
    )
    with pytest.raises(SettingsError) as exc:
        load_settings(regiocrm_hooks)
    [problem] = problems(exc)
    assert problem.startswith(
        "residency.placement.CN.crm: CN data (crm) is placed in zone 'jp', which is not"
        " configured (zones: cn)"
    )


def test_a_market_the_deployment_does_not_serve_needs_no_zone_until_written(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    settings = load_settings(regiocrm_hooks, zones={"cn": "sqlite:///cn.db"}, home_zone="cn")
    placed = Residency.build(regiocrm_hooks.packs(), settings)
    assert placed.zone_for("KR", DataClass.CRM) == "kr"
    stores = ZoneStores(settings, placed, regiocrm_hooks.entities())
    assert stores.names == ["cn"]
    with pytest.raises(SettingsError) as exc:
        load_settings(
            regiocrm_hooks,
            zones={"cn": "sqlite:///cn.db"},
            home_zone="cn",
            deployment={"market": "KR"},
        )
    assert problems(exc)[0].startswith(
        "zones: KR data (audit, crm, financial, identity, telematics) is placed in zone 'kr'"
    )


def test_the_embedded_default_has_a_zone_for_every_placement(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.placement.HK]\ncrm = "cn"\n')
    stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    assert stores.names == ["main", "au", "cn", "jp", "kr"]
    assert stores.url("jp").database == str(deployment_dir / "var" / "jp.db")


def test_two_zones_cannot_share_a_database(deployment_dir: Path) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(zones={"cn": "sqlite:///one.db", "jp": "sqlite:///one.db"}, home_zone="cn")
    assert (
        problems(exc)[0].startswith(
            "zones: Value error, zones 'cn' and 'jp' name the same database"
        )
        or "zones 'cn' and 'jp' name the same database" in problems(exc)[0]
    )


def test_a_market_no_pack_serves_has_no_placement(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    placed = residency(regiocrm_hooks)
    with pytest.raises(ResidencyError, match="no installed pack serves it"):
        placed.zone_for("US", DataClass.CRM)
    assert not placed.allows("US", DataClass.CRM, "main")


def test_stores_need_the_residency_of_their_packs(
    deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    settings = RegiocrmSettings()
    stores = ZoneStores.open(settings, regiocrm_hooks)
    assert stores.residency.home == "main"
    assert stores.residency.placed_zones() == {"main", "au", "cn", "jp", "kr"}
