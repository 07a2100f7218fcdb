"""The Twilio SMS channel against Twilio's documented protocol.

Signatures are either fixed vectors published by Twilio (its security docs and the
twilio-python test suite) or computed here from the documented formula, never by the code
under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pluggy
import pytest
from pydantic import ValidationError

import regiocrm.plugins.channels.sms as sms_plugin
from regiocrm import hookspecs
from regiocrm.interfaces.channels import (
    BadSignature,
    ChannelAccount,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Reply,
    SendError,
    WebhookRequest,
    validate_account,
)
from regiocrm.plugins.channels.sms import SmsChannel
from regiocrm.plugins.channels.sms.testing import SmsDriver
from regiocrm.testing.channels import SignedRequest

AUTH_TOKEN = "12345"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+61491570156"
URL = "https://crm.example.com.au/webhooks/sms/sms-au"
RECEIVED = datetime(2026, 3, 9, 1, 2, 3, tzinfo=UTC)

CHANNEL = SmsChannel()


def make_account(**overrides: Any) -> ChannelAccount:
    values = {
        "channel": "sms",
        "market": "AU",
        "auth_token": AUTH_TOKEN,
        "account_sid": ACCOUNT_SID,
        "from_number": FROM_NUMBER,
        **overrides,
    }
    return validate_account(CHANNEL, "sms-au", values)


ACCOUNT = make_account()


def request(
    body: bytes, *, url: str = URL, headers: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        query={},
        headers=headers or {},
        body=body,
        received_at=RECEIVED,
    )


def twilio_signature(token: str, url: str, fields: list[tuple[str, str]]) -> str:
    """The documented formula, written out independently of the channel."""
    signed = url + "".join(name + value for name, value in sorted(fields))
    return base64.b64encode(
        hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()


def signed(fields: dict[str, str], *, url: str = URL, token: str = AUTH_TOKEN) -> WebhookRequest:
    body = urlencode(fields).encode()
    signature = twilio_signature(token, url, list(fields.items()))
    return request(body, url=url, headers={"x-twilio-signature": signature})


def inbound(**fields: str) -> dict[str, str]:
    """An incoming-SMS webhook form as Twilio posts it."""
    return {
        "ToCountry": "AU",
        "SmsMessageSid": "SM1f0e4ed1d3a8f1e0b7a2c6d9e8f7a6b5",
        "NumMedia": "0",
        "SmsSid": "SM1f0e4ed1d3a8f1e0b7a2c6d9e8f7a6b5",
        "SmsStatus": "received",
        "Body": "Is the Parramatta store open on Sunday?",
        "FromCountry": "AU",
        "To": FROM_NUMBER,
        "MessagingServiceSid": "",
        "NumSegments": "1",
        "MessageSid": "SM1f0e4ed1d3a8f1e0b7a2c6d9e8f7a6b5",
        "AccountSid": ACCOUNT_SID,
        "From": "+61412345678",
        "ApiVersion": "2010-04-01",
        **fields,
    }


# --- settings and registration ---------------------------------------------------------


def test_the_plugin_registers_the_channel() -> None:
    # A manager with the specs and this plugin alone: whether the core lists it among the
    # built-ins is the core's business, what it registers is the plugin's.
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(sms_plugin)
    [[channel]] = pm.hook.register_channels()
    assert isinstance(channel, SmsChannel)
    assert channel.name == "sms"


def test_settings_normalise_the_number_and_hide_the_token() -> None:
    account = make_account(from_number="+61 491 570 156", auth_token="s3cr3t-token")
    assert account.credentials.from_number == "+61491570156"
    assert "s3cr3t-token" not in repr(account.credentials)


@pytest.mark.parametrize("number", ["0491 570 156", "+61 12", "not a number"])
def test_settings_refuse_a_number_that_is_not_e164(number: str) -> None:
    with pytest.raises(ValidationError, match="from_number"):
        make_account(from_number=number)


@pytest.mark.parametrize("sid", ["AC123", "SK" + "0" * 32, "AC" + "g" * 32])
def test_settings_refuse_a_malformed_account_sid(sid: str) -> None:
    with pytest.raises(ValidationError, match="Account SID"):
        make_account(account_sid=sid)


def test_settings_refuse_a_relative_webhook_url() -> None:
    with pytest.raises(ValidationError, match="absolute"):
        make_account(webhook_url="/webhooks/sms/sms-au")


# --- signature -------------------------------------------------------------------------

DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_FIELDS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
# Twilio's worked example (auth token 12345), as pinned by twilio-python's
# tests/unit/test_request_validator.py.
DOCS_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def docs_request(
    signature: str, *, url: str = DOCS_URL, body: bytes | None = None
) -> WebhookRequest:
    form = urlencode(DOCS_FIELDS).encode() if body is None else body
    return request(form, url=url, headers={"x-twilio-signature": signature})


def test_twilios_worked_example_verifies() -> None:
    CHANNEL.verify(ACCOUNT, docs_request(DOCS_SIGNATURE))


def test_twilios_worked_example_verifies_whatever_the_field_order() -> None:
    reordered = urlencode(dict(reversed(DOCS_FIELDS.items()))).encode()
    CHANNEL.verify(ACCOUNT, docs_request(DOCS_SIGNATURE, body=reordered))


def test_twilios_worked_example_fails_for_another_value() -> None:
    tampered = urlencode({**DOCS_FIELDS, "Digits": "9999"}).encode()
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, docs_request(DOCS_SIGNATURE, body=tampered))


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # twilio-python's vectors: the validator tries the URL without its port and with
        # the scheme's default port, since Twilio signs either.
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", DOCS_SIGNATURE),
        (DOCS_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # :80
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ],
)
def test_the_port_is_handled_as_twilio_python_does(url: str, signature: str) -> None:
    CHANNEL.verify(ACCOUNT, docs_request(signature, url=url))


def test_a_port_does_not_make_another_host_match() -> None:
    with pytest.raises(BadSignature):
        CHANNEL.verify(
            ACCOUNT,
            docs_request(DOCS_SIGNATURE, url="https://evil.example:443/myapp.php?foo=1&bar=2"),
        )


def test_repeated_fields_sign_every_value_in_order() -> None:
    # twilio-python's duplicate-parameter vector.
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    CHANNEL.verify(ACCOUNT, docs_request("IK+Dwps556ElfBT0I3Rgjkr1wJU=", body=body))


def test_a_correctly_signed_message_passes() -> None:
    CHANNEL.verify(ACCOUNT, signed(inbound()))


def test_empty_fields_are_signed_too() -> None:
    # "MessagingServiceSid=" is in the form: leaving it out of the signed string fails.
    fields = inbound(Body="")
    without_empty = [(k, v) for k, v in fields.items() if v]
    signature = twilio_signature(AUTH_TOKEN, URL, without_empty)
    with pytest.raises(BadSignature):
        CHANNEL.verify(
            ACCOUNT, request(urlencode(fields).encode(), headers={"x-twilio-signature": signature})
        )
    CHANNEL.verify(ACCOUNT, signed(fields))


def test_a_missing_signature_is_refused() -> None:
    with pytest.raises(MissingSignature):
        CHANNEL.verify(ACCOUNT, request(urlencode(inbound()).encode()))


def test_a_signature_made_with_another_token_is_refused() -> None:
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, signed(inbound(), token="54321"))


def test_a_signature_for_another_url_is_refused() -> None:
    good = signed(inbound(), url="https://crm.example.com.au/webhooks/sms/other")
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, request(good.body, headers=dict(good.headers)))


def test_the_configured_webhook_url_is_what_is_verified() -> None:
    public = "https://sms.example.com.au/hooks/twilio?account=sms-au"
    behind_proxy = make_account(webhook_url=public)
    as_twilio_called = signed(inbound(), url=public)
    seen_by_server = request(
        as_twilio_called.body,
        url="http://10.0.0.5:8000/webhooks/sms/sms-au",
        headers=dict(as_twilio_called.headers),
    )
    CHANNEL.verify(behind_proxy, seen_by_server)
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, seen_by_server)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(BadSignature):
        CHANNEL.verify(ACCOUNT, request(b"Body=\xff", headers={"x-twilio-signature": "x"}))


# --- parsing ---------------------------------------------------------------------------


def parse(fields: dict[str, str]) -> list[InboundMessage]:
    return CHANNEL.parse(ACCOUNT, signed(fields))


def test_an_sms() -> None:
    assert parse(inbound()) == [
        InboundMessage(
            external_id="SM1f0e4ed1d3a8f1e0b7a2c6d9e8f7a6b5",
            identities=(IdentityRef("phone", "+61412345678"),),
            occurred_at=RECEIVED,
            kind="text",
            text="Is the Parramatta store open on Sunday?",
        )
    ]


def test_form_encoding_is_decoded() -> None:
    body = b"MessageSid=SMx&From=%2B61412345678&Body=50%25+off%3F+%26+caf%C3%A9&NumMedia=0"
    [message] = CHANNEL.parse(ACCOUNT, request(body))
    assert (message.text, message.identities) == (
        "50% off? & café",
        (IdentityRef("phone", "+61412345678"),),
    )


def test_an_mms_takes_its_kind_from_the_first_attachment() -> None:
    fields = inbound(
        NumMedia="1",
        Body="",
        MediaContentType0="image/jpeg",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
    )
    [message] = parse(fields)
    assert (message.kind, message.text) == ("image", None)


def test_an_mms_with_a_caption_keeps_it() -> None:
    fields = inbound(NumMedia="1", Body="receipt attached", MediaContentType0="application/pdf")
    [message] = parse(fields)
    assert (message.kind, message.text) == ("file", "receipt attached")


def test_a_status_callback_gives_no_message() -> None:
    callback = {
        "MessageSid": "SM9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "To": "+61412345678",
        "From": FROM_NUMBER,
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
    }
    assert parse(callback) == []


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_a_form_without_sid_or_sender_is_malformed(missing: str) -> None:
    fields = inbound()
    del fields[missing]
    with pytest.raises(MalformedPayload, match=missing):
        parse(fields)


@pytest.mark.parametrize(
    "body",
    [
        b"<<not the provider's format>>",
        b"",
        b'{"MessageSid": "SM1", "From": "+61412345678"}',
        b"\xff",
    ],
)
def test_a_body_that_is_not_a_twilio_form_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        CHANNEL.parse(ACCOUNT, request(body))


def test_a_non_numeric_media_count_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        parse(inbound(NumMedia="many"))


# --- TwiML answer ----------------------------------------------------------------------


def test_no_reply_is_an_empty_response() -> None:
    [message] = parse(inbound())
    response = CHANNEL.respond(ACCOUNT, signed(inbound()), [message], [])
    assert (response.status, response.media_type) == (200, "application/xml")
    assert response.body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


def test_a_reply_is_an_escaped_message_verb() -> None:
    [message] = parse(inbound())
    reply = Reply(message, "Sun 10<16 & Mon-Fri café 9>17, see <b>site</b>")
    response = CHANNEL.respond(ACCOUNT, signed(inbound()), [message], [reply])
    assert response.media_type == "application/xml"
    assert (
        response.body
        == (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
            "Sun 10&lt;16 &amp; Mon-Fri café 9&gt;17, see &lt;b&gt;site&lt;/b&gt;"
            "</Message></Response>"
        ).encode()
    )


def test_characters_xml_cannot_carry_are_dropped() -> None:
    [message] = parse(inbound())
    response = CHANNEL.respond(
        ACCOUNT, signed(inbound()), [message], [Reply(message, "a\x00b\x1bc")]
    )
    assert b"<Message>abc</Message>" in response.body


def test_several_replies_are_several_messages() -> None:
    [message] = parse(inbound())
    replies = [Reply(message, "one"), Reply(message, "two")]
    response = CHANNEL.respond(ACCOUNT, signed(inbound()), [message], replies)
    assert response.body.endswith(
        b"<Response><Message>one</Message><Message>two</Message></Response>"
    )


# --- sending ---------------------------------------------------------------------------


def client_answering(
    answer: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler))


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201,
        json={
            "sid": "SM3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c",
            "status": "queued",
            "to": "+61412345678",
            "from": FROM_NUMBER,
            "body": "Your order shipped",
        },
    )


def test_send_creates_a_message_resource() -> None:
    seen: list[httpx.Request] = []
    sid = CHANNEL.send(
        ACCOUNT,
        IdentityRef("phone", "+61412345678"),
        "Your order shipped & tracked",
        client=client_answering(created, seen),
    )
    assert sid == "SM3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c"
    [sent] = seen
    assert sent.method == "POST"
    assert (
        str(sent.url) == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    )
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {basic}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(sent.content.decode())) == {
        "To": "+61412345678",
        "From": FROM_NUMBER,
        "Body": "Your order shipped & tracked",
    }


@pytest.mark.parametrize(
    "recipient", [IdentityRef("whatsapp", "61412345678"), IdentityRef("phone", "0412 345 678")]
)
def test_send_refuses_what_is_not_an_e164_phone(recipient: IdentityRef) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, recipient, "hi", client=client_answering(created, seen))
    assert not caught.value.retryable
    assert recipient.value not in str(caught.value)
    assert seen == []


def twilio_error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


@pytest.mark.parametrize(
    ("status", "code", "message", "retryable"),
    [
        (400, 21211, "Invalid 'To' Phone Number: +6141234567XX", False),
        (400, 21610, "Attempt to send to unsubscribed recipient", False),
        (401, 20003, "Authenticate", False),
        (429, 20429, "Too Many Requests", True),
        (500, 20500, "Internal Server Error", True),
        (503, 20503, "Service Unavailable", True),
    ],
)
def test_send_maps_twilio_errors(status: int, code: int, message: str, retryable: bool) -> None:
    client = client_answering(lambda _: twilio_error(status, code, message), [])
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, IdentityRef("phone", "+61412345678"), "hi", client=client)
    assert caught.value.retryable is retryable
    assert str(code) in str(caught.value)
    assert message in str(caught.value)


def test_an_error_without_a_json_body_is_mapped_by_status() -> None:
    client = client_answering(lambda _: httpx.Response(502, text="Bad Gateway"), [])
    with pytest.raises(SendError) as caught:
        CHANNEL.send(ACCOUNT, IdentityRef("phone", "+61412345678"), "hi", client=client)
    assert caught.value.retryable
    assert "502" in str(caught.value)


def test_a_timeout_is_retryable() -> None:
    def times_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(SendError) as caught:
        CHANNEL.send(
            ACCOUNT,
            IdentityRef("phone", "+61412345678"),
            "hi",
            client=client_answering(times_out, []),
        )
    assert caught.value.retryable


# --- the conformance driver agrees with the channel ------------------------------------


DRIVER = SmsDriver()


def driven(url: str, signed_request: SignedRequest) -> WebhookRequest:
    return signed_request.webhook(url, received_at=RECEIVED)


def test_driver_requests_pass_verification_and_parse() -> None:
    account = DRIVER.account("sms-au")
    url = "http://testserver/webhooks/sms/sms-au?tenant=1"
    sent = DRIVER.text_message(
        url, sender="+61412345678", text="héllo & bye", message_id="SMd", at=RECEIVED
    )
    DRIVER.channel.verify(account, driven(url, sent))
    [message] = DRIVER.channel.parse(account, driven(url, sent))
    assert (message.external_id, message.text) == ("SMd", "héllo & bye")
    assert message.identities == (DRIVER.sender_identity("+61412345678"),)
    with pytest.raises(MissingSignature):
        DRIVER.channel.verify(account, driven(url, DRIVER.strip_signature(sent)))
    with pytest.raises(BadSignature):
        DRIVER.channel.verify(account, driven(url, DRIVER.forge_signature(sent)))
    malformed = DRIVER.malformed(url, at=RECEIVED)
    DRIVER.channel.verify(account, driven(url, malformed))
    with pytest.raises(MalformedPayload):
        DRIVER.channel.parse(account, driven(url, malformed))


def test_driver_api_agrees_with_the_channel() -> None:
    account = DRIVER.account("sms-au")
    seen: list[httpx.Request] = []
    client = client_answering(DRIVER.provider_api, seen)
    sid = DRIVER.channel.send(account, DRIVER.sender_identity("0412 345 678"), "hi", client=client)
    assert sid.startswith("SM")
    assert DRIVER.sent_text(seen[0]) == "hi"
