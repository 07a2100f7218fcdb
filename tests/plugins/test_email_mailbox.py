"""The email channel against real servers: a Japanese service mailbox on Dovecot, polled
by `regiocrm inbox poll` and by the worker's threads, and answers through an SMTP server
(aiosmtpd) that requires STARTTLS and a login."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from fastapi.testclient import TestClient
from imap_server import Dovecot
from smtp_server import SmtpCatcher
from sqlalchemy import func, select
from tcp_proxy import proxying

from regiocrm.crm.accounts import create_organization, create_user
from regiocrm.hookspecs import hookimpl
from regiocrm.http.app import create_app
from regiocrm.interfaces.event_sources import Backoff
from regiocrm.messaging.polling import PollRunner
from regiocrm.models import Direction, InboxMessage, Interaction, OrganizationKind, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.testing import upgrade_zones

SERVICE = "service@brand.example.jp"
TARO = "Taro.Yamada@Example.JP"
SUBJECT = "車検の予約について"
# NEC's circled digits and IBM's 髙 are what Japanese mailers put in ISO-2022-JP beyond JIS
# X 0208: the mail must decode with them, not only with the plain set.
BODY = "山田です。\n来週の車検の予約をお願いします。\n希望日は①月曜 ②火曜です。\n"


def as_japanese_mailers_write(text: str) -> bytes:
    """``text`` in ISO-2022-JP as Windows mailers write it (CP50220): JIS X 0208, with
    NEC's row 13 (①, ②…) in the same two-byte mode, which Python's iso2022_jp codec does
    not write. Each character beyond it is converted from its Shift_JIS code."""
    out = bytearray()
    two_byte = False
    for char in text:
        try:
            code = char.encode("iso2022_jp")
        except UnicodeEncodeError:
            high, low = char.encode("cp932")
            high = (high - 0x71 if high <= 0x9F else high - 0xB1) * 2 + 1
            low = low - 1 if low > 0x7F else low
            high, low = (high + 1, low - 0x7D) if low >= 0x9E else (high, low - 0x1F)
            code = b"\x1b$B" + bytes([high, low]) + b"\x1b(B"
        if code.startswith(b"\x1b$B"):
            body = code[3:].removesuffix(b"\x1b(B")
            out += body if two_byte else b"\x1b$B" + body
            two_byte = True
        else:
            out += (b"\x1b(B" if two_byte else b"") + code
            two_byte = False
    if two_byte:
        out += b"\x1b(B"
    return bytes(out)


def iso_2022_jp_mail(*, message_id: str, body: str = BODY, **headers: str) -> bytes:
    """A mail as Japanese mail clients send it: ISO-2022-JP, 7bit, the subject and name in
    RFC 2047 B-encoding of ISO-2022-JP."""
    lines = [
        f"From: {Header('山田 太郎', 'iso-2022-jp').encode()} <{TARO}>",
        f"To: {SERVICE}",
        f"Subject: {Header(SUBJECT, 'iso-2022-jp').encode()}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    text = as_japanese_mailers_write(body).replace(b"\n", b"\r\n")
    return "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + text


@dataclass
class Deployment:
    cli: Callable[..., Any]
    api: TestClient
    auth: dict[str, str]
    stores: ZoneStores

    def count(self, model: Any) -> int:
        with self.stores.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


def write_settings(folder: Path, dovecot: Dovecot, smtp: SmtpCatcher, *, imap_port: int) -> None:
    account: dict[str, Any] = {
        "channel": "email",
        "market": "JP",
        "address": SERVICE,
        "display_name": "ブランド サービス",
        # Small, so that a mail over it is cheap to write.
        "max_message_bytes": 1024 * 1024,
    }
    account["imap"] = {
        "host": dovecot.host,
        "port": imap_port,
        "security": "tls",
        "user": dovecot.user,
        "password": dovecot.password,
        "ca_file": str(dovecot.ca_file),
        "poll_seconds": 1,
    }
    account["smtp"] = {
        "host": smtp.host,
        "port": smtp.starttls_port,
        "security": "starttls",
        "user": smtp.user,
        "password": smtp.password,
        "ca_file": str(smtp.ca_file),
    }
    settings = {"deployment": {"market": "JP"}, "channel_accounts": {"mail_jp": account}}
    (folder / "regiocrm.toml").write_text(tomlkit.dumps(settings), encoding="utf-8")


@pytest.fixture
def servers(dovecot: Dovecot, smtp_catcher: SmtpCatcher) -> tuple[Dovecot, SmtpCatcher]:
    dovecot.reset()
    smtp_catcher.reset()
    return dovecot, smtp_catcher


@pytest.fixture
def deployment(
    deployment_dir: Path,
    regiocrm_cli: Callable[..., Any],
    regiocrm_hooks: Hooks,
    servers: tuple[Dovecot, SmtpCatcher],
) -> Iterator[Deployment]:
    dovecot, smtp = servers
    write_settings(deployment_dir, dovecot, smtp, imap_port=dovecot.imaps_port)
    settings = load_settings(regiocrm_hooks)
    stores = ZoneStores.open(settings, regiocrm_hooks)
    upgrade_zones(stores, regiocrm_hooks)
    with stores.session() as session:
        org = create_organization(session, name="HQ", kind=OrganizationKind.OEM, market="JP")
        agent = create_user(
            session, name="agent", role=UserRole.CALL_CENTRE_AGENT, organization=org
        )
    app = create_app(settings, regiocrm_hooks)
    with TestClient(app) as client:
        yield Deployment(regiocrm_cli, client, {"Authorization": f"Bearer {agent.token}"}, stores)
    stores.dispose()


def known_customer(deployment: Deployment) -> str:
    created = deployment.api.post(
        "/api/customers",
        json={
            "market": "JP",
            "family_name": "山田",
            "given_name": "太郎",
            "identities": [{"kind": "email", "value": "taro.yamada@example.jp"}],
        },
        headers=deployment.auth,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def timeline(deployment: Deployment, customer: str) -> list[dict[str, Any]]:
    answer = deployment.api.get(f"/api/customers/{customer}/timeline", headers=deployment.auth)
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["items"]))


def poll(deployment: Deployment) -> dict[str, Any]:
    result = deployment.cli("inbox", "poll", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    [polled] = json.loads(result.stdout)
    return dict(polled)


def answer(deployment: Deployment, customer: str, text: str) -> None:
    """An agent's answer to the customer, with their consent to service messages by mail."""
    consent = deployment.api.post(
        f"/api/customers/{customer}/consents",
        json={"purpose": "service", "channel": "email"},
        headers=deployment.auth,
    )
    assert consent.status_code == 201, consent.text
    sent = deployment.api.post(
        f"/api/customers/{customer}/messages", json={"text": text}, headers=deployment.auth
    )
    assert sent.status_code == 201, sent.text


