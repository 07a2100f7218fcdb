"""A conformance-kit driver that plays SendGrid's Inbound Parse for one email account, and
the account's outgoing mail server.

Mail is written as a Japanese mailer writes it (``ISO-2022-JP``, the subject in RFC 2047)
and posted as SendGrid posts it with "POST the raw, full MIME message" on: a
``multipart/form-data`` form whose ``email`` field is the mail, with the secret in the URL
SendGrid was given. Answers go through an SMTP server on loopback, which
the driver starts the first time the account's settings are asked for.
"""

from __future__ import annotations

import socketserver
import threading
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from io import BufferedIOBase
from typing import Any

import httpx

from regiocrm.interfaces.channels import IdentityRef
from regiocrm.plugins.channels.email.channel import EmailChannel
from regiocrm.testing.channels import ChannelDriver, SignedRequest

SECRET = "kit-inbound-parse-7f3c9a"  # noqa: S105 - made up, valid nowhere but in the kit
SERVICE_ADDRESS = "support@brand.example.jp"
BOUNDARY = "xYzZY"


class EmailDriver(ChannelDriver):
    """SendGrid's side of a Japanese service address, and its SMTP relay. Senders are
    addresses like ``customer1@example.jp``."""

    channel = EmailChannel()
    market = "JP"

    def __init__(self) -> None:
        self._relay: _Relay | None = None

    def account_settings(self) -> dict[str, Any]:
        relay = self.relay()
        return {
            "channel": "email",
            "market": self.market,
            "address": SERVICE_ADDRESS,
            "webhook": "sendgrid",
            "webhook_secret": SECRET,
            "smtp": {"host": "127.0.0.1", "port": relay.port, "security": "none"},
        }

    def relay(self) -> _Relay:
        if self._relay is None:
            self._relay = _Relay()
        return self._relay

    def sign(self, url: str, body: bytes, *, at: datetime) -> SignedRequest:
        """SendGrid signs nothing: the secret is the ``key`` of the URL it posts to."""
        return SignedRequest(
            body=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
            query={"key": SECRET},
        )

    def text_body(self, *, sender: str, text: str, message_id: str, at: datetime) -> bytes:
        """SendGrid's form around a mail in ISO-2022-JP where the text allows it (UTF-8
        otherwise), as a Japanese mail client sends it."""
        mail = EmailMessage(policy=default)
        mail["From"] = sender
        mail["To"] = SERVICE_ADDRESS
        mail["Subject"] = "お問い合わせ"
        mail["Date"] = format_datetime(at)
        mail["Message-ID"] = f"<{message_id}@mail.example.jp>"
        try:
            text.encode("iso-2022-jp")
            charset = "iso-2022-jp"
        except UnicodeEncodeError:
            charset = "utf-8"
        mail.set_content(text, charset=charset)
        raw = mail.as_bytes()
        return _form({"to": SERVICE_ADDRESS, "from": sender, "email": raw})

    def sender(self, number: int) -> str:
        return f"customer{number}@example.jp"

    def sender_identity(self, sender: str) -> IdentityRef:
        return IdentityRef("email", sender.lower())

    def strip_signature(self, request: SignedRequest) -> SignedRequest:
        return SignedRequest(body=request.body, headers=request.headers, query={})

    def forge_signature(self, request: SignedRequest) -> SignedRequest:
        return SignedRequest(body=request.body, headers=request.headers, query={"key": "guess"})

    def malformed(self, url: str, *, at: datetime) -> SignedRequest:
        return self.sign(url, _form({"email": b"\x00\x01 not a mail"}), at=at)

    def hostile(self, url: str, *, at: datetime) -> dict[str, SignedRequest]:
        """Mail bombs (5,000 nested multiparts; 1,000 parts side by side) and a mail that
        names no sender."""
        nested = (
            b"From: bomb@example.jp\r\nMIME-Version: 1.0\r\n"
            + b"".join(
                b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
                for i in range(5000)
            )
            + b"Content-Type: text/plain\r\n\r\nboom\r\n"
        )
        many = (
            b"From: bomb@example.jp\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + b"--b\r\nContent-Type: text/plain\r\n\r\nboom\r\n" * 1000
            + b"--b--\r\n"
        )
        nobody = b"To: support@brand.example.jp\r\nSubject: hi\r\n\r\nwho am I?\r\n"
        return {
            "nested multiparts": self.sign(url, _form({"email": nested}), at=at),
            "no sender": self.sign(url, _form({"email": nobody}), at=at),
            "1,000 parts": self.sign(url, _form({"email": many}), at=at),
        }

    def provider_api(self, request: httpx.Request) -> httpx.Response:
        """Email sends no HTTP request: any is a mistake."""
        return httpx.Response(404, text="email goes out through SMTP")

    def sent_text(self, request: httpx.Request) -> str | None:
        return None

    def sent_texts(self, calls: list[httpx.Request]) -> list[str | None]:
        """The text of each mail the relay received."""
        return [_body_text(mail) for mail in self.relay().received()]


def _body_text(mail: EmailMessage) -> str:
    """A mail's text as written: without the line break that ends every body."""
    body = mail.get_body(("plain",))
    text = "" if body is None else str(body.get_content())
    return text.replace("\r\n", "\n").removesuffix("\n")


def _form(fields: dict[str, str | bytes]) -> bytes:
    """``multipart/form-data`` as SendGrid posts it, one part a field."""
    parts = []
    for name, value in fields.items():
        data = value.encode() if isinstance(value, str) else value
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class _Relay:
    """An SMTP server on a free loopback port keeping what it receives, for the process:
    enough of RFC 5321 for one client sending plain mail (EHLO, MAIL, RCPT, DATA), written
    with the standard library so that a market's tests need nothing more to run the kit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[EmailMessage] = []
        relay = self

        class Session(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                relay._serve(self.rfile, self.wfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _serve(self, read: BufferedIOBase, write: BufferedIOBase) -> None:
        def answer(line: str) -> None:
            write.write(line.encode("ascii") + b"\r\n")
            write.flush()

        answer("220 kit-relay ESMTP")
        while line := read.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                answer("250-kit-relay")
                answer("250 8BITMIME")
            elif verb == b"DATA":
                answer("354 end with <CRLF>.<CRLF>")
                lines = []
                while (data := read.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self._keep(b"".join(lines))
                answer("250 OK")
            elif verb == b"QUIT":
                answer("221 bye")
                return
            else:
                answer("250 OK")

    def _keep(self, raw: bytes) -> None:
        mail = message_from_bytes(raw, policy=default)
        with self._lock:
            self._mails.append(mail)

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._mails)
