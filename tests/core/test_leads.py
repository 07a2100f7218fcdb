"""Leads placed on the map through the market's chain and routed to the nearest dealer.

Dealer and lead positions are real places (WGS-84, to about 100 m); AMap answers are in
GCJ-02, as AMap's documentation shows them, so the chain must convert them back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import prcoords
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm import hookimpl
from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.interfaces.maps import (
    Datum,
    MapProvider,
    MapRefused,
    MapUnavailable,
    NoResult,
    Place,
    Point,
)
from regiocrm.interfaces.packs import PackSpec
from regiocrm.models import Lead, Organization, OrganizationKind, Ownership, UserRole, Vehicle
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

PUDONG_DEALER = Point(31.2090, 121.5960)  # Zhangjiang, Pudong
MINHANG_DEALER = Point(31.1130, 121.3817)
BEIJING_DEALER = Point(39.9219, 116.4436)
ZHANGJIANG_ROAD = Point(31.2035, 121.5907)  # the lead's address, WGS-84


def gcj02(point: Point) -> tuple[float, float]:
    shifted = prcoords.wgs_gcj(prcoords.Coords(point.lat, point.lon))
    return shifted.lat, shifted.lon


class Amap:
    """AMap's geocoding API answering as documented: GCJ-02 "lng,lat" strings."""

    def __init__(self, answer: str = "ok") -> None:
        self.answer = answer
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.answer == "bad key":
            return httpx.Response(
                200, json={"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"}
            )
        lat, lon = gcj02(ZHANGJIANG_ROAD)
        return httpx.Response(
            200,
            json={
                "status": "1",
                "info": "OK",
                "infocode": "10000",
                "count": "1",
                "geocodes": [
                    {
                        "formatted_address": "上海市浦东新区张江路",
                        "country": "中国",
                        "province": "上海市",
                        "citycode": "021",
                        "city": "上海市",
                        "district": "浦东新区",
                        "township": [],
                        "street": "张江路",
                        "number": [],
                        "adcode": "310115",
                        "location": f"{lon:.6f},{lat:.6f}",
                        "level": "道路",
                    }
                ],
            },
        )


class Served:
    def __init__(self, client: TestClient, stores: ZoneStores, token: str) -> None:
        self.client = client
        self.stores = stores
        self.auth = {"Authorization": f"Bearer {token}"}

    def lead(self, **body: Any) -> httpx.Response:
        return self.client.post("/api/leads", json=body, headers=self.auth)

    def leads(self) -> int:
        with self.stores.session() as session:
            return session.scalar(select(func.count()).select_from(Lead))


def serve(regiocrm_hooks: Hooks, amap: Amap | None, **settings_values: Any) -> Iterator[Served]:
    settings = load_settings(regiocrm_hooks, **settings_values)
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        for name, point, market in (
            ("Pudong Motors", PUDONG_DEALER, "CN"),
            ("Minhang Motors", MINHANG_DEALER, "CN"),
            ("Beijing Motors", BEIJING_DEALER, "CN"),
        ):
            create_organization(
                session, name=name, kind=OrganizationKind.DEALER, market=market, location=point
            )
        hq = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="CN")
        agent = create_user(session, name="li", role=UserRole.COMPETENCE_CENTRE, organization=hq)
    client = httpx.Client(transport=httpx.MockTransport(amap or Amap()))
    with TestClient(create_app(settings, regiocrm_hooks, http_client=client)) as test_client:
        yield Served(test_client, stores, agent.token)
    stores.dispose()


@pytest.fixture
def served(deployment_dir, regiocrm_hooks: Hooks) -> Iterator[Served]:
    """No map keys configured: the CN chain comes down to the offline gazetteer."""
    yield from serve(regiocrm_hooks, None)


def test_hook_register_map_providers(regiocrm_hooks: Hooks) -> None:
    providers = regiocrm_hooks.map_providers()
    assert {"baidu", "amap", "naver", "kakaomap", "google", "gazetteer"} <= set(providers)
    assert providers["amap"].datum is Datum.GCJ02
    assert providers["baidu"].datum is Datum.BD09
    assert all(isinstance(p, MapProvider) for p in providers.values())


def test_a_shanghai_lead_by_address_reaches_the_nearest_shanghai_dealer_offline(
    served: Served,
) -> None:
    answer = served.lead(market="CN", address="上海市浦东新区张江路88号")
    assert answer.status_code == 201, answer.text
    lead = answer.json()
    assert lead["located_by"] == "gazetteer"
    assert lead["dealer"]["name"] == "Pudong Motors"
    assert 0 < lead["distance_km"] < 10
    assert served.client.get(f"/api/leads/{lead['id']}", headers=served.auth).json() == lead


