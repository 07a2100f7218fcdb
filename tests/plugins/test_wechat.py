"""The WeChat Official Account channel against WeChat's documented protocol.

Every signature and ciphertext the channel must accept is built here from the published
formulas with ``hashlib`` and ``cryptography`` directly, never with the plugin's own crypto,
and Tencent's published safe-mode sample (消息加解密 demo) is decrypted byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import httpx
import pluggy
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from wechatpy.utils import WeChatSigner

from regiocrm import hookspecs
from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import (
    BadSignature,
    Channel,
    ChannelAccount,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Reply,
    SendError,
    StaleRequest,
    WebhookRequest,
    WebhookResponse,
    validate_account,
)
from regiocrm.models import InboxMessage, Interaction
from regiocrm.plugins.channels import wechat
from regiocrm.plugins.channels.wechat import crypto
from regiocrm.plugins.channels.wechat.channel import WeChatChannel
from regiocrm.plugins.channels.wechat.testing import TOKEN as DRIVER_TOKEN
from regiocrm.plugins.channels.wechat.testing import WeChatDriver
from regiocrm.testing.channels import SignedRequest
from regiocrm.testing.conformance import BASE_URL, ChannelConformance, Deployment

TOKEN = "regiocrmToken1"
APP_ID = "wx4f2a9c0b1d3e5f70"
KEY = "k7Jd93NqZr0PfXa2LmW8sTbC4vYe6HgU1iOoRnQpK5x"
PREVIOUS_KEY = "PreviousKey0123456789abcdefghijklmnopqrstuv"
OTHER_KEY = "OtherKeyAbcdefghijklmnopqrstuvwxyz012345678"
APP_SECRET = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ORIGINAL_ID = "gh_3a1c5e7f9b2d"
OPENID = "oTbM_5xYz1AbCdEfGhIjKlMnOpQr"
NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
NOW_TS = str(int(NOW.timestamp()))
NONCE = "1473268502"
FIXED_PREFIX = b"0123456789abcdef"


# -- WeChat's formulas, written out independently of the plugin --------------------------


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the protocol


def aes(key43: str) -> bytes:
    return base64.b64decode(key43 + "=")


def wechat_encrypt(
    xml: bytes,
    *,
    key43: str = KEY,
    app_id: str = APP_ID,
    padding: bytes | None = None,
    length: int | None = None,
) -> str:
    """Encrypt as WeChat does; ``padding``/``length`` replace the padding or length field."""
    plain = FIXED_PREFIX + (len(xml) if length is None else length).to_bytes(4, "big")
    plain += xml + app_id.encode()
    if padding is None:
        pad = 32 - len(plain) % 32
        padding = bytes([pad]) * pad
    plain += padding
    key = aes(key43)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def xml_padded_by(pad_len: int) -> bytes:
    """A text message whose plaintext (with 38 bytes of prefix, length and AppID) needs
    exactly ``pad_len`` more bytes to end on an AES block."""
    message = text_xml()
    spaces = -(38 + len(message) + pad_len) % 16
    return message.replace(b"</xml>", b" " * spaces + b"</xml>")


def wechat_decrypt(encrypted: str, *, key43: str = KEY) -> tuple[bytes, bytes]:
    """The message and the trailing AppID of an ``Encrypt`` value."""
    key = aes(key43)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    content = plain[16 : -plain[-1]]
    length = int.from_bytes(content[:4], "big")
    return content[4 : 4 + length], content[4 + length :]


def xml_of(body: bytes) -> Element:
    root: Element = SafeET.fromstring(body)
    return root


# -- fixtures and builders ----------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.timestamp())


@pytest.fixture
def channel(clock: FakeClock) -> WeChatChannel:
    return WeChatChannel(clock=clock)


def make_account(channel: WeChatChannel, /, **overrides: Any) -> ChannelAccount:
    values: dict[str, Any] = {
        "channel": "wechat",
        "market": "CN",
        "token": TOKEN,
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
    }
    values.update(overrides)
    return validate_account(
        channel, "cn_service", {k: v for k, v in values.items() if v is not None}
    )


@pytest.fixture
def plain_account(channel: WeChatChannel) -> ChannelAccount:
    return make_account(channel)


@pytest.fixture
def safe_account(channel: WeChatChannel) -> ChannelAccount:
    return make_account(channel, encoding_aes_key=KEY)


def text_xml(content: str = "你好，请问几点营业", msg_id: str = "23984756102938475") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{NOW_TS}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def event_xml(event: str, extra: str = "") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{NOW_TS}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{extra}</xml>"
    ).encode()


def envelope(encrypted: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    ).encode()


def plain_request(
    body: bytes, *, timestamp: str = NOW_TS, token: str = TOKEN, received_at: datetime = NOW
) -> WebhookRequest:
    query = {
        "signature": sha1_signature(token, timestamp, NONCE),
        "timestamp": timestamp,
        "nonce": NONCE,
        "openid": OPENID,
    }
    return WebhookRequest(
        "POST",
        "https://crm.example.cn/webhooks/wechat/cn_service",
        query,
        {"content-type": "text/xml"},
        body,
        received_at,
    )


def safe_request(
    encrypted: str, *, body: bytes | None = None, token: str = TOKEN
) -> WebhookRequest:
    query = {
        "signature": sha1_signature(token, NOW_TS, NONCE),
        "timestamp": NOW_TS,
        "nonce": NONCE,
        "openid": OPENID,
        "encrypt_type": "aes",
        "msg_signature": sha1_signature(token, NOW_TS, NONCE, encrypted),
    }
    return WebhookRequest(
        "POST",
        "https://crm.example.cn/webhooks/wechat/cn_service",
        query,
        {"content-type": "text/xml"},
        envelope(encrypted) if body is None else body,
        NOW,
    )


def without(request: WebhookRequest, *keys: str) -> WebhookRequest:
    query = {k: v for k, v in request.query.items() if k not in keys}
    return WebhookRequest(
        request.method, request.url, query, request.headers, request.body, request.received_at
    )


def receive(
    channel: Channel, account: ChannelAccount, request: WebhookRequest
) -> list[InboundMessage]:
    channel.verify(account, request)
    return channel.parse(account, request)


# -- plugin and settings --------------------------------------------------------------------


def test_hook_register_channels() -> None:
    # A manager of its own: the built-in list may or may not name this plugin yet.
    pm = pluggy.PluginManager("regiocrm")
    pm.add_hookspecs(hookspecs)
    pm.register(wechat)
    [[channel]] = pm.hook.register_channels()
    assert isinstance(channel, WeChatChannel)


def test_channel_declares_wechat_behaviour() -> None:
    assert WeChatChannel.name == "wechat"
    assert WeChatChannel.replies_in_response is True
    assert WeChatChannel.reply_deadline == timedelta(seconds=5)
    assert WeChatChannel.identity_kinds == ("wechat_openid", "wechat_unionid")


def test_settings_keep_secrets_secret(safe_account: ChannelAccount) -> None:
    credentials = safe_account.credentials
    assert credentials.max_clock_skew_seconds == 300
    assert TOKEN not in repr(credentials)
    assert KEY not in repr(credentials)
    assert APP_SECRET not in repr(credentials)


@pytest.mark.parametrize(
    "overrides",
    [
        {"app_id": "wx4f2a9c0b1d3e5f7"},  # 15 hex digits
        {"app_id": "gh_3a1c5e7f9b2d"},  # the original ID is not the AppID
        {"encoding_aes_key": KEY[:-1]},
        {"encoding_aes_key": KEY[:-1] + "+"},
        {"previous_encoding_aes_key": PREVIOUS_KEY},  # without a current key
        {"token": "ab"},
        {"token": "has space"},
        {"channel": "line"},
        {"max_clock_skew_seconds": 0},
        {"app_key": "typo"},
    ],
)
def test_settings_refuse_wrong_values(channel: WeChatChannel, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_account(channel, **overrides)


# -- URL verification -------------------------------------------------------------------


def handshake_request(**query: str) -> WebhookRequest:
    return WebhookRequest(
        "GET", "https://crm.example.cn/webhooks/wechat/cn_service", query, {}, b"", NOW
    )


def test_handshake_echoes_echostr(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    request = handshake_request(
        signature=sha1_signature(TOKEN, NOW_TS, NONCE),
        timestamp=NOW_TS,
        nonce=NONCE,
        echostr="5837397520665436492",
    )
    assert channel.handshake(plain_account, request) == WebhookResponse(
        200, b"5837397520665436492", "text/plain"
    )


def test_handshake_stays_plaintext_in_safe_mode(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    request = handshake_request(
        signature=sha1_signature(TOKEN, NOW_TS, NONCE),
        timestamp=NOW_TS,
        nonce=NONCE,
        echostr="echo",
    )
    assert channel.handshake(safe_account, request).body == b"echo"


def test_handshake_refuses_another_token(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    request = handshake_request(
        signature=sha1_signature("otherToken", NOW_TS, NONCE),
        timestamp=NOW_TS,
        nonce=NONCE,
        echostr="echo",
    )
    with pytest.raises(BadSignature):
        channel.handshake(plain_account, request)


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_handshake_without_a_signed_part(
    channel: WeChatChannel, plain_account: ChannelAccount, missing: str
) -> None:
    query = {
        "signature": sha1_signature(TOKEN, NOW_TS, NONCE),
        "timestamp": NOW_TS,
        "nonce": NONCE,
        "echostr": "echo",
    }
    del query[missing]
    with pytest.raises(MissingSignature):
        channel.handshake(plain_account, handshake_request(**query))


def test_handshake_without_echostr(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    request = handshake_request(
        signature=sha1_signature(TOKEN, NOW_TS, NONCE), timestamp=NOW_TS, nonce=NONCE
    )
    with pytest.raises(MalformedPayload):
        channel.handshake(plain_account, request)


# -- plaintext messages ------------------------------------------------------------------


def test_plaintext_text_message(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    assert receive(channel, plain_account, plain_request(text_xml())) == [
        InboundMessage(
            external_id="23984756102938475",
            identities=(IdentityRef("wechat_openid", f"{APP_ID}:{OPENID}"),),
            occurred_at=NOW,
            kind="text",
            text="你好，请问几点营业",
        )
    ]


def test_plaintext_signature_from_another_token(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    with pytest.raises(BadSignature):
        channel.verify(plain_account, plain_request(text_xml(), token="otherToken"))


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_plaintext_without_a_signed_part(
    channel: WeChatChannel, plain_account: ChannelAccount, missing: str
) -> None:
    with pytest.raises(MissingSignature):
        channel.verify(plain_account, without(plain_request(text_xml()), missing))


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_timestamp(
    channel: WeChatChannel, plain_account: ChannelAccount, offset: int
) -> None:
    request = plain_request(text_xml(), timestamp=str(int(NOW.timestamp()) + offset))
    with pytest.raises(StaleRequest):
        channel.verify(plain_account, request)


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_within_skew(
    channel: WeChatChannel, plain_account: ChannelAccount, offset: int
) -> None:
    channel.verify(plain_account, plain_request(text_xml(), timestamp=str(int(NOW_TS) + offset)))


def test_skew_is_configurable(channel: WeChatChannel) -> None:
    account = make_account(channel, max_clock_skew_seconds=30)
    with pytest.raises(StaleRequest):
        channel.verify(account, plain_request(text_xml(), timestamp=str(int(NOW_TS) - 31)))


def test_signed_timestamp_that_is_not_a_number(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    with pytest.raises(BadSignature):
        channel.verify(plain_account, plain_request(text_xml(), timestamp="yesterday"))


def test_subscribe_by_qr_scene_is_a_follow(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    body = event_xml(
        "subscribe",
        "<EventKey><![CDATA[qrscene_123123]]></EventKey>"
        "<Ticket><![CDATA[gQHd8DoAAAAAAAAAASxodHRwOi8v]]></Ticket>",
    )
    assert receive(channel, plain_account, plain_request(body)) == [
        InboundMessage(
            external_id=f"{OPENID}:{NOW_TS}:subscribe",
            identities=(IdentityRef("wechat_openid", f"{APP_ID}:{OPENID}"),),
            occurred_at=NOW,
            kind="event",
            event="follow",
        )
    ]


def test_unsubscribe_is_an_unfollow(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    [message] = receive(channel, plain_account, plain_request(event_xml("unsubscribe")))
    assert (message.kind, message.event, message.external_id) == (
        "event",
        "unfollow",
        f"{OPENID}:{NOW_TS}:unsubscribe",
    )


def test_other_events_keep_their_name(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    body = event_xml("SCAN", "<EventKey><![CDATA[123123]]></EventKey>")
    [message] = receive(channel, plain_account, plain_request(body))
    assert (message.event, message.external_id) == ("scan", f"{OPENID}:{NOW_TS}:SCAN")


def test_other_message_types(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    body = (
        f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>{NOW_TS}</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl>"
        "<MediaId><![CDATA[media_id]]></MediaId><MsgId>1234567890123456</MsgId></xml>"
    ).encode()
    [message] = receive(channel, plain_account, plain_request(body))
    assert (message.kind, message.text, message.external_id) == ("image", None, "1234567890123456")


# -- hostile and broken XML ------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><ToUserName>gh_3a1c5e7f9b2d</ToUserName><FromUserName>o1</FromUserName>
<CreateTime>1741944413</CreateTime><MsgType>text</MsgType><Content>&lol4;</Content>
<MsgId>1</MsgId></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_3a1c5e7f9b2d</ToUserName><FromUserName>o1</FromUserName>
<CreateTime>1741944413</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>
<MsgId>1</MsgId></xml>"""

