"""The inbox: stored once, processed once, never lost; and the channel hooks around it.

A minimal channel defined here (``echo``) keeps these tests about the core: any channel a
plugin registers gets exactly this treatment.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import CompileError, OperationalError

from regiocrm import hookimpl
from regiocrm.crm.cases import Cases, NewCase
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.http.app import create_app
from regiocrm.interfaces.channels import (
    BadSignature,
    BodylessSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    ReplayedSignature,
    Reply,
    SendError,
    WebhookRequest,
    WebhookResponse,
    constant_time_equal,
)
from regiocrm.messaging import inbox as inbox_module
from regiocrm.messaging.inbox import (
    InboxRef,
    InboxWorker,
    Stored,
    process,
    process_batch,
    remember_signature,
    reply_timeline_id,
    requeue_failed,
    store,
    waiting,
)
from regiocrm.messaging.pipeline import InboxPipeline
from regiocrm.models import (
    CaseStatus,
    Conversation,
    Customer,
    Direction,
    Identity,
    InboxMessage,
    InboxStatus,
    Interaction,
    Priority,
    ReplyStatus,
    SeenSignature,
)
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.testing import upgrade_zones


class EchoSettings(ChannelAccountSettings):
    channel: Literal["echo"] = "echo"
    key: SecretStr
    profiles: bool = False


class PushSettings(EchoSettings):
    channel: Literal["push"] = "push"  # type: ignore[assignment]


class EchoChannel(Channel):
    """Signs with a shared key header; a JSON body of ``{"id", "from", "text"}``; replies in
    the HTTP answer as ``{"reply": ...}``."""

    name = "echo"
    account_settings = EchoSettings
    replies_in_response = True
    identity_kinds = ("echo",)

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        given = request.headers.get("x-echo-key")
        if given is None:
            raise MissingSignature("no x-echo-key header")
        if not constant_time_equal(account.credentials.key.get_secret_value(), given):
            raise BadSignature("wrong x-echo-key")

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        try:
            data = json.loads(request.body)
            return [
                InboundMessage(
                    external_id=item["id"],
                    identities=(IdentityRef("echo", item["from"]),),
                    occurred_at=datetime.fromisoformat(item["at"]),
                    text=item.get("text"),
                    kind=item.get("kind", "text"),
                    event=item.get("event"),
                )
                for item in data
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedPayload(f"not an echo body: {exc}") from None

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        body = json.dumps({"reply": [reply.text for reply in replies]}).encode()
        return WebhookResponse(200, body, "application/json")

    def enrich(
        self, account: ChannelAccount, message: InboundMessage, *, client: httpx.Client
    ) -> InboundMessage:
        """Asks the provider for the sender's e-mail address, where the account may."""
        if not account.credentials.profiles:
            return message
        answer = client.get(
            "https://echo.invalid/profile", params={"user": message.identities[0].value}
        )
        if answer.status_code != 200:
            raise SendError(f"profile: {answer.status_code}", retryable=True)
        email = IdentityRef("email", answer.json()["email"])
        return replace(message, identities=(*message.identities, email))

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        return client.post("https://echo.invalid/send", json={"to": recipient.value}).text


class PushChannel(EchoChannel):
    """Echo, but replies go out through its send API, which the test reads from ``sent``
    (so even a CLI run with its own HTTP client touches no network); it refuses a text
    that says "refuse"."""

    name = "push"
    account_settings = PushSettings
    replies_in_response = False

    def __init__(self, sent: list[tuple[str, str]]) -> None:
        self.sent = sent

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        if "refuse" in text:
            raise SendError("400: refused", retryable=False)
        self.sent.append((recipient.value, text))
        return f"push-{len(self.sent)}"


class EchoPlugin:
    def __init__(self) -> None:
        self.received: list[tuple[InboundMessage, str, uuid.UUID, uuid.UUID]] = []
        self.replies: list[tuple[str, str]] = []
        self.sent: list[tuple[str, str]] = []

    @hookimpl
    def register_channels(self) -> list[Channel]:
        return [EchoChannel(), PushChannel(self.sent)]

    @hookimpl
    def auto_reply(
        self, message: InboundMessage, account: ChannelAccount, locale: str
    ) -> str | None:
        self.replies.append((message.external_id, locale))
        return f"got {message.text}" if message.text else None

    @hookimpl
    def message_received(
        self,
        message: InboundMessage,
        account: ChannelAccount,
        customer_id: uuid.UUID,
        interaction_id: uuid.UUID,
    ) -> None:
        self.received.append((message, account.name, customer_id, interaction_id))


AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC).isoformat()
ACCOUNTS = {
    "echo_jp": {"channel": "echo", "market": "JP", "key": "k3y"},
    "echo_profiles": {"channel": "echo", "market": "JP", "key": "k3y", "profiles": True},
    "push_jp": {"channel": "push", "market": "JP", "key": "k3y"},
}


@pytest.fixture
def echo(register_plugin) -> EchoPlugin:
    plugin = EchoPlugin()
    register_plugin(plugin)
    return plugin