def test_the_cn_chain_asks_amap_and_converts_its_gcj02_answer(
    deployment_dir, regiocrm_hooks: Hooks
) -> None:
    amap = Amap()
    for served in serve(regiocrm_hooks, amap, maps={"amap": {"key": "amap-web-key"}}):
        lead = served.lead(market="CN", address="上海市浦东新区张江路").json()
    assert lead["located_by"] == "amap"
    assert lead["dealer"]["name"] == "Pudong Motors"
    # Stored in WGS-84: within a metre of the true point, not AMap's shifted one (~500 m off).
    assert lead["lat"] == pytest.approx(ZHANGJIANG_ROAD.lat, abs=1e-5)
    assert lead["lon"] == pytest.approx(ZHANGJIANG_ROAD.lon, abs=1e-5)
    [call] = amap.calls
    assert call.url.params["address"] == "上海市浦东新区张江路"


def test_a_refusing_provider_hands_over_to_the_next(deployment_dir, regiocrm_hooks: Hooks) -> None:
    amap = Amap("bad key")
    for served in serve(regiocrm_hooks, amap, maps={"amap": {"key": "revoked"}}):
        lead = served.lead(market="CN", address="上海市闵行区莘庄").json()
    assert len(amap.calls) == 1
    assert lead["located_by"] == "gazetteer"
    assert lead["dealer"]["name"] == "Minhang Motors"


def test_a_point_in_any_datum_is_routed_in_wgs84(served: Served) -> None:
    lat, lon = gcj02(MINHANG_DEALER)
    lead = served.lead(market="CN", lat=lat, lon=lon, datum="gcj02").json()
    assert lead["dealer"]["name"] == "Minhang Motors"
    assert lead["distance_km"] < 0.01
    assert lead["located_by"] is None


class LeadRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, str, uuid.UUID | None]] = []

    @hookimpl
    def lead_created(self, lead_id: uuid.UUID, market: str, dealer_id: uuid.UUID | None) -> None:
        self.calls.append((lead_id, market, dealer_id))


def test_hook_lead_created(served: Served, register_plugin) -> None:
    recorder = LeadRecorder()
    register_plugin(recorder)
    routed = served.lead(market="CN", address="北京市朝阳区").json()
    unplaced = served.lead(market="CN", address="Atlantis 1").json()
    assert recorder.calls == [
        (uuid.UUID(routed["id"]), "CN", uuid.UUID(routed["dealer"]["id"])),
        (uuid.UUID(unplaced["id"]), "CN", None),
    ]


def test_a_lead_nothing_can_place_is_kept_and_flagged(served: Served) -> None:
    answer = served.lead(market="CN", address="Atlantis 1")
    assert answer.status_code == 201
    lead = answer.json()
    assert lead["dealer"] is None
    assert "could not be located" in lead["unassigned_reason"]
    assert "gazetteer" in lead["unassigned_reason"]
    assert served.leads() == 1


def test_a_market_without_located_dealers_keeps_the_lead_flagged(served: Served) -> None:
    lead = served.lead(market="JP", address="東京都千代田区丸の内1-9-1").json()
    assert lead["located_by"] == "gazetteer"
    assert lead["dealer"] is None
    assert lead["unassigned_reason"] == "no active dealer of JP has a location"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"market": "CN", "lat": 91, "lon": 121}, "less than or equal to 90"),
        ({"market": "CN", "lat": 31, "lon": -181}, "greater than or equal to -180"),
        ({"market": "CN", "lat": 31, "lon": 121, "datum": "itrf"}, "'wgs84', 'gcj02' or 'bd09'"),
        ({"market": "CN", "address": "   "}, "needs an address or a point"),
        ({"market": "CN", "lat": 31}, "give both lat and lon"),
        ({"market": "FR", "address": "Paris"}, "no pack serves market 'FR'"),
        ({"market": "CN", "lat": -90, "lon": 0, "datum": "bd09"}, "has no wgs84 equivalent"),
        ({"market": "CN", "lat": 0, "lon": -180, "datum": "bd09"}, "has no wgs84 equivalent"),
    ],
    ids=[
        "latitude",
        "longitude",
        "datum",
        "empty address",
        "half a point",
        "unserved market",
        "bd09 south pole",
        "bd09 antimeridian",
    ],
)
def test_bad_leads_are_refused_and_nothing_is_stored(
    served: Served, body: dict[str, Any], reason: str
) -> None:
    answer = served.lead(**body)
    assert answer.status_code == 422
    assert reason in answer.text
    assert served.leads() == 0


