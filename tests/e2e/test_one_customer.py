"""One customer, recognised everywhere: a dealer's entry, WhatsApp, WeChat (safe mode) and an
agent's confirmation end on one timeline, each message stored once.

The providers are played by the built-in channels' conformance drivers, which sign exactly
as WhatsApp and WeChat do; the deployment is served in-process with its real inbox worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from defusedxml import ElementTree
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.http.app import create_app
from regiocrm.models import AuditEvent, InboxMessage, Interaction, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.wechat.crypto import aes_key, decrypt
from regiocrm.plugins.channels.wechat.testing import (
    APP_ID,
    ENCODING_AES_KEY,
    ORIGINAL_ID,
    WeChatDriver,
)
from regiocrm.plugins.channels.whatsapp.testing import WhatsAppDriver
from regiocrm.testing import upgrade_zones
from regiocrm.testing.channels import SignedRequest

WECHAT = WeChatDriver()
WHATSAPP = WhatsAppDriver()


class Served:
    def __init__(self, client: TestClient, app, token: str) -> None:
        self.client = client
        self.services = app.state.services
        self.auth = {"Authorization": f"Bearer {token}"}

    def deliver(self, path: str, request: SignedRequest) -> httpx.Response:
        query = f"?{urlencode(request.query)}" if request.query else ""
        return self.client.post(f"{path}{query}", content=request.body, headers=request.headers)

    def count(self, model) -> int:
        self.services.inbox.drain()
        with self.services.stores.session() as session:
            return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def served(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[Served]:
    settings = load_settings(
        regiocrm_hooks,
        channel_accounts={
            "wx_cn": WECHAT.account_settings(),
            "wa_au": WHATSAPP.account_settings(),
        },
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        centre = create_organization(
            session, name="Regional centre", kind=OrganizationKind.OEM, market="AU"
        )
        agent = create_user(
            session, name="amy", role=UserRole.COMPETENCE_CENTRE, organization=centre
        )
    stores.dispose()
    app = create_app(
        settings,
        regiocrm_hooks,
        # WeChat's API is asked for each follower's UnionID; nothing else is called.
        http_client=httpx.Client(transport=httpx.MockTransport(WECHAT.provider_api)),
    )
    with TestClient(app) as test_client:
        yield Served(test_client, app, agent.token)


def _wechat_subscribe(openid: str, at: datetime) -> bytes:
    created = int(at.timestamp())
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_showroom]]></EventKey>"
        "</xml>"
    ).encode()


def test_one_customer_across_dealer_whatsapp_and_wechat(served: Served) -> None:
    # WeChat signs its timestamps and stale ones are refused: the story happens just now.
    now = datetime.now(UTC).replace(microsecond=0)
    wa = "/webhooks/whatsapp/wa_au"
    wx = "/webhooks/wechat/wx_cn"
    # A dealer enters the customer with the phone number as written locally.
    created = served.client.post(
        "/api/customers",
        json={
            "market": "AU",
            "family_name": "Chen",
            "given_name": "Li",
            "identities": [{"kind": "phone", "value": "0412 345 678"}],
        },
        headers=served.auth,
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]

    # She writes on WhatsApp from that number: recognised, not a new customer.
    hello = WHATSAPP.text_message(
        f"http://testserver{wa}",
        sender="61412345678",
        text="Is my car ready?",
        message_id="wamid.HBgLNjE0MTIzNDU2NzgVAgASGBQzQUY",
        at=now - timedelta(minutes=10),
    )
    for _ in range(3):  # Meta retries until it sees a 200: three deliveries, one message.
        assert served.deliver(wa, hello).status_code == 200
    assert served.count(InboxMessage) == 1
    found = served.client.get(
        "/api/customers", params={"identity": "whatsapp:61412345678"}, headers=served.auth
    ).json()["items"]
    assert [c["id"] for c in found] == [customer_id]

    # Later she follows the brand's WeChat account (safe mode) and writes there.
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    at = now - timedelta(minutes=1)
    follow = WECHAT.sign(f"http://testserver{wx}", _wechat_subscribe(openid, at), at=at)
    assert served.deliver(wx, follow).status_code == 200
    text_at = at + timedelta(minutes=1)
    question = WECHAT.text_message(
        f"http://testserver{wx}",
        sender=openid,
        text="我想预约保养",
        message_id="6054768590064713728",
        at=text_at,
    )
    assert served.deliver(wx, question).status_code == 200
    served.services.inbox.drain()  # the worker writes the timeline after the answer
    wechat_identity = f"wechat_openid:{APP_ID}:{openid}"
    [follower] = served.client.get(
        "/api/customers", params={"identity": wechat_identity}, headers=served.auth
    ).json()["items"]
    assert follower["id"] != customer_id  # nothing yet says it is the same person

    # An agent confirms her phone number on the WeChat record: the two records merge.
    bound = served.client.post(
        f"/api/customers/{follower['id']}/identities",
        json={"kind": "phone", "value": "+61 412 345 678"},
        headers=served.auth,
    )
    assert bound.status_code == 200, bound.text
    survivor = bound.json()
    assert survivor["id"] == customer_id  # the older record survives
    assert {(i["kind"], i["value"]) for i in survivor["identities"]} >= {
        ("phone", "+61412345678"),
        ("whatsapp", "61412345678"),
        ("wechat_openid", f"{APP_ID}:{openid}"),
    }
    assert "wechat_unionid" in {i["kind"] for i in survivor["identities"]}
    # Asking for the merged record answers with the survivor.
    merged = served.client.get(f"/api/customers/{follower['id']}", headers=served.auth).json()
    assert merged["id"] == customer_id

    timeline = served.client.get(
        f"/api/customers/{customer_id}/timeline", headers=served.auth
    ).json()["items"]
    inbound = [
        (item["channel"], item["text"] or item["summary"])
        for item in timeline
        if item["direction"] == "inbound"
    ]
    assert inbound == [
        ("whatsapp", "Is my car ready?"),
        ("wechat", "event: follow"),
        ("wechat", "我想预约保养"),
    ]
    times = [item["occurred_at"] for item in timeline]
    assert times == sorted(times)

    with served.services.stores.session() as session:
        merges = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "customer.merged")
        ).all()
    assert len(merges) == 1
    assert merges[0].subject_id is not None
    assert str(merges[0].subject_id) == customer_id
    assert "+61412345678" in merges[0].detail["reason"]


def test_the_welcome_reply_is_in_the_markets_language(served: Served) -> None:
    wx = "/webhooks/wechat/wx_cn"
    at = datetime.now(UTC).replace(microsecond=0)
    follow = WECHAT.sign(f"http://testserver{wx}", _wechat_subscribe("oFollower1", at), at=at)
    answer = served.deliver(wx, follow)
    envelope = ElementTree.fromstring(answer.content)
    reply = decrypt(aes_key(ENCODING_AES_KEY), APP_ID, envelope.findtext("Encrypt") or "")
    assert "感谢您的关注" in reply.decode()
    assert served.count(Interaction) == 2  # the follow event and the reply on the timeline
