"""The storage service: each organization's storage against its quota, as views a front
end renders without reaching the forecast's internals."""

from __future__ import annotations

from datetime import date, timedelta

from regiocrm.interfaces.terms import LicenceTier, OrganizationKind
from regiocrm.residency.storage import HORIZON_DAYS
from regiocrm.services.application import Application
from regiocrm.services.directory import DirectoryService, NewOrganization
from regiocrm.services.storage import StorageService


def test_an_empty_deployment_reports_nothing(application: Application) -> None:
    report = StorageService(application).report(date(2026, 11, 2))
    assert report.forecasts == []
    assert report.horizon == date(2026, 11, 2) + timedelta(days=HORIZON_DAYS)


def test_each_organization_is_shown_against_its_tiers_quota(application: Application) -> None:
    directory = DirectoryService(application)
    directory.add_organization(NewOrganization("Importer", OrganizationKind.WHOLESALER, "JP"))
    directory.add_organization(NewOrganization("Osaka Motors", OrganizationKind.DEALER, "JP"))
    report = StorageService(application).report()
    forecasts = {forecast.organization: forecast for forecast in report.forecasts}
    assert sorted(forecasts) == ["Importer", "Osaka Motors"]
    dealer = forecasts["Osaka Motors"]
    assert (dealer.tier, dealer.growing, dealer.runs_out_on) == ("community", False, None)
    assert dealer.as_json()["organization"] == "Osaka Motors"
    assert dealer.as_json()["used_mib"] == dealer.used_mib
    assert forecasts["Importer"].tier == "full"
    quotas = application.hooks.packs().for_market("JP").storage_quotas_mib
    assert forecasts["Osaka Motors"].quota_mib == float(quotas[LicenceTier.COMMUNITY])
    assert forecasts["Importer"].quota_mib == float(quotas[LicenceTier.FULL])