@pytest.fixture
def deployment(deployment_dir, regiocrm_hooks: Hooks, echo: EchoPlugin):
    settings = load_settings(regiocrm_hooks, channel_accounts=ACCOUNTS)
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    yield settings, stores, regiocrm_hooks.channel_registry(settings)
    stores.dispose()


def body(*items: dict[str, Any]) -> bytes:
    return json.dumps([{"at": AT, **item} for item in items]).encode()


def count(stores: ZoneStores, model: Any, *where: Any) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def keep(
    stores: ZoneStores, hooks: Hooks, account: ChannelAccount, messages: list[InboundMessage]
) -> list[Stored]:
    """Store as the webhook does, the auto-replies decided with the messages."""
    with stores.session() as session:
        return store(
            session, account, messages, hooks=hooks, channel=hooks.channels()[account.channel]
        )


def timeline(stores: ZoneStores) -> list[tuple[Direction, str | None, str | None, str | None]]:
    """Every entry's direction, text, summary and provider id, oldest first."""
    with stores.session() as session:
        return [
            tuple(row)
            for row in session.execute(
                select(
                    Interaction.direction,
                    Interaction.text,
                    Interaction.summary,
                    Interaction.external_id,
                ).order_by(Interaction.occurred_at, Interaction.direction)
            )
        ]


def test_hook_register_channels(regiocrm_hooks: Hooks, echo: EchoPlugin) -> None:
    channels = regiocrm_hooks.channels()
    assert isinstance(channels["echo"], EchoChannel)
    assert {"wechat", "line", "kakao", "whatsapp", "sms"} <= set(channels)


