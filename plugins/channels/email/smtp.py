"""Outbound mail: an agent's answer or an automatic acknowledgement, composed so that the
customer's mail client shows it under the customer's mail, and sent through the account's
SMTP server.

Threading follows RFC 5322 §3.6.4: the answer carries its own ``Message-ID``,
``In-Reply-To`` the answered mail's id, and ``References`` the answered mail's References
followed by its id. An acknowledgement says it is automatic (RFC 3834 ``Auto-Submitted``,
and Exchange's ``X-Auto-Response-Suppress``), so that a customer's vacation responder does
not answer it back.

Only the standard library is used: :mod:`email` composes, :mod:`smtplib` sends (implicit TLS
on 465, STARTTLS on 587, plain only towards a relay on the same machine).
"""

from __future__ import annotations

import re
import smtplib
import ssl
import string
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import getaddresses, make_msgid
from typing import Any, Literal

from regiocrm.interfaces.channels import SendError

# References keeps the thread's first id and the most recent ones beyond this many, as
# mail clients do: a thread of any length (or a hostile mail's list) stays a header every
# relay accepts, and clients still find the thread by its root or the last answers.
REFERENCES_KEPT = 20

# RFC 5321 §4.5.3.1: the longest local part and domain a server must accept.
LOCAL_PART_OCTETS = 64
DOMAIN_OCTETS = 253

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# A msg-id's halves are dot-atoms or obsolete forms; what matters for threading is that
# the id is printable ASCII a client compares as a string, with nothing that ends it early.
_MESSAGE_ID = re.compile(r"[!-;=?-~]+")
# What mail clients put before a subject they answer, in the languages of our markets:
# "Re:", "RE[2]:", German "AW:", Chinese "回复:"/"答复:"/"回覆:", Japanese "返信:", Korean
# "회신:", with an ASCII or a full-width colon.
_REPLY_PREFIX = re.compile(
    r"(?:re|aw|回复|答复|回覆|返信|회신)(?:\[\d+\]|\(\d+\))?\s*[:：]", re.IGNORECASE
)
# Line breaks and other control characters, which a subject decoded from a customer's mail
# may hold (an encoded word can carry a CR LF); a space or tab around them goes with them.
_SUBJECT_BREAKS = re.compile(r"[ \t]*[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]+[ \t]*")


@dataclass(frozen=True)
class SmtpServer:
    """Where and how an account's mail is sent.

    :param security: ``tls`` for implicit TLS (port 465), ``starttls`` for a plain
        connection upgraded with STARTTLS (port 587), which :func:`send` refuses to use
        when the server does not offer it; ``none`` only for a relay on the same machine.
    :param user: the login, when the server wants one (AUTH PLAIN or LOGIN).
    :param password: the password in plain text: the caller unwraps its ``SecretStr``.
    :param timeout: seconds to wait for the connection and for each answer.
    :param ssl_context: the TLS context; None for :func:`ssl.create_default_context`, which
        verifies the server's certificate against the system's authorities.
    """

    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Outgoing:
    """One mail to send, before it is composed.

    :param sender: the service's address, used as From and as the envelope sender.
    :param sender_name: the display name shown with it, in any script.
    :param recipient: the customer's address.
    :param text: the plain text body.
    :param in_reply_to: the Message-ID (without ``<>``) of the mail this answers.
    :param references: the ids (without ``<>``) of the thread, oldest first: the answered
        mail's References followed by its Message-ID.
    :param auto_submitted: an automatic acknowledgement rather than a person's answer.
    """

    sender: str
    sender_name: str | None
    recipient: str
    subject: str
    text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: bool = False


