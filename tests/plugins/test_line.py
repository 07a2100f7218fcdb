"""The LINE channel: signature, webhook parsing, reply and push, and its conformance driver.

Signatures are computed here from LINE's documented formula, base64(HMAC-SHA256(channel
secret, raw body)), never with the plugin's own helper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pydantic
import pytest

from regiocrm.interfaces.channels import (
    BadSignature,
    ChannelAccount,
    IdentityRef,
    MalformedPayload,
    MissingSignature,
    SendError,
    WebhookRequest,
    validate_account,
)
from regiocrm.plugins.channels import line as line_plugin
from regiocrm.plugins.channels.line import LineChannel
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.testing.channels import SignedRequest, deeply_nested_json

SECRET = "5d1c0bf4fa1e4a1c9a2b3c4d5e6f7a8b"
TOKEN = "test-access-token"
USER = "U4af4980629e1a2b3c4d5e6f7a8b9c0d1"
RECEIVED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def line_signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@pytest.fixture
def channel() -> LineChannel:
    return LineChannel()


@pytest.fixture
def account(channel: LineChannel) -> ChannelAccount:
    values = {"channel": "line", "market": "JP", "channel_secret": SECRET, "access_token": TOKEN}
    return validate_account(channel, "line_jp", values)


def webhook(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://crm.example.jp/webhooks/line/line_jp",
        query={},
        headers=headers or {},
        body=body,
        received_at=RECEIVED,
    )


def payload(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U" + "f" * 32, "events": list(events)}).encode()


def event(kind: str = "message", **fields: Any) -> dict[str, Any]:
    """A LINE event in the shape of line-bot-sdk-python's recorded ``webhook.json``."""
    base: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": USER},
        "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
    }
    base.update(fields)
    return base


# --- verify ------------------------------------------------------------------------------


def test_a_body_signed_with_the_channel_secret_is_accepted(channel, account) -> None:
    body = payload(event(message={"id": "1", "type": "text", "text": "こんにちは"}))
    channel.verify(account, webhook(body, {"x-line-signature": line_signature(SECRET, body)}))


def test_a_request_without_signature_is_refused_as_missing(channel, account) -> None:
    with pytest.raises(MissingSignature):
        channel.verify(account, webhook(payload()))


def test_an_empty_signature_header_is_refused_as_missing(channel, account) -> None:
    with pytest.raises(MissingSignature):
        channel.verify(account, webhook(payload(), {"x-line-signature": ""}))


def test_a_signature_made_with_another_secret_is_refused(channel, account) -> None:
    body = payload()
    forged = line_signature("a-different-channel-secret", body)
    with pytest.raises(BadSignature):
        channel.verify(account, webhook(body, {"x-line-signature": forged}))


def test_a_signature_of_another_body_is_refused(channel, account) -> None:
    signed = line_signature(SECRET, payload())
    tampered = payload(event(message={"id": "1", "type": "text", "text": "injected"}))
    with pytest.raises(BadSignature):
        channel.verify(account, webhook(tampered, {"x-line-signature": signed}))


def test_the_signature_is_the_base64_digest_not_hex(channel, account) -> None:
    body = payload()
    hex_digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(BadSignature):
        channel.verify(account, webhook(body, {"x-line-signature": hex_digest}))


# --- parse -------------------------------------------------------------------------------


def test_a_text_message_event(channel, account) -> None:
    body = payload(
        event(
            message={
                "id": "444573844083572737",
                "type": "text",
                "text": "Hello, world",
                "quoteToken": "q3Plxr4AgKd",
            }
        )
    )
    [message] = channel.parse(account, webhook(body))
    assert message.external_id == "01FZ74A0TDDPYRVKNK77XKC3ZR"
    assert message.identities == (IdentityRef("line", USER),)
    assert message.occurred_at == datetime(2016, 5, 7, 13, 57, 59, 859000, tzinfo=UTC)
    assert message.kind == "text"
    assert message.text == "Hello, world"
    assert message.event is None
    assert message.reply_token == "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"


def test_an_image_message_has_its_type_as_kind_and_no_text(channel, account) -> None:
    image = {"id": "354718705033693859", "type": "image", "contentProvider": {"type": "line"}}
    [message] = channel.parse(account, webhook(payload(event(message=image))))
    assert (message.kind, message.text, message.event) == ("image", None, None)