def test_a_japanese_mail_lands_once_and_the_answer_threads_under_it(
    deployment: Deployment, servers: tuple[Dovecot, SmtpCatcher]
) -> None:
    dovecot, smtp = servers
    customer = known_customer(deployment)
    message_id = make_msgid(domain="mail.example.jp")
    raw = iso_2022_jp_mail(message_id=message_id)
    dovecot.append(raw)

    assert poll(deployment) == {
        "account": "mail_jp",
        "fetched": 1,
        "stored": 1,
        "refused": {},
        "error": None,
    }
    # Polled again, and the same mail delivered a second time: nothing new is kept.
    assert poll(deployment)["fetched"] == 0
    dovecot.append(raw)
    assert poll(deployment) == {
        "account": "mail_jp",
        "fetched": 1,
        "stored": 0,
        "refused": {},
        "error": None,
    }
    assert deployment.count(InboxMessage) == 1
    assert all("$RegiocrmStored" in flags for flags in dovecot.uids().values())

    entries = timeline(deployment, customer)
    inbound = [entry for entry in entries if entry["direction"] == "inbound"]
    # Decoded exactly; the line break that ends every mail body is no part of the text.
    assert [(entry["channel"], entry["text"]) for entry in inbound] == [("email", BODY.strip())]
    assert SUBJECT in inbound[0]["summary"]

    answered = "山田様\n予約を承りました。"
    answer(deployment, customer, answered)
    [mail] = smtp.wait_for(1)
    assert mail.tls
    assert mail.login == smtp.user
    reply = mail.message
    assert reply["In-Reply-To"] == message_id
    assert reply["References"].split() == [message_id]
    assert reply["Subject"] == f"Re: {SUBJECT}"
    assert reply["To"] == TARO
    assert reply["From"].addresses[0].addr_spec == SERVICE
    assert reply.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == answered
    # The answer is on the timeline under the id its bounce would name.
    outbound = [
        entry for entry in timeline(deployment, customer) if entry["direction"] == "outbound"
    ]
    assert [entry["external_id"] for entry in outbound] == [reply["Message-ID"].strip("<>")]

    checked = deployment.cli("rollout", "check", "--market", "JP", "--json")
    found = {finding["check"]: finding for finding in json.loads(checked.stdout)}
    assert found["channel email"]["outcome"] == "pass"
    assert found["mailbox mail_jp"]["outcome"] == "pass"


