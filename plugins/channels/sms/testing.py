"""A conformance-kit driver that plays Twilio for one SMS account.

It signs and shapes requests from Twilio's documented format (not from the channel's code),
so the kit checks the channel against the protocol rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import phonenumbers

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.sms.channel import SmsChannel
from regiocrm.testing.channels import ChannelDriver, SignedRequest

# The fake provider's own credentials: made up, valid nowhere but in the kit.
AUTH_TOKEN = "5d2f0c8e1a9b4f7e3c6a0d2b8e4f1a7c"  # noqa: S105
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
FROM_NUMBER = "+61491570156"
SIGNATURE_HEADER = "x-twilio-signature"


class SmsDriver(ChannelDriver):
    """Twilio's side of an Australian number. Senders are E.164, e.g. ``+61412345678``."""

    channel = SmsChannel()
    market = "AU"

    def account_settings(self) -> dict[str, Any]:
        return {
            "channel": "sms",
            "market": self.market,
            "auth_token": AUTH_TOKEN,
            "account_sid": ACCOUNT_SID,
            "from_number": FROM_NUMBER,
        }

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """Twilio signs ``url`` as called and the form's fields; not the time."""
        return SignedRequest(
            body=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                SIGNATURE_HEADER: _signature(AUTH_TOKEN, url, body),
            },
        )

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        """The form Twilio posts for an incoming SMS, field for field."""
        form = {
            "ToCountry": "AU",
            "ToState": "",
            "SmsMessageSid": message_id,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": message_id,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": text,
            "FromCountry": "AU",
            "To": FROM_NUMBER,
            "MessagingServiceSid": "",
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": message_id,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        return urlencode(form).encode()

    def sender(self, number: int) -> str:
        """An Australian mobile number in E.164, as Twilio writes ``From``."""
        return f"+6141234{number:04d}"

    def sender_identity(self, sender: str) -> IdentityRef:
        number = phonenumbers.parse(sender, self.market)
        return IdentityRef(
            "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        )

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != SIGNATURE_HEADER}
        return replace(request, headers=headers)

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        # The URL is not at hand here; any URL under a wrong token is equally wrong.
        forged = _signature("0" * 32, "https://example.invalid/", request.body)
        return request.with_headers(**{SIGNATURE_HEADER: forged})

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """Accept a message created on this account with its credentials, answering as
        Twilio's REST API does; refuse anything else with its errors."""
        expected = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        if request.method != "POST" or request.url.path != expected:
            return _twilio_error(404, 20404, "The requested resource was not found")
        credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {credentials}":
            return _twilio_error(401, 20003, "Authenticate")
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        sid = f"SM{uuid.uuid4().hex}"
        return httpx.Response(
            201,
            json={
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
        )

    def sent_text(self, request: httpx.Request) -> str | None:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        return form.get("Body")


def _signature(token: str, url: str, body: bytes) -> str:
    """base64 HMAC-SHA1 of the URL and the form's names and values, sorted by name."""
    fields = sorted(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    signed = url + "".join(name + value for name, value in fields)
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _twilio_error(status: int, code: int, message: str) -> httpx.Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return httpx.Response(
        status, json={"code": code, "message": message, "more_info": more_info, "status": status}
    )
