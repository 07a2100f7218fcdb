"""Channels: what a messaging network's plugin implements, and the types it speaks in.

A channel plugin registers one :class:`Channel` through the ``register_channels`` hook. The
core owns everything around it: routing ``/webhooks/{channel}/{account}`` to the account's
channel, the body-size limit, the inbox that makes a provider's retry harmless, identity
resolution, the timeline, event hooks and retries of outbound sends. A channel only knows
its provider's protocol:

1. :meth:`Channel.handshake` answers the provider's URL check (a GET), if it has one;
2. :meth:`Channel.verify` checks the signature on the **raw** body before anything is parsed;
3. :meth:`Channel.parse` turns the verified body into :class:`InboundMessage` values
   (:func:`parse_json` and :func:`provider_time` read a provider's JSON and times safely);
4. :meth:`Channel.respond` writes the HTTP answer once the messages are safely stored,
   with passive replies where the provider takes them in the response;
5. :meth:`Channel.send` sends a message through the provider's API with ``httpx``, and
   :meth:`Channel.send_answer` one that answers the customer's last message, where the
   provider threads answers (email).

A channel whose messages regiocrm fetches itself (email's IMAP mailboxes) says so with
:meth:`Channel.polls`; ``regiocrm worker`` then runs :meth:`Channel.poll` for the account,
which hands what it fetched to :meth:`PollControl.keep`, stored as a webhook's messages are.

Every method gets the :class:`ChannelAccount` it acts for, whose ``credentials`` are the
channel's own validated settings model (secrets as ``SecretStr``).
"""

from __future__ import annotations

import enum
import hmac
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel
from pydantic_core import from_json

from regiocrm.interfaces.settings import Section

# Outbound provider calls: long enough for a slow provider, short enough that a retry with
# backoff still answers an agent within a minute.
PROVIDER_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class ChannelError(Exception):
    """A webhook request the channel refuses; ``status`` is the HTTP answer."""

    status: ClassVar[int] = 400


class MissingSignature(ChannelError):
    """The request carries no signature at all."""

    status = 401


class BadSignature(ChannelError):
    """The signature does not match the body and the account's secret."""

    status = 403


class StaleRequest(BadSignature):
    """The signed timestamp is too old (or too far ahead) to be a live request."""


class ReplayedSignature(BadSignature):
    """A signature that does not cover the body came again with another body."""


class MalformedPayload(ChannelError):
    """The body is signed correctly but is not the channel's JSON or XML, or is hostile."""

    status = 400


class NoHandshake(ChannelError):
    """The channel verifies its URL in no way: a GET is not for it."""

    status = 405