def test_channel_account_settings_are_validated_by_the_channel(
    deployment_dir, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    settings = load_settings(regiocrm_hooks, channel_accounts=ACCOUNTS)
    credentials = settings.channel_accounts["echo_jp"]
    assert isinstance(credentials, EchoSettings)
    assert settings.masked()["channel_accounts"]["echo_jp"]["key"] == "**********"


def test_store_keeps_one_row_per_account_and_message_id(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    message = InboundMessage("m1", (IdentityRef("echo", "a"),), datetime.now(UTC), text="hi")
    first = keep(stores, regiocrm_hooks, account, [message])
    second = keep(stores, regiocrm_hooks, account, [message, message])
    assert first[0].inbox is not None
    assert [s.inbox for s in second] == [None, None]
    assert count(stores, InboxMessage) == 1
    assert [s.reply for s in first + second] == ["got hi"] * 3, "the reply kept with the row"
    assert echo.replies == [("m1", "ja_JP")]


def test_store_replaces_what_no_database_keeps(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """NUL (PostgreSQL refuses it in text) and lone surrogates (no UTF-8 form) become U+FFFD
    in every string of a message before any row is written, the same on every database,
    so that processing cannot fail on them after the provider was answered."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    message = InboundMessage(
        "m\x00\ud800",
        (IdentityRef("echo", "u\x00"),),
        datetime.now(UTC),
        text="a\x00b\udfffc",
        display_name="\x00",
    )
    [stored] = keep(stores, regiocrm_hooks, account, [message])
    assert stored.message == replace(
        message,
        external_id="m\ufffd\ufffd",
        identities=(IdentityRef("echo", "u\ufffd"),),
        text="a\ufffdb\ufffdc",
        display_name="\ufffd",
    )
    done = process(stores, regiocrm_hooks, registry, stored.inbox)
    assert done is not None
    with stores.session() as session:
        entry = session.execute(
            select(Interaction.external_id, Interaction.text).where(
                Interaction.direction == Direction.INBOUND
            )
        ).one()
        identities = session.scalars(select(Identity.value)).all()
    assert tuple(entry) == ("m\ufffd\ufffd", "a\ufffdb\ufffdc")
    assert identities == ["u\ufffd"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(
            InboundMessage("m" * 201, (IdentityRef("echo", "a"),), datetime.now(UTC)),
            "the message id is 201 characters long: ids are kept up to 200",
            id="message id",
        ),
        pytest.param(
            InboundMessage("m1", (IdentityRef("echo", "a" * 321),), datetime.now(UTC)),
            "the echo identity is 321 characters long: identities are kept up to 320",
            id="identity",
        ),
    ],
)
def test_store_refuses_what_is_longer_than_its_column(
    deployment, regiocrm_hooks: Hooks, message: InboundMessage, reason: str
) -> None:
    """PostgreSQL refuses a value longer than its column where SQLite keeps it: the inbox
    refuses it on both, before anything is stored, rather than fail on one later."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    fine = InboundMessage("m0", (IdentityRef("echo", "b"),), datetime.now(UTC))
    with pytest.raises(MalformedPayload, match=reason):
        keep(stores, regiocrm_hooks, account, [fine, message])
    assert count(stores, InboxMessage) == 0


def seen_signatures(stores: ZoneStores) -> list[tuple[str, str]]:
    with stores.session() as session:
        rows = session.execute(select(SeenSignature.channel_account, SeenSignature.body_digest))
        return sorted((account, digest) for account, digest in rows)


def test_a_signature_that_leaves_the_body_out_carries_one_body(
    deployment, regiocrm_hooks: Hooks
) -> None:
    """Its first body is remembered; the same body again is a redelivery, another body is
    refused and the caller's transaction stores nothing. Each account has its own."""
    _settings, stores, registry = deployment
    echo_jp, other = registry.accounts["echo_jp"], registry.accounts["echo_profiles"]
    signature = BodylessSignature("1765011600:42:9f0a", datetime.now(UTC) + timedelta(minutes=5))
    for _ in range(2):
        with stores.session() as session:
            remember_signature(session, echo_jp, signature, b"<xml>first</xml>")
    message = InboundMessage("m2", (IdentityRef("echo", "a"),), datetime.now(UTC), text="hi")

    def store_a_replay() -> None:
        with stores.session() as session:
            store(session, echo_jp, [message], hooks=regiocrm_hooks, channel=EchoChannel())
            remember_signature(session, echo_jp, signature, b"<xml>forged</xml>")

    with pytest.raises(ReplayedSignature, match="already used with another body"):
        store_a_replay()
    with stores.session() as session:
        remember_signature(session, other, signature, b"<xml>forged</xml>")
    assert count(stores, InboxMessage) == 0
    assert seen_signatures(stores) == [
        ("echo_jp", hashlib.sha256(b"<xml>first</xml>").hexdigest()),
        ("echo_profiles", hashlib.sha256(b"<xml>forged</xml>").hexdigest()),
    ]


def test_signatures_gone_stale_are_forgotten(deployment) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    now = datetime.now(UTC)
    with stores.session() as session:
        remember_signature(session, account, BodylessSignature("old", now), b"old")
    with stores.session() as session:
        remember_signature(session, account, BodylessSignature("new", now + timedelta(1)), b"new")
    assert seen_signatures(stores) == [("echo_jp", hashlib.sha256(b"new").hexdigest())]


def test_processing_happens_once(deployment, regiocrm_hooks: Hooks, echo: EchoPlugin) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    message = InboundMessage("m1", (IdentityRef("echo", "a"),), datetime.now(UTC), text="hi")
    [stored] = keep(stores, regiocrm_hooks, account, [message])
    assert stored.inbox is not None
    done = process(stores, regiocrm_hooks, registry, stored.inbox)
    again = process(stores, regiocrm_hooks, registry, stored.inbox)
    assert done is not None
    assert again is None
    assert [text for _, text, _, _ in timeline(stores)] == ["hi", "got hi"]
    assert [r[3] for r in echo.received] == [done.interaction_id]


def test_hook_message_received(deployment, regiocrm_hooks: Hooks, echo: EchoPlugin) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    message = InboundMessage("m9", (IdentityRef("echo", "b"),), datetime.now(UTC), text="yo")
    [stored] = keep(stores, regiocrm_hooks, account, [message])
    done = process(stores, regiocrm_hooks, registry, stored.inbox)
    [(got, account_name, customer_id, interaction_id)] = echo.received
    assert got == message
    assert account_name == "echo_jp"
    assert (customer_id, interaction_id) == (done.customer_id, done.interaction_id)


def test_a_crash_before_processing_loses_nothing(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """Stored, then the process died: the next worker to start processes it."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    keep(
        stores,
        regiocrm_hooks,
        account,
        [InboundMessage("m2", (IdentityRef("echo", "c"),), datetime.now(UTC), text="x")],
    )
    assert len(waiting(stores)) == 1
    pipeline = InboxPipeline(stores, regiocrm_hooks, registry, httpx.Client())
    worker = InboxWorker(stores, pipeline.batch)
    worker.start()
    worker.drain()
    worker.stop()
    assert waiting(stores) == []
    assert [text for _, text, _, _ in timeline(stores)] == ["x", "got x"]


def test_a_crash_between_the_timeline_and_the_inbox_zone_adds_nothing_on_retry(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Korean customer writes to a Japanese account: the inbox row is in zone jp, the
    timeline entry in kr. Marking the row processed fails after the entry is committed;
    the retry finds the entry and adds no second one."""
    _settings, stores, registry = deployment
    with stores.session() as session:
        korean = Customers(session, regiocrm_hooks).create(
            NewCustomer(market="KR"), [IdentityRef("echo", "kim")]
        )
    message = InboundMessage("m7", (IdentityRef("echo", "kim"),), datetime.now(UTC), text="안녕")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["echo_jp"], [message])
    assert stored.inbox is not None
    assert stored.inbox.zone == "jp"
    monkeypatch.setattr(inbox_module, "_CLAIM", update(InboxMessage).values(no_such_column="x"))
    with pytest.raises(CompileError):
        process(stores, regiocrm_hooks, registry, stored.inbox)
    monkeypatch.undo()
    with stores.engine("kr").connect() as connection:
        written = connection.execute(select(Interaction.id)).scalars().all()
    assert len(written) == 2, "the entry and its reply were committed before the failure"
    assert [r[3] for r in echo.received] == [], "not announced: the message is not processed"
    assert requeue_failed(stores) == 1
    [again] = waiting(stores)
    done = process(stores, regiocrm_hooks, registry, again)
    assert done is not None
    assert done.customer_id == korean.id
    with stores.engine("kr").connect() as connection:
        entries = connection.execute(select(Interaction.id, Interaction.text)).all()
    assert sorted(entries) == sorted(
        [(done.interaction_id, "안녕"), (reply_timeline_id(stored.inbox.id), "got 안녕")]
    )
    assert sorted(written) == sorted(entry_id for entry_id, _ in entries)
    assert count(stores, Interaction) == 2
    assert [r[3] for r in echo.received] == [done.interaction_id]


def test_a_new_senders_two_messages_processed_at_once_make_one_customer(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers each take one of a new sender's first two messages, and both find no
    customer: the second to commit one fails on the unique identity, and is processed again
    onto the customer the first made, rather than failed for a human to retry."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    sender = (IdentityRef("echo", "new"),)
    now = datetime.now(UTC)
    first, second = keep(
        stores,
        regiocrm_hooks,
        account,
        [InboundMessage("m20", sender, now, text="one"), InboundMessage("m21", sender, now)],
    )
    looked_up = Customers._owners
    racing: list[Any] = []

    def the_other_worker_commits_meanwhile(
        self: Customers, identities: Sequence[IdentityRef]
    ) -> Any:
        owners = looked_up(self, identities)
        if not racing:
            racing.append(None)
            racing[0] = process(stores, regiocrm_hooks, registry, first.inbox)
        return owners

    monkeypatch.setattr(Customers, "_owners", the_other_worker_commits_meanwhile)
    done = process(stores, regiocrm_hooks, registry, second.inbox)
    [other] = racing
    assert done is not None
    assert other is not None
    assert done.customer_id == other.customer_id
    assert count(stores, Customer) == 1
    assert count(stores, InboxMessage, InboxMessage.status == InboxStatus.PROCESSED) == 2
    assert [r[3] for r in echo.received] == [other.interaction_id, done.interaction_id]


def test_a_failed_message_is_kept_with_its_reason_and_can_be_retried(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    [stored] = keep(
        stores,
        regiocrm_hooks,
        account,
        [InboundMessage("m3", (IdentityRef("echo", "a"),), datetime.now(UTC))],
    )

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the identity zone is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(Customers, "resolve", unreachable)
        with pytest.raises(ConnectionError, match="unreachable"):
            process(stores, regiocrm_hooks, registry, stored.inbox)
    with stores.session() as session:
        row = session.get_one(InboxMessage, stored.inbox.id)
        assert row.status is InboxStatus.FAILED
        assert row.error == "ConnectionError: the identity zone is unreachable"
    assert count(stores, Interaction) == 0
    assert requeue_failed(stores) == 1
    assert waiting(stores) == [stored.inbox]


def test_a_message_whose_database_failed_stays_waiting_for_the_workers(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database, not the message, failed (a lost connection, SQLite's full disk): the
    row is not marked failed, which would leave it to a human; it stays waiting, and the
    next claim once its lease lapses processes it."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    [stored] = keep(
        stores,
        regiocrm_hooks,
        account,
        [InboundMessage("m4", (IdentityRef("echo", "a"),), datetime.now(UTC), text="hi")],
    )
    lost = OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise lost

    with monkeypatch.context() as patched:
        patched.setattr(Customers, "resolve", unreachable)
        with pytest.raises(OperationalError):
            process(stores, regiocrm_hooks, registry, stored.inbox)
    with stores.session() as session:
        row = session.get_one(InboxMessage, stored.inbox.id)
        assert (row.status, row.error) == (InboxStatus.RECEIVED, None)
    assert waiting(stores) == [stored.inbox]
    assert process(stores, regiocrm_hooks, registry, stored.inbox) is not None
    assert [text for _, text, _, _ in timeline(stores)] == ["hi", "got hi"]


def test_hook_auto_reply(deployment, regiocrm_hooks: Hooks, echo: EchoPlugin) -> None:
    settings, stores, _registry = deployment
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        answer = client.post(
            "/webhooks/echo/echo_jp",
            content=body({"id": "m1", "from": "a", "text": "こんにちは"}),
            headers={"x-echo-key": "k3y"},
        )
        client.app.state.services.inbox.drain()
    assert answer.json() == {"reply": ["got こんにちは"]}
    # Asked once, when the message was stored, in the market's language.
    assert echo.replies == [("m1", "ja_JP")]
    assert timeline(stores) == [
        (Direction.INBOUND, "こんにちは", None, "m1"),
        (Direction.OUTBOUND, "got こんにちは", "auto-reply", None),
    ]


class Fickle:
    """An auto-reply that differs each time it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl(tryfirst=True)
    def auto_reply(
        self, message: InboundMessage, account: ChannelAccount, locale: str
    ) -> str | None:
        self.asked += 1
        return f"reply #{self.asked}"


@pytest.fixture
def fickle(register_plugin) -> Fickle:
    plugin = Fickle()
    register_plugin(plugin)
    return plugin


def post(client: TestClient, account: str, *items: dict[str, Any]) -> httpx.Response:
    channel = account.split("_")[0]
    return client.post(
        f"/webhooks/{channel}/{account}", content=body(*items), headers={"x-echo-key": "k3y"}
    )


def test_a_reply_in_the_answer_is_decided_once_and_the_timeline_shows_that_text(
    deployment, regiocrm_hooks: Hooks, fickle: Fickle
) -> None:
    """The provider got "reply #1": the timeline says so, and a redelivery of the message
    is answered with it again, without asking anew."""
    settings, stores, _registry = deployment
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        first = post(client, "echo_jp", {"id": "m1", "from": "a", "text": "hi"})
        client.app.state.services.inbox.drain()
        again = post(client, "echo_jp", {"id": "m1", "from": "a", "text": "hi"})
        client.app.state.services.inbox.drain()
    assert first.json() == again.json() == {"reply": ["reply #1"]}
    assert fickle.asked == 1
    assert timeline(stores) == [
        (Direction.INBOUND, "hi", None, "m1"),
        (Direction.OUTBOUND, "reply #1", "auto-reply", None),
    ]


def test_a_reply_through_the_api_is_sent_once_with_the_text_decided_on_arrival(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, fickle: Fickle
) -> None:
    settings, stores, _registry = deployment
    app = create_app(settings, regiocrm_hooks)
    answer = post(TestClient(app), "push_jp", {"id": "p1", "from": "u1", "text": "hi"})
    assert answer.json() == {"reply": []}, "this channel takes no reply in the answer"
    assert (fickle.asked, echo.sent) == (1, []), "decided with the message, not sent yet"
    worker = app.state.services.inbox
    worker.start()
    worker.drain()
    worker.stop()
    assert echo.sent == [("u1", "reply #1")]
    assert fickle.asked == 1
    assert timeline(stores) == [
        (Direction.INBOUND, "hi", None, "p1"),
        (Direction.OUTBOUND, "reply #1", "auto-reply", "push-1"),
    ]
    with stores.session() as session:
        row = session.scalars(select(InboxMessage)).one()
    assert (row.reply, row.reply_status, row.reply_external_id) == (
        "reply #1",
        ReplyStatus.SENT,
        "push-1",
    )


def write_config(stores: ZoneStores, *accounts: str) -> None:
    """The deployment's regiocrm.toml with these accounts of ACCOUNTS, for the CLI."""
    lines = []
    for name in accounts:
        lines.append(f"[channel_accounts.{name}]")
        lines.extend(f'{key} = "{value}"' for key, value in ACCOUNTS[name].items())
    (stores.settings.data_dir.parent / "regiocrm.toml").write_text("\n".join(lines) + "\n")


def test_inbox_retry_sends_the_auto_reply_and_records_it(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, regiocrm_cli
) -> None:
    """Stored, then the server stopped before its worker got to the message: the CLI does
    what the worker would have, and a second run sends nothing more."""
    settings, stores, _registry = deployment
    write_config(stores, "push_jp")
    served = TestClient(create_app(settings, regiocrm_hooks))  # no lifespan: no worker
    assert post(served, "push_jp", {"id": "p2", "from": "u2", "text": "hi"}).status_code == 200
    assert echo.sent == []

    retried = regiocrm_cli("inbox", "retry")
    assert retried.exit_code == 0, retried.stderr
    assert retried.stdout.strip() == "requeued 0 failed; processed 1, failed 0"
    assert regiocrm_cli("inbox", "retry").exit_code == 0
    assert echo.sent == [("u2", "got hi")]
    assert timeline(stores) == [
        (Direction.INBOUND, "hi", None, "p2"),
        (Direction.OUTBOUND, "got hi", "auto-reply", "push-1"),
    ]


def test_inbox_retry_stops_with_the_reason_when_the_database_fails_and_leaves_it_waiting(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, regiocrm_cli, monkeypatch
) -> None:
    """Not a failure of the message: exit 2 with the database's reason, and the message
    still waiting for the next run, not marked failed."""
    settings, stores, _registry = deployment
    write_config(stores, "echo_jp")
    served = TestClient(create_app(settings, regiocrm_hooks))  # no lifespan: no worker
    assert post(served, "echo_jp", {"id": "e1", "from": "u1", "text": "hi"}).status_code == 200

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patched:
        patched.setattr("regiocrm.crm.customers.Customers._owners", lost)
        retried = regiocrm_cli("inbox", "retry")
    assert retried.exit_code == 2
    assert retried.stderr.strip() == (
        "Error: the database failed: server closed the connection; what was not processed"
        " is still waiting: run `regiocrm inbox retry` again once it answers"
    )
    assert "Traceback" not in retried.stderr
    assert count(stores, InboxMessage, InboxMessage.status == InboxStatus.RECEIVED) == 1
    again = regiocrm_cli("inbox", "retry")
    assert again.stdout.strip() == "requeued 0 failed; processed 1, failed 0"


def test_a_reply_sent_before_processing_failed_is_recorded_on_retry_and_not_sent_again(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, regiocrm_cli, monkeypatch
) -> None:
    settings, stores, _registry = deployment
    write_config(stores, "push_jp")

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("identity zone unreachable")

    with monkeypatch.context() as patched:
        # Where every way of resolving a sender looks the identities up: the worker's batch
        # fails, and so does the message alone.
        patched.setattr("regiocrm.crm.customers.Customers._owners", unavailable)
        with TestClient(create_app(settings, regiocrm_hooks)) as client:
            post(client, "push_jp", {"id": "p3", "from": "u3", "text": "hi"})
            client.app.state.services.inbox.drain()
    assert echo.sent == [("u3", "got hi")]
    assert timeline(stores) == []

    retried = regiocrm_cli("inbox", "retry")
    assert retried.exit_code == 0, retried.stderr
    assert retried.stdout.strip() == "requeued 1 failed; processed 1, failed 0"
    assert echo.sent == [("u3", "got hi")], "sent once"
    assert timeline(stores) == [
        (Direction.INBOUND, "hi", None, "p3"),
        (Direction.OUTBOUND, "got hi", "auto-reply", "push-1"),
    ]


def test_a_send_cut_short_is_never_sent_again(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """A worker died while the provider had the reply: it may have gone out, so the next
    attempt processes the message without sending the reply again, or showing it."""
    _settings, stores, registry = deployment
    message = InboundMessage("p4", (IdentityRef("echo", "u4"),), datetime.now(UTC), text="hi")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["push_jp"], [message])
    with stores.session() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == stored.inbox.id)
            .values(reply_status=ReplyStatus.SENDING)
            .execution_options(zones=[stored.inbox.zone])
        )
    done = InboxPipeline(stores, regiocrm_hooks, registry, httpx.Client())(stored.inbox)
    assert done is not None
    assert echo.sent == []
    assert timeline(stores) == [(Direction.INBOUND, "hi", None, "p4")]


def test_a_refused_reply_stays_off_the_timeline_and_the_message_goes_on(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, caplog: pytest.LogCaptureFixture
) -> None:
    _settings, stores, registry = deployment
    message = InboundMessage("p5", (IdentityRef("echo", "u5"),), datetime.now(UTC), text="refuse")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["push_jp"], [message])
    pipeline = InboxPipeline(stores, regiocrm_hooks, registry, httpx.Client())
    assert pipeline(stored.inbox) is not None
    assert pipeline(stored.inbox) is None
    assert timeline(stores) == [(Direction.INBOUND, "refuse", None, "p5")]
    with stores.session() as session:
        assert session.get_one(InboxMessage, stored.inbox.id).reply_status is ReplyStatus.FAILED
    assert "auto-reply to p5 was not sent" in caplog.text
    assert "400: refused" in caplog.text


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({}, body({"id": "m1", "from": "a"}), 401),
        ({"x-echo-key": "wrong"}, body({"id": "m1", "from": "a"}), 403),
        ({"x-echo-key": "k3y"}, b"{not json", 400),
        ({"x-echo-key": "k3y"}, b"x" * 2_000_000, 413),
    ],
    ids=["missing signature", "forged signature", "malformed", "too large"],
)
def test_bad_requests_are_refused_and_nothing_is_stored(
    deployment, regiocrm_hooks: Hooks, headers: dict[str, str], content: bytes, status: int
) -> None:
    settings, stores, _registry = deployment
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        answer = client.post("/webhooks/echo/echo_jp", content=content, headers=headers)
    assert answer.status_code == status
    assert count(stores, InboxMessage) == 0


def test_unknown_channel_or_account_is_not_found(deployment, regiocrm_hooks: Hooks) -> None:
    settings, _stores, _registry = deployment
    with TestClient(create_app(settings, regiocrm_hooks)) as client:
        assert client.post("/webhooks/echo/nobody", content=b"[]").status_code == 404
        assert client.post("/webhooks/fax/echo_jp", content=b"[]").status_code == 404
        # The account exists, but on another channel than the URL says.
        assert client.post("/webhooks/line/echo_jp", content=b"[]").status_code == 404


def test_inbox_cli_reports_failures_and_retries_them(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin, regiocrm_cli, monkeypatch
) -> None:
    _settings, stores, registry = deployment
    (stores.settings.data_dir.parent / "regiocrm.toml").write_text(
        '[channel_accounts.echo_jp]\nchannel = "echo"\nmarket = "JP"\nkey = "k3y"\n'
    )
    message = InboundMessage("m5", (IdentityRef("echo", "d"),), datetime.now(UTC), text="x")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["echo_jp"], [message])

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("identity zone unreachable")

    with monkeypatch.context() as patched:
        patched.setattr("regiocrm.crm.customers.Customers.resolve", unavailable)
        with pytest.raises(ConnectionError):
            process(stores, regiocrm_hooks, registry, stored.inbox)

    status = regiocrm_cli("inbox", "status", "--json")
    assert status.exit_code == 1
    report = json.loads(status.stdout)
    assert report["accounts"] == [
        {"account": "echo_jp", "received": 0, "processed": 0, "failed": 1}
    ]
    assert report["failed"][0]["error"] == "ConnectionError: identity zone unreachable"

    retried = regiocrm_cli("inbox", "retry")
    assert retried.exit_code == 0, retried.stderr
    assert retried.stdout.strip() == "requeued 1 failed; processed 1, failed 0"
    assert [text for _, text, _, _ in timeline(stores)] == ["x", "got x"]
    assert regiocrm_cli("inbox", "status").exit_code == 0


