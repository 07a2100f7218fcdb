"""A webhook's inbox rows are committed before the provider is answered (``_store`` commits
in its own session): a commit that is lost is an error the provider retries on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from at_commit import LOST, at_commit, nothing_at_commit
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from regiocrm.http.app import create_app
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.plugins.channels.wechat.testing import WeChatDriver

pytestmark = pytest.mark.postgres

URL_PATH = "/webhooks/wechat/wechat_cn"


@pytest.fixture
def wechat_on_postgres(
    postgres_url: URL, deployment_dir: Path, regiocrm_hooks: Hooks
) -> Iterator[TestClient]:
    driver = WeChatDriver()
    settings = load_settings(
        regiocrm_hooks,
        zones={"cn": postgres_url.render_as_string(hide_password=False)},
        home_zone="cn",
        channel_accounts={"wechat_cn": driver.account_settings()},
    )
    stores = ZoneStores.open(settings, regiocrm_hooks)
    Migrator(stores, regiocrm_hooks).upgrade()
    stores.dispose()
    with httpx.Client(transport=httpx.MockTransport(driver.provider_api)) as provider:
        app = create_app(settings, regiocrm_hooks, http_client=provider)
        with TestClient(app) as client:
            yield client


def test_a_webhook_whose_commit_is_lost_is_503_and_stored_on_redelivery(
    wechat_on_postgres: TestClient, postgres_url: URL
) -> None:
    """WeChat delivers again when it is not answered with success: a 503 (not a 500, the
    database is what failed) with nothing kept, then the redelivery stores the message."""
    driver = WeChatDriver()
    zone = create_engine(postgres_url, poolclass=NullPool)
    at = datetime.now(UTC).replace(microsecond=0)
    message = driver.text_message(
        f"http://testserver{URL_PATH}",
        sender=driver.sender(1),
        text="你好",
        message_id="1001",
        at=at,
    )
    try:
        at_commit(zone, "inbox_messages", LOST)
        lost = message.send(wechat_on_postgres, URL_PATH)
        assert lost.status_code == 503, lost.text
        with zone.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM inbox_messages")).scalar() == 0
        nothing_at_commit(zone, "inbox_messages")
        again = driver.text_message(
            f"http://testserver{URL_PATH}",
            sender=driver.sender(1),
            text="你好",
            message_id="1001",
            at=at,
        )
        assert again.send(wechat_on_postgres, URL_PATH).status_code == 200
        with zone.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM inbox_messages")).scalar() == 1
    finally:
        zone.dispose()
