"""The email channel's outbound mail, sent to a real SMTP server on loopback (aiosmtpd, see
``tests/smtp_server.py``) over implicit TLS, STARTTLS and a plain relay, and parsed back with
the standard library as the customer's mail client would.

Expected threading headers follow RFC 5322 §3.6.4, computed from a parent mail built with
the standard library: In-Reply-To is the parent's Message-ID, References the parent's
References followed by its Message-ID.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any, Literal, cast

import pytest
from smtp_server import Received, SmtpCatcher

from regiocrm.interfaces.channels import SendError
from regiocrm.plugins.channels.email.smtp import (
    Outgoing,
    SmtpServer,
    compose,
    new_message_id,
    reply_subject,
    send,
)

SENDER = "support@dealer.example.jp"
SENDER_NAME = "山田自動車 お客様サポート"
RECIPIENT = "kunde@example.com"
AT = datetime(2026, 11, 25, 12, 30, 5, tzinfo=timezone(timedelta(hours=9)))
# Outlook's ids are longer than a header line: folded or encoded, they thread nothing.
OUTLOOK_ID = "TYCPR01MB84370F0A7C1B2E3D4F5A6B7C8D9E0F1A2B3C@TYCPR01MB8437.jpnprd01.prod.outlook.com"
IDN_DOMAIN = "xn--fsqu00a.xn--0zwm56d"  # 例子.测试, as IANA's IDN test domains spell it

TEXTS = {
    "japanese": (
        "山田様\n\nお問い合わせありがとうございます。点検のご予約は11月28日（金）10時で"
        "承りました。当日は車検証をお持ちください。\n\n山田自動車 サービス部\n"
    ),
    "chinese": (
        "王先生您好：\n您的车辆保养预约已确认，时间为十一月二十八日上午十点。\n"
        "如需改期，请直接回复此邮件。\n"
    ),
    "korean": (
        "김민준 고객님,\n문의해 주셔서 감사합니다.\n"
        "정비 예약이 11월 28일 오전 10시로 확정되었습니다.\n"
    ),
}


@pytest.fixture
def catcher(smtp_catcher: SmtpCatcher) -> SmtpCatcher:
    smtp_catcher.reset()
    return smtp_catcher


def server(catcher: SmtpCatcher, security: str, **changes: Any) -> SmtpServer:
    port = {"tls": catcher.tls_port, "starttls": catcher.starttls_port, "none": catcher.plain_port}
    settings: dict[str, Any] = {
        "host": catcher.host,
        "port": port[security],
        "security": security,
        "user": catcher.user if security != "none" else None,
        "password": catcher.password if security != "none" else None,
        "timeout": 10.0,
        "ssl_context": catcher.ssl_context,
    }
    return SmtpServer(**(settings | changes))


def parent_mail() -> EmailMessage:
    """The customer's mail being answered: the second in a thread started by the service."""
    parent = EmailMessage(policy=email.policy.SMTP)
    parent["From"] = RECIPIENT
    parent["To"] = SENDER
    parent["Subject"] = "点検の予約について"
    parent["Message-ID"] = f"<{OUTLOOK_ID}>"
    parent["In-Reply-To"] = "<first.1732500000@dealer.example.jp>"
    parent["References"] = (
        "<root.1732400000@dealer.example.jp> <first.1732500000@dealer.example.jp>"
    )
    parent.set_content("予約の時間を教えてください。")
    return cast(
        "EmailMessage", email.message_from_bytes(parent.as_bytes(), policy=email.policy.default)
    )


def answer_to(parent: EmailMessage, text: str, *, auto: bool = False) -> Outgoing:
    parent_id = str(parent["Message-ID"]).strip("<>")
    return Outgoing(
        sender=SENDER,
        sender_name=SENDER_NAME,
        recipient=RECIPIENT,
        subject=reply_subject(str(parent["Subject"])),
        text=text,
        in_reply_to=parent_id,
        references=(*(ref.strip("<>") for ref in str(parent["References"]).split()), parent_id),
        auto_submitted=auto,
    )


def unix_lines(text: str) -> str:
    """MIME text travels with CRLF line ends (RFC 2046 §4.1.1); compare lines, not ends."""
    return text.replace("\r\n", "\n")


def deliver(
    catcher: SmtpCatcher, security: str, text: str, *, auto: bool = False
) -> tuple[EmailMessage, str, Received]:
    parent = parent_mail()
    message_id = new_message_id(SENDER)
    send(
        server(catcher, security),
        compose(answer_to(parent, text, auto=auto), message_id=message_id, at=AT),
    )
    [received] = catcher.received
    return parent, message_id, received