class _MessageIdsHeader(BaseHeader):
    """Message-ID, In-Reply-To and References: ids that clients compare as strings.

    The standard library folds In-Reply-To and References as free text, and turns an id
    longer than a line (Outlook's often are) into an RFC 2047 encoded word, which no client
    matches with anything. These fold between ids only; a long id keeps its line whole,
    which RFC 5322 §2.1.1 allows up to 998 characters.
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or sys.maxsize
        lines = [f"{self.name}:"]
        for msg_id in self.split():
            if lines[-1].endswith(">") and len(lines[-1]) + 1 + len(msg_id) > limit:
                lines.append("")
            lines[-1] += f" {msg_id}"
        return policy.linesep.join(lines) + policy.linesep


def _header_registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    for name in ("message-id", "in-reply-to", "references"):
        registry.map_to_type(name, _MessageIdsHeader)
    return registry


# smtplib announces no 8BITMIME for a mail whose addresses are ASCII, so a body that is
# not ASCII goes as quoted-printable or base64 (the standard library picks the shorter),
# which every relay carries unchanged.
POLICY = SMTP.clone(cte_type="7bit", header_factory=_header_registry())


def new_message_id(sender: str) -> str:
    """A new, unique Message-ID (without ``<>``) in the sender's domain, in ASCII form for
    an internationalised one (``例子.测试`` gives ``xn--fsqu00a.xn--0zwm56d``).

    :raises ValueError: when ``sender`` is not an email address.
    """
    _, domain = _address(sender, "the sender")
    return make_msgid(domain=domain)[1:-1]


def reply_subject(subject: str) -> str:
    """The subject of an answer to a mail with ``subject``.

    ``Re: `` is put before it, unless it already starts with what a mail client writes
    there (``Re:``, ``RE[2]:``, ``AW:``, ``回复:``, ``答复:``, ``返信:``…), so that a long thread
    does not become ``Re: Re: Re:``. Line breaks and control characters become a space, and
    the ends are stripped, so that any customer's subject gives one the answer can carry.
    An empty subject gives ``Re:``: the answer still reads as one in the customer's list.
    """
    cleaned = _SUBJECT_BREAKS.sub(" ", subject).strip()
    if not cleaned:
        return "Re:"
    if _REPLY_PREFIX.match(cleaned):
        return cleaned
    return f"Re: {cleaned}"


def compose(outgoing: Outgoing, *, message_id: str, at: datetime) -> EmailMessage:
    """The mail for ``outgoing``: a UTF-8 plain text message with threading headers.

    Non-ASCII display names and subjects are RFC 2047 encoded; an internationalised domain
    is written in its ASCII form; a non-ASCII local part makes :func:`send` use SMTPUTF8.
    References keeps the first id and the last :data:`REFERENCES_KEPT` - 1.

    :param message_id: the mail's own id, without ``<>`` (see :func:`new_message_id`).
    :param at: when it is sent, timezone-aware.
    :raises ValueError: when an address is not one, an id is not printable ASCII without
        ``<>``, a header value holds a line break or a control character (which would let
        the text forge headers), or ``at`` is naive.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the time a mail is sent at must be timezone-aware")
    sender_local, sender_domain = _address(outgoing.sender, "the sender")
    recipient_local, recipient_domain = _address(outgoing.recipient, "the recipient")
    _check_header_text(outgoing.subject, "the subject")
    if outgoing.sender_name is not None:
        _check_header_text(outgoing.sender_name, "the sender's name")
    references = outgoing.references
    if len(references) > REFERENCES_KEPT:
        references = (references[0], *references[-(REFERENCES_KEPT - 1) :])

    message = EmailMessage(policy=POLICY)
    message["From"] = Address(outgoing.sender_name or "", sender_local, sender_domain)
    message["To"] = Address("", recipient_local, recipient_domain)
    message["Subject"] = outgoing.subject
    message["Date"] = at
    message["Message-ID"] = _msg_id(message_id, "the Message-ID")
    if outgoing.in_reply_to is not None:
        message["In-Reply-To"] = _msg_id(outgoing.in_reply_to, "In-Reply-To")
    if references:
        message["References"] = " ".join(_msg_id(ref, "a reference") for ref in references)
    if outgoing.auto_submitted:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(outgoing.text, charset="utf-8")
    return message


