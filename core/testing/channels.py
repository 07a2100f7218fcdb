"""What the channel conformance kit needs from a channel plugin: a driver that plays the
provider, signing requests exactly as the provider does and answering its API.

A plugin ships a :class:`ChannelDriver` subclass beside its channel (the built-ins keep
theirs in ``regiocrm.plugins.<name>.testing``) and runs the kit against itself::

    from regiocrm.testing.conformance import ChannelConformance
    from my_channel.testing import MyDriver


    class TestMyChannel(ChannelConformance):
        driver = MyDriver()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

from regiocrm.interfaces.channels import (
    Channel,
    ChannelAccount,
    IdentityRef,
    WebhookRequest,
    validate_account,
)


@dataclass(frozen=True)
class SignedRequest:
    """A webhook request as the provider would send it to ``url`` (query included there
    too: ``query`` is what the kit appends to the webhook's path)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"

    def send(self, client: httpx.Client, url: str) -> httpx.Response:
        """Deliver this request to ``url`` through ``client`` (a ``TestClient`` of the app,
        or any ``httpx.Client``), with its query, body and headers as the provider sends
        them."""
        return client.request(
            self.method, url, params=self.query, content=self.body, headers=self.headers
        )

    def with_headers(self, **headers: str) -> SignedRequest:
        return replace(self, headers={**self.headers, **headers})

    def webhook(self, url: str, *, received_at: datetime) -> WebhookRequest:
        """This request as the webhook route hands it to a channel, received at ``url``:
        header names in lower case, as the server gives them."""
        return WebhookRequest(
            method=self.method,
            url=url,
            query=dict(self.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.body,
            received_at=received_at,
        )


class ChannelDriver(ABC):
    """Plays a channel's provider for one account.

    :cvar channel: the channel under test.
    :cvar market: the market of the account the kit configures.
    """

    channel: Channel
    market: str

    @abstractmethod
    def account_settings(self) -> dict[str, Any]:
        """The ``[channel_accounts.<name>]`` values for the account, ``channel`` and
        ``market`` included."""

    def account(self, name: str) -> ChannelAccount:
        """The account named ``name``, validated by the channel's own settings model."""
        return validate_account(self.channel, name, self.account_settings())

    @abstractmethod
    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """``body`` signed for ``url`` as the provider signs it, at time ``at``."""

    @abstractmethod
    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        """The raw body the provider sends for a text message from ``sender``.

        The kit also passes characters no database keeps (NUL, a lone surrogate): write
        them as the format escapes them (JSON's ``\\u0000`` and ``\\ud800``), or let the
        ``UnicodeEncodeError`` of a format that cannot carry them at all propagate.
        """

    def sender(self, number: int) -> str:
        """The ``number``-th distinct sender, as the provider writes it (an id, or a phone
        number for SMS and WhatsApp)."""
        return f"user-{number}"

    @abstractmethod
    def sender_identity(self, sender: str) -> IdentityRef:
        """The identity (kind and normalised value) the core must record for ``sender``."""

    def text_message(
        self, url: str, *, sender: str, text: str, message_id: str, at: datetime
    ) -> SignedRequest:
        """A signed text message, as delivered to ``url``."""
        body = self.text_body(sender=sender, text=text, message_id=message_id, at=at)
        return self.sign(url, body, at=at)

    @abstractmethod
    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        """The same request with no signature at all."""

    @abstractmethod
    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        """The same request with a signature made with the wrong secret."""

    def stale(self, url: str, body: bytes, *, at: datetime) -> SignedRequest | None:
        """``body`` correctly signed, but at a time the channel must refuse as stale; None
        for a channel whose provider signs no time."""
        return None

    def malformed(self, url: str, *, at: datetime) -> SignedRequest:
        """A correctly signed body that is not the channel's format."""
        return self.sign(url, b"<<not the provider's format>>", at=at)

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Correctly signed requests the channel must refuse with 400, storing nothing, by
        what makes each one hostile: the traps of the provider's format, such as nesting
        deeper than a parser should follow (:func:`deeply_nested_json`), numbers or times
        out of range, or text the format can carry but no database can store. Default:
        none."""
        return {}

    def handshake(self, url: str, *, at: datetime) -> tuple[SignedRequest, bytes] | None:
        """A valid URL-verification GET and the body the channel must answer; None for a
        channel whose provider makes no such check."""
        return None

    @abstractmethod
    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """Answer an outbound API call as the provider does when it accepts a message.

        The kit sends through the channel with an ``httpx.MockTransport`` of this method.
        """

    @abstractmethod
    def sent_text(self, request: httpx.Request) -> str | None:
        """The message text in an outbound API call, or None if the call sends no message
        (an access-token request)."""

    def sent_texts(self, calls: list[httpx.Request]) -> list[str | None]:
        """The texts of the messages sent so far: by default those of the outbound API
        ``calls`` (:meth:`sent_text`). A channel that sends by another protocol than HTTP
        (email's SMTP) answers from the server its driver runs."""
        return [self.sent_text(call) for call in calls]


def deeply_nested_json(depth: int = 100_000) -> bytes:
    """A JSON body of ``depth`` nested arrays: a parser that recurses on the Python stack
    for each level fails on it with ``RecursionError``, which is no ``ValueError``."""
    return b"[" * depth + b"]" * depth
