"""A real SMTP server on loopback for tests (aiosmtpd), listening three ways at once:

- plain, without TLS, where AUTH is offered but not required (a relay on the machine);
- STARTTLS required before anything else, then AUTH PLAIN or LOGIN required (port 587);
- implicit TLS from the first byte, with AUTH (port 465).

Its certificate, for ``localhost`` and ``127.0.0.1``, is signed by a throwaway authority that
only :attr:`SmtpCatcher.ssl_context` trusts, so a client with the system's authorities
refuses it, as it would a forged one. Every mail accepted is kept in
:attr:`SmtpCatcher.received`; :meth:`SmtpCatcher.answer_next` makes the server refuse the
next recipient or message with a chosen code.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
USER = "crm-sender"
PASSWORD = "s3cret-smtp-Pa55"
# Long enough for a slow CI machine; a send that arrives returns only once it is stored.
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    """One mail the server accepted: its envelope, and its bytes as they came."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        """The mail parsed by the standard library, as a receiving client would: with
        SMTPUTF8, its headers are UTF-8 (RFC 6532), which the bytes parser leaves undecoded."""
        if "SMTPUTF8" in self.mail_options:
            parsed = email.message_from_string(
                self.raw.decode("utf-8"), policy=email.policy.default
            )
        else:
            parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        return cast("EmailMessage", parsed)


@dataclass
class SmtpCatcher:
    """The running server: where it listens, its login, and what it received."""

    host: str
    plain_port: int
    starttls_port: int
    tls_port: int
    user: str
    password: str
    ssl_context: ssl.SSLContext
    ca_file: Path
    _received: list[Received] = field(default_factory=list)
    _answers: dict[str, str] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def received(self) -> list[Received]:
        """The mails accepted so far, oldest first (a copy)."""
        with self._changed:
            return list(self._received)

    def answer_next(
        self, code: int, text: str, *, command: Literal["RCPT", "DATA"] = "DATA"
    ) -> None:
        """Answer the next ``RCPT TO`` or end of ``DATA`` with ``code`` and ``text`` instead
        of accepting it (``451`` to defer, ``550`` to refuse…)."""
        with self._changed:
            self._answers[command] = f"{code} {text}"

    def reset(self) -> None:
        """Forget the mails received and any answer set for the next command."""
        with self._changed:
            self._received.clear()
            self._answers.clear()

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Received]:
        """The mails received once there are at least ``count``, for a mail sent from
        another thread.

        :raises AssertionError: when they have not come within ``timeout`` seconds.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise AssertionError(
                    f"{len(self._received)} mails received, {count} expected within {timeout}s"
                )
            return list(self._received)

    def _answer(self, command: str) -> str | None:
        with self._changed:
            return self._answers.pop(command, None)

    def _store(self, received: Received) -> None:
        with self._changed:
            self._received.append(received)
            self._changed.notify_all()


class _Handler:
    """aiosmtpd's hooks: refuse when told to, else keep the mail."""

    def __init__(self, catcher: SmtpCatcher) -> None:
        self.catcher = catcher

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        answer = self.catcher._answer("RCPT")
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = self.catcher._answer("DATA")
        if answer is not None:
            return answer
        assert server.transport is not None
        login = session.auth_data.login.decode() if session.authenticated else None
        self.catcher._store(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                mail_options=tuple(envelope.mail_options),
                raw=cast("bytes", envelope.original_content),
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    accepted = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=accepted, handled=False, auth_data=auth_data)


@dataclass(frozen=True)
class _Certificates:
    authority_pem: str
    chain: Path
    key: Path


def _certificates(directory: Path) -> _Certificates:
    """A throwaway authority and the server's certificate it signs, with the extensions
    OpenSSL's strict verification asks for."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regiocrm test SMTP CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    chain = directory / "server.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "server.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    authority = ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return _Certificates(authority_pem=authority, chain=chain, key=key_path)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_catcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpCatcher]:
    """The three listeners, for the whole session: reset it before a test that counts
    mails or sets an answer."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    certificates = _certificates(folder)
    ca_file = folder / "ca.pem"
    ca_file.write_text(certificates.authority_pem, encoding="ascii")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certificates.chain, certificates.key)
    catcher = SmtpCatcher(
        host=HOST,
        plain_port=_free_port(),
        starttls_port=_free_port(),
        tls_port=_free_port(),
        user=USER,
        password=PASSWORD,
        ssl_context=ssl.create_default_context(cadata=certificates.authority_pem),
        ca_file=ca_file,
    )
    handler = _Handler(catcher)
    common: dict[str, Any] = {
        "hostname": HOST,
        "server_hostname": "smtp.test",
        "authenticator": _authenticator,
        "ready_timeout": WAIT_SECONDS,
    }
    plain = Controller(handler, port=catcher.plain_port, auth_require_tls=False, **common)
    starttls = Controller(
        handler,
        port=catcher.starttls_port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        **common,
    )
    # aiosmtpd cannot see that a connection is TLS from its first byte (aio-libs/aiosmtpd#281),
    # so AUTH is allowed here without STARTTLS; it is not required, which aiosmtpd would
    # warn about at every connection, and the tests check each mail's login instead.
    implicit_tls = Controller(
        handler,
        port=catcher.tls_port,
        ssl_context=server_context,
        auth_require_tls=False,
        **common,
    )
    controllers = (plain, starttls, implicit_tls)
    started: list[Controller] = []
    try:
        for controller in controllers:
            controller.start()
            started.append(controller)
        yield catcher
    finally:
        for controller in started:
            controller.stop()
