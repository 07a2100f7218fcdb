"""The WhatsApp Cloud API channel against Meta's documented protocol.

Signatures are computed here from the documented formula (hex HMAC-SHA256 of the raw body,
keyed with the app secret), never by the code under test. Payloads follow the shapes of
Meta's messages-webhook reference.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pluggy
import pytest
from pydantic import ValidationError

import regiocrm.plugins.channels.whatsapp as whatsapp_plugin
from regiocrm import hookspecs
from regiocrm.interfaces.channels import (
    BadSignature,
    ChannelAccount,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Receipt,
    ReceiptStatus,
    SendError,
    WebhookRequest,
    validate_account,
)
from regiocrm.plugins.channels.whatsapp import WhatsAppChannel
from regiocrm.plugins.channels.whatsapp.testing import WhatsAppDriver
from regiocrm.testing.channels import SignedRequest

APP_SECRET = "app-secret-for-tests"
VERIFY_TOKEN = "verify-me-please"
ACCESS_TOKEN = "EAAtest-access-token"
PHONE_NUMBER_ID = "106540352242922"
URL = "https://crm.example.com.au/webhooks/whatsapp/wa-au"
RECEIVED = datetime(2026, 3, 9, 1, 2, 3, tzinfo=UTC)

CHANNEL = WhatsAppChannel()


def make_account(**overrides: Any) -> ChannelAccount:
    values = {
        "channel": "whatsapp",
        "market": "AU",
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": ACCESS_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        **overrides,
    }
    return validate_account(CHANNEL, "wa-au", values)


ACCOUNT = make_account()


def request(
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    method: str = "POST",
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        url=URL,
        query=query or {},
        headers=headers or {},
        body=body,
        received_at=RECEIVED,
    )


def signed(body: bytes, secret: str = APP_SECRET) -> WebhookRequest:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return request(body, headers={"x-hub-signature-256": f"sha256={digest}"})


def notification(*values: dict[str, Any], field: str = "messages") -> bytes:
    changes = [{"field": field, "value": value} for value in values]
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": changes}],
        }
    ).encode()


def value(
    *,
    messages: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    **extra: Any,
) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "61491570156", "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        shaped["contacts"] = contacts
    if messages is not None:
        shaped["messages"] = messages
    return {**shaped, **extra}


def text_message(
    sender: str, wamid: str, body: str, timestamp: str = "1741482123"
) -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": timestamp,
        "type": "text",
        "text": {"body": body},
    }


def parse(body: bytes) -> list[InboundMessage]:
    return CHANNEL.parse(ACCOUNT, signed(body))


# --- settings and registration ---------------------------------------------------------


def test_the_plugin_registers_the_channel() -> None:
    # A manager with the specs and this plugin alone: whether the core lists it among the
    # built-ins is the core's business, what it registers is the plugin's.
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(whatsapp_plugin)
    [[channel]] = pm.hook.register_channels()
    assert isinstance(channel, WhatsAppChannel)
    assert channel.name == "whatsapp"


def test_settings_keep_secrets_secret() -> None:
    assert APP_SECRET not in repr(ACCOUNT.credentials)
    assert ACCOUNT.credentials.api_version == "v21.0"


@pytest.mark.parametrize("version", ["21.0", "v21", "v21.0.1", "latest"])
def test_settings_refuse_a_malformed_graph_version(version: str) -> None:
    with pytest.raises(ValidationError, match="Graph API version"):
        make_account(api_version=version)


def test_settings_refuse_a_phone_number_instead_of_its_id() -> None:
    with pytest.raises(ValidationError, match="phone number ID"):
        make_account(phone_number_id="+61 491 570 156")


# --- URL check (GET) -------------------------------------------------------------------


def hub(**params: str) -> WebhookRequest:
    return request(query={f"hub.{k}": v for k, v in params.items()}, method="GET")


def test_handshake_echoes_the_challenge_for_the_right_token() -> None:
    response = CHANNEL.handshake(
        ACCOUNT, hub(mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1158201444")
    )
    assert (response.status, response.body) == (200, b"1158201444")


def test_handshake_without_a_token_is_missing_signature() -> None:
    with pytest.raises(MissingSignature):
        CHANNEL.handshake(ACCOUNT, hub(mode="subscribe", challenge="1158201444"))


def test_handshake_with_a_wrong_token_is_bad_signature() -> None:
    with pytest.raises(BadSignature):
        CHANNEL.handshake(
            ACCOUNT, hub(mode="subscribe", verify_token="guess", challenge="1158201444")
        )


def test_handshake_needs_subscribe_mode() -> None:
    with pytest.raises(MalformedPayload):
        CHANNEL.handshake(
            ACCOUNT, hub(mode="unsubscribe", verify_token=VERIFY_TOKEN, challenge="1")
        )


# --- signature -------------------------------------------------------------------------


BODY = notification(value(messages=[text_message("61412345678", "wamid.A", "G'day")]))


def test_a_correctly_signed_body_passes() -> None:
    CHANNEL.verify(ACCOUNT, signed(BODY))


def test_a_fixed_vector_passes() -> None:
    # Computed outside Python:
    # printf '%s' '{"object":"x"}' | openssl dgst -sha256 -hmac app-secret-for-tests
    header = "sha256=47a96b7cc034b83e43a8531f7cae41e91a863c33b7df10aa1b6246c747c804c2"
    CHANNEL.verify(ACCOUNT, request(b'{"object":"x"}', headers={"x-hub-signature-256": header}))


def test_a_missing_signature_is_refused() -> None:
    with pytest.raises(MissingSignature):
        CHANNEL.verify(ACCOUNT, request(BODY))


def test_a_signature_made_with_another_secret_is_refused() -> None:
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, signed(BODY, secret="not-the-app-secret"))


def test_a_signature_of_another_body_is_refused() -> None:
    forged = signed(BODY.replace(b"G'day", b"Hello"))
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, request(BODY, headers=dict(forged.headers)))


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + hmac.new(APP_SECRET.encode(), BODY, hashlib.sha1).hexdigest(),
        hmac.new(APP_SECRET.encode(), BODY, hashlib.sha256).hexdigest(),  # no "sha256="
        "sha256=",
        "sha256=zz",
    ],
)
def test_a_malformed_signature_header_is_refused(header: str) -> None:
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, request(BODY, headers={"x-hub-signature-256": header}))


def test_the_raw_bytes_are_verified_not_a_reserialisation() -> None:
    # Meta escapes non-ASCII (\u00e9); the same JSON written as UTF-8 is different bytes.
    escaped = b'{"object":"whatsapp_business_account","entry":[],"x":"caf\\u00e9"}'
    CHANNEL.verify(ACCOUNT, signed(escaped))
    reencoded = json.dumps(json.loads(escaped), ensure_ascii=False).encode()
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, request(reencoded, headers=dict(signed(escaped).headers)))


# --- parsing ---------------------------------------------------------------------------


def test_a_text_message() -> None:
    body = notification(
        value(
            contacts=[{"profile": {"name": "Kerry Fisher"}, "wa_id": "61412345678"}],
            messages=[
                text_message(
                    "61412345678", "wamid.HBgLNjE0MTIzNDU2NzgVAgASGBQz", "Where's my order?"
                )
            ],
        )
    )
    assert parse(body) == [
        InboundMessage(
            external_id="wamid.HBgLNjE0MTIzNDU2NzgVAgASGBQz",
            identities=(
                IdentityRef("whatsapp", "61412345678"),
                IdentityRef("phone", "+61412345678"),
            ),
            occurred_at=datetime(2025, 3, 9, 1, 2, 3, tzinfo=UTC),
            kind="text",
            text="Where's my order?",
            display_name="Kerry Fisher",
        )
    ]


def test_escaped_unicode_text_is_decoded() -> None:
    body = notification(value(messages=[text_message("61412345678", "wamid.U", "café 👍")]))
    assert b"\\u00e9" in body  # json.dumps escapes as Meta does
    assert parse(body)[0].text == "café 👍"


def test_an_image_with_a_caption() -> None:
    image = {
        "from": "61412345678",
        "id": "wamid.IMG",
        "timestamp": "1741482123",
        "type": "image",
        "image": {
            "caption": "the broken part",
            "mime_type": "image/jpeg",
            "sha256": "IQTPaJWjFk1Hqp0jXnqpqg8Cz5i5Og3QGoFe7kJQ0vU=",
            "id": "1479537139650973",
        },
    }
    [message] = parse(notification(value(messages=[image])))
    assert (message.kind, message.text, message.external_id) == (
        "image",
        "the broken part",
        "wamid.IMG",
    )


def test_an_image_without_a_caption_has_no_text() -> None:
    image = {
        "from": "61412345678",
        "id": "wamid.IMG2",
        "timestamp": "1741482123",
        "type": "image",
        "image": {"mime_type": "image/jpeg", "sha256": "x", "id": "1"},
    }
    [message] = parse(notification(value(messages=[image])))
    assert (message.kind, message.text) == ("image", None)


def test_button_and_interactive_replies_carry_their_label() -> None:
    button = {
        "from": "61412345678",
        "id": "wamid.BTN",
        "timestamp": "1741482123",
        "type": "button",
        "button": {"payload": "CONFIRM_BOOKING", "text": "Confirm"},
        "context": {"from": "61491570156", "id": "wamid.SENT"},
    }
    listed = {
        "from": "61412345678",
        "id": "wamid.LIST",
        "timestamp": "1741482123",
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {"id": "store-42", "title": "Parramatta", "description": "Church St"},
        },
    }
    pressed = {
        "from": "61412345678",
        "id": "wamid.IBTN",
        "timestamp": "1741482123",
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
    }
    messages = parse(notification(value(messages=[button, listed, pressed])))
    assert [(m.kind, m.text) for m in messages] == [
        ("button", "Confirm"),
        ("interactive", "Parramatta"),
        ("interactive", "Yes"),
    ]


def test_delivery_receipts_give_no_messages() -> None:
    status = {
        "id": "wamid.SENT",
        "status": "delivered",
        "timestamp": "1741482123",
        "recipient_id": "61412345678",
        "conversation": {"id": "c1", "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
    }
    assert parse(notification(value(statuses=[status]))) == []


def test_other_fields_give_no_messages() -> None:
    template_update = {"event": "APPROVED", "message_template_id": 1, "message_template_name": "x"}
    assert parse(notification(template_update, field="message_template_status_update")) == []


def test_several_messages_and_contacts_in_one_notification() -> None:
    body = notification(
        value(
            contacts=[
                {"profile": {"name": "Kerry"}, "wa_id": "61412345678"},
                {"profile": {"name": "Alex"}, "wa_id": "61491570006"},
            ],
            messages=[
                text_message("61412345678", "wamid.1", "one", "1741482123"),
                text_message("61491570006", "wamid.2", "two", "1741482124"),
                text_message("61412345678", "wamid.3", "three", "1741482125"),
            ],
        )
    )
    messages = parse(body)
    assert [(m.external_id, m.text, m.display_name) for m in messages] == [
        ("wamid.1", "one", "Kerry"),
        ("wamid.2", "two", "Alex"),
        ("wamid.3", "three", "Kerry"),
    ]
    assert messages[1].identities == (
        IdentityRef("whatsapp", "61491570006"),
        IdentityRef("phone", "+61491570006"),
    )
    assert messages[2].occurred_at == datetime.fromtimestamp(1741482125, UTC)


def test_a_sender_without_a_contact_entry_has_no_display_name() -> None:
    [message] = parse(notification(value(messages=[text_message("61412345678", "wamid.N", "hi")])))
    assert message.display_name is None


def test_messages_for_another_number_of_the_app_are_ignored() -> None:
    body = notification(
        value(
            messages=[text_message("61412345678", "wamid.OTHER", "not yours")],
            phone_number_id="999",
        ),
        value(messages=[text_message("61412345678", "wamid.MINE", "yours")]),
    )
    assert [m.external_id for m in parse(body)] == ["wamid.MINE"]


@pytest.mark.parametrize(
    "body",
    [
        b"<<not the provider's format>>",
        b"",
        b"\xff\xfe not utf-8",
        b"[]",
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": "nope"}]}',
    ],
)
def test_a_body_that_is_not_a_notification_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse(body)


@pytest.mark.parametrize(
    "broken",
    [
        {"id": "wamid.X", "timestamp": "1741482123", "type": "text", "text": {"body": "no from"}},
        {"from": "61412345678", "id": "wamid.X", "timestamp": "soon", "type": "text"},
        {"from": "61412345678", "timestamp": "1741482123", "type": "text"},
    ],
)
def test_a_message_of_the_wrong_shape_is_malformed(broken: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload):
        parse(notification(value(messages=[broken])))


def test_a_messages_change_without_metadata_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        parse(notification({"messages": [text_message("61412345678", "wamid.X", "hi")]}))


@pytest.mark.parametrize(
    ("timestamp", "shown"),
    [
        pytest.param(str(10**12), "1000000000000", id="10**12 s: the year 33658"),
        pytest.param("-1", "-1", id="before 1970"),
        pytest.param(str(int(RECEIVED.timestamp()) + 2 * 86400), None, id="two days ahead"),
    ],
)
def test_a_time_no_message_was_sent_at_is_malformed(timestamp: str, shown: str | None) -> None:
    """Signed but hostile: 400 naming the field, where the year 33658 was a 500."""
    message = text_message("61412345678", "wamid.X", "hi", timestamp=timestamp)
    shown = shown or timestamp
    with pytest.raises(MalformedPayload, match=f"^timestamp {shown} is not a time"):
        parse(notification(value(messages=[message])))
    receipt = {"id": "wamid.S", "status": "read", "timestamp": timestamp, "recipient_id": "1"}
    with pytest.raises(MalformedPayload, match=f"^status timestamp {shown} is not a time"):
        CHANNEL.receipts(ACCOUNT, signed(notification(value(statuses=[receipt]))))


# --- sending ---------------------------------------------------------------------------


def client_answering(
    answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler))


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "61412345678", "wa_id": "61412345678"}],
            "messages": [{"id": "wamid.HBgLNjE0MTIzNDU2NzgVAgARGBI2"}],
        },
    )


@pytest.mark.parametrize(
    "recipient",
    [IdentityRef("whatsapp", "61412345678"), IdentityRef("phone", "+61412345678")],
)
def test_send_posts_a_text_message_to_the_graph_api(recipient: IdentityRef) -> None:
    seen: list[httpx.Request] = []
    wamid = CHANNEL.send(
        ACCOUNT, recipient, "Your order shipped", client=client_answering(accepted, seen)
    )
    assert wamid == "wamid.HBgLNjE0MTIzNDU2NzgVAgARGBI2"
    [sent] = seen
    assert sent.method == "POST"
    assert str(sent.url) == f"https://graph.facebook.com/v21.0/{PHONE_NUMBER_ID}/messages"
    assert sent.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "61412345678",
        "type": "text",
        "text": {"body": "Your order shipped"},
    }


def test_send_uses_the_configured_graph_version() -> None:
    seen: list[httpx.Request] = []
    CHANNEL.send(
        make_account(api_version="v23.0"),
        IdentityRef("whatsapp", "61412345678"),
        "hi",
        client=client_answering(accepted, seen),
    )
    assert seen[0].url.path == f"/v23.0/{PHONE_NUMBER_ID}/messages"


def test_send_refuses_an_identity_it_cannot_address() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(SendError) as caught:
        CHANNEL.send(
            ACCOUNT,
            IdentityRef("email", "kerry@example.com"),
            "hi",
            client=client_answering(accepted, seen),
        )
    assert not caught.value.retryable
    assert "kerry@example.com" not in str(caught.value)
    assert seen == []


def graph_error(status: int, code: int, message: str, subcode: int | None = None) -> httpx.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(
    ("status", "code", "message", "retryable"),
    [
        (400, 131047, "Re-engagement message", False),
        (400, 131026, "Message undeliverable", False),
        (401, 190, "Error validating access token: Session has expired", False),
        (400, 100, "Invalid parameter", False),
        (400, 4, "(#4) Application request limit reached", True),
        (400, 80007, "(#80007) Rate limit issues", True),
        (400, 130429, "(#130429) Rate limit hit", True),
        (400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", True),
        (500, 131000, "Something went wrong", True),
        (503, 131016, "Service unavailable", True),
    ],
)
def test_send_maps_graph_errors_by_code(
    status: int, code: int, message: str, retryable: bool
) -> None:
    client = client_answering(lambda _: graph_error(status, code, message, subcode=2494010), [])
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, IdentityRef("whatsapp", "61412345678"), "hi", client=client)
    assert caught.value.retryable is retryable
    assert str(code) in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(("status", "retryable"), [(502, True), (429, True), (404, False)])
def test_send_maps_errors_without_a_graph_body_by_status(status: int, retryable: bool) -> None:
    client = client_answering(lambda _: httpx.Response(status, text="<html>gateway</html>"), [])
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, IdentityRef("whatsapp", "61412345678"), "hi", client=client)
    assert caught.value.retryable is retryable
    assert str(status) in str(caught.value)


def test_a_timeout_is_retryable() -> None:
    def times_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SendError) as caught:
        CHANNEL.send(
            ACCOUNT,
            IdentityRef("whatsapp", "61412345678"),
            "hi",
            client=client_answering(times_out, []),
        )
    assert caught.value.retryable


def test_an_accepted_send_without_an_id_is_not_retried() -> None:
    client = client_answering(lambda _: httpx.Response(200, json={"messages": []}), [])
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, IdentityRef("whatsapp", "61412345678"), "hi", client=client)
    assert not caught.value.retryable


# --- the conformance driver agrees with the channel ------------------------------------


DRIVER = WhatsAppDriver()


def driven(signed_request: SignedRequest) -> WebhookRequest:
    return signed_request.webhook(URL, received_at=RECEIVED)


def test_driver_requests_pass_verification_and_parse() -> None:
    account = DRIVER.account("wa-au")
    at = datetime(2026, 3, 9, 1, 2, 3, tzinfo=UTC)
    sent = DRIVER.text_message(URL, sender="61412345678", text="héllo", message_id="wamid.D", at=at)
    DRIVER.channel.verify(account, driven(sent))
    [message] = DRIVER.channel.parse(account, driven(sent))
    assert (message.external_id, message.text, message.occurred_at) == ("wamid.D", "héllo", at)
    assert message.identities[0] == DRIVER.sender_identity("61412345678")
    with pytest.raises(MissingSignature):
        DRIVER.channel.verify(account, driven(DRIVER.strip_signature(sent)))
    with pytest.raises(BadSignature):
        DRIVER.channel.verify(account, driven(DRIVER.forge_signature(sent)))
    with pytest.raises(MalformedPayload):
        DRIVER.channel.parse(account, driven(DRIVER.malformed(URL, at=at)))


def test_driver_handshake_and_api_agree_with_the_channel() -> None:
    account = DRIVER.account("wa-au")
    handshake = DRIVER.handshake(URL, at=RECEIVED)
    assert handshake is not None
    check, expected = handshake
    assert DRIVER.channel.handshake(account, driven(check)).body == expected
    seen: list[httpx.Request] = []
    client = client_answering(DRIVER.provider_api, seen)
    wamid = DRIVER.channel.send(account, DRIVER.sender_identity("61412345678"), "hi", client=client)
    assert wamid.startswith("wamid.")
    assert DRIVER.sent_text(seen[0]) == "hi"


def test_delivery_receipts_say_what_became_of_each_message() -> None:
    driver = WhatsAppDriver()
    at = datetime(2026, 3, 9, 1, 5, tzinfo=UTC)
    delivered = driver.status_body(wamid="wamid.A", status="delivered", recipient="61", at=at)
    failed = driver.status_body(
        wamid="wamid.B", status="failed", recipient="61", at=at, error=131026
    )
    sent = driver.status_body(wamid="wamid.C", status="sent", recipient="61", at=at)
    assert CHANNEL.receipts(ACCOUNT, request(delivered)) == [
        Receipt("wamid.A", ReceiptStatus.DELIVERED, at)
    ]
    assert CHANNEL.receipts(ACCOUNT, request(failed)) == [
        Receipt("wamid.B", ReceiptStatus.FAILED, at, "131026 Message undeliverable")
    ]
    assert CHANNEL.receipts(ACCOUNT, request(sent)) == []
    assert CHANNEL.parse(ACCOUNT, request(delivered)) == []
    other_number = make_account(phone_number_id="999")
    assert CHANNEL.receipts(other_number, request(delivered)) == []


def test_receipts_of_a_body_that_is_not_a_notification_are_refused() -> None:
    with pytest.raises(MalformedPayload):
        CHANNEL.receipts(ACCOUNT, request(b'{"object": "page", "entry": []}'))
