"""A conformance-kit driver that plays Meta for one WhatsApp account.

It signs and shapes requests from Meta's documented format (not from the channel's code),
so the kit checks the channel against the protocol rather than against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.whatsapp.channel import WhatsAppChannel
from regiocrm.testing.channels import ChannelDriver, SignedRequest, deeply_nested_json

# The fake provider's own credentials: made up, valid nowhere but in the kit.
APP_SECRET = "9c4f0e1a7b3d5e2f8a6c4b2d0e9f7a5c"  # noqa: S105
VERIFY_TOKEN = "regiocrm-verify-7f3a"  # noqa: S105
ACCESS_TOKEN = "EAAGm0PX4ZCpsBAConformanceToken"  # noqa: S105
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "61491570156"
API_VERSION = "v21.0"
SIGNATURE_HEADER = "x-hub-signature-256"


class WhatsAppDriver(ChannelDriver):
    """Meta's side of an Australian WhatsApp number. Senders are wa_ids: international
    digits without ``+``, e.g. ``61412345678``."""

    channel = WhatsAppChannel()
    market = "AU"

    def account_settings(self) -> dict[str, Any]:
        return {
            "channel": "whatsapp",
            "market": self.market,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "access_token": ACCESS_TOKEN,
            "phone_number_id": PHONE_NUMBER_ID,
            "api_version": API_VERSION,
        }

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """Meta signs the body alone; neither the URL nor the time is covered."""
        return SignedRequest(
            body=body,
            headers={
                "content-type": "application/json",
                SIGNATURE_HEADER: _signature(APP_SECRET, body),
            },
        )

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        return _notification(
            {
                "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": sender}],
                "messages": [
                    {
                        "from": sender,
                        "id": message_id,
                        "timestamp": str(int(at.timestamp())),
                        "type": "text",
                        "text": {"body": text},
                    }
                ],
            }
        )

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Nesting, a message's and a receipt's time out of range (Unix seconds in the year
        33658), and a lone surrogate, which JSON can escape but no database can store."""
        message = json.loads(
            self.text_body(sender=self.sender(1), text="hi", message_id="wamid.H", at=at)
        )
        value = message["entry"][0]["changes"][0]["value"]
        value["messages"][0]["timestamp"] = str(10**12)
        bodies = {
            "100,000-deep JSON": deeply_nested_json(),
            "a timestamp of 10**12 s": json.dumps(message).encode(),
            "a receipt's timestamp of 10**12 s": self.status_body(
                wamid="wamid.H", status="delivered", recipient=self.sender(1), at=at
            ).replace(str(int(at.timestamp())).encode(), str(10**12).encode()),
            "a lone surrogate in the text": self.text_body(
                sender=self.sender(1), text="\ud800", message_id="wamid.S", at=at
            ),
        }
        return {name: self.sign(url, body, at=at) for name, body in bodies.items()}

    def status_body(
        self, *, wamid: str, status: str, recipient: str, at: datetime, error: int | None = None
    ) -> bytes:
        """A delivery receipt as Meta sends it: ``statuses[]`` of a ``messages`` change;
        a failed one carries Meta's error code and title."""
        receipt: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(at.timestamp())),
            "recipient_id": recipient,
        }
        if error is not None:
            receipt["errors"] = [
                {"code": error, "title": "Message undeliverable", "message": "Undeliverable"}
            ]
        return _notification({"statuses": [receipt]})

    def sender(self, number: int) -> str:
        """A wa_id: an Australian mobile number's international digits, no ``+``."""
        return f"6141234{number:04d}"

    def sender_identity(self, sender: str) -> IdentityRef:
        return IdentityRef("whatsapp", sender)

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != SIGNATURE_HEADER}
        return replace(request, headers=headers)

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        return request.with_headers(
            **{SIGNATURE_HEADER: _signature("not-the-app-secret", request.body)}
        )

    def handshake(self, url: str, *, at: datetime) -> tuple[SignedRequest, bytes] | None:
        challenge = "1158201444"
        query = {
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": challenge,
        }
        return SignedRequest(body=b"", query=query, method="GET"), challenge.encode()

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """Accept a text message sent to this number's messages endpoint with the right
        token, answering as the Graph API does; refuse anything else with its errors."""
        expected = f"/{API_VERSION}/{PHONE_NUMBER_ID}/messages"
        if request.method != "POST" or request.url.path != expected:
            return _graph_error(404, 100, "Unsupported request: unknown path or method")
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        message = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": message["to"], "wa_id": message["to"]}],
                "messages": [{"id": f"wamid.{uuid.uuid4().hex.upper()}"}],
            },
        )

    def sent_text(self, request: httpx.Request) -> str | None:
        message = json.loads(request.content)
        if message.get("type") != "text":
            return None
        return str(message["text"]["body"])


def _notification(value: dict[str, Any]) -> bytes:
    """A webhook notification of one ``messages`` change to the test number."""
    notification = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_PHONE_NUMBER,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }
    # json.dumps escapes non-ASCII as \uXXXX, as Meta does in the bytes it signs.
    return json.dumps(notification).encode()


def _signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _graph_error(status: int, code: int, message: str) -> httpx.Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az8"}
    return httpx.Response(status, json={"error": error})
