"""The Kakao side of the channel conformance kit: sends skill requests as Open Builder
does (with the shared-secret header the console adds) and answers the Event API as Kakao
does when it accepts an event."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.kakao.channel import KakaoChannel
from regiocrm.testing.channels import ChannelDriver, SignedRequest, deeply_nested_json

# Made-up credentials of the test account: nothing real is guarded or sent with them.
SHARED_SECRET = "kakao-skill-secret-5f0e2b7c9a1d"  # noqa: S105
WRONG_SECRET = "not-the-skill-secret"  # noqa: S105
SECRET_HEADER = "x-regiocrm-skill-secret"  # noqa: S105 - a header name, not a secret
BOT_ID = "5f0e2b7c9a1d3e4f5a6b7c8d"
REST_API_KEY = "kakao-test-rest-api-key"


class KakaoDriver(ChannelDriver):
    """Plays Open Builder and the Event API for one Korean bot."""

    channel = KakaoChannel()
    market = "KR"

    def account_settings(self) -> dict[str, Any]:
        return {
            "channel": "kakao",
            "market": self.market,
            "shared_secret": SHARED_SECRET,
            "bot_id": BOT_ID,
            "rest_api_key": REST_API_KEY,
        }

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """Open Builder signs nothing; the skill's custom header carries the secret."""
        return SignedRequest(
            body=body,
            headers={"content-type": "application/json", SECRET_HEADER: SHARED_SECRET},
        )

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        """A SkillPayload for ``text`` from the user whose botUserKey is ``sender``.

        Skill payloads carry neither a message id nor a time, so ``message_id`` and ``at``
        have nowhere to go: the channel derives its id from the body.
        """
        return _encode(_skill_payload(sender, text))

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Nesting, a NaN, and lone surrogates (which JSON can escape but no database can
        store) in the utterance and the user's key."""
        nan_param = _skill_payload(self.sender(1), "hi")
        nan_param["userRequest"]["params"]["amount"] = math.nan
        bodies = {
            "100,000-deep JSON": deeply_nested_json(),
            "a NaN parameter": _encode(nan_param),
            "a lone surrogate in the utterance": _encode(_skill_payload(self.sender(1), "\ud800")),
            "a lone surrogate in the user's key": _encode(_skill_payload("\ud800", "hi")),
        }
        return {name: self.sign(url, body, at=at) for name, body in bodies.items()}

    def sender_identity(self, sender: str) -> IdentityRef:
        return IdentityRef("kakao", sender)

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != SECRET_HEADER}
        return replace(request, headers=headers)

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        return request.with_headers(**{SECRET_HEADER: WRONG_SECRET})

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """The Event API's answer to an accepted event: a task id and ``SUCCESS``."""
        task_id = hashlib.sha256(request.content).hexdigest()[:24]
        return httpx.Response(200, json={"taskId": task_id, "status": "SUCCESS"})

    def sent_text(self, request: httpx.Request) -> str | None:
        body = json.loads(request.content)
        text = body.get("event", {}).get("data", {}).get("text")
        return text if isinstance(text, str) else None


def _skill_payload(sender: str, text: str) -> dict[str, Any]:
    return {
        "intent": {"id": "intent-fallback", "name": "폴백 블록"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"ignoreMe": "true"},
            "block": {"id": "block-fallback", "name": "폴백 블록"},
            "utterance": text,
            "lang": "ko",
            "user": {
                "id": sender,
                "type": "botUserKey",
                "properties": {"botUserKey": sender, "plusfriendUserKey": f"pf-{sender}"},
            },
        },
        "bot": {"id": BOT_ID, "name": "regiocrm test bot"},
        "action": {
            "name": "regiocrm",
            "clientExtra": None,
            "params": {},
            "id": "skill-regiocrm",
            "detailParams": {},
        },
        "contexts": [],
    }


def _encode(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON as Open Builder sends it; a lone surrogate, which UTF-8 cannot carry,
    goes as JSON's ``\\ud800`` escape, as a hostile sender writes it."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
