"""The WeChat Official Account (公众号) channel: server messages in, customer-service messages out.

WeChat signs only ``token, timestamp, nonce`` in the query, never the body. In plaintext
mode anyone who once saw a signed URL could replay its query with a body of their own
within the clock-skew window: the channel hands that signature to the core as a
:class:`~regiocrm.interfaces.channels.BodylessSignature`, which lets it carry one body
only (WeChat's own retry of it is a redelivery; another body is refused). Whoever sees a signed URL
before WeChat's delivery arrives can still use it first, so an account configured with an
``encoding_aes_key`` (safe mode, 安全模式) refuses plaintext POSTs: its bodies must carry a
``msg_signature`` over the ciphertext and decrypt under the account's key to its own
AppID. ``regiocrm rollout check`` fails an account without one.

Compatible mode (兼容模式) sends the plaintext fields beside ``<Encrypt>``; a safe-mode
account reads only what it decrypted and ignores the unsigned plaintext copy.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Self
from xml.etree.ElementTree import Element, ParseError

# defusedxml ships no type hints and the types env has no types-defusedxml.
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
import httpx
from defusedxml import DefusedXmlException
from pydantic import Field, SecretStr, field_validator, model_validator

from regiocrm.interfaces.channels import (
    BadSignature,
    BodylessSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Reply,
    SendError,
    StaleRequest,
    WebhookRequest,
    WebhookResponse,
    call_provider,
    constant_time_equal,
    provider_time,
    raise_for_provider,
)
from regiocrm.plugins.channels.wechat import crypto

API_BASE = "https://api.weixin.qq.com/cgi-bin"
TOKEN_URL = f"{API_BASE}/token"
CUSTOM_SEND_URL = f"{API_BASE}/message/custom/send"
USER_INFO_URL = f"{API_BASE}/user/info"

# errcodes from https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
SYSTEM_BUSY = -1
# The access token is invalid (40001, 40014) or expired (42001): fetch a new one and retry.
STALE_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Refresh this long before WeChat's expiry, so a token never lapses on its way to WeChat; the
# old token stays valid for five minutes after a new one is issued, so an early refresh is free.
TOKEN_REFRESH_MARGIN = 300

EVENT_NAMES = {"subscribe": "follow", "unsubscribe": "unfollow"}
# Characters XML 1.0 cannot carry even in CDATA; WeChat shows its "cannot serve" notice for
# a reply that does not parse, so they are dropped from outgoing text.
XML_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class WeChatAccountSettings(ChannelAccountSettings):
    """``[channel_accounts.<name>]`` for a WeChat Official Account.

    :param token: the Token of the server configuration (服务器配置), 3 to 32 letters or digits.
    :param app_id: the AppID (``wx`` and 16 hex digits).
    :param encoding_aes_key: the EncodingAESKey; set it for safe mode, which then is required.
    :param previous_encoding_aes_key: the key before the last rotation, still accepted so
        messages WeChat queued under it decrypt; replies use whichever key decrypted.
    :param app_secret: the AppSecret, needed only to send through the customer-service API.
    :param max_clock_skew_seconds: how far a signed timestamp may be from our clock.
    """

    channel: Literal["wechat"] = "wechat"
    token: SecretStr
    app_id: str = Field(pattern=r"^wx[0-9a-f]{16}$")
    encoding_aes_key: SecretStr | None = None
    previous_encoding_aes_key: SecretStr | None = None
    app_secret: SecretStr | None = None
    max_clock_skew_seconds: int = Field(default=300, gt=0)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # The console accepts only this, so anything else is a pasting mistake.
        if not re.fullmatch(r"[A-Za-z0-9]{3,32}", value.get_secret_value()):
            raise ValueError("a WeChat Token is 3 to 32 letters or digits")
        return value

    @field_validator("encoding_aes_key", "previous_encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{43}", value.get_secret_value()):
            raise ValueError("an EncodingAESKey is 43 letters or digits")
        return value

    @model_validator(mode="after")
    def _previous_key_needs_current(self) -> Self:
        if self.previous_encoding_aes_key is not None and self.encoding_aes_key is None:
            raise ValueError("previous_encoding_aes_key is set but encoding_aes_key is not")
        return self

    def aes_keys(self) -> list[bytes]:
        """The AES keys to try on a safe-mode body, current first."""
        secrets_ = (self.encoding_aes_key, self.previous_encoding_aes_key)
        return [crypto.aes_key(key.get_secret_value()) for key in secrets_ if key is not None]


@dataclass(frozen=True)
class _Opened:
    """A request body as the account reads it: the message XML and how it came."""

    message: Element
    key: bytes | None  # the AES key that decrypted it; None for a plaintext body


@dataclass(frozen=True)
class _AccessToken:
    value: str
    refresh_at: float


class WeChatChannel(Channel):
    """WeChat Official Account server messages, passive replies and customer-service sends.

    :param clock: Unix time now; reply timestamps and access-token expiry use it.
    """

    name = "wechat"
    account_settings = WeChatAccountSettings
    reply_deadline = timedelta(seconds=5)
    replies_in_response = True
    identity_kinds = ("wechat_openid", "wechat_unionid")
    # Each signature is a SHA-1 over the account's token, a timestamp and a nonce: logged, it
    # could be replayed within the window or turned into the token by trying candidates.
    # The openid names the customer who wrote.
    private_query_parameters = ("signature", "msg_signature", "openid")

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # Access tokens by AppID. A lost race fetches a second token, which WeChat allows:
        # the first stays valid for five more minutes.
        self._tokens: dict[str, _AccessToken] = {}

    # -- inbound ----------------------------------------------------------------------

    def handshake(self, account: ChannelAccount, request: WebhookRequest) -> WebhookResponse:
        """Echo ``echostr`` when the query's signature is WeChat's.

        The echo stays plaintext in safe mode for an Official Account (WeCom differs). No
        timestamp check: replaying a URL check only echoes the replayer's own string.

        :raises MissingSignature: without ``signature``, ``timestamp`` or ``nonce``.
        :raises BadSignature: when the signature does not match the token.
        :raises MalformedPayload: for a signed check without ``echostr``.
        """
        settings: WeChatAccountSettings = account.credentials
        _check_query_signature(settings, request.query)
        echostr = request.query.get("echostr")
        if echostr is None:
            raise MalformedPayload("the URL check has no echostr")
        return WebhookResponse(200, echostr.encode(), "text/plain")

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        """Check the query signature, its time, and in safe mode the ``msg_signature``.

        :raises MissingSignature: without a query signature, or without ``msg_signature`` (or
            ``encrypt_type=aes``) when the account is in safe mode.
        :raises BadSignature: when a signature does not match the token.
        :raises StaleRequest: when the signed timestamp is further than
            ``max_clock_skew_seconds`` from when the request arrived.
        :raises MalformedPayload: for a signed timestamp that is no time WeChat can have
            signed at (before 1970, or a day ahead), and for a safe-mode body with no
            readable ``<Encrypt>``.
        """
        settings: WeChatAccountSettings = account.credentials
        skew = abs(request.received_at - _signed_at(settings, request))
        if skew > timedelta(seconds=settings.max_clock_skew_seconds):
            raise StaleRequest(
                f"the signed timestamp is {skew.total_seconds():.0f} s from our clock"
            )

        if not _is_safe_mode(request):
            if settings.encoding_aes_key is not None:
                raise MissingSignature(
                    "this account is in safe mode: a plaintext body carries no msg_signature"
                )
            return
        msg_signature = request.query.get("msg_signature")
        if not msg_signature:
            raise MissingSignature("a safe-mode request has no msg_signature")
        expected = crypto.signature(
            settings.token.get_secret_value(),
            request.query["timestamp"],
            request.query["nonce"],
            _encrypted(request.body),
        )
        if not constant_time_equal(expected, msg_signature):
            raise BadSignature("msg_signature does not match the body and the token")

    def bodyless_signature(
        self, account: ChannelAccount, request: WebhookRequest
    ) -> BodylessSignature | None:
        """A plaintext request's signature, which covers token, timestamp and nonce but not
        the body, valid until its timestamp goes stale; None in safe mode, where
        ``msg_signature`` covers the ciphertext.
        """
        if _is_safe_mode(request):
            return None
        settings: WeChatAccountSettings = account.credentials
        query = request.query
        return BodylessSignature(
            key=f"{query['timestamp']}:{query['nonce']}:{query['signature']}",
            valid_until=_signed_at(settings, request)
            + timedelta(seconds=settings.max_clock_skew_seconds),
        )

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """The one message or event of a verified request.

        :raises MalformedPayload: for hostile or broken XML, a body that decrypts under no
            key of the account, or a message without the fields WeChat always sends.
        """
        settings: WeChatAccountSettings = account.credentials
        xml = _open(settings, request).message
        msg_type = _required(xml, "MsgType")
        sender = _required(xml, "FromUserName")
        created = _required(xml, "CreateTime")
        try:
            seconds = int(created)
        except ValueError:
            raise MalformedPayload(f"CreateTime {created[:40]!r} is not Unix seconds") from None
        occurred_at = provider_time(seconds, name="CreateTime", received_at=request.received_at)
        identities = (IdentityRef("wechat_openid", f"{settings.app_id}:{sender}"),)

        if msg_type == "event":
            event = _required(xml, "Event")
            return [
                InboundMessage(
                    external_id=f"{sender}:{created}:{event}",
                    identities=identities,
                    occurred_at=occurred_at,
                    kind="event",
                    event=EVENT_NAMES.get(event.lower(), event.lower()),
                )
            ]
        return [
            InboundMessage(
                external_id=_required(xml, "MsgId"),
                identities=identities,
                occurred_at=occurred_at,
                kind=msg_type,
                text=_required(xml, "Content") if msg_type == "text" else None,
            )
        ]

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        """A passive text reply with the first of ``replies`` (WeChat shows one), else
        ``success``, which tells WeChat not to retry.

        The reply goes to the request's sender from the account's original ID (``gh_…``),
        both read again from the request since :class:`InboundMessage` does not keep them;
        in safe mode it is encrypted under the key that decrypted the request.
        """
        if not replies:
            return WebhookResponse(200, b"success", "text/plain")
        settings: WeChatAccountSettings = account.credentials
        opened = _open(settings, request)
        now = int(self._clock())
        reply = (
            "<xml>"
            f"<ToUserName>{_cdata(_required(opened.message, 'FromUserName'))}</ToUserName>"
            f"<FromUserName>{_cdata(_required(opened.message, 'ToUserName'))}</FromUserName>"
            f"<CreateTime>{now}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(replies[0].text)}</Content>"
            "</xml>"
        )
        if opened.key is None:
            return WebhookResponse(200, reply.encode(), "application/xml")

        encrypted = crypto.encrypt(opened.key, settings.app_id, reply.encode())
        nonce = str(secrets.randbelow(10**10))
        msg_signature = crypto.signature(
            settings.token.get_secret_value(), str(now), nonce, encrypted
        )
        envelope = (
            "<xml>"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{_cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{now}</TimeStamp>"
            f"<Nonce>{_cdata(nonce)}</Nonce>"
            "</xml>"
        )
        return WebhookResponse(200, envelope.encode(), "application/xml")

    # -- outbound ---------------------------------------------------------------------

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send ``text`` as a customer-service message (客服消息), allowed within 48 hours
        of the user's last message to the account.

        WeChat returns no message id, so this returns a new local one (a UUID4 hex) that
        identifies the send but that WeChat will never echo. ``reply_token`` is unused:
        WeChat has no reply tokens.

        :raises SendError: retryable for a timeout, a network error, HTTP 429/5xx, ``-1``
            (system busy) and a stale access token (which is dropped so the retry fetches a
            new one); not retryable without an ``app_secret``, for a recipient of another
            account, 45015 (outside the 48-hour window), 40003 (unknown OpenID) and any
            other error WeChat reports.
        """
        settings: WeChatAccountSettings = account.credentials
        if settings.app_secret is None:
            raise SendError(
                f"WeChat account {settings.app_id} has no app_secret: it can receive, not send",
                retryable=False,
            )
        if recipient.kind != "wechat_openid":
            raise SendError(f"WeChat cannot send to a {recipient.kind} identity", retryable=False)
        app_id, _, openid = recipient.value.partition(":")
        if app_id != settings.app_id or not openid:
            raise SendError(
                f"{recipient.value!r} is not an OpenID of AppID {settings.app_id}",
                retryable=False,
            )
        token = self._access_token(settings, settings.app_secret, client)
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        result = _call(
            client,
            client.build_request(
                "POST",
                CUSTOM_SEND_URL,
                params={"access_token": token},
                content=json.dumps(body, ensure_ascii=False).encode(),
                headers={"content-type": "application/json; charset=utf-8"},
            ),
        )
        errcode = result.get("errcode")
        if errcode == 0:
            return uuid.uuid4().hex
        stale_token = isinstance(errcode, int) and errcode in STALE_TOKEN_ERRCODES
        if stale_token:
            self._tokens.pop(settings.app_id, None)
        raise SendError(
            f"WeChat refused the message: {errcode} {result.get('errmsg', '')}",
            retryable=stale_token or errcode == SYSTEM_BUSY,
        )

    def enrich(
        self, account: ChannelAccount, message: InboundMessage, *, client: httpx.Client
    ) -> InboundMessage:
        """The message with its sender's UnionID (``wechat_unionid``), which links the
        person's OpenIDs across every official account and mini-program bound to one Open
        Platform account.

        WeChat gives the UnionID only through the user-info API (``user/info``), and only
        for a bound account; an account without ``app_secret`` cannot ask, and a user
        without a UnionID keeps just their OpenID.

        :raises SendError: when WeChat cannot be asked (the core then goes on without it).
        """
        settings: WeChatAccountSettings = account.credentials
        openids = [i for i in message.identities if i.kind == "wechat_openid"]
        if settings.app_secret is None or not openids:
            return message
        openid = openids[0].value.partition(":")[2]
        token = self._access_token(settings, settings.app_secret, client)
        result = _call(
            client,
            client.build_request(
                "GET",
                USER_INFO_URL,
                params={"access_token": token, "openid": openid, "lang": "zh_CN"},
            ),
        )
        errcode = result.get("errcode", 0)
        if errcode:
            stale_token = isinstance(errcode, int) and errcode in STALE_TOKEN_ERRCODES
            if stale_token:
                self._tokens.pop(settings.app_id, None)
            raise SendError(
                f"WeChat gave no user info: {errcode} {result.get('errmsg', '')}",
                retryable=stale_token or errcode == SYSTEM_BUSY,
            )
        unionid = result.get("unionid")
        if not isinstance(unionid, str) or not unionid:
            return message
        return replace(
            message, identities=(*message.identities, IdentityRef("wechat_unionid", unionid))
        )

    def _access_token(
        self, settings: WeChatAccountSettings, app_secret: SecretStr, client: httpx.Client
    ) -> str:
        """The account's access token, fetched once and kept until shortly before expiry."""
        cached = self._tokens.get(settings.app_id)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        params = {
            "grant_type": "client_credential",
            "appid": settings.app_id,
            "secret": app_secret.get_secret_value(),
        }
        result = _call(client, client.build_request("GET", TOKEN_URL, params=params))
        value, expires_in = result.get("access_token"), result.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, int):
            errcode = result.get("errcode")
            raise SendError(
                f"WeChat gave no access token: {errcode} {result.get('errmsg', '')}",
                retryable=errcode == SYSTEM_BUSY,
            )
        refresh_at = self._clock() + expires_in - TOKEN_REFRESH_MARGIN
        self._tokens[settings.app_id] = _AccessToken(value, refresh_at)
        return value


