"""The inbound pipeline on a real PostgreSQL server: the conformance kit for every channel
(NUL, which PostgreSQL refuses in text, included), two deliveries of one message racing
each other, and one signature racing itself with two bodies."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from regiocrm.interfaces.channels import (
    BodylessSignature,
    ChannelAccount,
    IdentityRef,
    InboundMessage,
    ReplayedSignature,
)
from regiocrm.messaging.inbox import remember_signature, store
from regiocrm.models import InboxMessage, SeenSignature
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.email.testing import EmailDriver
from regiocrm.plugins.channels.kakao.testing import KakaoDriver
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.plugins.channels.sms.testing import SmsDriver
from regiocrm.plugins.channels.wechat.testing import WeChatDriver
from regiocrm.plugins.channels.whatsapp.testing import WhatsAppDriver
from regiocrm.testing.conformance import ChannelConformance, Deployment

pytestmark = pytest.mark.postgres


class OnPostgres:
    @pytest.fixture
    def conformance_zones(self, postgres_url: URL, market_zone: str) -> dict[str, str]:
        return {market_zone: postgres_url.render_as_string(hide_password=False)}


class TestLineOnPostgres(OnPostgres, ChannelConformance):
    driver = LineDriver()


class TestWeChatOnPostgres(OnPostgres, ChannelConformance):
    driver = WeChatDriver()


class TestKakaoOnPostgres(OnPostgres, ChannelConformance):
    driver = KakaoDriver()


class TestSmsOnPostgres(OnPostgres, ChannelConformance):
    driver = SmsDriver()


class TestEmailOnPostgres(OnPostgres, ChannelConformance):
    driver = EmailDriver()


class TestWhatsAppOnPostgres(OnPostgres, ChannelConformance):
    driver = WhatsAppDriver()

    def test_a_receipt_with_nul_is_acknowledged(self, deployment: Deployment) -> None:
        """A delivery receipt is matched against campaign members by its message id: with
        a NUL in it, PostgreSQL refused the query and Meta was answered 500."""
        body = self.driver.status_body(
            wamid="wamid.\x00HBgL", status="failed", recipient="61412340001", at=self.now()
        )
        response = deployment.deliver(self.driver.sign(deployment.url, body, at=self.now()))
        assert response.status_code == 200, response.text


def test_racing_deliveries_store_one_row(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    settings = RegiocrmSettings(
        zones={"jp": postgres_url.render_as_string(hide_password=False)},
        home_zone="jp",
        deployment={"market": "JP"},
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    Migrator(stores, regiocrm_hooks).upgrade()
    account = ChannelAccount("line_jp", "line", "JP", None)
    line = regiocrm_hooks.channels()["line"]
    message = InboundMessage("evt-1", (IdentityRef("line", "U1"),), datetime.now(UTC), text="hi")
    start = threading.Barrier(4)
    results: list[bool] = []

    def deliver() -> None:
        with stores.session() as session:
            start.wait()
            [stored] = store(session, account, [message], hooks=regiocrm_hooks, channel=line)
            results.append(stored.inbox is not None)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with stores.session() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 1
    assert sorted(results) == [False, False, False, True]
    stores.dispose()


def test_one_signature_racing_with_two_bodies_stores_one(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> None:
    """WeChat's delivery and a replay of its signed query with another body, at once: the
    unique record lets one body through; the other is refused and stores nothing."""
    settings = RegiocrmSettings(
        zones={"cn": postgres_url.render_as_string(hide_password=False)},
        home_zone="cn",
        deployment={"market": "CN"},
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    Migrator(stores, regiocrm_hooks).upgrade()
    account = ChannelAccount("wx_cn", "wechat", "CN", None)
    wechat = regiocrm_hooks.channels()["wechat"]
    now = datetime.now(UTC)
    signature = BodylessSignature("1765000000:42:5f1e", now + timedelta(minutes=5))
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def deliver(number: int) -> None:
        body = f"<xml>body {number}</xml>".encode()
        message = InboundMessage(f"m{number}", (IdentityRef("wechat_openid", "o"),), now)
        try:
            with stores.session() as session:
                start.wait()
                remember_signature(session, account, signature, body)
                store(session, account, [message], hooks=regiocrm_hooks, channel=wechat)
        except ReplayedSignature:
            outcomes.append("refused")
        else:
            outcomes.append("stored")

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
    with stores.session() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 1
        assert session.scalar(select(func.count()).select_from(SeenSignature)) == 1
    stores.dispose()
