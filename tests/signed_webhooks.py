"""Messages posted to a served deployment's webhooks as the providers post them, signed by
the providers' own SDKs where one exists (wechatpy for WeChat)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import httpx
from wechatpy.utils import WeChatSigner

from regiocrm.plugins.channels.wechat.testing import TOKEN, WeChatDriver

DRIVER = WeChatDriver()


def post_wechat(base: str, account: str, sender: str, text: str) -> None:
    """``text`` from ``sender`` to a WeChat account in plaintext mode, as WeChat posts it:
    the query signed with the account's token."""
    now = datetime.now(UTC)
    body = DRIVER.text_body(
        sender=sender, text=text, message_id=str(secrets.randbelow(10**12)), at=now
    )
    timestamp, nonce = str(int(now.timestamp())), str(secrets.randbelow(10**10))
    signer = WeChatSigner()
    signer.add_data(TOKEN, timestamp, nonce)
    query = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}
    answer = httpx.post(
        f"{base}/webhooks/wechat/{account}",
        params=query,
        content=body,
        headers={"content-type": "text/xml"},
    )
    assert answer.status_code == 200, answer.text
