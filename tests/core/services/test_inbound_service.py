"""The inbound service: a delivery is verified, parsed and committed before its answer is
made, stored once however often it comes, and the inbox retried through the very pipeline
the serving process's worker runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from regiocrm import hookimpl
from regiocrm.interfaces.channels import (
    BadSignature,
    ChannelAccount,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    WebhookRequest,
)
from regiocrm.interfaces.terms import InboxStatus
from regiocrm.messaging.inbox import InboxRef, waiting
from regiocrm.models import Conversation, Direction, InboxMessage, Interaction
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.plugins.channels.line.testing import LineDriver
from regiocrm.services.application import Application
from regiocrm.services.inbound import InboundService, UnknownAccount
from regiocrm.testing import upgrade_zones

LINE = LineDriver()
URL = "http://testserver/webhooks/line/line_jp"
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Replier:
    @hookimpl
    def auto_reply(
        self, message: InboundMessage, account: ChannelAccount, locale: str
    ) -> str | None:
        return f"got {message.text}"


class Provider:
    """LINE's API, keeping what was sent through it."""

    def __init__(self) -> None:
        self.sent: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(LINE.sent_text(request))
        return LINE.provider_api(request)


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def application(
    deployment_dir: Any, regiocrm_hooks: Hooks, register_plugin: Any, provider: Provider
) -> Iterator[Application]:
    register_plugin(Replier())
    settings = load_settings(regiocrm_hooks, channel_accounts={"line_jp": LINE.account_settings()})
    client = httpx.Client(transport=httpx.MockTransport(provider))
    app = Application.open(settings, regiocrm_hooks, http_client=client)
    upgrade_zones(app.stores, regiocrm_hooks)
    yield app
    app.close()
    client.close()


def request(message_id: str = "m1", *, sender: int = 1) -> WebhookRequest:
    signed = LINE.text_message(
        URL, sender=LINE.sender(sender), text="こんにちは", message_id=message_id, at=AT
    )
    return as_received(signed.body, signed.headers)


def as_received(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=URL,
        query={},
        headers={name.lower(): value for name, value in headers.items()},
        body=body,
        received_at=datetime.now(UTC),
    )


def inbox(app: Application) -> list[tuple[str, InboxStatus, str | None]]:
    with app.transaction() as session:
        rows = session.execute(
            select(InboxMessage.external_id, InboxMessage.status, InboxMessage.reply).order_by(
                InboxMessage.external_id
            )
        )
        return [tuple(row) for row in rows]


def timeline_length(app: Application) -> int:
    with app.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Interaction)) or 0)


def test_a_delivery_is_kept_once_with_its_reply_and_handed_to_the_worker(
    application: Application,
) -> None:
    service = InboundService(application)
    answer = service.deliver("line", "line_jp", request("m1"))
    assert answer.status == 200
    assert inbox(application) == [("m1", InboxStatus.RECEIVED, "got こんにちは")]
    # LINE redelivers what it thinks went unanswered: acknowledged, not stored again.
    assert service.deliver("line", "line_jp", request("m1")).status == 200
    assert inbox(application) == [("m1", InboxStatus.RECEIVED, "got こんにちは")]
    application.start()
    application.inbox.drain()
    assert inbox(application) == [("m1", InboxStatus.PROCESSED, "got こんにちは")]
    assert timeline_length(application) == 2, "the message and the reply that went out"


def test_a_message_and_its_auto_reply_are_one_conversation_with_one_unread(
    application: Application,
) -> None:
    InboundService(application).deliver("line", "line_jp", request("m1"))
    application.start()
    application.inbox.drain()
    with application.transaction() as session:
        [conversation] = session.scalars(select(Conversation))
    assert (conversation.channel, conversation.touchpoint, conversation.unread) == (
        "line",
        "line_jp",
        1,
    )
    assert (conversation.last_direction, conversation.last_summary) == (
        Direction.OUTBOUND,
        "got こんにちは",
    )


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (LINE.strip_signature, MissingSignature),
        (LINE.forge_signature, BadSignature),
    ],
    ids=["missing signature", "forged signature"],
)
def test_a_delivery_the_channel_refuses_stores_nothing(
    application: Application, change: Any, refusal: type[Exception]
) -> None:
    signed = change(LINE.text_message(URL, sender=LINE.sender(1), text="x", message_id="m1", at=AT))
    with pytest.raises(refusal):
        InboundService(application).deliver(
            "line", "line_jp", as_received(signed.body, signed.headers)
        )
    assert inbox(application) == []


def test_a_malformed_body_stores_nothing(application: Application) -> None:
    signed = LINE.sign(URL, b"{not json", at=AT)
    with pytest.raises(MalformedPayload):
        InboundService(application).deliver(
            "line", "line_jp", as_received(signed.body, signed.headers)
        )
    assert inbox(application) == []


@pytest.mark.parametrize(
    ("channel", "account"), [("line", "nobody"), ("fax", "line_jp"), ("whatsapp", "line_jp")]
)
def test_an_account_not_on_that_channel_is_unknown(
    application: Application, channel: str, account: str
) -> None:
    service = InboundService(application)
    with pytest.raises(UnknownAccount, match=repr(account)):
        service.deliver(channel, account, request())
    with pytest.raises(UnknownAccount):
        service.handshake(channel, account, request())
    assert inbox(application) == []


