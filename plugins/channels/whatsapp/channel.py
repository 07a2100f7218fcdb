"""The WhatsApp Cloud API protocol: URL check, signature, notifications and the send API.

One account is one WhatsApp business phone number (``phone_number_id``) of one Meta app
(``app_secret``). Meta delivers every notification of an app's subscribed business accounts
to the callback URL configured for it, so an account's webhook can receive notifications
for another number of the same app; those are ignored here rather than attributed to the
wrong account. Give each number its own callback URL (Meta's per-number or per-business-
account callback override), or configure one account per number-and-URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from regiocrm.interfaces.channels import (
    BadSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Receipt,
    ReceiptStatus,
    SendError,
    WebhookRequest,
    WebhookResponse,
    accepted_id,
    call_provider,
    constant_time_equal,
    parse_json,
    provider_time,
)

GRAPH_API = "https://graph.facebook.com"
SIGNATURE_HEADER = "x-hub-signature-256"
SIGNATURE_PREFIX = "sha256="

# Graph error codes after which a later attempt can succeed: throttling (4 application,
# 80007 business account, 130429 throughput, 131056 per-recipient pair rate) and Meta-side
# trouble (1 unknown, 2 service temporarily unavailable, 131000 something went wrong,
# 131016 service unavailable). Every other code (131047 outside the 24-hour window,
# 131026 undeliverable, 190 expired token, 100 invalid parameter…) needs a person or a
# template message, so retrying would fail the same way.
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056})

API_VERSION = re.compile(r"v\d+\.\d+")
DIGITS = re.compile(r"\d+")


class WhatsAppAccountSettings(ChannelAccountSettings):
    """``[channel_accounts.<name>]`` for a WhatsApp business phone number.

    :param app_secret: the Meta app's secret, the key of the payload signature.
    :param verify_token: the string typed into the app's webhook settings, which Meta
        sends back in the URL check.
    :param access_token: a system-user access token allowed to send for the number.
    :param phone_number_id: the Graph id of the business phone number (not the number).
    :param api_version: the Graph API version in send URLs, e.g. ``v21.0``.
    """

    channel: Literal["whatsapp"] = "whatsapp"
    app_secret: SecretStr
    verify_token: SecretStr
    access_token: SecretStr
    phone_number_id: str
    api_version: str = "v21.0"

    @field_validator("phone_number_id")
    @classmethod
    def _numeric_id(cls, value: str) -> str:
        if not DIGITS.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a phone number ID: copy the numeric ID Meta shows for the"
                " number, not the phone number itself"
            )
        return value

    @field_validator("api_version")
    @classmethod
    def _graph_version(cls, value: str) -> str:
        if not API_VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a Graph API version such as 'v21.0'")
        return value


# The notification shape, as far as it is used. Unknown keys are ignored so that fields
# Meta adds later do not turn into 400s (and seven days of Meta retrying).


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Text(_Payload):
    body: str


class _Button(_Payload):
    text: str


class _Choice(_Payload):
    id: str
    title: str


class _Interactive(_Payload):
    type: str
    button_reply: _Choice | None = None
    list_reply: _Choice | None = None


class _Media(_Payload):
    caption: str | None = None


class _Message(_Payload):
    sender: str = Field(alias="from")
    id: str
    timestamp: int
    type: str
    text: _Text | None = None
    button: _Button | None = None
    interactive: _Interactive | None = None
    image: _Media | None = None
    video: _Media | None = None
    document: _Media | None = None


class _Profile(_Payload):
    name: str | None = None


class _Contact(_Payload):
    wa_id: str
    profile: _Profile | None = None


class _Metadata(_Payload):
    phone_number_id: str


class _Value(_Payload):
    metadata: _Metadata


Value = TypeVar("Value", bound=_Value)


class _MessagesValue(_Value):
    contacts: list[_Contact] = []
    messages: list[_Message] = []


class _StatusError(_Payload):
    code: int | None = None
    title: str = ""


class _Status(_Payload):
    id: str
    status: str
    timestamp: int
    errors: list[_StatusError] = []


class _StatusesValue(_Value):
    statuses: list[_Status] = []


# Meta's status names for what became of a message; "sent" says only that it left.
RECEIPT_STATUSES = {
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.READ,
    "failed": ReceiptStatus.FAILED,
}


class _Change(_Payload):
    field: str
    value: dict[str, Any]


class _Entry(_Payload):
    changes: list[_Change]


class _Notification(_Payload):
    object: Literal["whatsapp_business_account"]
    entry: list[_Entry]


class WhatsAppChannel(Channel):
    """WhatsApp through Meta's Cloud API.

    :cvar reply_deadline: Meta documents no exact figure and only asks for a prompt 200;
        guides quote anything from 3 to 20 seconds before Meta counts a delivery as failed
        and retries it. The tightest figure is used: answering early costs nothing.
    """

    name = "whatsapp"
    account_settings = WhatsAppAccountSettings
    reply_deadline = timedelta(seconds=3)
    replies_in_response = False
    identity_kinds = ("whatsapp", "phone")
    # The URL verification carries the account's verify token itself.
    private_query_parameters = ("hub.verify_token",)
    # The Cloud API's default throughput per business phone number.
    sends_per_second = 80.0

    def handshake(self, account: ChannelAccount, request: WebhookRequest) -> WebhookResponse:
        """Echo ``hub.challenge`` when ``hub.verify_token`` is the account's, as Meta requires
        before it sends any notification to the URL."""
        settings = _settings(account)
        token = request.query.get("hub.verify_token")
        if not token:
            raise MissingSignature("the URL check carries no hub.verify_token")
        if not constant_time_equal(settings.verify_token.get_secret_value(), token):
            raise BadSignature("hub.verify_token is not this account's verify token")
        challenge = request.query.get("hub.challenge")
        if request.query.get("hub.mode") != "subscribe" or challenge is None:
            raise MalformedPayload("a URL check needs hub.mode=subscribe and a hub.challenge")
        return WebhookResponse(200, challenge.encode(), "text/plain")

    def same_person(self, identity: IdentityRef) -> tuple[IdentityRef, ...]:
        """A wa_id and the phone number it is made of name one person."""
        digits = identity.value.strip().removeprefix("+")
        if not DIGITS.fullmatch(digits):
            return ()
        if identity.kind == "whatsapp":
            return (_phone_of(digits),)
        return (IdentityRef("whatsapp", digits),)

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        """Check ``X-Hub-Signature-256``, the hex HMAC-SHA256 of the raw body keyed with the
        app secret. The raw bytes are hashed: Meta signs its own (unicode-escaped)
        serialisation, which re-encoding the parsed JSON would not reproduce."""
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise MissingSignature(f"the request carries no {SIGNATURE_HEADER} header")
        if not header.startswith(SIGNATURE_PREFIX):
            raise BadSignature(f"{SIGNATURE_HEADER} is not of the form 'sha256=<hex>'")
        secret = _settings(account).app_secret.get_secret_value().encode()
        expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        if not constant_time_equal(expected, header.removeprefix(SIGNATURE_PREFIX).lower()):
            raise BadSignature("the payload signature does not match the app secret")

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """One message per ``messages[]`` item of every ``messages`` change addressed to this
        account's number. Delivery receipts (``statuses[]``) and other fields (template
        status, account updates) carry no customer message and give none."""
        return [
            _inbound(message, value.contacts, request.received_at)
            for value in _addressed(account, request, _MessagesValue)
            for message in value.messages
        ]

    def receipts(self, account: ChannelAccount, request: WebhookRequest) -> list[Receipt]:
        """One receipt per ``statuses[]`` item (``delivered``, ``read`` or ``failed``, with
        the first error's code and title) of the ``messages`` changes addressed to this
        account's number; ``sent`` tells nothing new and gives none."""
        return [
            Receipt(
                external_id=status.id,
                status=RECEIPT_STATUSES[status.status],
                at=provider_time(
                    status.timestamp, name="status timestamp", received_at=request.received_at
                ),
                error=(
                    f"{status.errors[0].code} {status.errors[0].title}".strip()
                    if status.errors
                    else None
                ),
            )
            for value in _addressed(account, request, _StatusesValue)
            for status in value.statuses
            if status.status in RECEIPT_STATUSES
        ]

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send a text message and return its ``wamid``.

        WhatsApp has no reply tokens, so ``reply_token`` is not used. Free-form text only
        reaches a customer who wrote in the last 24 hours; outside that window Meta refuses
        it with code 131047 and only an approved template can be sent.
        """
        settings = _settings(account)
        url = f"{GRAPH_API}/{settings.api_version}/{settings.phone_number_id}/messages"
        message = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _recipient(recipient),
            "type": "text",
            "text": {"body": text},
        }
        headers = {"Authorization": f"Bearer {settings.access_token.get_secret_value()}"}
        response = call_provider(
            "WhatsApp", lambda: client.post(url, json=message, headers=headers)
        )
        if not response.is_success:
            raise _send_error(response)
        return accepted_id(response, "WhatsApp", lambda answer: answer["messages"][0]["id"])


def _settings(account: ChannelAccount) -> WhatsAppAccountSettings:
    if not isinstance(account.credentials, WhatsAppAccountSettings):
        raise TypeError(f"account {account.name!r} is not configured as a WhatsApp account")
    return account.credentials


def _addressed(account: ChannelAccount, request: WebhookRequest, shape: type[Value]) -> list[Value]:
    """The ``messages`` changes of a notification addressed to this account's number."""
    number = _settings(account).phone_number_id
    payload = parse_json(request.body)
    try:
        notification = _Notification.model_validate(payload)
        values = [
            shape.model_validate(change.value)
            for entry in notification.entry
            for change in entry.changes
            if change.field == "messages"
        ]
    except ValidationError as exc:
        raise MalformedPayload(f"not a WhatsApp notification: {_first_error(exc)}") from None
    return [value for value in values if value.metadata.phone_number_id == number]


def _inbound(message: _Message, contacts: list[_Contact], received_at: datetime) -> InboundMessage:
    names = {contact.wa_id: contact.profile.name for contact in contacts if contact.profile}
    return InboundMessage(
        external_id=message.id,
        # The sender is also known by the number their wa_id is made of: it links the
        # WhatsApp contact to SMS and call history.
        identities=(IdentityRef("whatsapp", message.sender), _phone_of(message.sender)),
        occurred_at=provider_time(message.timestamp, name="timestamp", received_at=received_at),
        kind=message.type,
        text=_text(message),
        display_name=names.get(message.sender),
    )


def _text(message: _Message) -> str | None:
    """What the customer wrote or chose: the body, a quick-reply button's label, an
    interactive reply's title, or a media caption."""
    if message.text is not None:
        return message.text.body
    if message.button is not None:
        return message.button.text
    if message.interactive is not None:
        choice = message.interactive.button_reply or message.interactive.list_reply
        return choice.title if choice is not None else None
    media = message.image or message.video or message.document
    return media.caption if media is not None else None


def _phone_of(wa_id: str) -> IdentityRef:
    """A wa_id is its holder's phone number in international digits."""
    return IdentityRef("phone", f"+{wa_id}")


def _recipient(recipient: IdentityRef) -> str:
    """The ``to`` of a send: a wa_id, or an E.164 number's digits (Meta takes either)."""
    if recipient.kind not in WhatsAppChannel.identity_kinds:
        raise SendError(f"WhatsApp cannot send to a {recipient.kind} identity", retryable=False)
    digits = recipient.value.strip().removeprefix("+")
    if not DIGITS.fullmatch(digits):
        # The value stays out of the message: errors are logged, phone numbers are personal.
        raise SendError(
            f"the {recipient.kind} identity is not a number WhatsApp can send to",
            retryable=False,
        )
    return digits


def _send_error(response: httpx.Response) -> SendError:
    """A Graph error, retryable by its code; Meta answers most errors, throttling
    included, with HTTP 400, so the status alone cannot tell."""
    try:
        error = response.json()["error"]
        code = int(error["code"])
    except (ValueError, LookupError, TypeError):
        retryable = response.status_code == 429 or response.status_code >= 500
        return SendError(
            f"WhatsApp answered {response.status_code}: {response.text[:200]}",
            retryable=retryable,
        )
    subcode = f"/{error['error_subcode']}" if error.get("error_subcode") is not None else ""
    retryable = (
        code in RETRYABLE_CODES or response.status_code == 429 or response.status_code >= 500
    )
    return SendError(
        f"WhatsApp answered {response.status_code}, error {code}{subcode}:"
        f" {error.get('message', '')} (fbtrace_id {error.get('fbtrace_id', '-')})",
        retryable=retryable,
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"