class SendError(Exception):
    """A provider refused or failed an outbound message.

    :param retryable: whether trying again later may succeed (timeouts, 429, 5xx).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class IdentityRef:
    """An identity as a channel reports it: a kind (``line``, ``wechat_openid``, ``phone``…)
    and the value as given; the core normalises it with the ``normalize_identity`` hook."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message.

    :param size: its size in bytes, as received.
    :param content: its bytes, where the channel kept them (an email account keeps those
        below its ``stored_attachment_bytes``); None for the others, named only.
    """

    filename: str | None
    content_type: str
    size: int
    content: bytes | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One message or event from a customer, as the channel parsed it.

    :param external_id: the provider's id for it, unique per channel account; a redelivery
        carries the same id, so the inbox stores it once. Where the provider gives none
        (WeChat events), a key derived from the sender, time and event.
    :param identities: who sent it, most specific first: the channel identity, then any
        other the provider vouches for (a WhatsApp sender's phone number, a UnionID).
    :param occurred_at: when the customer sent it, timezone-aware.
    :param kind: ``text``, ``image``, ``location``…, or ``event`` for follow/unfollow.
    :param text: the text of a text message.
    :param event: for ``kind == "event"``: ``follow`` or ``unfollow``, or the provider's name.
    :param reply_token: a token some providers (LINE) give to answer this message for free.
    :param display_name: the sender's profile name, when the payload has one.
    :param subject: what the customer titled it, where the channel has titles (an email's
        subject); an answer's title follows from it.
    :param summary: the line lists show for it, where the start of ``text`` would mislead:
        an email's new words, without the reply it quotes. None: the start of the text.
    :param thread: the provider's ids of the messages it answers, oldest first (an email's
        ``References`` and ``In-Reply-To``). The core files the message under the open case
        of the message it answers, and an answer to it carries them on
        (:meth:`Channel.send_answer`).
    :param automated: why no robot may answer it, for a message a machine sent (an
        auto-responder, a mailing list, a bounce): the core asks no ``auto_reply`` for it,
        so that two robots never write to each other for ever. None for a person's.
    :param attachments: the files that came with it.
    """

    external_id: str
    identities: tuple[IdentityRef, ...]
    occurred_at: datetime
    kind: str = "text"
    text: str | None = None
    event: str | None = None
    reply_token: str | None = None
    display_name: str | None = None
    subject: str | None = None
    summary: str | None = None
    thread: tuple[str, ...] = ()
    automated: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request to ``/webhooks/{channel}/{account}``, body unparsed.

    :param url: the full URL the provider called (Twilio signs it).
    :param headers: header names in lower case.
    """

    method: str
    url: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class BodylessSignature:
    """A verified signature that leaves the body out (WeChat's plaintext mode signs only
    token, timestamp and nonce), so that the same signed request could carry any body
    until it goes stale.

    The core records it with a digest of the body, in the transaction that stores the
    request's messages: the same signature with the same body again is a redelivery, with
    another body it is refused (:class:`ReplayedSignature`).

    :param key: what identifies the signed request (WeChat: timestamp, nonce, signature).
    :param valid_until: when the channel stops accepting the signature as fresh; the
        record is kept until then.
    """

    key: str
    valid_until: datetime


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: bytes = b""
    media_type: str = "text/plain"


@dataclass(frozen=True)
class ChannelAccount:
    """One configured account on a channel (``[channel_accounts.<name>]``).

    :param credentials: the channel's own settings model, validated.
    """

    name: str
    channel: str
    market: str
    credentials: Any


@dataclass(frozen=True)
class Reply:
    """A passive reply to one inbound message, in the language negotiated for it."""

    message: InboundMessage
    text: str


class ReceiptStatus(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True)
class Receipt:
    """The provider's word on a message sent: ``external_id`` is the id :meth:`Channel.send`
    returned for it."""

    external_id: str
    status: ReceiptStatus
    at: datetime
    error: str | None = None


class Channel(ABC):
    """A messaging network. Subclass it, set the class attributes, implement the methods.

    :cvar name: the channel's name in URLs and settings (``wechat``, ``line``…).
    :cvar account_settings: the pydantic model of an account's credentials; subclass
        :class:`ChannelAccountSettings` and use ``SecretStr`` for every secret.
    :cvar reply_deadline: how long the provider waits for the HTTP answer before it
        gives up and retries; the core stores and answers first, and does the rest after.
    :cvar replies_in_response: whether passive replies go in the HTTP answer (WeChat XML,
        Kakao skill JSON, TwiML); otherwise the core sends them with :meth:`send`.
    :cvar identity_kinds: the identity kinds this channel reports.
    :cvar redelivers: whether the provider sends a message again when it is not sure it
        arrived (most do, with the same message id). A provider that never does, and
        gives no message id, makes every request a message of its own: a customer who
        writes the same words twice is heard twice.
    :cvar sends_per_second: how many messages a campaign sends per second through one
        account: the provider's documented limit, with a margin (``[campaigns.send_rates]``
        may lower it).
    :cvar private_query_parameters: query parameters of the provider's webhook requests
        whose values no log may show: a credential, a signature over one (which would let
        a reader replay the request, or guess a weak credential offline), or who the
        sender is. The account's configured secrets are kept out of logs anyway.
    """

    name: ClassVar[str]
    account_settings: ClassVar[type[ChannelAccountSettings]]
    reply_deadline: ClassVar[timedelta] = timedelta(seconds=5)
    replies_in_response: ClassVar[bool] = False
    identity_kinds: ClassVar[tuple[str, ...]] = ()
    redelivers: ClassVar[bool] = True
    sends_per_second: ClassVar[float] = 10.0
    private_query_parameters: ClassVar[tuple[str, ...]] = ()

    def handshake(self, account: ChannelAccount, request: WebhookRequest) -> WebhookResponse:
        """Answer a GET: the provider's URL verification. Default: none (405).

        :raises ChannelError: when the check fails.
        :raises NoHandshake: by default.
        """
        raise NoHandshake("this webhook takes POST requests")

    @abstractmethod
    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        """Check the request's signature against the raw body, in constant time.

        :raises MissingSignature: when there is none.
        :raises BadSignature: when it does not match, or the signed time is stale.
        """

    def bodyless_signature(
        self, account: ChannelAccount, request: WebhookRequest
    ) -> BodylessSignature | None:
        """The verified signature of a request when it does not cover the body, for the core
        to let it carry one body only. Default: None, a signature over the body.
        """
        return None

    @abstractmethod
    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """The messages and events of a verified request (possibly none).

        :raises MalformedPayload: for a body that is not the channel's format.
        """

    def receipts(self, account: ChannelAccount, request: WebhookRequest) -> list[Receipt]:
        """The delivery receipts of a verified request: what became of messages sent.
        Default: none (the provider reports no delivery).

        :raises MalformedPayload: for a body that is not the channel's format.
        """
        return []

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        """The HTTP answer once ``messages`` are stored (a retry's too). Default: empty 200.

        :param replies: passive replies, when :attr:`replies_in_response` is true.
        """
        return WebhookResponse()

    def same_person(self, identity: IdentityRef) -> tuple[IdentityRef, ...]:
        """The other identities that name whoever holds ``identity`` (of one of this
        channel's :attr:`identity_kinds`) by the provider's own construction: a WhatsApp id
        is its holder's phone number in digits. The core checks an identity a user enters
        against these too, so that a record cannot claim, through one of them, a customer
        already known by the other. Default: none.
        """
        return ()

    def enrich(
        self, account: ChannelAccount, message: InboundMessage, *, client: httpx.Client
    ) -> InboundMessage:
        """The message with more of its sender's identities, from the provider's API.

        Asked by the inbox worker before the sender is resolved, never while the provider
        waits for its answer. WeChat adds the sender's UnionID, which links their OpenIDs
        across official accounts. Default: the message as it is.

        :raises SendError: when the provider cannot be asked; the core then resolves the
            message with the identities it has, and logs why.
        """
        return message

    def auto_reply_limit(self, account: ChannelAccount) -> AutoReplyLimit | None:
        """How many auto-replies one sender may get from ``account`` in a while: beyond it
        the core asks no ``auto_reply`` for their messages, so that a robot answering each of
        ours is not answered for ever (RFC 3834 asks this of email). Default: no limit, as a
        messenger's keyword replies need none.
        """
        return None

    def polls(self, account: ChannelAccount) -> bool:
        """Whether regiocrm fetches ``account``'s messages itself (an IMAP mailbox), with
        :meth:`poll`, rather than the provider posting them. Default: no."""
        return False

    def poll(self, account: ChannelAccount, control: PollControl) -> None:
        """Fetch the account's new messages and hand them to :meth:`PollControl.keep`,
        until ``control.stopping`` is set (or after one round, with ``control.once``).

        Start from ``control.cursor``, the cursor kept with the last messages kept, and mark
        what was fetched as done on the provider's side (an IMAP flag, a move) only after
        :meth:`PollControl.keep` returned: it returns once they are committed, and raises
        when they were not. A message that is not one of the channel's (malformed, a mail
        bomb) is kept as far as it can be, with the reason, or left marked so that it does
        not come back: never retried for ever. Fetching the same message twice is harmless,
        the inbox keeps it once by its id.

        :raises PollFailed: when the provider cannot be reached or refuses (wrong password);
            the core records why, waits, and polls again.
        """
        raise NotImplementedError(f"{self.name} accounts are not polled")

    def send_answer(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        answering: InboundMessage,
        reply_token: str | None = None,
        automatic: bool = False,
    ) -> str:
        """Send ``text`` as the answer to ``answering``, the customer's last message on this
        route: an auto-reply to it, or an agent's answer. A channel whose provider threads
        answers overrides this (email's ``In-Reply-To``, ``References`` and subject, and its
        ``Auto-Submitted`` header for an ``automatic`` one). Default: :meth:`send`.
        """
        return self.send(account, recipient, text, client=client, reply_token=reply_token)

    @abstractmethod
    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send ``text`` to ``recipient`` through the provider's API; return the provider's id
        for the sent message (or a stable local one where the provider gives none).

        :param client: the HTTP client to use (its transport is mocked in tests).
        :param reply_token: answer an inbound message with it where the provider allows.
        :raises SendError: when the provider refuses or fails, saying whether to retry.
        """


@dataclass(frozen=True)
class AutoReplyLimit:
    """At most ``replies`` auto-replies to one sender within ``per``."""

    replies: int
    per: timedelta


class PollFailed(Exception):
    """The provider of a polled account cannot be reached or refuses (a wrong password, a
    folder gone); the text says why, without a secret."""


@dataclass(frozen=True)
class Fetched:
    """What one poll brought in, to be kept in one transaction.

    :param cursor: where the account stands once these are kept (an IMAP folder's
        ``UIDVALIDITY`` and last UID); the next poll starts from it.
    :param receipts: what became of messages sent (bounces).
    """

    messages: Sequence[InboundMessage]
    cursor: str
    receipts: Sequence[Receipt] = ()


class PollControl(ABC):
    """What the core hands :meth:`Channel.poll`: where the last poll stopped, the way to
    keep what was fetched, and when to stop.

    :ivar cursor: the cursor kept with the last messages kept; None before the first.
    :ivar once: poll one round and return (``regiocrm inbox poll``), rather than wait for
        more until ``stopping``.
    """

    cursor: str | None
    once: bool
    stopping: threading.Event

    @abstractmethod
    def keep(self, fetched: Fetched) -> Mapping[str, str]:
        """Store the messages in the inbox (once each: a message kept before is found by
        its id), apply the receipts and keep the cursor, in one transaction; returns once
        it is committed, with the messages it refused (a sender that is no identity, an id
        too long to keep): the reason, by message id. Mark those done too, as refused, or
        they would come back at every poll.

        :raises Exception: when it was not committed: mark nothing done.
        """

    @abstractmethod
    def connected(self) -> None:
        """Say the provider answers: a failure recorded before is over."""


class ChannelAccountSettings(Section):
    """Base of a channel's account settings: ``channel`` and ``market`` are the core's."""

    channel: str
    market: str


def constant_time_equal(expected: str | bytes, given: str | bytes) -> bool:
    """Compare a computed signature with a received one without leaking where they differ."""
    left = expected.encode() if isinstance(expected, str) else expected
    right = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


# I-JSON (RFC 7493): integers beyond a double's 53 bits do not survive every JSON parser,
# and no provider sends one; a hostile one would only overflow a conversion further on.
JSON_SAFE_INTEGER = 2**53 - 1


def parse_json(body: bytes) -> Any:
    """A webhook's JSON body, parsed so that no signed body can make the parse or what
    follows it fail with anything but :class:`MalformedPayload`.

    pydantic-core's parser refuses invalid UTF-8, lone surrogates (``"\\ud800"``, which no
    database can store), ``NaN`` and ``Infinity``, and nesting deeper than about 200 levels (it
    does not recurse on the Python stack); numbers are then held to I-JSON's range, and a
    float that overflowed to infinity (``1e400``) is refused too.

    :raises MalformedPayload: saying what is wrong and where.
    """
    try:
        payload = from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise MalformedPayload(f"the body is not JSON: {error}") from None
    _check_numbers(payload)
    return payload


def _check_numbers(payload: Any) -> None:
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise MalformedPayload("the body holds a number too large for a float")
        elif isinstance(value, int) and abs(value) > JSON_SAFE_INTEGER:
            raise MalformedPayload(
                f"the body holds the integer {_shortened(value)}, beyond JSON's safe ±2**53"
            )


def _shortened(value: int) -> str:
    digits = str(value)
    return digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits)} digits)"


UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A provider's clock may run ahead of ours by seconds; a day ahead, the time is not a clock's.
PROVIDER_CLOCK_LEAD = timedelta(days=1)


def provider_time(
    value: int, *, name: str, received_at: datetime, milliseconds: bool = False
) -> datetime:
    """A provider's Unix time (seconds, or milliseconds) as a timezone-aware datetime.

    A message cannot be older than Unix time or sent after it arrived: a value before 1970
    or more than :data:`PROVIDER_CLOCK_LEAD` after ``received_at`` is refused, checked in
    integers before any conversion, so no size of number can overflow one.

    :param name: the field, for the reason.
    :raises MalformedPayload: naming the field and the value.
    """
    unit = timedelta(milliseconds=1) if milliseconds else timedelta(seconds=1)
    latest = (received_at + PROVIDER_CLOCK_LEAD - UNIX_EPOCH) // unit
    if not 0 <= value <= latest:
        raise MalformedPayload(
            f"{name} {_shortened(value)} is not a time the message can have been sent at"
        )
    return UNIX_EPOCH + value * unit


def call_provider(provider: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """Make one call to a provider's API; a timeout or a network failure (refused, reset,
    no route) becomes a retryable :class:`SendError` naming the provider."""
    try:
        return call()
    except httpx.TransportError as exc:
        raise SendError(f"{provider} could not be reached: {exc!r}", retryable=True) from exc


def accepted_id(response: httpx.Response, provider: str, read: Callable[[Any], object]) -> str:
    """The message id in a provider's success answer, found by ``read`` in its JSON.

    :raises SendError: not retryable, when the answer has no id: the provider took the
        request, and sending again could deliver the message twice.
    """
    try:
        return str(read(response.json()))
    except (ValueError, LookupError, TypeError):
        raise SendError(
            f"{provider} accepted the message but returned no id: {response.text[:200]}",
            retryable=False,
        ) from None


def raise_for_provider(response: httpx.Response, provider: str) -> None:
    """Turn a provider's HTTP error into a :class:`SendError` that says whether to retry."""
    if response.is_success:
        return
    retryable = response.status_code == 429 or response.status_code >= 500
    raise SendError(
        f"{provider} answered {response.status_code}: {response.text[:200]}", retryable=retryable
    )


@dataclass
class ChannelRegistry:
    """The deployment's channels by name, and its accounts by name."""

    channels: dict[str, Channel] = field(default_factory=dict)
    accounts: dict[str, ChannelAccount] = field(default_factory=dict)

    def account(self, channel: str, name: str) -> tuple[Channel, ChannelAccount] | None:
        account = self.accounts.get(name)
        if account is None or account.channel != channel or channel not in self.channels:
            return None
        return self.channels[channel], account


def validate_account(channel: Channel, name: str, values: Mapping[str, Any]) -> ChannelAccount:
    """An account's settings checked against its channel's model.

    :raises pydantic.ValidationError: for a wrong or missing credential.
    """
    credentials: BaseModel = channel.account_settings.model_validate(dict(values))
    market = str(values["market"])
    return ChannelAccount(name=name, channel=channel.name, market=market, credentials=credentials)