def open_case(deployment: Deployment, customer: str, subject: str) -> str:
    created = deployment.api.post(
        "/api/cases",
        json={"customer_id": customer, "market": "JP", "subject": subject},
        headers=deployment.auth,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_reply_in_a_thread_is_filed_under_the_case_of_the_mail_it_answers(
    deployment: Deployment, servers: tuple[Dovecot, SmtpCatcher]
) -> None:
    """The customer's first mail went into case A; they opened case B since. Their reply in
    the first mail's thread goes into A, not into the newest open case; a mail in no
    thread goes into B."""
    dovecot, smtp = servers
    customer = known_customer(deployment)
    first_case = open_case(deployment, customer, "車検の予約")
    first = make_msgid(domain="mail.example.jp")
    dovecot.append(iso_2022_jp_mail(message_id=first))
    poll(deployment)
    second_case = open_case(deployment, customer, "部品の問い合わせ")
    answer(deployment, customer, "承りました")
    ours = smtp.wait_for(1)[0].message["Message-ID"]
    dovecot.append(
        iso_2022_jp_mail(
            message_id=make_msgid(domain="mail.example.jp"),
            body="ありがとうございます。\n",
            In_Reply_To=ours,
            References=f"{first} {ours}",
        )
    )
    dovecot.append(iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp"), body="別件"))
    poll(deployment)
    with deployment.stores.session() as session:
        inbound = session.execute(
            select(Interaction.text, Interaction.case_id)
            .where(Interaction.direction == Direction.INBOUND)
            .order_by(Interaction.created)
        ).all()
    assert [(text, str(case_id)) for text, case_id in inbound] == [
        (BODY.strip(), first_case),
        ("ありがとうございます。", first_case),
        ("別件", second_case),
    ]


def test_an_unreachable_mailbox_is_reported_and_polling_resumes_by_itself(
    deployment_dir: Path,
    regiocrm_cli: Callable[..., Any],
    regiocrm_hooks: Hooks,
    servers: tuple[Dovecot, SmtpCatcher],
) -> None:
    dovecot, smtp = servers
    with proxying((dovecot.host, dovecot.imaps_port)) as proxy:
        write_settings(deployment_dir, dovecot, smtp, imap_port=proxy.port)
        assert regiocrm_cli("db", "upgrade").exit_code == 0
        proxy.cut()
        polled = regiocrm_cli("inbox", "poll")
        assert polled.exit_code == 1
        assert "mail_jp: cannot be polled: cannot connect to" in polled.stderr
        status = regiocrm_cli("inbox", "status", "--json")
        assert status.exit_code == 1
        [mailbox] = json.loads(status.stdout)["mailboxes"]
        assert mailbox["account"] == "mail_jp"
        assert "cannot connect" in mailbox["error"]
        checked = regiocrm_cli("rollout", "check", "--market", "JP", "--json")
        found = {finding["check"]: finding for finding in json.loads(checked.stdout)}
        assert found["mailbox mail_jp"]["outcome"] == "warn"
        assert "unreachable since" in found["mailbox mail_jp"]["reason"]

        # The worker's thread keeps trying; once the mailbox answers, the mail comes in.
        settings = load_settings(regiocrm_hooks)
        application = Application.open(settings, regiocrm_hooks)
        stored: list[Any] = []
        runner = PollRunner(
            application.stores,
            application.hooks,
            application.channels,
            submit=stored.extend,
            backoff=lambda: Backoff(first=0.05, longest=0.2),
        )
        runner.start()
        try:
            dovecot.append(iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp")))
            proxy.listen()
            deadline = time.monotonic() + 20
            while not stored and time.monotonic() < deadline:
                runner.stopping.wait(0.1)
        finally:
            runner.stop()
            application.close()
        assert len(stored) == 1
        status = regiocrm_cli("inbox", "status", "--json")
        [mailbox] = json.loads(status.stdout)["mailboxes"]
        assert mailbox["error"] is None
        assert mailbox["polled_at"] is not None


class AutoAcknowledge:
    """The pack's auto_reply, as a market would write it for email: every mail is
    acknowledged."""

    @hookimpl
    def auto_reply(self, message: Any, account: Any, locale: str) -> str | None:
        return "受け付けました。担当者よりご連絡します。" if account.channel == "email" else None


def test_auto_acknowledgements_never_answer_a_robot_and_are_limited_per_sender(
    deployment: Deployment, servers: tuple[Dovecot, SmtpCatcher], register_plugin: Any
) -> None:
    dovecot, smtp = servers
    register_plugin(AutoAcknowledge())
    first = make_msgid(domain="mail.example.jp")
    dovecot.append(iso_2022_jp_mail(message_id=first))
    dovecot.append(
        iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp"), body="二通目です")
    )
    dovecot.append(
        iso_2022_jp_mail(
            message_id=make_msgid(domain="robot.example.jp"),
            body="不在です",
            Auto_Submitted="auto-replied",
        )
    )
    assert poll(deployment)["stored"] == 3
    [acknowledgement] = smtp.wait_for(1)
    mail = acknowledgement.message
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["In-Reply-To"] == first
    assert mail["To"] == TARO
    with deployment.stores.session() as session:
        replies = session.scalars(select(InboxMessage.reply).order_by(InboxMessage.received_at))
        assert [reply is not None for reply in replies] == [True, False, False]


BOUNCE = """\
From: MAILER-DAEMON@mx.brand.example.jp (Mail Delivery System)
To: {service}
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-ID: <20261207.bounce@mx.brand.example.jp>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.brand.example.jp
Arrival-Date: {date}

Final-Recipient: rfc822; taro.yamada@example.jp
Original-Recipient: rfc822;taro.yamada@example.jp
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <taro.yamada@example.jp>: Recipient address rejected: User unknown

--B1
Content-Type: text/rfc822-headers

From: {service}
To: {taro}
Subject: Re: {subject}
Message-ID: <{sent}>

--B1--
"""


def test_a_bounce_marks_the_answer_failed_on_the_timeline(
    deployment: Deployment, servers: tuple[Dovecot, SmtpCatcher]
) -> None:
    dovecot, smtp = servers
    customer = known_customer(deployment)
    dovecot.append(iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp")))
    poll(deployment)
    answer(deployment, customer, "承りました")
    sent_id = smtp.wait_for(1)[0].message["Message-ID"].strip("<>")
    bounce = BOUNCE.format(
        service=SERVICE,
        taro=TARO,
        subject="x",
        sent=sent_id,
        date=format_datetime(datetime.now(UTC)),
    )
    dovecot.append(bounce.replace("\n", "\r\n").encode())
    dovecot.append(bounce.replace("\n", "\r\n").encode())
    assert poll(deployment)["stored"] == 0
    failed = [entry for entry in timeline(deployment, customer) if entry.get("failure")]
    assert len(failed) == 1
    assert "5.1.1" in failed[0]["failure"]
    assert "User unknown" in failed[0]["failure"]


def test_a_mail_too_large_or_too_deep_is_kept_by_its_headers_with_the_reason(
    deployment: Deployment, servers: tuple[Dovecot, SmtpCatcher]
) -> None:
    dovecot, _smtp = servers
    customer = known_customer(deployment)
    big = iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp"), body="x" * 10)
    big += b"A" * (2 * 1024 * 1024)
    dovecot.append(big)
    nested = iso_2022_jp_mail(message_id=make_msgid(domain="mail.example.jp"))
    head, _, _ = nested.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Type: text/plain; charset=ISO-2022-JP", b"X-Old: 1")
    bomb = (
        head
        + b'\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
        + b"".join(
            b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
            for i in range(2000)
        )
    )
    dovecot.append(bomb)
    assert poll(deployment)["stored"] == 2
    summaries = [entry["summary"] for entry in timeline(deployment, customer)]
    assert len(summaries) == 2
    assert any("only its headers were taken in" in summary for summary in summaries)
    assert all(SUBJECT in summary for summary in summaries)
    assert deployment.count(InboxMessage) == 2
