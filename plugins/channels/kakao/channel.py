"""KakaoTalk channel chatbots (Kakao i Open Builder) as a
:class:`~regiocrm.interfaces.channels.Channel`.

Inbound: Open Builder calls a *skill server* with a JSON "SkillPayload" for each user
utterance that reaches a block wired to the skill, and shows the "SkillResponse" JSON the
skill answers within 5 seconds. Outbound at any other time: the chatbot Event API, which
triggers an event block of the bot for a user.

References: Kakao Business "응답 타입별 JSON 포맷" (SkillPayload / SkillResponse), "구 스킬(v1)
대비 달라진 점" (the v2 response: ``version`` with ``template`` and/or ``data``), "Event API",
"AI 챗봇 콜백 개발 가이드" (5 s skill timeout).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import SecretStr

from regiocrm.interfaces.channels import (
    BadSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Reply,
    SendError,
    WebhookRequest,
    WebhookResponse,
    call_provider,
    constant_time_equal,
    parse_json,
    raise_for_provider,
)
from regiocrm.platform.ids import new_id

T = TypeVar("T")

EVENT_API = "https://bot-api.kakao.com/v2/bots/{bot_id}/talk"
# A SkillTemplate takes one to three outputs.
MAX_OUTPUTS = 3


class KakaoAccountSettings(ChannelAccountSettings):
    """One Open Builder bot.

    Open Builder signs nothing, so the skill is guarded by a shared secret that the bot
    sends in a custom header (set on the skill in the Open Builder console).

    :param shared_secret: the header's value; a long random string.
    :param secret_header: the header's name.
    :param bot_id: the bot's id, for the Event API; a development channel's bot id takes a
        trailing ``!`` there (Kakao's convention), so write it as the API wants it.
    :param rest_api_key: the REST API key of the Kakao Developers app linked to the bot,
        for the Event API.
    :param event_name: the event name set on the Open Builder block that :meth:`send`
        triggers; that block shows the text it is given.
    """

    channel: Literal["kakao"] = "kakao"
    shared_secret: SecretStr
    secret_header: str = "X-Regiocrm-Skill-Secret"  # noqa: S105 - a header name, not a secret
    bot_id: str | None = None
    rest_api_key: SecretStr | None = None
    event_name: str = "regiocrm_message"


class KakaoChannel(Channel):
    """KakaoTalk chatbot skill: one utterance per request, replies in the HTTP answer."""

    name = "kakao"
    account_settings = KakaoAccountSettings
    reply_deadline = timedelta(seconds=5)
    replies_in_response = True
    identity_kinds = ("kakao",)
    redelivers = False

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        settings: KakaoAccountSettings = account.credentials
        given = request.headers.get(settings.secret_header.lower())
        if not given:
            raise MissingSignature(f"no {settings.secret_header} header")
        if not constant_time_equal(settings.shared_secret.get_secret_value(), given):
            raise BadSignature(f"{settings.secret_header} does not match")

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """The one utterance of a skill request, from the user's ``botUserKey``.

        The payload carries no message id and no time (``action.id`` is the skill's id,
        the same for every call), and Open Builder never sends a skill request again: it
        shows the block's fallback when the skill times out. So every request is a
        message of its own, with a new time-ordered id: a user who sends the very same
        words twice (a "네" to two questions) has both on the timeline, where an id made
        from the body would keep only the first. ``occurred_at`` is the time the request
        was received.
        """
        payload = _json_object(request.body)
        user_request = _field(payload, "userRequest", dict)
        user = _field(user_request, "user", dict)
        user_key = _field(user, "id", str)
        if not user_key:
            raise MalformedPayload("userRequest.user.id is empty")
        utterance = _field(user_request, "utterance", str)
        return [
            InboundMessage(
                external_id=f"skill-{new_id().hex}",
                identities=(IdentityRef("kakao", user_key),),
                occurred_at=request.received_at,
                kind="text",
                text=utterance,
            )
        ]

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        """A v2 SkillResponse: each reply a ``simpleText`` output.

        A template takes at most three outputs, so replies past the third are joined into
        the third. With no reply the answer is ``{"version": "2.0", "data": {}}``: a response
        without a template is the documented way for a skill to leave the block's own
        speech bubbles in charge, whereas a template with an empty ``outputs`` list is
        outside the documented one-to-three range and risks the user seeing an error.
        """
        body: dict[str, Any]
        if replies:
            texts = [reply.text for reply in replies]
            if len(texts) > MAX_OUTPUTS:
                texts[MAX_OUTPUTS - 1 :] = ["\n\n".join(texts[MAX_OUTPUTS - 1 :])]
            outputs = [{"simpleText": {"text": text}} for text in texts]
            body = {"version": "2.0", "template": {"outputs": outputs}}
        else:
            body = {"version": "2.0", "data": {}}
        return WebhookResponse(
            200, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
        )

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send ``text`` to a user through the Event API and return Kakao's task id.

        The Event API sends no free text: it triggers the event block named
        ``event_name`` in Open Builder for the user, and the text travels as event data
        (``event.data.text``) and as the ``text`` parameter (``params.text``), so the block
        can show it either way. Kakao charges per message and needs a wallet linked to the
        bot. ``SUCCESS`` means the task was accepted; per-user delivery is reported later
        under ``GET /v1/tasks/{taskId}``. Kakao has no reply token, so ``reply_token`` is
        ignored: passive replies go in :meth:`respond`.

        :raises SendError: not retryable when ``bot_id`` or ``rest_api_key`` is not
            configured or Kakao refuses; retryable for 429, 5xx and transport failures.
        """
        settings: KakaoAccountSettings = account.credentials
        if settings.bot_id is None or settings.rest_api_key is None:
            raise SendError(
                f"account {account.name!r} needs bot_id and rest_api_key to use the Event API",
                retryable=False,
            )
        if recipient.kind != "kakao":
            raise SendError(f"Kakao cannot send to a {recipient.kind!r} identity", retryable=False)
        body = {
            "event": {"name": settings.event_name, "data": {"text": text}},
            "user": [{"type": "botUserKey", "id": recipient.value}],
            "params": {"text": text},
        }
        headers = {"Authorization": f"KakaoAK {settings.rest_api_key.get_secret_value()}"}
        response = call_provider(
            "Kakao",
            lambda: client.post(
                EVENT_API.format(bot_id=settings.bot_id), headers=headers, json=body
            ),
        )
        raise_for_provider(response, "Kakao")
        return _task_id(response)


def _task_id(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError as error:
        raise SendError(
            f"Kakao accepted the event but its answer is not JSON: {response.text[:200]}",
            retryable=False,
        ) from error
    if not isinstance(answer, dict) or not isinstance(answer.get("taskId"), str):
        raise SendError(f"Kakao's answer has no taskId: {response.text[:200]}", retryable=False)
    if answer.get("status", "SUCCESS") != "SUCCESS":
        raise SendError(f"Kakao refused the event: {response.text[:200]}", retryable=False)
    task_id: str = answer["taskId"]
    return task_id


def _json_object(body: bytes) -> dict[str, Any]:
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise MalformedPayload("a skill payload is a JSON object")
    return payload


def _field(container: dict[str, Any], name: str, kind: type[T]) -> T:
    value = container.get(name)
    if not isinstance(value, kind):
        raise MalformedPayload(f"{name!r} is missing or not a {kind.__name__}")
    return value