def test_channels_cli_lists_accounts_and_their_webhooks(
    deployment_dir, echo: EchoPlugin, regiocrm_cli
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[channel_accounts.echo_jp]\nchannel = "echo"\nmarket = "JP"\nkey = "k3y"\n'
    )
    listed = regiocrm_cli("channels", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    [echo_row] = [row for row in json.loads(listed.stdout) if row["channel"] == "echo"]
    assert echo_row["accounts"] == [
        {"name": "echo_jp", "market": "JP", "webhook": "/webhooks/echo/echo_jp"}
    ]
    assert "k3y" not in listed.stdout


def test_a_channel_account_with_a_bad_credential_stops_start_up(
    deployment_dir, echo: EchoPlugin, regiocrm_cli
) -> None:
    (deployment_dir / "regiocrm.toml").write_text(
        '[channel_accounts.echo_jp]\nchannel = "echo"\nmarket = "JP"\n'
        '[channel_accounts.echo_fr]\nchannel = "echo"\nmarket = "FR"\nkey = "k"\n'
        '[channel_accounts.fax]\nchannel = "fax"\nmarket = "JP"\n'
    )
    checked = regiocrm_cli("config", "check")
    assert checked.exit_code == 2
    assert (
        "channel_accounts.echo_jp.key: required (not set: add it to"
        f" {deployment_dir / 'regiocrm.toml'} or set REGIOCRM_CHANNEL_ACCOUNTS__ECHO_JP__KEY)"
    ) in checked.stderr
    assert "channel_accounts.fax: Input tag 'fax' found using 'channel' does not match" in (
        checked.stderr
    )


def profile_api(status: int) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"email": f"{request.url.params['user']}@Example.JP"})

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_the_provider_adds_identities_before_resolution(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    _settings, stores, registry = deployment
    message = InboundMessage("m7", (IdentityRef("echo", "kenji"),), datetime.now(UTC), text="x")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["echo_profiles"], [message])
    done = process(stores, regiocrm_hooks, registry, stored.inbox, client=profile_api(200))
    with stores.session() as session:
        kinds = session.execute(
            select(Identity.kind, Identity.value).where(Identity.customer_id == done.customer_id)
        ).all()
    assert sorted(kinds) == [("echo", "kenji"), ("email", "kenji@example.jp")]