# -- helpers ----------------------------------------------------------------------------


def _check_query_signature(settings: WeChatAccountSettings, query: Mapping[str, str]) -> int:
    """Check ``signature`` over token, timestamp and nonce; return the timestamp.

    :raises MissingSignature: when a part is absent.
    :raises BadSignature: when it does not match, or the signed timestamp is not a number.
    """
    given, timestamp, nonce = (query.get(key) for key in ("signature", "timestamp", "nonce"))
    if not given or timestamp is None or nonce is None:
        raise MissingSignature("WeChat signs signature, timestamp and nonce in the query")
    expected = crypto.signature(settings.token.get_secret_value(), timestamp, nonce)
    if not constant_time_equal(expected, given):
        raise BadSignature("the signature does not match the token")
    # Digits only: int() would also take "1_765_000_000" or surrounding spaces.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise BadSignature(f"the signed timestamp {timestamp[:40]!r} is not Unix seconds")
    return int(timestamp)


def _signed_at(settings: WeChatAccountSettings, request: WebhookRequest) -> datetime:
    """When the query says it was signed, once its signature is checked.

    :raises MalformedPayload: for a timestamp that is no time WeChat can have signed at.
    """
    timestamp = _check_query_signature(settings, request.query)
    return provider_time(timestamp, name="the signed timestamp", received_at=request.received_at)