BARE_DTD = (
    b'<!DOCTYPE xml SYSTEM "http://attacker.example/x.dtd"><xml><MsgType>text</MsgType></xml>'
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        BARE_DTD,
        b"<<not xml>>",
        b"",
        b'{"MsgType": "text"}',
        text_xml().replace(b"<xml>", b"<message>").replace(b"</xml>", b"</message>"),
        text_xml().replace(b"<MsgId>23984756102938475</MsgId>", b""),
        text_xml().replace(
            f"<CreateTime>{NOW_TS}</CreateTime>".encode(), b"<CreateTime>today</CreateTime>"
        ),
        text_xml()
        .replace(b"<Content><![CDATA[", b"<Note><![CDATA[")
        .replace(b"]]></Content>", b"]]></Note>"),
        event_xml("subscribe").replace(b"<Event><![CDATA[subscribe]]></Event>", b""),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "dtd",
        "garbage",
        "empty",
        "json",
        "root",
        "no-msgid",
        "bad-createtime",
        "no-content",
        "no-event",
    ],
)
def test_malformed_plaintext(
    channel: WeChatChannel, plain_account: ChannelAccount, body: bytes
) -> None:
    request = plain_request(body)
    channel.verify(plain_account, request)  # the query is signed; the body is the problem
    with pytest.raises(MalformedPayload):
        channel.parse(plain_account, request)


