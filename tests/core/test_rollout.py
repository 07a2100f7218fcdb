"""``regiocrm rollout check``: each check passes, warns or fails with the reason and the fix,
and the command exits 1 when any fails."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.packs import MarketProfile, PackSpec, ResidencyRule
from regiocrm.markets.rollout import Finding, Outcome, RolloutCheck, Target
from regiocrm.models import DataClass
from regiocrm.plugins.channels.email.testing import EmailDriver
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.plugins.channels.sms.testing import SmsDriver

THIS_YEAR = date.today().year


def findings(result: Any) -> dict[str, dict[str, Any]]:
    return {f"{f['market']} {f['check']}": f for f in json.loads(result.stdout)}


def outcomes(result: Any) -> dict[str, str]:
    return {check: found["outcome"] for check, found in findings(result).items()}


@pytest.mark.usefixtures("migrated")
def test_a_migrated_japanese_deployment_lacks_only_its_channel_accounts(regiocrm_cli) -> None:
    result = regiocrm_cli("rollout", "check", "--market", "JP", "--json")
    assert result.exit_code == 1
    assert outcomes(result) == {
        "JP settings": "pass",
        "JP channel line": "fail",
        "JP channel sms": "fail",
        "JP channel email": "fail",
        "JP zone jp": "pass",
        "JP zone main": "pass",
        "JP residency": "pass",
        "JP translations ja_JP": "pass",
        "JP translations en": "pass",
        "JP maps google": "warn",
        "JP maps": "pass",
        f"JP holidays {THIS_YEAR}": "pass",
        f"JP holidays {THIS_YEAR + 1}": "pass",
        "JP storage": "pass",
    }
    line = findings(result)["JP channel line"]
    assert line["reason"] == "no line account for JP: its credentials are missing"
    assert line["fix"] == (
        "add [channel_accounts.<name>] with channel = 'line', market = 'JP' and its"
        " credentials: channel_secret, access_token"
    )
    assert findings(result)["JP maps google"]["fix"] == "add its key under [maps.google]"


def test_with_its_accounts_configured_the_market_is_ready(
    regiocrm_cli, deployment_dir: Path
) -> None:
    accounts = {
        "line_jp": LineDriver().account_settings(),
        "sms_jp": {**SmsDriver().account_settings(), "market": "JP"},
        "mail_jp": EmailDriver().account_settings(),
    }
    settings = {"channel_accounts": accounts, "deployment": {"market": "JP"}}
    (deployment_dir / "regiocrm.toml").write_text(tomlkit.dumps(settings))
    assert regiocrm_cli("db", "upgrade").exit_code == 0
    result = regiocrm_cli("rollout", "check", "--json")
    assert result.exit_code == 0, result.stdout
    checked = outcomes(result)
    assert {checked[f"JP channel {name}"] for name in ("line", "sms", "email")} == {"pass"}
    assert "fail" not in checked.values()
    assert {check.split()[0] for check in checked} == {"JP"}, "its own market and its accounts'"


def test_zones_not_migrated_say_what_to_run(regiocrm_cli) -> None:
    result = regiocrm_cli("rollout", "check", "--market", "KR", "--json")
    assert result.exit_code == 1
    zone = findings(result)["KR zone kr"]
    assert zone["outcome"] == "fail"
    assert zone["reason"].startswith("not migrated to the heads: ")
    assert zone["fix"] == "run `regiocrm db upgrade`"


def test_invalid_settings_fail_and_say_nothing_else_can_be_checked(
    regiocrm_cli, deployment_dir: Path
) -> None:
    (deployment_dir / "regiocrm.toml").write_text('[residency.placement.CN]\nfinancial = "jp"\n')
    result = regiocrm_cli("rollout", "check", "--market", "CN", "--json")
    assert result.exit_code == 1
    found = findings(result)
    assert found["CN settings"]["outcome"] == "fail"
    assert "residency.placement.CN.financial" in found["CN settings"]["reason"]
    for check in ("CN channels", "CN zones", "CN residency"):
        assert found[check]["reason"] == "cannot be checked while the settings are invalid"
    assert regiocrm_cli("rollout", "check").stderr == (
        "Error: the settings are invalid: name the markets to check with --market\n"
    )


def test_an_unserved_market_is_refused(regiocrm_cli) -> None:
    result = regiocrm_cli("rollout", "check", "--market", "US")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no pack serves market 'US'")


class NewMarkets:
    """Two markets a rollout team has only begun: Thailand, with no Thai catalog yet and a
    map chain that needs the network; Bouvet Island, which has no public holidays."""

    @hookimpl
    def register_packs(self) -> list[PackSpec]:
        return [
            PackSpec.declare(
                code="th",
                extends="asia",
                markets={
                    "TH": MarketProfile(locale="th_TH", currency="THB", timezone="Asia/Bangkok")
                },
                locales=("th_TH",),
                map_providers=("google",),
                residency=dict.fromkeys(DataClass, ResidencyRule(zones=("main",))),
            ),
            PackSpec.declare(
                code="bv",
                extends="asia",
                markets={
                    "BV": MarketProfile(locale="nb_NO", currency="NOK", timezone="Europe/Oslo")
                },
                residency=dict.fromkeys(DataClass, ResidencyRule(zones=("main",))),
            ),
        ]


def test_a_new_market_fails_on_what_it_lacks(regiocrm_cli, register_plugin) -> None:
    register_plugin(NewMarkets())
    assert regiocrm_cli("db", "upgrade").exit_code == 0
    result = regiocrm_cli("rollout", "check", "--market", "TH", "--market", "bv", "--json")
    assert result.exit_code == 1
    found = findings(result)
    assert found["TH translations th_TH"]["outcome"] == "fail"
    assert found["TH translations th_TH"]["reason"].endswith("messages are not translated")
    missing, total = found["TH translations th_TH"]["reason"].split(" messages")[0].split(" of ")
    assert missing == total
    assert (found["TH maps"]["outcome"], found["TH maps"]["fix"]) == (
        "fail",
        "end the pack's map providers with 'gazetteer'",
    )
    assert found[f"BV holidays {THIS_YEAR}"]["outcome"] == "fail"
    assert found[f"BV holidays {THIS_YEAR}"]["reason"] == (
        f"no public holidays known for BV in {THIS_YEAR}"
    )


def test_hook_register_rollout_checks(regiocrm_cli, register_plugin) -> None:
    seen: list[Target] = []

    def dealer_network(target: Target) -> list[Finding]:
        seen.append(target)
        return [
            Finding(
                "dealer network",
                Outcome.FAIL,
                f"{target.market} has no dealer with a location",
                "regiocrm orgs add NAME --kind dealer --address …",
            )
        ]

    class Pack:
        @hookimpl
        def register_rollout_checks(self) -> list[RolloutCheck]:
            return [RolloutCheck("dealers", dealer_network)]

    register_plugin(Pack())
    assert regiocrm_cli("db", "upgrade").exit_code == 0
    result = regiocrm_cli("rollout", "check", "--market", "AU", "--json")
    assert result.exit_code == 1
    checks = list(findings(result))
    assert checks[-1] == "AU dealer network", "plugins' checks come after the core's"
    [target] = seen
    assert (target.market, target.pack.code, target.profile.currency) == ("AU", "au", "AUD")
    assert target.settings is not None
