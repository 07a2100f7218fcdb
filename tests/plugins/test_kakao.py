"""The KakaoTalk chatbot channel: the skill's secret header, SkillPayload parsing, the
SkillResponse, the Event API, and its conformance driver."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

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
from regiocrm.plugins.channels import kakao as kakao_plugin
from regiocrm.plugins.channels.kakao import KakaoChannel
from regiocrm.plugins.channels.kakao.testing import KakaoDriver
from regiocrm.testing.channels import SignedRequest, deeply_nested_json

SECRET = "3q2+7w-a-long-random-skill-secret"
BOT_ID = "64a1b2c3d4e5f6a7b8c9d0e1"
REST_API_KEY = "0123456789abcdef0123456789abcdef"
USER_KEY = "b0c8a7e4d3f2a1b0c8a7e4d3f2a1b0c8a7e4d3f2a1b0c8a7e4d3f2a1b0c8a7e4d3"
RECEIVED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
def channel() -> KakaoChannel:
    return KakaoChannel()


def kakao_account(channel: KakaoChannel, **values: Any) -> ChannelAccount:
    settings = {"channel": "kakao", "market": "KR", "shared_secret": SECRET, **values}
    return validate_account(channel, "kakao_kr", settings)


@pytest.fixture
def account(channel: KakaoChannel) -> ChannelAccount:
    return kakao_account(channel, bot_id=BOT_ID, rest_api_key=REST_API_KEY)


def webhook(
    body: bytes, headers: dict[str, str] | None = None, received_at: datetime = RECEIVED
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://crm.example.kr/webhooks/kakao/kakao_kr",
        query={},
        headers=headers or {},
        body=body,
        received_at=received_at,
    )


def skill_payload(utterance: str = "배송 조회", user_key: str = USER_KEY) -> dict[str, Any]:
    """A SkillPayload in the documented shape (Kakao "응답 타입별 JSON 포맷")."""
    return {
        "intent": {"id": "5a56d4a0e6a0c2", "name": "배송 조회"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"ignoreMe": "true"},
            "block": {"id": "5a56d4a0e6a0c2", "name": "배송 조회"},
            "utterance": utterance,
            "lang": None,
            "user": {
                "id": user_key,
                "type": "botUserKey",
                "properties": {"plusfriendUserKey": "31CnM-9CiXZ3", "appUserId": "1234567"},
            },
        },
        "bot": {"id": BOT_ID, "name": "테스트 봇"},
        "action": {
            "name": "regiocrm",
            "clientExtra": None,
            "params": {},
            "id": "skill-id-not-a-request-id",
            "detailParams": {},
        },
    }


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


# --- verify ------------------------------------------------------------------------------


def test_the_shared_secret_header_lets_the_request_in(channel, account) -> None:
    channel.verify(account, webhook(encode(skill_payload()), {"x-regiocrm-skill-secret": SECRET}))


def test_no_secret_header_is_missing(channel, account) -> None:
    with pytest.raises(MissingSignature):
        channel.verify(account, webhook(encode(skill_payload())))


def test_a_wrong_secret_is_refused(channel, account) -> None:
    with pytest.raises(BadSignature):
        channel.verify(account, webhook(b"{}", {"x-regiocrm-skill-secret": SECRET + "x"}))


def test_the_secret_must_be_in_the_configured_header(channel) -> None:
    account = kakao_account(channel, secret_header="X-Skill-Token")
    with pytest.raises(MissingSignature):
        channel.verify(account, webhook(b"{}", {"x-regiocrm-skill-secret": SECRET}))
    channel.verify(account, webhook(b"{}", {"x-skill-token": SECRET}))


# --- parse -------------------------------------------------------------------------------


def test_an_utterance_is_a_text_message_from_the_bot_user_key(channel, account) -> None:
    [message] = channel.parse(account, webhook(encode(skill_payload("주문 취소할게요"))))
    assert message.identities == (IdentityRef("kakao", USER_KEY),)
    assert (message.kind, message.text, message.event) == ("text", "주문 취소할게요", None)
    assert message.occurred_at == RECEIVED
    assert message.reply_token is None


def test_every_request_is_a_message_of_its_own(channel, account) -> None:
    """Open Builder never redelivers: the same words twice are two messages."""
    assert channel.redelivers is False
    body = encode(skill_payload("네"))
    [first] = channel.parse(account, webhook(body))
    [again] = channel.parse(account, webhook(body, received_at=RECEIVED + timedelta(seconds=6)))
    assert first.external_id != again.external_id
    assert first.external_id.startswith("skill-")
    assert again.occurred_at == RECEIVED + timedelta(seconds=6)


def broken(change: Callable[[dict[str, Any]], None]) -> bytes:
    value = skill_payload()
    change(value)
    return encode(value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="invalid JSON"),
        pytest.param(b"\xff\xfe", id="not UTF-8"),
        pytest.param(b'["userRequest"]', id="a list"),
        pytest.param(broken(lambda v: v.pop("userRequest")), id="no userRequest"),
        pytest.param(broken(lambda v: v.update(userRequest="hi")), id="userRequest a string"),
        pytest.param(broken(lambda v: v["userRequest"].pop("user")), id="no user"),
        pytest.param(broken(lambda v: v["userRequest"]["user"].pop("id")), id="no user id"),
        pytest.param(broken(lambda v: v["userRequest"]["user"].update(id="")), id="empty user id"),
        pytest.param(
            broken(lambda v: v["userRequest"]["user"].update(id=42)), id="numeric user id"
        ),
        pytest.param(broken(lambda v: v["userRequest"].pop("utterance")), id="no utterance"),
        pytest.param(
            broken(lambda v: v["userRequest"].update(utterance=None)), id="null utterance"
        ),
    ],
)
def test_bodies_that_are_not_a_skill_payload_are_malformed(channel, account, body) -> None:
    with pytest.raises(MalformedPayload):
        channel.parse(account, webhook(body))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            deeply_nested_json(),
            "the body is not JSON: recursion limit exceeded",
            id="100,000-deep JSON",
        ),
        pytest.param(
            json.dumps(skill_payload(utterance="\ud800")).encode(),
            "the body is not JSON: ",
            id="lone surrogate in the utterance",
        ),
        pytest.param(
            json.dumps(skill_payload(user_key="\udc00")).encode(),
            "the body is not JSON: ",
            id="lone surrogate in the user key",
        ),
        pytest.param(
            broken(lambda v: v["action"]["params"].update(amount=float("nan"))),
            "the body is not JSON: ",
            id="NaN",
        ),
        pytest.param(
            broken(lambda v: v["action"]["params"].update(amount=10**400)),
            "the body holds the integer 100000000000…(401 digits)",
            id="a 401-digit number",
        ),
    ],
)
def test_hostile_bodies_are_malformed_with_the_reason(channel, account, body, reason) -> None:
    """Signed (the secret header is right) but hostile: 400 with the reason, not a 500."""
    with pytest.raises(MalformedPayload) as refused:
        channel.parse(account, webhook(body))
    assert str(refused.value).startswith(reason)


# --- respond -----------------------------------------------------------------------------


def respond(channel: KakaoChannel, account: ChannelAccount, *texts: str) -> tuple[Any, Any]:
    request = webhook(encode(skill_payload()))
    messages = channel.parse(account, request)
    replies = [Reply(messages[0], text) for text in texts]
    response = channel.respond(account, request, messages, replies)
    return response, json.loads(response.body)


def test_a_reply_is_a_simple_text_output(channel, account) -> None:
    response, body = respond(channel, account, "주문하신 상품은 배송 중입니다.")
    assert response.status == 200
    assert response.media_type == "application/json"
    assert body == {
        "version": "2.0",
        "template": {"outputs": [{"simpleText": {"text": "주문하신 상품은 배송 중입니다."}}]},
    }


def test_replies_past_the_third_are_joined_into_the_third_output(channel, account) -> None:
    _, body = respond(channel, account, "1", "2", "3", "4")
    assert body["template"]["outputs"] == [
        {"simpleText": {"text": "1"}},
        {"simpleText": {"text": "2"}},
        {"simpleText": {"text": "3\n\n4"}},
    ]


def test_without_a_reply_the_answer_is_a_valid_v2_response_with_no_template(
    channel, account
) -> None:
    response, body = respond(channel, account)
    assert response.status == 200
    assert response.media_type == "application/json"
    assert body == {"version": "2.0", "data": {}}


def test_korean_text_is_sent_as_utf8_not_escaped(channel, account) -> None:
    response, _ = respond(channel, account, "감사합니다")
    assert "감사합니다".encode() in response.body


# --- send (Event API) --------------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, seen: list[httpx.Request]) -> httpx.Client:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(record))


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"taskId": "8e4b9f2a-task", "status": "SUCCESS"})


def test_send_triggers_the_event_block_for_the_user(channel, account) -> None:
    seen: list[httpx.Request] = []
    task_id = channel.send(
        account,
        IdentityRef("kakao", USER_KEY),
        "배송이 시작되었습니다",
        client=client_for(accepted, seen),
    )
    [request] = seen
    assert task_id == "8e4b9f2a-task"
    assert request.method == "POST"
    assert str(request.url) == f"https://bot-api.kakao.com/v2/bots/{BOT_ID}/talk"
    assert request.headers["authorization"] == f"KakaoAK {REST_API_KEY}"
    assert json.loads(request.content) == {
        "event": {"name": "regiocrm_message", "data": {"text": "배송이 시작되었습니다"}},
        "user": [{"type": "botUserKey", "id": USER_KEY}],
        "params": {"text": "배송이 시작되었습니다"},
    }


def test_the_event_name_is_the_accounts(channel) -> None:
    account = kakao_account(
        channel, bot_id=BOT_ID, rest_api_key=REST_API_KEY, event_name="crm_notice"
    )
    seen: list[httpx.Request] = []
    channel.send(account, IdentityRef("kakao", USER_KEY), "hi", client=client_for(accepted, seen))
    assert json.loads(seen[0].content)["event"]["name"] == "crm_notice"


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param({"rest_api_key": REST_API_KEY}, id="no bot_id"),
        pytest.param({"bot_id": BOT_ID}, id="no rest_api_key"),
    ],
)
def test_send_needs_bot_id_and_rest_api_key(channel, missing) -> None:
    seen: list[httpx.Request] = []
    account = kakao_account(channel, **missing)
    with pytest.raises(SendError) as failure:
        channel.send(
            account, IdentityRef("kakao", USER_KEY), "hi", client=client_for(accepted, seen)
        )
    assert not failure.value.retryable
    assert seen == []


def test_only_kakao_identities_can_be_sent_to(channel, account) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(SendError) as failure:
        channel.send(
            account, IdentityRef("phone", "+821012345678"), "hi", client=client_for(accepted, seen)
        )
    assert not failure.value.retryable
    assert seen == []


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (429, True), (500, True), (502, True)],
)
def test_event_api_errors_say_whether_to_retry(channel, account, status, retryable) -> None:
    answer = {"code": -401, "msg": "this access token does not exist"}
    client = client_for(lambda request: httpx.Response(status, json=answer), [])
    with pytest.raises(SendError) as failure:
        channel.send(account, IdentityRef("kakao", USER_KEY), "hi", client=client)
    assert failure.value.retryable is retryable
    assert str(status) in str(failure.value)
    assert "this access token does not exist" in str(failure.value)


def test_an_event_api_timeout_is_retryable(channel, account) -> None:
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SendError) as failure:
        channel.send(account, IdentityRef("kakao", USER_KEY), "hi", client=client_for(time_out, []))
    assert failure.value.retryable


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            httpx.Response(200, json={"taskId": "t-1", "status": "FAIL"}), id="status FAIL"
        ),
        pytest.param(httpx.Response(200, json={"status": "SUCCESS"}), id="no taskId"),
        pytest.param(httpx.Response(200, text="OK"), id="not JSON"),
    ],
)
def test_an_answer_without_an_accepted_task_is_an_error(channel, account, answer) -> None:
    client = client_for(lambda request: answer, [])
    with pytest.raises(SendError) as failure:
        channel.send(account, IdentityRef("kakao", USER_KEY), "hi", client=client)
    assert not failure.value.retryable


# --- settings and registration -----------------------------------------------------------


def test_secrets_are_secret_strings(account) -> None:
    assert SECRET not in repr(account.credentials)
    assert REST_API_KEY not in repr(account.credentials)
    assert account.credentials.shared_secret.get_secret_value() == SECRET


def test_the_plugin_registers_the_kakao_channel() -> None:
    [channel] = kakao_plugin.register_channels()
    assert isinstance(channel, KakaoChannel)
    assert channel.name == "kakao"
    assert channel.identity_kinds == ("kakao",)
    assert channel.replies_in_response is True
    assert channel.reply_deadline == timedelta(seconds=5)


# --- the conformance driver agrees with the channel --------------------------------------


@pytest.fixture
def driver() -> KakaoDriver:
    return KakaoDriver()


@pytest.fixture
def driver_account(driver: KakaoDriver) -> ChannelAccount:
    return driver.account("kakao_kr")


def as_webhook(signed: SignedRequest) -> WebhookRequest:
    return signed.webhook("https://crm.example.kr/webhooks/kakao/kakao_kr", received_at=RECEIVED)


def test_the_drivers_request_is_accepted_and_parsed(driver, driver_account) -> None:
    signed = driver.text_message(
        "https://crm.example.kr/", sender="user-1", text="안녕하세요", message_id="m-1", at=RECEIVED
    )
    driver.channel.verify(driver_account, as_webhook(signed))
    messages: list[InboundMessage] = driver.channel.parse(driver_account, as_webhook(signed))
    assert [(m.identities[0], m.text) for m in messages] == [
        (driver.sender_identity("user-1"), "안녕하세요")
    ]


def test_the_drivers_stripped_and_forged_requests_are_refused(driver, driver_account) -> None:
    signed = driver.sign("https://crm.example.kr/", b"{}", at=RECEIVED)
    with pytest.raises(MissingSignature):
        driver.channel.verify(driver_account, as_webhook(driver.strip_signature(signed)))
    with pytest.raises(BadSignature):
        driver.channel.verify(driver_account, as_webhook(driver.forge_signature(signed)))


def test_the_driver_has_no_stale_request(driver) -> None:
    assert driver.stale("https://crm.example.kr/", b"{}", at=RECEIVED) is None


def test_the_drivers_api_accepts_an_event_and_reads_its_text(driver, driver_account) -> None:
    seen: list[httpx.Request] = []
    task_id = driver.channel.send(
        driver_account,
        IdentityRef("kakao", "user-1"),
        "알림",
        client=client_for(driver.provider_api, seen),
    )
    assert task_id
    assert driver.sent_text(seen[0]) == "알림"
