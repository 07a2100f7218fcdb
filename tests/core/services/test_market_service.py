"""The market service: every served market with its rollout check run against the
deployment's own settings and zones, failures first; the residency report and the storage
forecast; all of it for administrators and the competence centre only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_people import AUDIT_PARTNERS, SHANGHAI_CALL, SHANGHAI_MOTORS, Person, sign_in

from regiocrm.crm.access import Forbidden
from regiocrm.interfaces.rollout import Outcome
from regiocrm.interfaces.terms import OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.markets import MarketService

CENTRE = Person("Competence Centre", OrganizationKind.OEM, UserRole.COMPETENCE_CENTRE)
ADMIN = Person("Operations", OrganizationKind.OEM, UserRole.ADMIN)


@pytest.fixture
def application(regiocrm_hooks: Hooks, migrated: ZoneStores) -> Iterator[Application]:
    r"""The deployment as \`regiocrm serve\` loads it: with every plugin's settings section,
    which the map providers' checks read."""
    app = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    yield app
    app.close()


@pytest.fixture
def people(application: Application) -> dict[str, Caller]:
    return sign_in(application, CENTRE, ADMIN, SHANGHAI_CALL, SHANGHAI_MOTORS, AUDIT_PARTNERS)


def test_every_market_a_pack_serves_is_checked_failures_first(
    application: Application, people: dict[str, Caller]
) -> None:
    markets = MarketService(application).markets(people[CENTRE.name])
    served = {code for pack in application.hooks.packs() for code in pack.markets}
    assert sorted(market.code for market in markets) == sorted(served)
    severity = [
        {Outcome.FAIL: 0, Outcome.WARN: 1, Outcome.PASS: 2}[market.outcome] for market in markets
    ]
    assert severity == sorted(severity)
    japan = next(market for market in markets if market.code == "JP")
    assert (japan.pack, japan.chain, japan.languages[0]) == ("jp", ("jp", "asia"), "ja_JP")
    assert japan.channels[0] == "line"
    assert japan.map_providers[-1] == "gazetteer"
    # No channel account is configured: LINE fails, with the settings to add as its fix.
    line = next(finding for finding in japan.findings if finding.check == "channel line")
    assert line.outcome is Outcome.FAIL
    assert line.fix is not None
    assert "channel = 'line', market = 'JP'" in line.fix
    outcomes = [finding.outcome for finding in japan.findings]
    assert outcomes == sorted(outcomes, key=[Outcome.FAIL, Outcome.WARN, Outcome.PASS].index)
    assert japan.outcome is Outcome.FAIL
    assert japan.count(Outcome.FAIL) == outcomes.count(Outcome.FAIL) > 0


def test_the_residency_report_and_the_storage_forecast_are_the_operators(
    application: Application, people: dict[str, Caller]
) -> None:
    markets = MarketService(application)
    report = markets.residency(people[ADMIN.name])
    assert [zone.zone for zone in report.zones] == ["main", "au", "cn", "jp", "kr"]
    storage = markets.storage(people[ADMIN.name])
    assert sorted(forecast.organization for forecast in storage.forecasts) == sorted(
        person.name for person in (CENTRE, ADMIN, SHANGHAI_CALL, SHANGHAI_MOTORS, AUDIT_PARTNERS)
    )


@pytest.mark.parametrize("person", [SHANGHAI_CALL, SHANGHAI_MOTORS, AUDIT_PARTNERS])
def test_other_roles_are_refused_every_view(
    application: Application, people: dict[str, Caller], person: Person
) -> None:
    markets = MarketService(application)
    caller = people[person.name]
    for attempt in (markets.markets, markets.residency, markets.storage):
        with pytest.raises(Forbidden, match=f"a {person.role.value} may not do this"):
            attempt(caller)