def test_a_provider_that_cannot_enrich_does_not_lose_the_message(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    _settings, stores, registry = deployment
    message = InboundMessage("m8", (IdentityRef("echo", "yuki"),), datetime.now(UTC), text="x")
    [stored] = keep(stores, regiocrm_hooks, registry.accounts["echo_profiles"], [message])
    done = process(stores, regiocrm_hooks, registry, stored.inbox, client=profile_api(503))
    assert done is not None
    assert count(stores, Identity) == 1
    assert count(stores, Interaction, Interaction.direction == Direction.INBOUND) == 1


def test_a_message_from_a_customer_with_an_open_case_is_attached_to_it(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    with stores.session() as session:
        customer = Customers(session, regiocrm_hooks).create(
            NewCustomer(market="JP"), [IdentityRef("echo", "tanaka")]
        )
        cases = Cases(session, regiocrm_hooks)
        older = cases.open(NewCase(customer.id, "JP", Priority.NORMAL, "塗装の傷"), actor_id=None)
        newer = cases.open(NewCase(customer.id, "JP", Priority.HIGH, "異音"), actor_id=None)

    def write(message_id: str) -> Any:
        message = InboundMessage(
            message_id, (IdentityRef("echo", "tanaka"),), datetime.now(UTC), text="まだですか"
        )
        [stored] = keep(stores, regiocrm_hooks, account, [message])
        done = process(stores, regiocrm_hooks, registry, stored.inbox)
        with stores.session() as session:
            return session.get_one(Interaction, done.interaction_id).case_id

    assert write("m1") == newer.id, "the newest open case"
    with stores.session() as session:
        cases = Cases(session, regiocrm_hooks)
        for status in (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED):
            cases.transition(newer.id, status, actor_id=None)
    assert write("m2") == older.id
    with stores.session() as session:
        cases = Cases(session, regiocrm_hooks)
        for status in (CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.CLOSED):
            cases.transition(older.id, status, actor_id=None)
    assert write("m3") is None, "no open case: the message stands alone"


# --- batches, as the worker processes them -------------------------------------------------


def stored_batch(
    stores: ZoneStores, hooks: Hooks, account: ChannelAccount, senders: list[str], first: int = 0
) -> list[InboxRef]:
    """One stored message from each of ``senders``, in order; their inbox rows."""
    now = datetime.now(UTC)
    messages = [
        InboundMessage(
            f"b{first + n}",
            (IdentityRef("echo", sender),),
            now + timedelta(seconds=n),
            text=f"batch {first + n}",
        )
        for n, sender in enumerate(senders)
    ]
    return [s.inbox for s in keep(stores, hooks, account, messages) if s.inbox is not None]


def statements_for(stores: ZoneStores, action: Callable[[], object]) -> int:
    """How many statements the zones' databases ran while ``action`` did."""
    ran = [0]

    def counted(*args: Any) -> None:
        ran[0] += 1

    engines = [stores.engine(zone) for zone in stores.names]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counted)
    try:
        action()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counted)
    return ran[0]