def test_nearest_dealer_endpoint(served: Served) -> None:
    near = served.client.get(
        "/api/dealers/nearest",
        params={"lat": 39.9, "lon": 116.4, "market": "CN"},
        headers=served.auth,
    ).json()
    assert near["dealer"]["name"] == "Beijing Motors"
    assert 3 < near["distance_km"] < 6
    none = served.client.get(
        "/api/dealers/nearest",
        params={"lat": 35.7, "lon": 139.7, "market": "JP"},
        headers=served.auth,
    )
    assert none.status_code == 404
    bad = served.client.get(
        "/api/dealers/nearest", params={"lat": 100, "lon": 0, "market": "CN"}, headers=served.auth
    )
    assert bad.status_code == 422


@pytest.mark.parametrize(("lat", "lon"), [(-90, 0), (0, -180), (-90, -180)])
def test_a_baidu_point_with_no_wgs84_equivalent_has_no_nearest_dealer(
    served: Served, lat: float, lon: float
) -> None:
    """Baidu's offset carries these past the south pole or the antimeridian."""
    answer = served.client.get(
        "/api/dealers/nearest",
        params={"lat": lat, "lon": lon, "datum": "bd09", "market": "CN"},
        headers=served.auth,
    )
    assert answer.status_code == 422
    assert (
        f"({float(lat)}, {float(lon)}) in bd09 has no wgs84 equivalent" in answer.json()["detail"]
    )


