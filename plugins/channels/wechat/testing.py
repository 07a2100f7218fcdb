"""A :class:`~regiocrm.testing.channels.ChannelDriver` that plays WeChat in safe mode.

It posts messages as WeChat's servers do for an account with an EncodingAESKey: the
plaintext message XML encrypted into ``<Encrypt>``, ``signature``, ``timestamp``,
``nonce``, ``openid``, ``encrypt_type=aes`` and ``msg_signature`` in the query; and it
answers the access-token and customer-service endpoints as the API does.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

# defusedxml ships no type hints and the types env has no types-defusedxml.
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import httpx
from defusedxml import DefusedXmlException

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.wechat import crypto
from regiocrm.plugins.channels.wechat.channel import (
    CUSTOM_SEND_URL,
    TOKEN_URL,
    USER_INFO_URL,
    WeChatChannel,
)
from regiocrm.testing.channels import ChannelDriver, SignedRequest

# The test account's credentials: made up for the driver, valid nowhere.
TOKEN = "regiocrmTestToken42"  # noqa: S105
APP_ID = "wx0123456789abcdef"
APP_SECRET = "0123456789abcdef0123456789abcdef"  # noqa: S105
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ORIGINAL_ID = "gh_0123456789ab"
ACCESS_TOKEN = "ACCESS_TOKEN_FOR_TESTS"  # noqa: S105
SIGNATURE_PARAMS = ("signature", "msg_signature")


class WeChatDriver(ChannelDriver):
    """Plays WeChat for one safe-mode Official Account in market CN."""

    market = "CN"

    def __init__(self) -> None:
        self.channel = WeChatChannel()

    def account_settings(self) -> dict[str, Any]:
        return {
            "channel": "wechat",
            "market": self.market,
            "token": TOKEN,
            "app_id": APP_ID,
            "encoding_aes_key": ENCODING_AES_KEY,
            "app_secret": APP_SECRET,
        }

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """``body`` (plaintext message XML) encrypted into WeChat's envelope and signed.

        WeChat signs the query, not the URL, so ``url`` plays no part.
        """
        return self.sign_query(body, timestamp=str(int(at.timestamp())))

    def sign_query(self, body: bytes, *, timestamp: str) -> SignedRequest:
        """``body`` as WeChat posts it with ``timestamp`` in the signed query, whatever
        string that is: the signature covers it as written."""
        nonce = _nonce()
        encrypted = crypto.encrypt(crypto.aes_key(ENCODING_AES_KEY), APP_ID, body)
        envelope = (
            f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        ).encode()
        query = {
            "signature": crypto.signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": crypto.signature(TOKEN, timestamp, nonce, encrypted),
        }
        try:
            sender = _parse(body).findtext("FromUserName")
        except (ParseError, DefusedXmlException):
            sender = None  # a deliberately malformed body: WeChat would have no sender either
        if sender is not None:
            query["openid"] = sender
        return SignedRequest(envelope, {"content-type": "text/xml"}, query)

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        return _text_xml(sender, text, message_id, created=str(int(at.timestamp())))

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Times no number type holds: a 400-digit signed timestamp in the query (signed
        correctly: WeChat's signature covers whatever string it is) and a 400-digit
        CreateTime in the message; and XML nested 20,000 deep."""
        now = str(int(at.timestamp()))
        text = _text_xml(self.sender(1), "hi", "1", created=now)
        nested = b"<xml>" + b"<a>" * 20_000 + b"</a>" * 20_000 + b"</xml>"
        return {
            "a 400-digit signed timestamp": self.sign_query(text, timestamp="9" * 400),
            "a 400-digit CreateTime": self.sign(
                url, _text_xml(self.sender(1), "hi", "1", created="9" * 400), at=at
            ),
            "20,000-deep XML": self.sign(url, nested, at=at),
        }

    def sender_identity(self, sender: str) -> IdentityRef:
        return IdentityRef("wechat_openid", f"{APP_ID}:{sender}")

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        query = {k: v for k, v in request.query.items() if k not in SIGNATURE_PARAMS}
        return SignedRequest(request.body, request.headers, query, request.method)

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        """The same query and envelope, both signatures made with a wrong token."""
        timestamp, nonce = request.query["timestamp"], request.query["nonce"]
        encrypted = _parse(request.body).findtext("Encrypt") or ""
        forged = {
            "signature": crypto.signature("wrongToken", timestamp, nonce),
            "msg_signature": crypto.signature("wrongToken", timestamp, nonce, encrypted),
        }
        return SignedRequest(request.body, request.headers, {**request.query, **forged})

    def stale(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        return self.sign(url, body, at=at - timedelta(hours=1))

    def handshake(self, url: str, *, at: datetime) -> tuple[SignedRequest, bytes]:
        timestamp, nonce = str(int(at.timestamp())), _nonce()
        echostr = str(secrets.randbits(63))
        query = {
            "signature": crypto.signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        return SignedRequest(b"", query=query, method="GET"), echostr.encode()

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """The token endpoint, ``user/info`` (every follower has a UnionID here, as if the
        account were bound to an Open Platform account) and ``message/custom/send``,
        checking credentials as WeChat does (errors come back as HTTP 200 with an
        ``errcode``)."""
        url = str(request.url.copy_with(query=None))
        params = request.url.params
        if url == TOKEN_URL:
            if params.get("appid") != APP_ID or params.get("secret") != APP_SECRET:
                return httpx.Response(200, json={"errcode": 40013, "errmsg": "invalid appid"})
            return httpx.Response(200, json={"access_token": ACCESS_TOKEN, "expires_in": 7200})
        if url == USER_INFO_URL:
            if params.get("access_token") != ACCESS_TOKEN:
                return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
            openid = params.get("openid", "")
            return httpx.Response(
                200,
                json={
                    "subscribe": 1,
                    "openid": openid,
                    "language": "zh_CN",
                    "subscribe_time": 1_700_000_000,
                    "unionid": f"o6_bmasdasdsad6_2sgVt7hMZO{openid[-4:]}",
                },
            )
        if url == CUSTOM_SEND_URL:
            if params.get("access_token") != ACCESS_TOKEN:
                return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404, text="no such WeChat API")

    def sent_text(self, request: httpx.Request) -> str | None:
        if str(request.url.copy_with(query=None)) != CUSTOM_SEND_URL:
            return None
        content: str = json.loads(request.content)["text"]["content"]
        return content


def _text_xml(sender: str, text: str, message_id: str, *, created: str) -> bytes:
    xml = Element("xml")
    for tag, value in (
        ("ToUserName", ORIGINAL_ID),
        ("FromUserName", sender),
        ("CreateTime", created),
        ("MsgType", "text"),
        ("Content", text),
        ("MsgId", message_id),
    ):
        SubElement(xml, tag).text = value
    body: bytes = tostring(xml, encoding="utf-8", xml_declaration=False)
    return body


def _parse(body: bytes) -> Element:
    root: Element = SafeET.fromstring(body)
    return root


def _nonce() -> str:
    return str(secrets.randbelow(10**10))