@pytest.mark.parametrize(
    ("security", "language", "tls", "login"),
    [
        ("starttls", "japanese", True, True),
        ("tls", "chinese", True, True),
        ("none", "korean", False, False),
    ],
)
def test_an_answer_arrives_threaded_under_the_customers_mail(
    catcher: SmtpCatcher, security: str, language: str, tls: bool, login: bool
) -> None:
    parent, message_id, received = deliver(catcher, security, TEXTS[language])

    assert received.tls is tls
    assert received.login == (catcher.user if login else None)
    assert received.mail_from == SENDER
    assert received.rcpt_tos == (RECIPIENT,)
    mail = received.message
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (SENDER_NAME, SENDER)
    assert [a.addr_spec for a in mail["To"].addresses] == [RECIPIENT]
    assert mail["Subject"] == "Re: 点検の予約について"
    assert mail["Message-ID"] == f"<{message_id}>"
    assert mail["In-Reply-To"] == parent["Message-ID"]
    assert mail["References"].split() == [*parent["References"].split(), parent["Message-ID"]]
    assert parsedate_to_datetime(mail["Date"]) == AT
    assert mail["MIME-Version"] == "1.0"
    assert (mail.get_content_type(), mail.get_content_charset()) == ("text/plain", "utf-8")
    assert unix_lines(mail.get_content()) == TEXTS[language]
    assert "Auto-Submitted" not in mail
    assert "X-Auto-Response-Suppress" not in mail


def test_a_mail_travels_as_ascii_to_any_relay(catcher: SmtpCatcher) -> None:
    """No 8BITMIME is announced, so the body is encoded and every header line is ASCII."""
    _, _, received = deliver(catcher, "none", TEXTS["japanese"])

    assert "BODY=8BITMIME" not in received.mail_options
    assert received.raw.isascii()
    assert received.message["Content-Transfer-Encoding"] in {"base64", "quoted-printable"}


def test_lines_smtp_gives_meaning_to_arrive_as_written(catcher: SmtpCatcher) -> None:
    text = "Thank you.\n.\n..\nFrom the service team\n"

    _, _, received = deliver(catcher, "starttls", text)

    assert unix_lines(received.message.get_content()) == text


def test_an_acknowledgement_says_it_is_automatic(catcher: SmtpCatcher) -> None:
    _, _, received = deliver(catcher, "tls", TEXTS["korean"], auto=True)

    mail = received.message
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"


def test_an_internationalised_address_goes_with_smtputf8(catcher: SmtpCatcher) -> None:
    outgoing = Outgoing(
        sender=SENDER,
        sender_name=None,
        recipient="用户@例子.测试",
        subject="预约确认",
        text=TEXTS["chinese"],
    )

    send(server(catcher, "none"), compose(outgoing, message_id=new_message_id(SENDER), at=AT))

    [received] = catcher.received
    assert received.rcpt_tos == (f"用户@{IDN_DOMAIN}",)
    assert "SMTPUTF8" in received.mail_options
    [to] = received.message["To"].addresses
    assert (to.username, to.domain) == ("用户", IDN_DOMAIN)
    assert received.message["Subject"] == "预约确认"


def send_error(catcher: SmtpCatcher, smtp: SmtpServer) -> SendError:
    outgoing = answer_to(parent_mail(), TEXTS["japanese"])
    with pytest.raises(SendError) as raised:
        send(smtp, compose(outgoing, message_id=new_message_id(SENDER), at=AT))
    assert catcher.received == []
    return raised.value


def test_a_wrong_password_is_not_retried_and_not_shown(catcher: SmtpCatcher) -> None:
    wrong = "not-the-Pa55word-0042"

    error = send_error(catcher, server(catcher, "starttls", password=wrong))

    assert error.retryable is False
    assert "535" in str(error)
    assert wrong not in str(error)
    assert catcher.password not in str(error)


def test_a_password_smtp_auth_cannot_carry_is_refused_without_showing_it(
    catcher: SmtpCatcher,
) -> None:
    password = "pässwörd-ß"

    error = send_error(catcher, server(catcher, "tls", password=password))

    assert error.retryable is False
    assert password not in str(error)


def test_a_server_without_starttls_gets_no_mail_and_no_password(catcher: SmtpCatcher) -> None:
    plain_but_starttls_asked = server(
        catcher, "starttls", port=catcher.plain_port, user=catcher.user, password=catcher.password
    )

    error = send_error(catcher, plain_but_starttls_asked)

    assert error.retryable is False
    assert "STARTTLS" in str(error)
    assert catcher.password not in str(error)


@pytest.mark.parametrize(
    ("command", "code", "text", "retryable"),
    [
        ("DATA", 451, "4.3.0 Local error in processing, try again later", True),
        ("RCPT", 452, "4.2.2 Mailbox full", True),
        ("DATA", 554, "5.7.1 Message rejected as spam", False),
        ("RCPT", 550, "5.1.1 Mailbox unavailable", False),
        ("RCPT", 553, "5.1.3 Mailbox name not allowed", False),
    ],
)
def test_a_refusal_is_retried_when_the_server_says_it_is_temporary(
    catcher: SmtpCatcher, command: Literal["RCPT", "DATA"], code: int, text: str, retryable: bool
) -> None:
    catcher.answer_next(code, text, command=command)

    error = send_error(catcher, server(catcher, "starttls"))

    assert error.retryable is retryable
    assert f"{code} {text}" in str(error)