def test_a_batch_puts_every_message_on_its_senders_timeline_once(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """A new sender's two messages in one batch make one customer; a known sender's goes
    to them; the conversations count each message unread; each message is announced once,
    after the commit."""
    _settings, stores, registry = deployment
    with stores.session() as session:
        known = Customers(session, regiocrm_hooks).create(
            NewCustomer(market="JP"), [IdentityRef("echo", "known")]
        )
    account = registry.accounts["echo_jp"]
    batch = stored_batch(stores, regiocrm_hooks, account, ["new", "known", "new"])
    done = process_batch(stores, regiocrm_hooks, registry, batch)
    assert all(result is not None for result in done)
    new_customer = done[0].customer_id
    assert [result.customer_id for result in done] == [new_customer, known.id, new_customer]
    assert count(stores, Identity, Identity.value == "new") == 1
    assert waiting(stores) == []
    with stores.session() as session:
        unread = dict(session.execute(select(Conversation.customer_id, Conversation.unread)).all())
        entries = session.execute(
            select(Interaction.customer_id, Interaction.text).where(
                Interaction.direction == Direction.INBOUND
            )
        ).all()
    assert unread == {new_customer: 2, known.id: 1}
    assert sorted(entries, key=lambda e: e[1]) == [
        (new_customer, "batch 0"),
        (known.id, "batch 1"),
        (new_customer, "batch 2"),
    ]
    assert [(m.external_id, c) for m, _, c, _ in echo.received] == [
        ("b0", new_customer),
        ("b1", known.id),
        ("b2", new_customer),
    ]


def test_a_batch_costs_the_same_statements_for_ten_messages_as_for_forty(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """Known senders: looking them up, writing the entries and marking the rows is done
    for the whole batch, not message by message."""
    _settings, stores, registry = deployment
    account = registry.accounts["echo_jp"]
    senders = [f"s{n}" for n in range(40)]
    first = stored_batch(stores, regiocrm_hooks, account, senders)
    process_batch(stores, regiocrm_hooks, registry, first)  # now every sender is known

    def statements(size: int, offset: int) -> int:
        batch = stored_batch(stores, regiocrm_hooks, account, senders[:size], first=offset)
        return statements_for(
            stores, lambda: process_batch(stores, regiocrm_hooks, registry, batch)
        )

    ten, forty = statements(10, 100), statements(40, 200)
    assert forty == ten, f"10 messages took {ten} statements, 40 took {forty}"
    assert waiting(stores) == []
    assert count(stores, Interaction, Interaction.direction == Direction.INBOUND) == 90


def test_a_batch_leaves_a_message_it_cannot_process_failed_and_does_the_rest(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """One row's account is no longer configured: that row fails with the reason, the
    batch around it is processed."""
    _settings, stores, registry = deployment
    batch = stored_batch(stores, regiocrm_hooks, registry.accounts["echo_jp"], ["a", "b", "c"])
    with stores.session() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == batch[1].id)
            .values(channel_account="echo_gone")
        )
    done = process_batch(stores, regiocrm_hooks, registry, batch)
    assert [result is None for result in done] == [False, True, False]
    with stores.session() as session:
        states = dict(session.execute(select(InboxMessage.external_id, InboxMessage.status)).all())
        [error] = session.scalars(
            select(InboxMessage.error).where(InboxMessage.status == InboxStatus.FAILED)
        )
    assert states == {"b0": "processed", "b1": "failed", "b2": "processed"}
    assert error == "LookupError: channel account 'echo_gone' is not configured"
    assert count(stores, Interaction, Interaction.direction == Direction.INBOUND) == 2


def test_a_batch_skips_what_another_worker_processed_and_places_each_customer_by_residency(
    deployment, regiocrm_hooks: Hooks, echo: EchoPlugin
) -> None:
    """In a batch claimed by a Japanese account: a message another worker took meanwhile,
    and a Korean customer's, whose timeline lives in zone kr."""
    _settings, stores, registry = deployment
    with stores.session() as session:
        korean = Customers(session, regiocrm_hooks).create(
            NewCustomer(market="KR"), [IdentityRef("echo", "kim")]
        )
    batch = stored_batch(stores, regiocrm_hooks, registry.accounts["echo_jp"], ["a", "kim", "c"])
    taken = process(stores, regiocrm_hooks, registry, batch[2])
    assert taken is not None
    done = process_batch(stores, regiocrm_hooks, registry, batch)
    assert done[2] is None, "another worker had it"
    assert done[1] is not None
    assert done[1].customer_id == korean.id
    with stores.engine("kr").connect() as connection:
        in_korea = connection.execute(select(Interaction.text)).scalars().all()
    assert sorted(in_korea) == ["batch 1", "got batch 1"], "the message and its reply"
    assert count(stores, Interaction, Interaction.direction == Direction.INBOUND) == 3
    assert sorted(m.external_id for m, *_ in echo.received) == ["b0", "b1", "b2"]