def test_hostile_xml_inside_the_ciphertext(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    request = safe_request(wechat_encrypt(BILLION_LAUGHS))
    channel.verify(safe_account, request)
    with pytest.raises(MalformedPayload):
        channel.parse(safe_account, request)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<xml><Encrypt/></xml>"])
def test_hostile_or_empty_envelope(
    channel: WeChatChannel, safe_account: ChannelAccount, body: bytes
) -> None:
    with pytest.raises(MalformedPayload):
        channel.verify(safe_account, safe_request("unused", body=body))


# -- safe mode ----------------------------------------------------------------------------

# Tencent's published sample for 消息加解密 (WXBizMsgCrypt demo): a compatible-mode body,
# plaintext fields beside <Encrypt>, signed with token "spamtest".
TENCENT_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TENCENT_APP_ID = "wx2c2769f8efd9abc2"
TENCENT_TIMESTAMP = "1409735669"
TENCENT_NONCE = "1320562132"
TENCENT_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
TENCENT_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnh"
    "vQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_tencent_sample_decrypts(channel: WeChatChannel) -> None:
    assert sha1_signature("spamtest", TENCENT_TIMESTAMP, TENCENT_NONCE, TENCENT_ENCRYPT) == (
        TENCENT_MSG_SIGNATURE
    )
    account = make_account(
        channel, token="spamtest", app_id=TENCENT_APP_ID, encoding_aes_key=TENCENT_KEY
    )
    body = (
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
        "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>"
        "<CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId>"
        f"<Encrypt><![CDATA[{TENCENT_ENCRYPT}]]></Encrypt></xml>"
    ).encode()
    query = {
        "signature": sha1_signature("spamtest", TENCENT_TIMESTAMP, TENCENT_NONCE),
        "timestamp": TENCENT_TIMESTAMP,
        "nonce": TENCENT_NONCE,
        "encrypt_type": "aes",
        "msg_signature": TENCENT_MSG_SIGNATURE,
    }
    received_at = datetime.fromtimestamp(int(TENCENT_TIMESTAMP) + 2, UTC)
    request = WebhookRequest("POST", "https://crm.example.cn/", query, {}, body, received_at)
    assert receive(channel, account, request) == [
        InboundMessage(
            external_id="6054768590064713728",
            identities=(
                IdentityRef("wechat_openid", f"{TENCENT_APP_ID}:oyORnuP8q7ou2gfYjqLzSIWZf0rs"),
            ),
            occurred_at=datetime(2014, 9, 3, 9, 14, 28, tzinfo=UTC),
            kind="text",
            text="abcdteT",
        )
    ]


def test_safe_mode_text_message(channel: WeChatChannel, safe_account: ChannelAccount) -> None:
    [message] = receive(channel, safe_account, safe_request(wechat_encrypt(text_xml())))
    assert (message.external_id, message.text, message.identities) == (
        "23984756102938475",
        "你好，请问几点营业",
        (IdentityRef("wechat_openid", f"{APP_ID}:{OPENID}"),),
    )


def test_compatible_mode_reads_only_the_ciphertext(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    encrypted = wechat_encrypt(text_xml("the signed text"))
    body = text_xml("an unsigned plaintext copy").replace(
        b"</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    )
    [message] = receive(channel, safe_account, safe_request(encrypted, body=body))
    assert message.text == "the signed text"


def test_safe_mode_msg_signature_from_another_token(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    encrypted = wechat_encrypt(text_xml())
    request = safe_request(encrypted)
    forged = {
        **request.query,
        "msg_signature": sha1_signature("otherToken", NOW_TS, NONCE, encrypted),
    }
    with pytest.raises(BadSignature):
        channel.verify(
            safe_account,
            WebhookRequest("POST", request.url, forged, request.headers, request.body, NOW),
        )


def test_safe_mode_msg_signature_over_another_ciphertext(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    signed = safe_request(wechat_encrypt(text_xml("signed")))
    swapped = envelope(wechat_encrypt(text_xml("swapped in")))
    with pytest.raises(BadSignature):
        channel.verify(
            safe_account,
            WebhookRequest("POST", signed.url, signed.query, signed.headers, swapped, NOW),
        )


def test_safe_mode_without_msg_signature(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    with pytest.raises(MissingSignature):
        channel.verify(
            safe_account, without(safe_request(wechat_encrypt(text_xml())), "msg_signature")
        )


def test_safe_mode_account_refuses_plaintext(
    channel: WeChatChannel, safe_account: ChannelAccount
) -> None:
    # The query signature is valid: only the token is needed to forge this body.
    with pytest.raises(MissingSignature):
        channel.verify(safe_account, plain_request(text_xml()))


def test_ciphertext_for_an_account_without_a_key(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    request = safe_request(wechat_encrypt(text_xml()))
    channel.verify(plain_account, request)
    with pytest.raises(MalformedPayload):
        channel.parse(plain_account, request)


def test_encrypt_then_decrypt_by_hand() -> None:
    message = text_xml("往返 round trip").replace(b"<xml>", b"<xml>\n")
    encrypted = crypto.encrypt(aes(KEY), APP_ID, message)
    assert wechat_decrypt(encrypted) == (message, APP_ID.encode())
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert crypto.decrypt(aes(KEY), APP_ID, encrypted) == message


def test_encrypt_uses_a_fresh_prefix() -> None:
    assert crypto.encrypt(aes(KEY), APP_ID, b"<xml/>") != crypto.encrypt(
        aes(KEY), APP_ID, b"<xml/>"
    )


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 44])
def test_padding_is_to_32_bytes(size: int) -> None:
    # 16 + 4 + 18 (AppID) = 38 bytes of overhead: size 26 would be aligned; 12 lands on 50.
    message = b"x" * size
    assert crypto.decrypt(aes(KEY), APP_ID, wechat_encrypt(message)) == message


def test_aligned_plaintext_gets_a_full_pad_block() -> None:
    message = b"y" * 26  # 16 + 4 + 26 + 18 = 64: a whole 32-byte pad block follows
    encrypted = wechat_encrypt(message)
    assert len(base64.b64decode(encrypted)) == 96
    assert crypto.decrypt(aes(KEY), APP_ID, encrypted) == message
    assert len(base64.b64decode(crypto.encrypt(aes(KEY), APP_ID, message))) == 96


def flip_last_byte(encrypted: str) -> str:
    raw = bytearray(base64.b64decode(encrypted))
    raw[-1] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    "encrypted",
    [
        wechat_encrypt(text_xml(), app_id="wx0000000000000000"),
        wechat_encrypt(xml_padded_by(16), padding=bytes(16)),
        wechat_encrypt(xml_padded_by(33), padding=bytes([33]) * 33),  # a consistent run
        wechat_encrypt(xml_padded_by(5), padding=bytes(4) + b"\x05"),  # only the last is 5
        wechat_encrypt(text_xml(), length=10_000),
        wechat_encrypt(text_xml(), key43=OTHER_KEY),
        flip_last_byte(wechat_encrypt(text_xml())),
        wechat_encrypt(text_xml())[:-8],  # not a whole number of blocks
        "not base64 at all!",
        "",
    ],
    ids=[
        "wrong-appid",
        "pad-0",
        "pad-33",
        "pad-inconsistent",
        "length-overrun",
        "wrong-key",
        "tampered",
        "truncated",
        "not-base64",
        "empty",
    ],
)
def test_ciphertext_refused(
    channel: WeChatChannel, safe_account: ChannelAccount, encrypted: str
) -> None:
    with pytest.raises(MalformedPayload):
        crypto.decrypt(aes(KEY), APP_ID, encrypted)
    if encrypted:
        request = safe_request(encrypted)
        channel.verify(safe_account, request)
        with pytest.raises(MalformedPayload):
            channel.parse(safe_account, request)


# -- key rotation and replies ---------------------------------------------------------


@pytest.fixture
def rotated_account(channel: WeChatChannel) -> ChannelAccount:
    return make_account(channel, encoding_aes_key=KEY, previous_encoding_aes_key=PREVIOUS_KEY)


def test_previous_key_still_decrypts(
    channel: WeChatChannel, rotated_account: ChannelAccount
) -> None:
    request = safe_request(wechat_encrypt(text_xml("old key"), key43=PREVIOUS_KEY))
    [message] = receive(channel, rotated_account, request)
    assert message.text == "old key"


def test_a_key_of_neither_generation_fails(
    channel: WeChatChannel, rotated_account: ChannelAccount
) -> None:
    request = safe_request(wechat_encrypt(text_xml(), key43=OTHER_KEY))
    with pytest.raises(MalformedPayload):
        receive(channel, rotated_account, request)


@pytest.mark.parametrize(("used", "unused"), [(PREVIOUS_KEY, KEY), (KEY, PREVIOUS_KEY)])
def test_reply_uses_the_key_that_decrypted(
    channel: WeChatChannel, rotated_account: ChannelAccount, used: str, unused: str
) -> None:
    request = safe_request(wechat_encrypt(text_xml(), key43=used))
    [message] = receive(channel, rotated_account, request)
    response = channel.respond(rotated_account, request, [message], [Reply(message, "收到")])
    encrypted = xml_of(response.body).findtext("Encrypt") or ""
    reply, app_id = wechat_decrypt(encrypted, key43=used)
    assert (xml_of(reply).findtext("Content"), app_id) == ("收到", APP_ID.encode())
    with pytest.raises(MalformedPayload):
        crypto.decrypt(aes(unused), APP_ID, encrypted)


def test_no_reply_answers_success(channel: WeChatChannel, plain_account: ChannelAccount) -> None:
    request = plain_request(text_xml())
    messages = receive(channel, plain_account, request)
    assert channel.respond(plain_account, request, messages, []) == WebhookResponse(
        200, b"success", "text/plain"
    )


def test_plaintext_passive_reply(
    channel: WeChatChannel, plain_account: ChannelAccount, clock: FakeClock
) -> None:
    clock.now += 2
    request = plain_request(text_xml())
    [message] = receive(channel, plain_account, request)
    replies = [Reply(message, "营业时间：9:00-18:00"), Reply(message, "a second one is dropped")]
    response = channel.respond(plain_account, request, [message], replies)
    assert (response.status, response.media_type) == (200, "application/xml")
    assert b"<Content><![CDATA[" in response.body
    reply = xml_of(response.body)
    assert {child.tag: child.text for child in reply} == {
        "ToUserName": OPENID,
        "FromUserName": ORIGINAL_ID,
        "CreateTime": str(int(NOW.timestamp()) + 2),
        "MsgType": "text",
        "Content": "营业时间：9:00-18:00",
    }


def test_reply_text_that_would_break_cdata(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    request = plain_request(text_xml())
    [message] = receive(channel, plain_account, request)
    response = channel.respond(
        plain_account, request, [message], [Reply(message, "a]]><b>\x00\x0bc")]
    )
    assert xml_of(response.body).findtext("Content") == "a]]><b>c"


def test_encrypted_passive_reply(
    channel: WeChatChannel, safe_account: ChannelAccount, clock: FakeClock
) -> None:
    clock.now += 3
    request = safe_request(wechat_encrypt(text_xml()))
    [message] = receive(channel, safe_account, request)
    response = channel.respond(safe_account, request, [message], [Reply(message, "您好")])
    assert response.media_type == "application/xml"
    outer = {child.tag: child.text or "" for child in xml_of(response.body)}
    assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert outer["TimeStamp"] == str(int(NOW.timestamp()) + 3)
    assert outer["MsgSignature"] == sha1_signature(
        TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
    )
    reply, app_id = wechat_decrypt(outer["Encrypt"])
    assert app_id == APP_ID.encode()
    fields = {child.tag: child.text for child in xml_of(reply)}
    assert fields == {
        "ToUserName": OPENID,
        "FromUserName": ORIGINAL_ID,
        "CreateTime": outer["TimeStamp"],
        "MsgType": "text",
        "Content": "您好",
    }


# -- sending ------------------------------------------------------------------------------

RECIPIENT = IdentityRef("wechat_openid", f"{APP_ID}:{OPENID}")
TOKEN_ENDPOINT = "https://api.weixin.qq.com/cgi-bin/token"
SEND_ENDPOINT = "https://api.weixin.qq.com/cgi-bin/message/custom/send"
USER_INFO_ENDPOINT = "https://api.weixin.qq.com/cgi-bin/user/info"


class FakeWeChat:
    """WeChat's API as a MockTransport handler, with answers set per test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.send_answers: list[httpx.Response | Exception] = []
        self.token_answer: httpx.Response | None = None
        self.user_info: dict[str, Any] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        endpoint = str(request.url.copy_with(query=None))
        if endpoint == TOKEN_ENDPOINT:
            if self.token_answer is not None:
                return self.token_answer
            self.tokens_issued += 1
            return httpx.Response(
                200, json={"access_token": f"TOKEN-{self.tokens_issued}", "expires_in": 7200}
            )
        if endpoint == USER_INFO_ENDPOINT:
            return httpx.Response(200, json=self.user_info)
        assert endpoint == SEND_ENDPOINT
        if self.send_answers:
            answer = self.send_answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    def sends(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/custom/send")]

    def token_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/token")]


@pytest.fixture
def fake_wechat() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture
def client(fake_wechat: FakeWeChat) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake_wechat))


def test_send_text(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
) -> None:
    local_id = channel.send(plain_account, RECIPIENT, "您的订单已发货", client=client)
    assert re.fullmatch("[0-9a-f]{32}", local_id)
    [token_call] = fake_wechat.token_calls()
    assert token_call.method == "GET"
    assert dict(token_call.url.params) == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": APP_SECRET,
    }
    [send_call] = fake_wechat.sends()
    assert send_call.method == "POST"
    assert dict(send_call.url.params) == {"access_token": "TOKEN-1"}
    assert json.loads(send_call.content) == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您的订单已发货"},
    }
    assert "您的订单已发货".encode() in send_call.content
    assert b"\\u" not in send_call.content
    assert send_call.headers["content-type"].startswith("application/json")


def test_send_returns_a_new_local_id_each_time(
    channel: WeChatChannel, plain_account: ChannelAccount, client: httpx.Client
) -> None:
    first = channel.send(plain_account, RECIPIENT, "一", client=client)
    assert first != channel.send(plain_account, RECIPIENT, "二", client=client)


def test_access_token_is_cached_until_shortly_before_expiry(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    clock: FakeClock,
) -> None:
    channel.send(plain_account, RECIPIENT, "一", client=client)
    clock.now += 7200 - 301
    channel.send(plain_account, RECIPIENT, "二", client=client)
    assert len(fake_wechat.token_calls()) == 1
    clock.now += 2  # within five minutes of expiry: refresh
    channel.send(plain_account, RECIPIENT, "三", client=client)
    assert len(fake_wechat.token_calls()) == 2
    assert [dict(r.url.params)["access_token"] for r in fake_wechat.sends()] == [
        "TOKEN-1",
        "TOKEN-1",
        "TOKEN-2",
    ]


@pytest.mark.parametrize(
    ("errcode", "retryable"),
    [
        (-1, True),
        (40001, True),
        (40014, True),
        (42001, True),
        (45015, False),
        (40003, False),
        (45047, False),
    ],
)
def test_send_errcodes(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    errcode: int,
    retryable: bool,
) -> None:
    fake_wechat.send_answers.append(
        httpx.Response(200, json={"errcode": errcode, "errmsg": "refused"})
    )
    with pytest.raises(SendError) as raised:
        channel.send(plain_account, RECIPIENT, "你好", client=client)
    assert raised.value.retryable is retryable
    assert str(errcode) in str(raised.value)


@pytest.mark.parametrize(("errcode", "token_calls"), [(42001, 2), (40001, 2), (45015, 1)])
def test_stale_token_is_dropped(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    errcode: int,
    token_calls: int,
) -> None:
    fake_wechat.send_answers.append(httpx.Response(200, json={"errcode": errcode, "errmsg": "x"}))
    with pytest.raises(SendError):
        channel.send(plain_account, RECIPIENT, "一", client=client)
    channel.send(plain_account, RECIPIENT, "二", client=client)
    assert len(fake_wechat.token_calls()) == token_calls


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        (httpx.Response(503, text="busy"), True),
        (httpx.Response(502), True),
        (httpx.Response(429), True),
        (httpx.Response(400, text="bad"), False),
        (httpx.Response(200, text="<html>proxy login</html>"), True),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.ConnectTimeout("connect timed out"), True),
        (httpx.ConnectError("connection refused"), True),
    ],
    ids=["503", "502", "429", "400", "not-json", "read-timeout", "connect-timeout", "connect"],
)
def test_send_transport_failures(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    answer: httpx.Response | Exception,
    retryable: bool,
) -> None:
    fake_wechat.send_answers.append(answer)
    with pytest.raises(SendError) as raised:
        channel.send(plain_account, RECIPIENT, "你好", client=client)
    assert raised.value.retryable is retryable


@pytest.mark.parametrize(("errcode", "retryable"), [(40013, False), (40125, False), (-1, True)])
def test_token_errors(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    errcode: int,
    retryable: bool,
) -> None:
    fake_wechat.token_answer = httpx.Response(200, json={"errcode": errcode, "errmsg": "no"})
    with pytest.raises(SendError) as raised:
        channel.send(plain_account, RECIPIENT, "你好", client=client)
    assert raised.value.retryable is retryable
    assert fake_wechat.sends() == []


def test_send_without_app_secret(
    channel: WeChatChannel, client: httpx.Client, fake_wechat: FakeWeChat
) -> None:
    account = make_account(channel, app_secret=None)
    with pytest.raises(SendError, match="app_secret") as raised:
        channel.send(account, RECIPIENT, "你好", client=client)
    assert raised.value.retryable is False
    assert fake_wechat.requests == []


@pytest.mark.parametrize(
    "recipient",
    [
        IdentityRef("wechat_openid", f"wx0000000000000000:{OPENID}"),
        IdentityRef("wechat_openid", OPENID),
        IdentityRef("wechat_unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL"),
        IdentityRef("phone", "+8613800138000"),
    ],
)
def test_send_to_someone_this_account_cannot_reach(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
    recipient: IdentityRef,
) -> None:
    with pytest.raises(SendError) as raised:
        channel.send(plain_account, recipient, "你好", client=client)
    assert raised.value.retryable is False
    assert fake_wechat.requests == []


# -- the conformance driver -------------------------------------------------------------


@pytest.fixture
def driver() -> WeChatDriver:
    return WeChatDriver()


@pytest.fixture
def driver_account(driver: WeChatDriver) -> ChannelAccount:
    return driver.account("cn_service")


URL = "https://crm.example.cn/webhooks/wechat/cn_service"


def as_webhook(signed: SignedRequest, at: datetime) -> WebhookRequest:
    return signed.webhook(URL, received_at=at)


def test_driver_text_message(driver: WeChatDriver, driver_account: ChannelAccount) -> None:
    signed = driver.text_message(
        URL, sender="oDriverSender", text="驱动 & <test>", message_id="99", at=NOW
    )
    assert signed.query["encrypt_type"] == "aes"
    assert signed.query["openid"] == "oDriverSender"
    assert signed.query["signature"] == sha1_signature(
        "regiocrmTestToken42", signed.query["timestamp"], signed.query["nonce"]
    )
    [message] = receive(driver.channel, driver_account, as_webhook(signed, NOW))
    assert message.identities == (driver.sender_identity("oDriverSender"),)
    assert (message.text, message.external_id, message.occurred_at) == ("驱动 & <test>", "99", NOW)


def test_driver_refusals(driver: WeChatDriver, driver_account: ChannelAccount) -> None:
    channel = driver.channel
    body = driver.text_body(sender="o1", text="hi", message_id="1", at=NOW)
    signed = driver.sign(URL, body, at=NOW)
    with pytest.raises(MissingSignature):
        channel.verify(driver_account, as_webhook(driver.strip_signature(signed), NOW))
    with pytest.raises(BadSignature):
        channel.verify(driver_account, as_webhook(driver.forge_signature(signed), NOW))
    with pytest.raises(StaleRequest):
        channel.verify(driver_account, as_webhook(driver.stale(URL, body, at=NOW), NOW))
    malformed = as_webhook(driver.malformed(URL, at=NOW), NOW)
    channel.verify(driver_account, malformed)
    with pytest.raises(MalformedPayload):
        channel.parse(driver_account, malformed)


def test_driver_handshake(driver: WeChatDriver, driver_account: ChannelAccount) -> None:
    signed, expected = driver.handshake(URL, at=NOW)
    assert driver.channel.handshake(driver_account, as_webhook(signed, NOW)).body == expected


def test_driver_provider_api(driver: WeChatDriver, driver_account: ChannelAccount) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return driver.provider_api(request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    recipient = driver.sender_identity("oDriverSender")
    driver.channel.send(driver_account, recipient, "你好", client=client)
    assert [driver.sent_text(r) for r in sent] == [None, "你好"]


def follower_message() -> InboundMessage:
    return InboundMessage(
        external_id="1",
        identities=(RECIPIENT,),
        occurred_at=NOW,
        kind="event",
        event="follow",
    )


def test_enrich_adds_the_unionid_from_user_info(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
) -> None:
    # The documented user/info answer of a follower of a bound account.
    fake_wechat.user_info = {
        "subscribe": 1,
        "openid": OPENID,
        "language": "zh_CN",
        "subscribe_time": 1382694957,
        "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
        "remark": "",
        "groupid": 0,
        "subscribe_scene": "ADD_SCENE_QR_CODE",
        "qr_scene": 98765,
    }
    enriched = channel.enrich(plain_account, follower_message(), client=client)
    assert enriched.identities == (
        RECIPIENT,
        IdentityRef("wechat_unionid", "o6_bmasdasdsad6_2sgVt7hMZOPfL"),
    )
    [call] = [r for r in fake_wechat.requests if r.url.path.endswith("/user/info")]
    assert dict(call.url.params) == {"access_token": "TOKEN-1", "openid": OPENID, "lang": "zh_CN"}


def test_enrich_keeps_a_follower_without_unionid_as_is(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
) -> None:
    fake_wechat.user_info = {"subscribe": 1, "openid": OPENID}  # account not bound
    message = follower_message()
    assert channel.enrich(plain_account, message, client=client) == message


def test_enrich_without_app_secret_asks_nothing(
    channel: WeChatChannel, client: httpx.Client, fake_wechat: FakeWeChat
) -> None:
    account = make_account(channel, app_secret=None)
    message = follower_message()
    assert channel.enrich(account, message, client=client) == message
    assert fake_wechat.requests == []


def test_enrich_reports_a_refusal_and_drops_a_stale_token(
    channel: WeChatChannel,
    plain_account: ChannelAccount,
    client: httpx.Client,
    fake_wechat: FakeWeChat,
) -> None:
    fake_wechat.user_info = {"errcode": 40001, "errmsg": "invalid credential"}
    with pytest.raises(SendError, match="40001") as refused:
        channel.enrich(plain_account, follower_message(), client=client)
    assert refused.value.retryable
    fake_wechat.user_info = {"subscribe": 1, "openid": OPENID}
    channel.enrich(plain_account, follower_message(), client=client)
    assert len(fake_wechat.token_calls()) == 2  # the stale token was not used again


# -- times no clock gives (issue 13) ------------------------------------------------------


def test_a_400_digit_signed_timestamp_is_malformed(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    request = plain_request(text_xml(), timestamp="9" * 400)
    with pytest.raises(MalformedPayload, match=r"the signed timestamp 999999999999…\(400 digits\)"):
        channel.verify(plain_account, request)


@pytest.mark.parametrize("timestamp", ["1_765_000_000", " 1765000000", "x" * 5000])
def test_a_signed_timestamp_of_anything_but_digits_is_refused_and_cut_short(
    channel: WeChatChannel, plain_account: ChannelAccount, timestamp: str
) -> None:
    """Signed or not, a timestamp is Unix seconds in digits; the refusal quotes no more of
    it than a line holds."""
    request = plain_request(text_xml(), timestamp=timestamp)
    with pytest.raises(BadSignature, match="is not Unix seconds") as refused:
        channel.verify(plain_account, request)
    assert len(str(refused.value)) < 100


def test_a_create_time_after_the_request_arrived_is_malformed(
    channel: WeChatChannel, plain_account: ChannelAccount
) -> None:
    later = str(int((NOW + timedelta(days=2)).timestamp()))
    body = text_xml().replace(f"<CreateTime>{NOW_TS}".encode(), f"<CreateTime>{later}".encode())
    with pytest.raises(MalformedPayload, match=f"CreateTime {later} is not a time"):
        receive(channel, plain_account, plain_request(body))


# -- plaintext mode: a signature that leaves the body out (issue 13) ------------------------


def test_a_plaintext_signature_is_one_that_leaves_the_body_out(
    channel: WeChatChannel, plain_account: ChannelAccount, safe_account: ChannelAccount
) -> None:
    request = plain_request(text_xml())
    signature = channel.bodyless_signature(plain_account, request)
    assert signature is not None
    assert signature.key == f"{NOW_TS}:{NONCE}:{request.query['signature']}"
    assert signature.valid_until == NOW + timedelta(seconds=300)
    safe = safe_request(wechat_encrypt(text_xml()))
    assert channel.bodyless_signature(safe_account, safe) is None


class WeChatpySignedPlaintext(WeChatDriver):
    """WeChat posting to an account in plaintext mode, its query signed by wechatpy's
    ``WeChatSigner`` rather than by the plugin's own crypto."""

    def account_settings(self) -> dict[str, Any]:
        settings = super().account_settings()
        del settings["encoding_aes_key"]
        return settings

    def sign_query(self, body: bytes, *, timestamp: str) -> SignedRequest:
        return wechatpy_signed(body, timestamp=timestamp, nonce=str(secrets.randbelow(10**10)))


def wechatpy_signed(body: bytes, *, timestamp: str, nonce: str) -> SignedRequest:
    signer = WeChatSigner()
    signer.add_data(DRIVER_TOKEN, timestamp, nonce)
    query = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}
    return SignedRequest(body, {"content-type": "text/xml"}, query)


def stored_texts(deployment: Deployment) -> list[str | None]:
    deployment.services.inbox.drain()
    with deployment.services.stores.session() as session:
        return list(session.scalars(select(Interaction.text).order_by(Interaction.text)))


class TestPlaintextMode(ChannelConformance):
    """The conformance kit in plaintext mode, and the replay its signature allows."""

    driver = WeChatpySignedPlaintext()

    def signed(self, *, sender: str, text: str, message_id: str, timestamp: str) -> SignedRequest:
        at = datetime.fromtimestamp(int(timestamp), UTC)
        body = self.driver.text_body(sender=sender, text=text, message_id=message_id, at=at)
        return wechatpy_signed(body, timestamp=timestamp, nonce="7294513")

    def test_a_signed_query_carries_one_body(self, deployment: Deployment) -> None:
        """WeChat's retry of a delivery (the same query, the same body) is acknowledged and
        stored once; the same query with another body is refused, storing nothing."""
        timestamp = str(int(self.now().timestamp()))
        genuine = self.signed(
            sender="oGenuine", text="几点营业", message_id="1", timestamp=timestamp
        )
        forged = self.signed(sender="oVictim", text="退订", message_id="2", timestamp=timestamp)
        assert genuine.query == forged.query
        answers = [deployment.deliver(genuine) for _ in range(2)]
        assert [(a.status_code, a.content) for a in answers] == [(200, b"success")] * 2
        refused = deployment.deliver(forged)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this signature was already used with another body"
        assert deployment.count(InboxMessage) == 1
        assert stored_texts(deployment) == ["几点营业"]

    def test_another_serving_process_refuses_the_replay(
        self, deployment: Deployment, regiocrm_hooks: Any
    ) -> None:
        """The record lives in the database beside the inbox, not in a process: a second
        application on the same zones (another worker, or this one restarted) refuses the
        replay as the first would."""
        timestamp = str(int(self.now().timestamp()))
        genuine = self.signed(sender="oGenuine", text="你好", message_id="1", timestamp=timestamp)
        forged = self.signed(sender="oVictim", text="退订", message_id="2", timestamp=timestamp)
        assert deployment.deliver(genuine).status_code == 200
        deployment.services.inbox.drain()
        second = create_app(deployment.services.settings, regiocrm_hooks)
        with TestClient(second, base_url=BASE_URL) as other:
            refused = forged.send(other, deployment.url.removeprefix(BASE_URL))
            second.state.services.inbox.drain()
        assert refused.status_code == 403
        assert stored_texts(deployment) == ["你好"]


def test_rollout_check_fails_a_plaintext_account_and_names_the_fix(
    regiocrm_cli: Any, deployment_dir: Any
) -> None:
    plaintext = WeChatpySignedPlaintext().account_settings()
    safe = WeChatDriver().account_settings()
    lines = ["[deployment]", 'market = "CN"']
    for name, values in (("wx_plain", plaintext), ("wx_safe", safe)):
        lines.append(f"[channel_accounts.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    (deployment_dir / "regiocrm.toml").write_text("\n".join(lines) + "\n")
    result = regiocrm_cli("rollout", "check", "--market", "CN", "--json")
    assert result.exit_code == 1
    found = {f["check"]: f for f in json.loads(result.stdout)}
    assert found["wechat wx_safe"]["outcome"] == "pass"
    plain = found["wechat wx_plain"]
    assert plain["outcome"] == "fail"
    assert "signs the URL but not the body" in plain["reason"]
    assert "replay" in plain["reason"]
    assert plain["fix"] == (
        "set encoding_aes_key in [channel_accounts.wx_plain] to the account's EncodingAESKey"
        " and choose safe mode (安全模式) in its server configuration"
    )