def test_a_server_that_cannot_be_reached_is_retried(catcher: SmtpCatcher) -> None:
    with socket.socket() as probe:
        probe.bind((catcher.host, 0))
        closed = probe.getsockname()[1]

    error = send_error(catcher, server(catcher, "tls", port=closed))

    assert error.retryable is True
    assert f"{catcher.host}:{closed}" in str(error)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_certificate_the_client_does_not_trust_is_not_retried(
    catcher: SmtpCatcher, security: str
) -> None:
    error = send_error(catcher, server(catcher, security, ssl_context=None))

    assert error.retryable is False
    assert "certificate" in str(error)


def test_message_ids_are_unique_and_in_the_senders_domain() -> None:
    ids = {new_message_id(SENDER) for _ in range(1000)}

    assert len(ids) == 1000
    for message_id in ids:
        left, right = message_id.split("@")
        assert left
        assert right == "dealer.example.jp"
        parsed = email.message_from_string(
            f"Message-ID: <{message_id}>\n\n", policy=email.policy.default
        )
        assert parsed["Message-ID"].defects == ()


def test_a_message_id_in_an_internationalised_domain_is_ascii() -> None:
    message_id = new_message_id("用户@例子.测试")

    assert message_id.isascii()
    assert message_id.rpartition("@")[2] == IDN_DOMAIN


def test_a_message_id_needs_an_address() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        new_message_id("support")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("点検の予約について", "Re: 点検の予約について"),
        ("  Inspection booking  ", "Re: Inspection booking"),
        ("Re: Inspection", "Re: Inspection"),
        ("RE: Inspection", "RE: Inspection"),
        ("re:Inspection", "re:Inspection"),
        ("Re[2]: Inspection", "Re[2]: Inspection"),
        ("AW: Inspektion", "AW: Inspektion"),
        ("回复: 保养预约", "回复: 保养预约"),
        ("回复：保养预约", "回复：保养预约"),
        ("答复: 保养预约", "答复: 保养预约"),
        ("返信: 点検", "返信: 点検"),
        ("Regarding your car", "Re: Regarding your car"),
        ("Reply needed", "Re: Reply needed"),
        ("Fwd: Inspection", "Re: Fwd: Inspection"),
        ("Inspection\r\n booking", "Re: Inspection booking"),
        ("", "Re:"),
        ("   ", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def changed(**changes: Any) -> Outgoing:
    return replace(answer_to(parent_mail(), "本文"), **changes)


# Each case names the part refused, which the error message names too.
INJECTIONS: dict[str, tuple[Callable[[], Outgoing], str]] = {
    "subject CRLF": (lambda: changed(subject="Hello\r\nBcc: victim@example.net"), "subject"),
    "subject LF": (lambda: changed(subject="Hello\nBcc: victim@example.net"), "subject"),
    "subject line separator": (lambda: changed(subject="Hi\u2028Bcc: v@example.net"), "subject"),
    "recipient CRLF": (
        lambda: changed(recipient="kunde@example.com\r\nBcc: victim@example.net"),
        "recipient",
    ),
    "recipient list": (
        lambda: changed(recipient="kunde@example.com, victim@example.net"),
        "recipient",
    ),
    "recipient with a name": (
        lambda: changed(recipient="Victim <victim@example.net>"),
        "recipient",
    ),
    "sender name LF": (
        lambda: changed(sender_name="Support\nBcc: victim@example.net"),
        "sender's name",
    ),
    "in-reply-to CRLF": (
        lambda: changed(in_reply_to="a@b\r\nBcc: victim@example.net"),
        "In-Reply-To",
    ),
    "reference with brackets": (lambda: changed(references=("<a@b>",)), "reference"),
    "reference with a space": (lambda: changed(references=("a@b c@d",)), "reference"),
}


@pytest.mark.parametrize(("make", "part"), INJECTIONS.values(), ids=INJECTIONS.keys())
def test_compose_refuses_what_would_forge_a_header(make: Callable[[], Outgoing], part: str) -> None:
    with pytest.raises(ValueError, match=part):
        compose(make(), message_id=new_message_id(SENDER), at=AT)


def test_compose_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose(changed(), message_id=new_message_id(SENDER), at=datetime(2026, 11, 25, 12))


def test_long_ids_are_folded_between_ids_never_encoded() -> None:
    references = tuple(f"{n:02d}.{OUTLOOK_ID}" for n in range(5))

    raw = compose(
        changed(references=references, in_reply_to=references[-1]),
        message_id=new_message_id(SENDER),
        at=AT,
    ).as_bytes()

    folded = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert "=?" not in folded["References"] + folded["In-Reply-To"]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["References"].split() == [f"<{ref}>" for ref in references]
    assert mail["In-Reply-To"] == f"<{references[-1]}>"


def test_a_long_thread_keeps_its_root_and_latest_references() -> None:
    references = tuple(f"{n}@mail.example.com" for n in range(30))

    mail = compose(changed(references=references), message_id=new_message_id(SENDER), at=AT)

    kept = [ref.strip("<>") for ref in str(mail["References"]).split()]
    assert kept == [references[0], *references[-19:]]