def test_follow_and_unfollow_are_events(channel, account) -> None:
    follow = event("follow", webhookEventId="01FOLLOW", follow={"isUnblocked": False})
    unfollow = event("unfollow", webhookEventId="01UNFOLLOW")
    del unfollow["replyToken"]  # LINE gives no reply token to a user who left
    messages = channel.parse(account, webhook(payload(follow, unfollow)))
    assert [(m.external_id, m.kind, m.event) for m in messages] == [
        ("01FOLLOW", "event", "follow"),
        ("01UNFOLLOW", "event", "unfollow"),
    ]
    assert messages[0].reply_token == "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
    assert messages[1].reply_token is None


def test_a_redelivered_event_keeps_its_id_and_original_time(channel, account) -> None:
    text = {"id": "1", "type": "text", "text": "hi"}
    first = channel.parse(account, webhook(payload(event(message=text))))
    again = event(message=text, deliveryContext={"isRedelivery": True})
    redelivered = channel.parse(account, webhook(payload(again)))
    assert redelivered[0].external_id == first[0].external_id
    assert redelivered[0].occurred_at == first[0].occurred_at


def test_group_events_without_a_user_id_are_skipped(channel, account) -> None:
    anonymous = event(
        webhookEventId="01ANON",
        source={"type": "group", "groupId": "Ca56f94637c"},
        message={"id": "2", "type": "text", "text": "who am I"},
    )
    join = event("join", webhookEventId="01JOIN", source={"type": "room", "roomId": "Ra8dbf4"})
    known = event(
        webhookEventId="01KNOWN",
        source={"type": "group", "groupId": "Ca56f94637c", "userId": USER},
        message={"id": "3", "type": "text", "text": "it's me"},
    )
    messages = channel.parse(account, webhook(payload(anonymous, join, known)))
    assert [m.external_id for m in messages] == ["01KNOWN"]


def test_the_console_verify_request_has_no_events(channel, account) -> None:
    assert channel.parse(account, webhook(payload())) == []


def test_a_postback_is_an_event_carrying_its_data(channel, account) -> None:
    postback = event("postback", postback={"data": "action=buy&itemid=111"})
    [message] = channel.parse(account, webhook(payload(postback)))
    assert (message.kind, message.event, message.text) == (
        "event",
        "postback",
        "action=buy&itemid=111",
    )


def test_other_events_with_a_user_keep_lines_type_name(channel, account) -> None:
    unsend = event("unsend", unsend={"messageId": "325708"})
    del unsend["replyToken"]
    [message] = channel.parse(account, webhook(payload(unsend)))
    assert (message.kind, message.event, message.text) == ("event", "unsend", None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="invalid JSON"),
        pytest.param(b"\xff\xfe\x00", id="not UTF-8"),
        pytest.param(b"[]", id="a list"),
        pytest.param(b'{"destination": "U0"}', id="no events"),
        pytest.param(b'{"events": {}}', id="events not a list"),
        pytest.param(b'{"events": ["x"]}', id="an event not an object"),
    ],
)
def test_bodies_that_are_not_a_line_webhook_are_malformed(channel, account, body) -> None:
    with pytest.raises(MalformedPayload):
        channel.parse(account, webhook(body))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"message": None}, id="message event without message"),
        pytest.param({"message": {"id": "1", "type": "text"}}, id="text without text"),
        pytest.param({"timestamp": "1462629479859"}, id="timestamp as string"),
        pytest.param({"timestamp": True}, id="timestamp as boolean"),
        pytest.param({"webhookEventId": None}, id="no webhookEventId"),
        pytest.param({"source": "user"}, id="source not an object"),
        pytest.param({"source": {"type": "user", "userId": 7}}, id="userId not a string"),
        pytest.param({"type": None}, id="no type"),
    ],
)
def test_events_of_the_wrong_shape_are_malformed(channel, account, change) -> None:
    broken = event(message={"id": "1", "type": "text", "text": "hi"})
    broken.update(change)
    with pytest.raises(MalformedPayload):
        channel.parse(account, webhook(payload(broken)))


# --- hostile bodies, signed (issue 13): 400 with the reason, never a 500 -----------------