@pytest.fixture
def commits_fail() -> Iterator[None]:
    """Every commit refused, as by a database that went away at that moment."""

    def refuse(session: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("the server closed the connection"))

    event.listen(Session, "before_commit", refuse)
    yield
    event.remove(Session, "before_commit", refuse)


def test_a_delivery_whose_commit_fails_is_an_error_and_reaches_no_worker(
    application: Application, commits_fail: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted: list[Any] = []
    monkeypatch.setattr(application.inbox, "submit", submitted.append)
    with pytest.raises(OperationalError):
        InboundService(application).deliver("line", "line_jp", request("m1"))
    assert submitted == [], "nothing kept, nothing to process"


def test_the_report_counts_each_accounts_messages_and_names_the_failures(
    application: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = InboundService(application)
    service.deliver("line", "line_jp", request("m1", sender=1))
    service.deliver("line", "line_jp", request("m2", sender=2))

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("identity zone unreachable")

    [first, second] = waiting(application.stores)
    assert application.pipeline(first) is not None
    with monkeypatch.context() as patched:
        patched.setattr("regiocrm.crm.customers.Customers.resolve", unreachable)
        with pytest.raises(ConnectionError):
            application.pipeline(second)
    report = service.report()
    assert report.as_json() == {
        "accounts": [{"account": "line_jp", "received": 0, "processed": 1, "failed": 1}],
        "failed": [
            {
                "account": "line_jp",
                "external_id": "m2",
                "error": "ConnectionError: identity zone unreachable",
            }
        ],
        # LINE is not polled: no mailbox to report.
        "mailboxes": [],
    }


class Spy:
    """A pipeline that records what it is given and hands it on."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.given: list[InboxRef] = []

    def __call__(self, inbox: InboxRef) -> Any:
        self.given.append(inbox)
        return self.pipeline(inbox)


def test_the_serving_worker_runs_the_applications_pipeline(application: Application) -> None:
    assert application.inbox.pipeline == application.pipeline.batch


def test_a_retry_runs_the_applications_pipeline_which_sends_the_auto_reply(
    application: Application, provider: Provider
) -> None:
    """The server stopped before its worker got to the message: the retry does what the
    worker would have, through the same pipeline, the auto-reply step included."""
    service = InboundService(application)
    service.deliver("line", "line_jp", request("m1"))
    stored = waiting(application.stores)
    application.pipeline = spy = Spy(application.pipeline)
    seen: list[tuple[int, int]] = []
    retried = service.retry(progress=lambda done, total: seen.append((done, total)))
    assert (retried.requeued, retried.processed, retried.failed) == (0, 1, 0)
    assert spy.given == stored
    assert waiting(application.stores) == []
    assert provider.sent == ["got こんにちは"]
    assert seen == [(0, 1), (1, 1)]
    assert service.retry().processed == 0
    assert provider.sent == ["got こんにちは"], "sent once"


def test_a_retry_puts_failures_back_and_counts_what_fails_again(
    application: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = InboundService(application)
    service.deliver("line", "line_jp", request("m1"))

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("identity zone unreachable")

    monkeypatch.setattr("regiocrm.crm.customers.Customers.resolve", unreachable)
    first = service.retry()
    assert (first.requeued, first.processed, first.failed) == (0, 0, 1)
    again = service.retry()
    assert (again.requeued, again.processed, again.failed) == (1, 0, 1)
    assert [failure.external_id for failure in service.report().failed] == ["m1"]
    monkeypatch.undo()
    done = service.retry()
    assert (done.requeued, done.processed, done.failed) == (1, 1, 0)
    assert service.report().failed == []


def test_inbox_retry_in_the_cli_runs_the_applications_pipeline(
    application: Application,
    provider: Provider,
    deployment_dir: Any,
    regiocrm_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`regiocrm inbox retry` opens the deployment's application and retries through its
    pipeline: the auto-reply a stopped server left unsent goes out."""
    InboundService(application).deliver("line", "line_jp", request("m1"))
    stored = waiting(application.stores)
    lines = [f'{key} = "{value}"' for key, value in LINE.account_settings().items()]
    (deployment_dir / "regiocrm.toml").write_text("[channel_accounts.line_jp]\n" + "\n".join(lines))
    spies: list[Spy] = []
    opened = Application.open

    def open_spied(settings: Any, hooks: Hooks, *, http_client: Any = None) -> Application:
        app = opened(
            settings, hooks, http_client=httpx.Client(transport=httpx.MockTransport(provider))
        )
        app.pipeline = app.inbox.pipeline = Spy(app.pipeline)
        spies.append(app.pipeline)
        return app

    monkeypatch.setattr(Application, "open", open_spied)
    retried = regiocrm_cli("inbox", "retry")
    assert retried.exit_code == 0, retried.stderr
    assert retried.stdout.strip() == "requeued 0 failed; processed 1, failed 0"
    assert [spy.given for spy in spies] == [stored]
    assert provider.sent == ["got こんにちは"]
