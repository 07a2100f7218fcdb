"""An email account's settings: ``[channel_accounts.<name>]`` with ``channel = "email"``,
its mailbox (``.imap``), its outgoing server (``.smtp``) and its provider's webhook."""

from __future__ import annotations

from typing import Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, FilePath, SecretStr, field_validator, model_validator

from regiocrm.interfaces.channels import ChannelAccountSettings
from regiocrm.interfaces.settings import Section

Security = Literal["tls", "starttls", "none"]
# Plain text on the wire is for a server on the same machine (a local relay) only.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _plain_on_loopback_only(host: str, security: Security) -> None:
    if security == "none" and host not in LOOPBACK:
        raise ValueError(
            f"security = 'none' sends the password and the mail in clear: it is for a server"
            f" on this machine (localhost), not {host!r}; use 'tls' or 'starttls'"
        )


class ImapSettings(Section):
    """The mailbox the worker polls (``[channel_accounts.<name>.imap]``).

    :param security: ``tls`` (implicit TLS, port 993), ``starttls`` (port 143, refused
        unless the server offers it) or ``none`` (a server on this machine only).
    :param processed_folder: where a mail goes once stored; none: it stays, flagged
        ``$RegiocrmStored`` and seen.
    :param ca_file: a certificate authority (PEM) to trust besides the system's, for a
        server whose certificate a company's own authority signed.
    :param poll_seconds: how long a quiet mailbox is left before it is looked at again;
        a server that offers IDLE tells the worker of new mail at once.
    """

    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    security: Security = "tls"
    user: str = Field(min_length=1)
    password: SecretStr
    folder: str = Field(default="INBOX", min_length=1)
    processed_folder: str | None = None
    poll_seconds: float = Field(default=60.0, ge=1.0, le=1740.0)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    ca_file: FilePath | None = None

    @model_validator(mode="after")
    def _encrypted(self) -> ImapSettings:
        _plain_on_loopback_only(self.host, self.security)
        return self


class SmtpSettings(Section):
    """The server answers go out through (``[channel_accounts.<name>.smtp]``).

    :param security: ``starttls`` (port 587, refused unless the server offers it),
        ``tls`` (implicit TLS, port 465) or ``none`` (a relay on this machine only).
    :param ca_file: a certificate authority (PEM) to trust besides the system's.
    """

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Security = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    ca_file: FilePath | None = None

    @model_validator(mode="after")
    def _user_with_password(self) -> SmtpSettings:
        if (self.user is None) != (self.password is None):
            raise ValueError("give the SMTP user and password together, or neither")
        _plain_on_loopback_only(self.host, self.security)
        return self


class EmailAccountSettings(ChannelAccountSettings):
    """One service address: mail to it comes in from its mailbox (``imap``) or its
    provider's webhook (``webhook``), or both; answers go out through ``smtp``.

    :param address: the service address, the ``From`` of every answer.
    :param display_name: the name shown with it (``From: "ブランド" <…>``).
    :param webhook: the provider posting inbound mail to ``/webhooks/email/<name>``:
        ``mailgun`` (a route, signed with the webhook signing key) or ``sendgrid``
        (Inbound Parse, with ``webhook_secret`` as the Basic-auth password or ``key``
        parameter of the URL configured there).
    :param webhook_secret: Mailgun's webhook signing key, or the secret in SendGrid's URL.
    :param webhook_max_age_seconds: how old a Mailgun signature may be.
    :param max_message_bytes: a larger mail is not taken in whole: its headers are kept,
        with the reason.
    :param stored_attachment_bytes: an attachment's bytes are kept up to this size; larger
        ones by name, type and size only.
    :param default_subject: the subject of a message that answers no mail.
    :param auto_replies_per_sender: how many auto-replies one sender gets within
        ``auto_reply_hours`` (RFC 3834 §2: not more than one per period is the rule).
    """

    channel: Literal["email"] = "email"
    address: str
    display_name: str | None = None
    imap: ImapSettings | None = None
    smtp: SmtpSettings | None = None
    webhook: Literal["mailgun", "sendgrid"] | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_age_seconds: int = Field(default=3600, ge=60, le=86_400)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024)
    stored_attachment_bytes: int = Field(default=1024 * 1024, ge=0, le=25 * 1024 * 1024)
    default_subject: str = Field(default="", max_length=200)
    auto_replies_per_sender: int = Field(default=1, ge=0, le=100)
    auto_reply_hours: int = Field(default=24, ge=1, le=24 * 30)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            checked = validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not an email address: {exc}") from None
        return str(checked.normalized)

    @field_validator("default_subject", "display_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\r\n"):
            raise ValueError("a header value is one line: no line breaks")
        return value

    @model_validator(mode="after")
    def _a_way_in(self) -> EmailAccountSettings:
        if self.imap is None and self.webhook is None:
            raise ValueError(
                "an email account needs a way for mail to come in: a mailbox ([imap]) or a"
                " provider's webhook (webhook = 'mailgun' or 'sendgrid')"
            )
        if self.webhook is not None and self.webhook_secret is None:
            raise ValueError(f"webhook = {self.webhook!r} needs its webhook_secret")
        return self