HI = {"id": "1", "type": "text", "text": "hi"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            deeply_nested_json(),
            "the body is not JSON: recursion limit exceeded",
            id="100,000-deep JSON",
        ),
        pytest.param(
            payload(event(timestamp=10**20, message=HI)),
            "the body holds the integer 100000000000000000000, beyond JSON's safe ±2**53",
            id="timestamp 10**20",
        ),
        pytest.param(
            payload(event(timestamp=-(10**20), message=HI)),
            "the body holds the integer -100000000000000000000",
            id="timestamp -10**20",
        ),
        pytest.param(
            payload(event(timestamp=10**15, message=HI)),
            "timestamp 1000000000000000 is not a time the message can have been sent at",
            id="timestamp in the year 33658",
        ),
        pytest.param(
            payload(event(timestamp=-1, message=HI)),
            "timestamp -1 is not a time the message can have been sent at",
            id="timestamp before 1970",
        ),
        pytest.param(
            payload(event(message={"id": "1", "type": "text", "text": "\ud800"})),
            "the body is not JSON: ",
            id="lone surrogate in the text",
        ),
        pytest.param(
            payload(event(source={"type": "user", "userId": "U\ud800"}, message=HI)),
            "the body is not JSON: ",
            id="lone surrogate in the userId",
        ),
        pytest.param(b'{"events": [], "x": NaN}', "the body is not JSON: ", id="NaN"),
        pytest.param(
            b'{"events": [], "x": 1e400}', "the body holds a number too large", id="1e400"
        ),
    ],
)
def test_hostile_bodies_are_malformed_with_the_reason(channel, account, body, reason) -> None:
    with pytest.raises(MalformedPayload) as refused:
        channel.parse(account, webhook(body))
    assert str(refused.value).startswith(reason)


def test_a_time_within_a_day_of_arrival_is_a_providers_clock_running_ahead(
    channel, account
) -> None:
    ahead = int((RECEIVED + timedelta(hours=23)).timestamp() * 1000)
    [message] = channel.parse(account, webhook(payload(event(timestamp=ahead, message=HI))))
    assert message.occurred_at == RECEIVED + timedelta(hours=23)
    later = int((RECEIVED + timedelta(hours=25)).timestamp() * 1000)
    with pytest.raises(MalformedPayload):
        channel.parse(account, webhook(payload(event(timestamp=later, message=HI))))


# --- send --------------------------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, seen: list[httpx.Request]) -> httpx.Client:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(record))


def sent(message_id: str) -> Handler:
    return lambda request: httpx.Response(
        200, json={"sentMessages": [{"id": message_id, "quoteToken": "IStG5h1Tz7b"}]}
    )


def test_a_reply_goes_to_the_reply_api_with_the_token(channel, account) -> None:
    seen: list[httpx.Request] = []
    sent_id = channel.send(
        account,
        IdentityRef("line", USER),
        "ありがとうございます",
        client=client_for(sent("461230966842064897"), seen),
        reply_token="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
    )
    [request] = seen
    assert sent_id == "461230966842064897"
    assert request.method == "POST"
    assert str(request.url) == "https://api.line.me/v2/bot/message/reply"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    # LINE refuses a retry key on the reply API with 400.
    assert "x-line-retry-key" not in request.headers
    assert json.loads(request.content) == {
        "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        "messages": [{"type": "text", "text": "ありがとうございます"}],
    }


def test_without_a_reply_token_the_push_api_is_used_with_a_retry_key(channel, account) -> None:
    seen: list[httpx.Request] = []
    sent_id = channel.send(
        account,
        IdentityRef("line", USER),
        "Your order has shipped",
        client=client_for(sent("42"), seen),
    )
    [request] = seen
    assert sent_id == "42"
    assert str(request.url) == "https://api.line.me/v2/bot/message/push"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    retry_key = request.headers["x-line-retry-key"]
    assert str(uuid.UUID(retry_key)) == retry_key  # LINE wants a hexadecimal UUID
    assert json.loads(request.content) == {
        "to": USER,
        "messages": [{"type": "text", "text": "Your order has shipped"}],
    }


def test_an_accounts_api_base_is_where_push_and_reply_go(channel: LineChannel) -> None:
    values = {"channel": "line", "market": "JP", "channel_secret": SECRET, "access_token": TOKEN}
    gateway = validate_account(
        channel, "line_jp", {**values, "api_base": "http://127.0.0.1:8123/line/"}
    )
    seen: list[httpx.Request] = []
    client = client_for(sent("7"), seen)

    channel.send(gateway, IdentityRef("line", USER), "push", client=client)
    channel.send(gateway, IdentityRef("line", USER), "reply", client=client, reply_token="t")

    assert [str(request.url) for request in seen] == [
        "http://127.0.0.1:8123/line/v2/bot/message/push",
        "http://127.0.0.1:8123/line/v2/bot/message/reply",
    ]


@pytest.mark.parametrize("base", ["api.line.me", "ftp://api.line.me", "https://api.line.me?x=1"])
def test_an_api_base_that_is_no_http_address_is_refused(channel: LineChannel, base: str) -> None:
    values = {"channel": "line", "market": "JP", "channel_secret": SECRET, "access_token": TOKEN}
    with pytest.raises(pydantic.ValidationError, match="api_base"):
        validate_account(channel, "line_jp", {**values, "api_base": base})