def _is_safe_mode(request: WebhookRequest) -> bool:
    return request.query.get("encrypt_type") == "aes"


def _parse_xml(body: bytes) -> Element:
    """``body`` as an ``<xml>`` element, refusing DTDs, entities and external references:
    a billion-laughs or XXE body never reaches the expat expansion."""
    try:
        root: Element = SafeET.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ParseError, DefusedXmlException) as exc:
        raise MalformedPayload(f"not WeChat XML: {exc}") from None
    if root.tag != "xml":
        raise MalformedPayload(f"WeChat XML has an <xml> root, not <{root.tag}>")
    return root


def _encrypted(body: bytes) -> str:
    """The ``<Encrypt>`` value of a safe-mode body."""
    encrypted = _parse_xml(body).findtext("Encrypt")
    if not encrypted:
        raise MalformedPayload("a safe-mode body has no <Encrypt>")
    return encrypted


def _open(settings: WeChatAccountSettings, request: WebhookRequest) -> _Opened:
    """The message of a verified request: the body itself, or what ``<Encrypt>`` decrypts
    to under the current or else the previous key."""
    if not _is_safe_mode(request):
        return _Opened(_parse_xml(request.body), None)
    keys = settings.aes_keys()
    if not keys:
        raise MalformedPayload("a safe-mode body for an account with no encoding_aes_key")
    encrypted = _encrypted(request.body)
    failure = MalformedPayload("Encrypt decrypts under none of the account's keys")
    for key in keys:
        try:
            message = crypto.decrypt(key, settings.app_id, encrypted)
        except MalformedPayload as exc:
            failure = exc
            continue
        return _Opened(_parse_xml(message), key)
    raise failure


def _required(xml: Element, tag: str) -> str:
    value = xml.findtext(tag)
    if value is None:
        raise MalformedPayload(f"the message has no <{tag}>")
    return value


def _cdata(text: str) -> str:
    """``text`` as CDATA; a ``]]>`` inside is split across two sections."""
    text = XML_INVALID_CHARS.sub("", text).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{text}]]>"


def _call(client: httpx.Client, request: httpx.Request) -> dict[str, object]:
    """A WeChat API call's JSON answer; transport and HTTP failures become SendError."""
    response = call_provider("WeChat", lambda: client.send(request))
    raise_for_provider(response, "WeChat")
    try:
        result = response.json()
    except ValueError:
        # A 200 that is not JSON comes from something between us and WeChat (a proxy's page).
        raise SendError(
            f"WeChat answered non-JSON: {response.text[:200]}", retryable=True
        ) from None
    if not isinstance(result, dict):
        raise SendError(f"WeChat answered {result!r}, not an object", retryable=True)
    return result