class Failing(MapProvider):
    """A provider that fails the way it is told to, for the chain's sake."""

    datum = Datum.WGS84

    def __init__(self, name: str, error: Exception | None, point: Point | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.error = error
        self.point = point

    def lookup_address(
        self, address: str, *, market: str, settings: Any, secret: str, client: Any
    ) -> Place:
        if self.error is not None:
            raise self.error
        assert self.point is not None
        return Place(self.point, address, "test")

    def lookup_point(
        self, point: Point, *, market: str, settings: Any, secret: str, client: Any
    ) -> Place:
        raise NoResult("nothing here")

    def map_link(self, point: Point) -> str:
        return f"https://maps.invalid/{point.lat},{point.lon}"


class Thailand:
    @hookimpl
    def register_packs(self) -> list[PackSpec]:
        return [
            PackSpec.declare(
                code="th",
                extends="asia",
                markets={"TH": {"locale": "th_TH", "currency": "THB", "timezone": "Asia/Bangkok"}},
                map_providers=("down", "refusing", "empty", "working", "gazetteer"),
            )
        ]

    @hookimpl
    def register_map_providers(self) -> list[MapProvider]:
        return [
            Failing("down", MapUnavailable("timed out")),
            Failing("refusing", MapRefused("OVER_QUERY_LIMIT")),
            Failing("empty", NoResult("ZERO_RESULTS")),
            Failing("working", None, Point(13.7563, 100.5018)),
        ]


def test_the_chain_says_who_answered_and_what_the_others_said(
    deployment_dir, regiocrm_hooks: Hooks, register_plugin
) -> None:
    from regiocrm.geo.chain import MapChain

    register_plugin(Thailand())
    chain = MapChain(regiocrm_hooks, load_settings(regiocrm_hooks), httpx.Client())
    located = chain.geocode("Sukhumvit Road, Bangkok", "TH")
    assert located.provider == "working"
    assert located.point == Point(13.7563, 100.5018)
    assert located.passed_over == (
        "down: timed out",
        "refusing: OVER_QUERY_LIMIT",
        "empty: ZERO_RESULTS",
    )
    with pytest.raises(ValueError, match="empty"):
        chain.geocode("  ", "TH")


def test_a_dealer_on_the_equator_or_the_prime_meridian_is_a_dealer(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    from regiocrm.crm.leads import DealerLocator

    with migrated.session() as session:
        create_organization(
            session,
            name="Null Island Motors",
            kind=OrganizationKind.DEALER,
            market="AU",
            location=Point(0.0, 0.0),
        )
        nearest = DealerLocator().nearest(session, "AU", Point(0.1, 0.1))
    assert nearest is not None
    assert nearest.km == pytest.approx(15.7, abs=0.1)


@pytest.mark.usefixtures("migrated")
def test_a_dealer_added_with_an_address_is_placed_through_the_chain(regiocrm_cli) -> None:
    added = regiocrm_cli(
        "orgs", "add", "Minhang Motors", "--kind", "dealer", "--market", "CN",
        "--address", "上海市闵行区莘庄",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert added.stdout.startswith("located by gazetteer: 31.113000, 121.381700")
    unplaced = regiocrm_cli(
        "orgs", "add", "Atlantis Motors", "--kind", "dealer", "--market", "CN",
        "--address", "Atlantis 1",
    )  # fmt: skip
    assert unplaced.exit_code == 0
    assert "added without a location" in unplaced.stderr
    listed = {row["name"]: row for row in json.loads(regiocrm_cli("orgs", "list", "--json").stdout)}
    assert (listed["Minhang Motors"]["lat"], listed["Minhang Motors"]["lon"]) == (31.113, 121.3817)
    assert listed["Atlantis Motors"]["lat"] is None


@pytest.mark.usefixtures("migrated")
def test_half_a_dealer_location_is_refused(regiocrm_cli) -> None:
    refused = regiocrm_cli(
        "orgs", "add", "X", "--kind", "dealer", "--market", "CN", "--lat", "31.2"
    )  # fmt: skip
    assert refused.exit_code == 2
    assert refused.stderr.strip() == "Error: --lat and --lon go together"
    assert json.loads(regiocrm_cli("orgs", "list", "--json").stdout) == []


def add_dealer(served: Served, name: str, market: str, point: Point, address: str | None = None):
    with served.stores.session() as session:
        return create_organization(
            session,
            name=name,
            kind=OrganizationKind.DEALER,
            market=market,
            location=point,
            address=address,
        ).id


def test_an_owner_in_japan_goes_back_to_the_dealer_who_sold_the_car(served: Served) -> None:
    add_dealer(served, "Chiyoda Motors", "JP", Point(35.6940, 139.7536))
    osaka = add_dealer(served, "Osaka Motors", "JP", Point(34.6937, 135.5023))
    owner = served.client.post(
        "/api/customers", json={"market": "JP", "family_name": "山田"}, headers=served.auth
    ).json()
    with served.stores.session() as session:
        car = Vehicle(vin="JTDBR32E530012345", model="Prius", market="JP")
        session.add(car)
        session.flush()
        session.add(
            Ownership(
                vehicle_id=car.id,
                customer_id=uuid.UUID(owner["id"]),
                dealer_id=osaka,
                started_on=date(2021, 4, 1),
                market="JP",
            )
        )
    tokyo_address = "東京都千代田区丸の内1-9-1"
    from_owner = served.lead(market="JP", address=tokyo_address, customer_id=owner["id"]).json()
    from_stranger = served.lead(market="JP", address=tokyo_address).json()
    assert from_owner["dealer"]["name"] == "Osaka Motors"
    assert 390 < from_owner["distance_km"] < 410  # Tokyo to Osaka
    assert from_stranger["dealer"]["name"] == "Chiyoda Motors"


def test_china_routes_an_owner_to_the_nearest_dealer_all_the_same(served: Served) -> None:
    beijing = served.client.post("/api/customers", json={"market": "CN"}, headers=served.auth)
    owner = beijing.json()
    with served.stores.session() as session:
        dealer = session.scalars(
            select(Organization).where(Organization.name == "Beijing Motors")
        ).one()
        car = Vehicle(vin="LSVAU2180N2123456", model="Lavida", market="CN")
        session.add(car)
        session.flush()
        session.add(
            Ownership(
                vehicle_id=car.id,
                customer_id=uuid.UUID(owner["id"]),
                dealer_id=dealer.id,
                started_on=date(2022, 1, 1),
                market="CN",
            )
        )
    lead = served.lead(market="CN", address="上海市浦东新区", customer_id=owner["id"]).json()
    assert lead["dealer"]["name"] == "Pudong Motors"


def test_a_lead_at_a_dealers_own_address_needs_no_map(served: Served) -> None:
    add_dealer(served, "Zhangjiang Motors", "CN", Point(31.2040, 121.6010), "上海市张江路1号")
    lead = served.lead(market="CN", address=" 上海市张江路1号 ").json()
    assert lead["located_by"] == "dealer address"
    assert lead["dealer"]["name"] == "Zhangjiang Motors"
    assert lead["distance_km"] == 0


def test_a_lead_for_an_unknown_customer_is_refused(served: Served) -> None:
    answer = served.lead(market="CN", address="上海市", customer_id=str(uuid.uuid4()))
    assert answer.status_code == 422
    assert served.leads() == 0
