"""The LINE side of the channel conformance kit: signs webhooks as LINE does and answers
the reply and push APIs as LINE does when it accepts a message."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.line.channel import LineChannel, signature
from regiocrm.testing.channels import ChannelDriver, SignedRequest, deeply_nested_json

# Made-up credentials of the test account: nothing real is signed or sent with them.
CHANNEL_SECRET = "8f3b6c1d2e4a5b6c7d8e9f0a1b2c3d4e"  # noqa: S105
WRONG_SECRET = "00000000000000000000000000000000"  # noqa: S105
ACCESS_TOKEN = "line-test-access-token"  # noqa: S105
BOT_USER_ID = "U" + "0" * 32


class LineDriver(ChannelDriver):
    """Plays LINE for one Japanese account."""

    channel = LineChannel()
    market = "JP"

    def account_settings(self) -> dict[str, Any]:
        return {
            "channel": "line",
            "market": self.market,
            "channel_secret": CHANNEL_SECRET,
            "access_token": ACCESS_TOKEN,
        }

    def sender(self, number: int) -> str:
        """A user id in LINE's form: ``U`` and 32 hex digits."""
        return f"U{number:032x}"

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """LINE signs the body only: neither the URL nor the time enter the signature."""
        return SignedRequest(
            body=body,
            headers={
                "content-type": "application/json; charset=utf-8",
                "x-line-signature": signature(CHANNEL_SECRET, body),
            },
        )

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        """One text message event; ``message_id`` is both the message id and the
        ``webhookEventId`` (LINE's are different ULIDs, but both are unique per event)."""
        return _payload(_text_event(sender=sender, text=text, message_id=message_id, at=at))

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Nesting, timestamps out of range or not a number, and lone surrogates (which
        JSON can escape but no database can store) in the text and the userId."""

        def event(**changes: Any) -> bytes:
            plain = _text_event(sender=self.sender(1), text="hi", message_id="m-hostile", at=at)
            return _payload({**plain, **changes})

        bodies = {
            "100,000-deep JSON": deeply_nested_json(),
            "a timestamp of 10**20": event(timestamp=10**20),
            "a timestamp of -10**20": event(timestamp=-(10**20)),
            "a timestamp in the year 33658": event(timestamp=10**15),
            "a NaN timestamp": event(timestamp=math.nan),
            "a lone surrogate in the text": _payload(
                _text_event(sender=self.sender(1), text="\ud800", message_id="m-h", at=at)
            ),
            "a lone surrogate in the userId": event(source={"type": "user", "userId": "U\ud800"}),
        }
        return {name: self.sign(url, body, at=at) for name, body in bodies.items()}

    def sender_identity(self, sender: str) -> IdentityRef:
        return IdentityRef("line", sender)

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "x-line-signature"}
        return replace(request, headers=headers)

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        return request.with_headers(**{"x-line-signature": signature(WRONG_SECRET, request.body)})

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """LINE's 200 for a reply or push: the ids of the sent messages."""
        digest = hashlib.sha256(request.content).hexdigest()
        sent_id = str(int(digest[:15], 16))
        return httpx.Response(
            200,
            json={"sentMessages": [{"id": sent_id, "quoteToken": f"q-{sent_id}"}]},
            headers={"x-line-request-id": digest[:36]},
        )

    def sent_text(self, request: httpx.Request) -> str | None:
        body = json.loads(request.content)
        texts = [m["text"] for m in body.get("messages", []) if m.get("type") == "text"]
        return "\n".join(texts) if texts else None


def _text_event(*, sender: str, text: str, message_id: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": int(at.timestamp() * 1000),
        "source": {"type": "user", "userId": sender},
        "webhookEventId": message_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32],
        "message": {
            "id": message_id,
            "type": "text",
            "text": text,
            "quoteToken": f"q-{message_id}",
        },
    }


def _payload(*events: dict[str, Any]) -> bytes:
    """A webhook body, UTF-8 as LINE sends it; a lone surrogate, which UTF-8 cannot
    carry, goes as JSON's ``\\ud800`` escape, as a hostile sender writes it."""
    payload = {"destination": BOT_USER_ID, "events": list(events)}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