def test_a_retried_push_reuses_its_retry_key(channel, account) -> None:
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(500, json={"message": "Internal error"}), None])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers) or sent("43")(request)

    client = client_for(flaky, seen)
    recipient = IdentityRef("line", USER)
    with pytest.raises(SendError) as failure:
        channel.send(account, recipient, "Reminder", client=client)
    assert failure.value.retryable
    assert channel.send(account, recipient, "Reminder", client=client) == "43"
    assert seen[0].headers["x-line-retry-key"] == seen[1].headers["x-line-retry-key"]


def test_a_new_send_after_a_success_gets_a_new_retry_key(channel, account) -> None:
    seen: list[httpx.Request] = []
    client = client_for(sent("44"), seen)
    channel.send(account, IdentityRef("line", USER), "Thanks!", client=client)
    channel.send(account, IdentityRef("line", USER), "Thanks!", client=client)
    assert seen[0].headers["x-line-retry-key"] != seen[1].headers["x-line-retry-key"]


def test_a_refused_push_does_not_keep_its_retry_key(channel, account) -> None:
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(400, json={"message": "The request body has 1 error(s)"}), None])

    def refuse_once(request: httpx.Request) -> httpx.Response:
        return next(answers) or sent("45")(request)

    client = client_for(refuse_once, seen)
    with pytest.raises(SendError):
        channel.send(account, IdentityRef("line", USER), "Hi", client=client)
    channel.send(account, IdentityRef("line", USER), "Hi", client=client)
    assert seen[0].headers["x-line-retry-key"] != seen[1].headers["x-line-retry-key"]


def test_a_push_already_accepted_under_its_retry_key_is_a_success(channel, account) -> None:
    seen: list[httpx.Request] = []
    answers = iter(
        [
            httpx.Response(503, text="Service Unavailable"),
            httpx.Response(
                409,
                json={
                    "message": "The retry key is already accepted",
                    "sentMessages": [{"id": "461230966842064897"}],
                },
                headers={"x-line-accepted-request-id": "123e4567-e89b-12d3-a456-426614174000"},
            ),
        ]
    )
    client = client_for(lambda request: next(answers), seen)
    with pytest.raises(SendError):
        channel.send(account, IdentityRef("line", USER), "Receipt", client=client)
    assert channel.send(account, IdentityRef("line", USER), "Receipt", client=client) == (
        "461230966842064897"
    )


def test_an_accepted_push_409_without_sent_messages_returns_the_accepted_request(
    channel, account
) -> None:
    accepted = httpx.Response(
        409,
        json={"message": "The retry key is already accepted"},
        headers={"x-line-accepted-request-id": "123e4567-e89b-12d3-a456-426614174000"},
    )
    client = client_for(lambda request: accepted, [])
    assert (
        channel.send(account, IdentityRef("line", USER), "Receipt", client=client)
        == "123e4567-e89b-12d3-a456-426614174000"
    )


def test_a_409_without_the_accepted_request_header_is_an_error(channel, account) -> None:
    client = client_for(lambda request: httpx.Response(409, json={"message": "Conflict"}), [])
    with pytest.raises(SendError, match="409") as failure:
        channel.send(account, IdentityRef("line", USER), "Receipt", client=client)
    assert not failure.value.retryable


@pytest.mark.parametrize(
    ("status", "message", "retryable"),
    [
        (400, "Invalid reply token", False),
        (401, "Authentication failed due to the following reason: invalid token.", False),
        (403, "Not authorized to use this API", False),
        (429, "You have reached your monthly limit.", True),
        (500, "Internal server error", True),
    ],
)
def test_line_errors_say_whether_to_retry(channel, account, status, message, retryable) -> None:
    client = client_for(lambda request: httpx.Response(status, json={"message": message}), [])
    with pytest.raises(SendError) as failure:
        channel.send(account, IdentityRef("line", USER), "Hi", client=client, reply_token="r-token")
    assert failure.value.retryable is retryable
    assert str(status) in str(failure.value)
    assert message in str(failure.value)


def test_error_details_name_the_wrong_property(channel, account) -> None:
    refusal = {
        "message": "The request body has 1 error(s)",
        "details": [
            {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
        ],
    }
    client = client_for(lambda request: httpx.Response(400, json=refusal), [])
    with pytest.raises(SendError, match=r"messages\[0\]\.text: Length must be between 0 and 5000"):
        channel.send(account, IdentityRef("line", USER), "x" * 5001, client=client)


def test_a_timeout_is_retryable(channel, account) -> None:
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SendError) as failure:
        channel.send(account, IdentityRef("line", USER), "Hi", client=client_for(time_out, []))
    assert failure.value.retryable


