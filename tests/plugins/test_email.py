"""The email channel behind a Mailgun route: its signed posts over HTTP (the conformance kit
runs on the channel with SendGrid's Inbound Parse in ``test_conformance.py``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from regiocrm.http.app import create_app
from regiocrm.models import InboxMessage
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


@pytest.fixture
def mailgun(deployment_dir: Path, regiocrm_hooks: Hooks) -> Iterator[TestClient]:
    """A deployment whose JP address takes its mail from a Mailgun route."""
    account = {
        "channel": "email",
        "market": "JP",
        "address": "support@brand.example.jp",
        "webhook": "mailgun",
        "webhook_secret": SIGNING_KEY,
    }
    settings = load_settings(regiocrm_hooks, channel_accounts={"mg_jp": account})
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    stores.dispose()
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        yield client


def route_post(mime: bytes, *, token: str, at: datetime) -> dict[str, Any]:
    """A Mailgun route's post to a URL ending in ``mime``, signed as Mailgun's documentation
    says: hex HMAC-SHA256 of timestamp and token, keyed with the webhook signing key."""
    timestamp = str(int(at.timestamp()))
    signature = hmac.new(
        SIGNING_KEY.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    fields = {"timestamp": timestamp, "token": token, "signature": signature}
    request = httpx.Request(
        "POST",
        "http://testserver/webhooks/email/mg_jp",
        data={**fields, "recipient": "support@brand.example.jp"},
        files={"body-mime": ("message.mime", mime, "message/rfc822")},
    )
    return {"content": request.read(), "headers": dict(request.headers)}


def mime(message_id: str, text: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Kim <kim@example.kr>"
    mail["To"] = "support@brand.example.jp"
    mail["Subject"] = "見積もり"
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(text)
    return mail.as_bytes()


def test_a_mailgun_route_is_stored_once_and_its_token_carries_one_mail(
    mailgun: TestClient,
) -> None:
    now = datetime.now(UTC)
    first = route_post(mime("a@example.kr", "見積もりをください"), token="t" * 50, at=now)
    assert mailgun.post("/webhooks/email/mg_jp", **first).status_code == 200
    assert mailgun.post("/webhooks/email/mg_jp", **first).status_code == 200
    # The same signed token with another mail: Mailgun's signature does not cover the body.
    other = route_post(mime("b@example.kr", "別のメール"), token="t" * 50, at=now)
    replayed = mailgun.post("/webhooks/email/mg_jp", **other)
    assert replayed.status_code == 403
    stale = route_post(mime("c@example.kr", "古い"), token="u" * 50, at=now - timedelta(hours=2))
    assert mailgun.post("/webhooks/email/mg_jp", **stale).status_code == 403
    services = mailgun.app.state.services  # type: ignore[attr-defined]
    services.inbox.drain()
    with services.stores.session() as session:
        kept = session.scalars(select(InboxMessage.external_id)).all()
    assert kept == ["a@example.kr"]
