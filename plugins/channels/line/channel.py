"""The LINE Messaging API as a :class:`~regiocrm.interfaces.channels.Channel`.

Inbound: LINE POSTs ``{"destination", "events": [...]}`` signed with
``X-Line-Signature = base64(HMAC-SHA256(channel secret, raw body))``. Outbound: the reply
API answers an event for free with its single-use reply token; the push API reaches a user
at any time and is made idempotent with ``X-Line-Retry-Key``.

References: LINE Developers "Receive messages (webhook)", "Retry failed API requests",
"Check webhook error causes and statistics", and line-bot-sdk-python
``linebot/v3/webhook.py`` (``SignatureValidator``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import Field, SecretStr

from regiocrm.interfaces.channels import (
    BadSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    SendError,
    WebhookRequest,
    call_provider,
    constant_time_equal,
    parse_json,
    provider_time,
)

API_BASE = "https://api.line.me"
REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
SIGNATURE_HEADER = "x-line-signature"
RETRY_KEY_HEADER = "X-Line-Retry-Key"
ACCEPTED_REQUEST_HEADER = "x-line-accepted-request-id"
REQUEST_ID_HEADER = "x-line-request-id"

T = TypeVar("T")


class LineAccountSettings(ChannelAccountSettings):
    """One LINE Official Account's Messaging API channel.

    :param channel_secret: the channel secret (Basic settings), the HMAC key of webhooks.
    :param access_token: a channel access token (Messaging API tab) for reply and push.
    :param api_base: where the Messaging API is reached: LINE's own host, or a gateway
        (an egress proxy, a test's stand-in provider) that forwards to it.
    """

    channel: Literal["line"] = "line"
    channel_secret: SecretStr
    access_token: SecretStr
    api_base: str = Field(default=API_BASE, pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Line-Signature`` LINE sends for ``body``: base64 of HMAC-SHA256 keyed with
    the channel secret as UTF-8."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class _PendingRetryKeys:
    """Retry keys of push sends that failed in a way worth retrying, so that the retry of
    one send reuses its key and LINE delivers the message at most once.

    ``send`` has no id for "this outbound message", so a send is recognised by what it
    sends: ``(account, recipient, text)``. A send claims a pending key for that triple if
    there is one, else makes a new one, and hands the key back only after a retryable
    failure. Two identical sends in flight at once therefore never share a key (LINE would
    drop one as already accepted), and an identical send made after a success gets a fresh
    key. LINE honours a key for 24 hours, so older keys are forgotten. The memory is per
    process: a retry that runs in another worker uses a new key.
    """

    lifetime = timedelta(hours=24)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str, str], list[tuple[str, datetime]]] = {}

    def claim(self, send: tuple[str, str, str]) -> tuple[str, datetime]:
        """A pending key of this send and when it was first tried, or a new key."""
        now = datetime.now(UTC)
        with self._lock:
            pending = self._live(self._keys.pop(send, []), now)
            if pending:
                key, first_tried = pending.pop(0)
                if pending:
                    self._keys[send] = pending
                return key, first_tried
        return str(uuid.uuid4()), now

    def release(self, send: tuple[str, str, str], key: str, first_tried: datetime) -> None:
        """Keep ``key`` for the next try of ``send``; forget keys LINE no longer honours."""
        now = datetime.now(UTC)
        with self._lock:
            for other in list(self._keys):
                live = self._live(self._keys.pop(other), now)
                if live:
                    self._keys[other] = live
            self._keys.setdefault(send, []).append((key, first_tried))

    def _live(self, keys: list[tuple[str, datetime]], now: datetime) -> list[tuple[str, datetime]]:
        return [
            (key, first_tried) for key, first_tried in keys if now - first_tried < self.lifetime
        ]


class LineChannel(Channel):
    """LINE Messaging API: webhooks in, reply and push API out.

    ``reply_deadline`` is 2 s: LINE's webhook error statistics count a delivery as
    ``request_timeout`` when the bot server has not answered within two seconds, and a
    failed delivery is only redelivered if the channel turned redelivery on.
    """

    name = "line"
    account_settings = LineAccountSettings
    reply_deadline = timedelta(seconds=2)
    replies_in_response = False
    identity_kinds = ("line",)
    # LINE allows 2,000 requests a second per channel and asks senders to keep a margin.
    sends_per_second = 1000.0

    def __init__(self) -> None:
        self._retry_keys = _PendingRetryKeys()

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise MissingSignature("no X-Line-Signature header")
        secret = account.credentials.channel_secret.get_secret_value()
        if not constant_time_equal(signature(secret, request.body), given):
            raise BadSignature("X-Line-Signature does not match the body")

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """One message per event that has a user behind it.

        * ``message`` events: kind ``text`` with the text, or the message type (``image``,
          ``sticker``, ``location``…) with no text;
        * ``follow``/``unfollow``: kind ``event``;
        * ``postback`` (a tapped button or rich-menu item): kind ``event``, event
          ``postback``, and the postback's ``data`` string as ``text``;
        * any other type with a user (``unsend``, ``beacon``, ``accountLink``…): kind
          ``event`` with LINE's type name, so the timeline keeps it and hooks may act on it.

        Events with no ``source.userId`` (a group member who has not consented, ``join``
        and ``leave`` of the bot itself) name nobody and are skipped. ``webhookEventId`` is
        the external id: LINE keeps it on redelivery (``deliveryContext.isRedelivery``).
        """
        payload = _json_object(request.body)
        events = payload.get("events")
        if not isinstance(events, list):
            raise MalformedPayload("a LINE webhook has an 'events' list")
        messages = []
        for event in events:
            message = _event_message(event, request.received_at)
            if message is not None:
                messages.append(message)
        return messages

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send ``text`` as one text message and return LINE's id for it.

        With ``reply_token`` the reply API answers the event (free of charge). The reply
        API rejects a retry key, but needs none: a reply token works once, so a retry of a
        reply that went through is refused (400) rather than delivered twice. Without one,
        the push API sends to ``recipient`` with an ``X-Line-Retry-Key`` kept across
        retries of the same send (see :class:`_PendingRetryKeys`); LINE answers a retry of
        an accepted push with 409 and ``x-line-accepted-request-id``, which is a success.

        :raises SendError: retryable for 429, 5xx and transport failures (timeouts
            included); not retryable for other refusals, with LINE's ``message``.
        """
        if recipient.kind != "line":
            raise SendError(f"LINE cannot send to a {recipient.kind!r} identity", retryable=False)
        token = account.credentials.access_token.get_secret_value()
        base = account.credentials.api_base.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        messages = [{"type": "text", "text": text}]
        if reply_token is not None:
            response = _post(
                client,
                base + REPLY_PATH,
                headers,
                {"replyToken": reply_token, "messages": messages},
            )
            _raise_for_line(response)
            return _sent_id(response) or response.headers.get(REQUEST_ID_HEADER, reply_token)

        send_key = (account.name, recipient.value, text)
        retry_key, first_tried = self._retry_keys.claim(send_key)
        try:
            response = _post(
                client,
                base + PUSH_PATH,
                {**headers, RETRY_KEY_HEADER: retry_key},
                {"to": recipient.value, "messages": messages},
            )
            if response.status_code == 409 and ACCEPTED_REQUEST_HEADER in response.headers:
                return _sent_id(response) or response.headers[ACCEPTED_REQUEST_HEADER]
            _raise_for_line(response)
        except SendError as error:
            if error.retryable:
                self._retry_keys.release(send_key, retry_key, first_tried)
            raise
        return _sent_id(response) or response.headers.get(REQUEST_ID_HEADER, retry_key)


def _json_object(body: bytes) -> dict[str, Any]:
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise MalformedPayload("a LINE webhook is a JSON object")
    return payload


def _event_message(event: Any, received_at: datetime) -> InboundMessage | None:
    if not isinstance(event, dict):
        raise MalformedPayload("each LINE event is a JSON object")
    event_type = _field(event, "type", str)
    source = _field(event, "source", dict)
    user_id = source.get("userId")
    if user_id is None:
        return None
    if not isinstance(user_id, str) or not user_id:
        raise MalformedPayload("source.userId is a non-empty string")
    timestamp = _field(event, "timestamp", int)
    common: dict[str, Any] = {
        "external_id": _field(event, "webhookEventId", str),
        "identities": (IdentityRef("line", user_id),),
        "occurred_at": provider_time(
            timestamp, name="timestamp", received_at=received_at, milliseconds=True
        ),
        "reply_token": _optional(event, "replyToken", str),
    }
    if event_type == "message":
        message = _field(event, "message", dict)
        kind = _field(message, "type", str)
        text = _field(message, "text", str) if kind == "text" else None
        return InboundMessage(kind=kind, text=text, **common)
    if event_type == "postback":
        data = _field(_field(event, "postback", dict), "data", str)
        return InboundMessage(kind="event", event="postback", text=data, **common)
    return InboundMessage(kind="event", event=event_type, **common)


def _field(container: Mapping[str, Any], name: str, kind: type[T]) -> T:
    value = container.get(name)
    # bool is an int subclass; a timestamp of ``true`` is not a timestamp.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedPayload(f"{name!r} is missing or not a {kind.__name__}")
    return value


def _optional(container: Mapping[str, Any], name: str, kind: type[T]) -> T | None:
    return None if container.get(name) is None else _field(container, name, kind)


def _post(
    client: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return call_provider("LINE", lambda: client.post(url, headers=headers, json=body))


def _raise_for_line(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    raise SendError(
        f"LINE answered {status}: {_error_text(response)}",
        retryable=status == 429 or status >= 500,
    )


def _error_text(response: httpx.Response) -> str:
    """LINE's ``message``, with the ``details`` that say which property was wrong."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, dict):
        return response.text[:200]
    text = str(body.get("message", response.text[:200]))
    details = body.get("details")
    if isinstance(details, list):
        text += "".join(
            f"; {item.get('property', '?')}: {item.get('message', '')}"
            for item in details
            if isinstance(item, dict)
        )
    return text


def _sent_id(response: httpx.Response) -> str | None:
    """The id of the first message in ``sentMessages`` (reply, push, and the 409 of an
    already accepted push all carry it)."""
    try:
        body = response.json()
    except ValueError:
        return None
    sent = body.get("sentMessages") if isinstance(body, dict) else None
    if isinstance(sent, list) and sent and isinstance(sent[0], dict) and "id" in sent[0]:
        return str(sent[0]["id"])
    return None
