"""A property: no sequence of API writes, under any placement the rules allow, ever leaves a
row in a zone its rules forbid, nor anywhere but where the deployment places it.

Hypothesis draws the placement of the markets that have a choice (China, Hong Kong and
Taiwan may keep each class in ``cn`` or ``jp``) and a sequence of what users and channels
do: customers created in any market, identities bound (merging customers across markets),
merges, consents, reads (each one audited), leads, WeChat messages and exports. After the
sequence every row of every table in every zone is checked against the residency.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import Base, DataClass, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores, model_of
from regiocrm.plugins.channels.wechat.testing import WeChatDriver
from regiocrm.testing import upgrade_zones

MARKETS = ["CN", "HK", "TW", "JP", "KR", "AU"]
EMAILS = [f"someone{n}@example.com" for n in range(5)]
WECHAT = WeChatDriver()

placements = st.fixed_dictionaries(
    {
        market: st.fixed_dictionaries(
            {data_class.value: st.sampled_from(["cn", "jp"]) for data_class in DataClass}
        )
        for market in ("CN", "HK", "TW")
    }
).map(
    # China's financial data may only ever be in cn.
    lambda chosen: {**chosen, "CN": {**chosen["CN"], "financial": "cn"}}
)

actions = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(MARKETS), st.sampled_from(EMAILS)),
        st.tuples(st.just("bind"), st.integers(0, 9), st.sampled_from(EMAILS)),
        st.tuples(st.just("merge"), st.integers(0, 9), st.integers(0, 9)),
        st.tuples(st.just("consent"), st.integers(0, 9), st.sampled_from(["*", "jp", "wechat"])),
        st.tuples(st.just("read"), st.integers(0, 9), st.booleans()),
        st.tuples(st.just("lead"), st.sampled_from(MARKETS), st.integers(0, 9)),
        st.tuples(st.just("wechat"), st.integers(0, 3), st.integers(0, 10**6)),
        st.tuples(st.just("export"), st.integers(0, 9), st.sampled_from(["cn", "jp", "kr"])),
    ),
    min_size=1,
    max_size=14,
)

POINTS = {
    "CN": (31.23, 121.47),
    "HK": (22.3, 114.17),
    "TW": (25.03, 121.56),
    "JP": (35.68, 139.69),
    "KR": (37.57, 126.98),
    "AU": (-33.87, 151.21),
}


def play(client: TestClient, auth: dict[str, str], steps: list[tuple[Any, ...]]) -> None:
    customers: list[str] = []
    start = datetime.now(UTC) - timedelta(minutes=2)

    def pick(index: int) -> str | None:
        return customers[index % len(customers)] if customers else None

    for number, step in enumerate(steps):
        kind = step[0]
        if kind == "create":
            answer = client.post(
                "/api/customers",
                json={"market": step[1], "identities": [{"kind": "email", "value": step[2]}]},
                headers=auth,
            )
            if answer.status_code == 201:
                customers.append(answer.json()["id"])
            else:
                assert answer.status_code == 409, answer.text
        elif kind == "wechat":
            url = "http://testserver/webhooks/wechat/wx"
            request = WECHAT.text_message(
                url,
                sender=WECHAT.sender(step[1]),
                text="你好",
                message_id=str(step[2]),
                at=start + timedelta(seconds=number),
            )
            answer = request.send(client, url)
            assert answer.status_code == 200, answer.text
            client.app.state.services.inbox.drain()
        elif kind == "lead":
            lat, lon = POINTS[step[1]]
            answer = client.post(
                "/api/leads",
                json={"market": step[1], "lat": lat, "lon": lon, "customer_id": pick(step[2])}
                if pick(step[2]) and step[2] % 2
                else {"market": step[1], "lat": lat, "lon": lon},
                headers=auth,
            )
            assert answer.status_code in (201, 422), answer.text
        elif (customer := pick(step[1])) is None:
            continue
        elif kind == "bind":
            answer = client.post(
                f"/api/customers/{customer}/identities",
                json={"kind": "email", "value": step[2]},
                headers=auth,
            )
            assert answer.status_code == 200, answer.text
        elif kind == "merge":
            other = pick(step[2])
            answer = client.post(
                f"/api/customers/{customer}/merge",
                json={"other_id": other, "reason": "the same person"},
                headers=auth,
            )
            assert answer.status_code in (200, 409), answer.text
        elif kind == "consent":
            answer = client.post(
                f"/api/customers/{customer}/consents",
                json={"purpose": "export", "channel": step[2]},
                headers=auth,
            )
            assert answer.status_code == 201, answer.text
        elif kind == "read":
            path = f"/api/customers/{customer}" + ("/timeline" if step[2] else "")
            assert client.get(path, headers=auth).status_code == 200
        elif kind == "export":
            answer = client.post(
                f"/api/customers/{customer}/exports", json={"to": step[2]}, headers=auth
            )
            assert answer.status_code in (201, 403), answer.text


def misplaced_rows(stores: ZoneStores) -> list[str]:
    """Every row not exactly where the residency places it, described."""
    wrong = []
    for zone in stores.names:
        with stores.engine(zone).connect() as connection:
            for table in Base.metadata.sorted_tables:
                model = model_of(table)
                assert model is not None
                for row in connection.execute(select(table)):
                    values = dict(row._mapping)
                    allowed = stores.residency.allows_row(model, values, zone)
                    placed = stores.residency.zone_of(model, values) == zone
                    if not (allowed and placed):
                        wrong.append(f"{table.name} {values['market']} in {zone}")
    return wrong


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(placement=placements, steps=actions)
def test_no_sequence_of_api_writes_leaves_a_row_in_a_forbidden_zone(
    deployment_dir: Path,
    regiocrm_hooks: Hooks,
    placement: dict[str, dict[str, str]],
    steps: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory(dir=deployment_dir) as folder:
        account = {**WECHAT.account_settings()}
        deployment_settings = load_settings(
            regiocrm_hooks,
            data_dir=Path(folder),
            residency={"placement": placement},
            channel_accounts={"wx": account},
        )
        stores = ZoneStores.open(deployment_settings, regiocrm_hooks)
        upgrade_zones(stores, regiocrm_hooks)
        with stores.session() as session:
            org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="CN")
            admin = create_user(session, name="dpo", role=UserRole.ADMIN, organization=org)
        provider = httpx.Client(transport=httpx.MockTransport(WECHAT.provider_api))
        app = create_app(deployment_settings, regiocrm_hooks, http_client=provider)
        with TestClient(app) as client:
            play(client, {"Authorization": f"Bearer {admin.token}"}, steps)
        provider.close()
        try:
            assert misplaced_rows(stores) == []
        finally:
            stores.dispose()