def test_a_push_that_timed_out_is_retried_under_the_same_key(channel, account) -> None:
    seen: list[httpx.Request] = []
    attempts = iter([True, False])

    def slow_then_fine(request: httpx.Request) -> httpx.Response:
        if next(attempts):
            raise httpx.ConnectTimeout("timed out", request=request)
        return sent("46")(request)

    client = client_for(slow_then_fine, seen)
    with pytest.raises(SendError):
        channel.send(account, IdentityRef("line", USER), "Hi", client=client)
    channel.send(account, IdentityRef("line", USER), "Hi", client=client)
    assert seen[0].headers["x-line-retry-key"] == seen[1].headers["x-line-retry-key"]


def test_only_line_identities_can_be_sent_to(channel, account) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(SendError) as failure:
        channel.send(
            account, IdentityRef("phone", "+81312345678"), "Hi", client=client_for(sent("1"), seen)
        )
    assert not failure.value.retryable
    assert seen == []


# --- settings and registration -----------------------------------------------------------


def test_account_secrets_are_secret_strings(account) -> None:
    assert account.credentials.channel_secret.get_secret_value() == SECRET
    assert SECRET not in repr(account.credentials)
    assert TOKEN not in repr(account.credentials)


def test_an_account_without_access_token_is_refused(channel) -> None:
    with pytest.raises(pydantic.ValidationError, match="access_token"):
        validate_account(
            channel, "line_jp", {"channel": "line", "market": "JP", "channel_secret": SECRET}
        )


def test_the_plugin_registers_the_line_channel() -> None:
    [channel] = line_plugin.register_channels()
    assert isinstance(channel, LineChannel)
    assert channel.name == "line"
    assert channel.identity_kinds == ("line",)
    assert channel.replies_in_response is False


# --- the conformance driver agrees with the channel --------------------------------------


@pytest.fixture
def driver() -> LineDriver:
    return LineDriver()


@pytest.fixture
def driver_account(driver: LineDriver) -> ChannelAccount:
    return driver.account("line_jp")


def as_webhook(signed: SignedRequest) -> WebhookRequest:
    return signed.webhook("https://crm.example.jp/webhooks/line/line_jp", received_at=RECEIVED)


def test_the_drivers_signature_is_accepted(driver, driver_account) -> None:
    signed = driver.text_message(
        "https://crm.example.jp/webhooks/line/line_jp",
        sender=USER,
        text="driver",
        message_id="01DRIVER",
        at=RECEIVED,
    )
    driver.channel.verify(driver_account, as_webhook(signed))
    [message] = driver.channel.parse(driver_account, as_webhook(signed))
    assert message.identities[0] == driver.sender_identity(USER)
    assert (message.external_id, message.text, message.occurred_at) == (
        "01DRIVER",
        "driver",
        RECEIVED,
    )


def test_the_drivers_stripped_and_forged_requests_are_refused(driver, driver_account) -> None:
    signed = driver.sign("https://crm.example.jp/", payload(), at=RECEIVED)
    with pytest.raises(MissingSignature):
        driver.channel.verify(driver_account, as_webhook(driver.strip_signature(signed)))
    with pytest.raises(BadSignature):
        driver.channel.verify(driver_account, as_webhook(driver.forge_signature(signed)))


def test_the_drivers_malformed_body_is_signed_but_malformed(driver, driver_account) -> None:
    signed = driver.malformed("https://crm.example.jp/", at=RECEIVED)
    driver.channel.verify(driver_account, as_webhook(signed))
    with pytest.raises(MalformedPayload):
        driver.channel.parse(driver_account, as_webhook(signed))


def test_the_drivers_api_accepts_a_push_and_reads_its_text(driver, driver_account) -> None:
    seen: list[httpx.Request] = []
    client = client_for(driver.provider_api, seen)
    sent_id = driver.channel.send(
        driver_account, IdentityRef("line", USER), "おはよう", client=client
    )
    assert sent_id
    assert driver.sent_text(seen[0]) == "おはよう"


def test_a_retry_key_older_than_lines_24_hours_is_not_reused(channel, account) -> None:
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(500, json={"message": "Internal error"}), None])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers) or sent("47")(request)

    client = client_for(flaky, seen)
    with pytest.raises(SendError):
        channel.send(account, IdentityRef("line", USER), "Late", client=client)
    channel._retry_keys.lifetime = timedelta(0)  # as if the day had passed
    channel.send(account, IdentityRef("line", USER), "Late", client=client)
    assert seen[0].headers["x-line-retry-key"] != seen[1].headers["x-line-retry-key"]