def send(server: SmtpServer, message: EmailMessage) -> None:
    """Deliver ``message``, a mail made by :func:`compose`, through ``server`` to its To
    address, from its From address.

    Connects with implicit TLS, or upgrades with STARTTLS, logs in when ``server.user`` is
    set, and sends (with SMTPUTF8 when an address needs it). A timeout after the message
    was handed over is retryable too, though the server may have taken it: the retry
    carries the same Message-ID, by which many mail clients show it once.

    :raises SendError: retryable when the server cannot be reached, times out, drops the
        connection or answers 4xx; not retryable for a 5xx answer (a refused login,
        sender, recipient or message), a server that offers no STARTTLS when it is asked
        for, a certificate that does not verify, or an extension the message needs and the
        server lacks. The message says what the server answered, never the password.
    """
    where = f"{server.host}:{server.port}"
    try:
        with _session(server, where) as client:
            if server.user is not None:
                _login(client, server.user, server.password or "", where)
            _transmit(client, message)
    except smtplib.SMTPAuthenticationError as exc:
        raise _refused(exc.smtp_code, exc.smtp_error, f"{where} refused the login") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        answers = "; ".join(
            f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items()
        )
        raise SendError(
            f"the SMTP server {where} refused the recipient ({answers})",
            retryable=all(400 <= code < 500 for code in codes),
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise _refused(
            exc.smtp_code, exc.smtp_error, f"{where} refused the sender {exc.sender}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise _refused(exc.smtp_code, exc.smtp_error, f"{where} answered") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise SendError(
            f"the SMTP server {where} closed the connection: {exc}", retryable=True
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise SendError(
            f"the SMTP server {where} lacks what the mail needs: {exc}", retryable=False
        ) from exc
    except smtplib.SMTPException as exc:
        raise SendError(f"the SMTP session with {where} failed: {exc}", retryable=False) from exc
    except ssl.SSLCertVerificationError as exc:
        raise SendError(
            f"the TLS certificate of the SMTP server {where} does not verify: {exc.verify_message}",
            retryable=False,
        ) from exc
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError) as exc:
        raise SendError(
            f"the SMTP server {where} dropped the TLS connection: {exc}", retryable=True
        ) from exc
    except ssl.SSLError as exc:
        raise SendError(
            f"no TLS session could be made with the SMTP server {where}: {exc.reason or exc}",
            retryable=False,
        ) from exc
    except OSError as exc:
        raise SendError(
            f"the SMTP server {where} could not be reached: {exc!r}", retryable=True
        ) from exc


@contextmanager
def _session(server: SmtpServer, where: str) -> Iterator[smtplib.SMTP]:
    context = server.ssl_context or ssl.create_default_context()
    client: smtplib.SMTP
    if server.security == "tls":
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    try:
        client.ehlo_or_helo_if_needed()
        if server.security == "starttls":
            if not client.has_extn("starttls"):
                raise SendError(
                    f"the SMTP server {where} does not offer STARTTLS, and the account "
                    "sends only over TLS",
                    retryable=False,
                )
            client.starttls(context=context)
        yield client
        # The mail is delivered: a QUIT the server fumbles must not make a retry send it
        # twice.
        with suppress(smtplib.SMTPException, OSError):
            client.quit()
    finally:
        client.close()


def _transmit(client: smtplib.SMTP, message: EmailMessage) -> None:
    """What ``send_message`` does, flattened without the mbox habit it keeps for a mail
    whose addresses are ASCII: a body line starting with "From " would arrive as ">From "."""
    sender = getaddresses([str(message["From"])])[0][1]
    recipients = [address for _, address in getaddresses(map(str, message.get_all("To", [])))]
    international = not "".join([sender, *recipients]).isascii()
    client.ehlo_or_helo_if_needed()
    if international and not client.has_extn("smtputf8"):
        raise smtplib.SMTPNotSupportedError(
            "an address is not ASCII, and the server does not offer SMTPUTF8"
        )
    raw = message.as_bytes(policy=POLICY.clone(utf8=international))
    options = ("SMTPUTF8", "BODY=8BITMIME") if international else ()
    client.sendmail(sender, recipients, raw, mail_options=options)


def _login(client: smtplib.SMTP, user: str, password: str, where: str) -> None:
    try:
        client.login(user, password)
    except UnicodeEncodeError:
        # SMTP AUTH PLAIN and LOGIN send the credentials as ASCII (smtplib refuses others).
        raise SendError(
            f"the login for the SMTP server {where} holds characters other than ASCII, "
            "which SMTP AUTH cannot send",
            retryable=False,
        ) from None


def _refused(code: int, text: bytes | str, what: str) -> SendError:
    return SendError(f"the SMTP server {what}: {code} {_text(text)}", retryable=400 <= code < 500)


def _text(answer: bytes | str) -> str:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    return " ".join(text.split())[:300]


def _address(value: str, role: str) -> tuple[str, str]:
    """The local part and the ASCII domain of an addr-spec (``local@domain``) whose local
    part is a dot-atom (RFC 5322, with RFC 6531's non-ASCII letters) and whose domain is
    host names (an IDN in its ``xn--`` form)."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{role} {_shown(value)} is not an email address")
    for atom in local.split("."):
        if not atom or not all(_is_atext(char) for char in atom):
            raise ValueError(
                f"{role} {_shown(value)} is not an email address this service sends to"
            )
    if len(local.encode("utf-8")) > LOCAL_PART_OCTETS:
        raise ValueError(f"{role} {_shown(value)} has a local part over 64 octets")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{role} {_shown(value)} has no valid domain") from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > DOMAIN_OCTETS or not all(_DOMAIN_LABEL.fullmatch(x) for x in labels):
        raise ValueError(f"{role} {_shown(value)} has no valid domain")
    return local, ascii_domain


def _is_atext(char: str) -> bool:
    if char.isascii():
        return char in _ATEXT
    return char.isprintable() and not char.isspace()


def _check_header_text(value: str, role: str) -> None:
    for char in value:
        if char != "\t" and (unicodedata.category(char) == "Cc" or char in "\u2028\u2029"):
            raise ValueError(f"{role} holds a line break or a control character: {_shown(value)}")


def _msg_id(value: str, role: str) -> str:
    if not _MESSAGE_ID.fullmatch(value):
        raise ValueError(
            f"{role} {_shown(value)} is not a message id (printable ASCII, without <>)"
        )
    return f"<{value}>"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else f"{value[:80]}…")
