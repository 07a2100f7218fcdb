"""Email as a :class:`~regiocrm.interfaces.channels.Channel`: mail in from an IMAP mailbox
the worker polls or from a provider's inbound webhook, answers out through SMTP.

Every mail, however it came, goes through one parser (:mod:`.parsing`) and becomes one
:class:`~regiocrm.interfaces.channels.InboundMessage`: its ``Message-ID`` is its id, so a
mail fetched again, or posted again by the provider, is stored once; the sender's address
is an ``email`` identity; ``References`` and ``In-Reply-To`` are its thread, which files it
under the case of the mail it answers and which an answer carries on. A bounce (a delivery
status notification) is no customer's message: it is a receipt, failing the message it
reports on.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from regiocrm.interfaces.channels import (
    PROVIDER_CLOCK_LEAD,
    Attachment,
    AutoReplyLimit,
    BadSignature,
    BodylessSignature,
    Channel,
    ChannelAccount,
    Fetched,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    PollControl,
    PollFailed,
    Receipt,
    ReceiptStatus,
    Reply,
    SendError,
    WebhookRequest,
    WebhookResponse,
)
from regiocrm.plugins.channels.email import parsing, smtp, webhooks
from regiocrm.plugins.channels.email.imap import (
    FetchedMail,
    Mailbox,
    MailboxAddress,
    MailboxUnreachable,
)
from regiocrm.plugins.channels.email.settings import EmailAccountSettings

log = logging.getLogger(__name__)

# How many mails one transaction keeps: a mailbox that filled up while the worker was away
# is taken in steps, each committed and marked before the next is fetched.
FETCH_BATCH = 20
SUMMARY_LENGTH = 300
# Ids of mails that have no Message-ID: what makes one the same mail again.
POLLED_ID = "imap:{validity}:{uid}"
POSTED_ID = "sha256:{digest}"


class EmailChannel(Channel):
    """Email: IMAP or a provider's webhook in, SMTP out.

    :cvar sends_per_second: a campaign's pace through one account: well under what shared
        SMTP relays allow a sender (Gmail's and Microsoft's start throttling beyond a few
        messages a second).
    """

    name = "email"
    account_settings = EmailAccountSettings
    identity_kinds = ("email",)
    sends_per_second = 5.0
    # SendGrid's Inbound Parse puts the secret in the URL it calls.
    private_query_parameters = ("key",)

    def __init__(self) -> None:
        # The core asks verify, parse and receipts of one request in turn, in one thread: a
        # mail of megabytes is read from its form and parsed once, not at each step. What
        # is kept goes when the request is answered, or when the thread's next one begins.
        self._read = threading.local()

    # -- inbound by webhook ----------------------------------------------------------------

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        # The first step of a request: what the thread read of the one before goes.
        self._read.__dict__.clear()
        self.bodyless_signature(account, request)

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        self._read.__dict__.clear()
        return WebhookResponse()

    def bodyless_signature(
        self, account: ChannelAccount, request: WebhookRequest
    ) -> BodylessSignature | None:
        """Mailgun signs a timestamp and a token, not the mail: the core then lets the
        signature carry one body only. SendGrid's secret is in the URL."""
        settings = _settings(account)
        secret = _webhook_secret(account, settings)
        if settings.webhook == "mailgun":
            form = self._form(request)
            max_age = timedelta(seconds=settings.webhook_max_age_seconds)
            return webhooks.verify_mailgun(secret, form, now=request.received_at, max_age=max_age)
        webhooks.verify_sendgrid(secret, request)
        return None

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """The mail the provider posted, unless it is a bounce (see :meth:`receipts`)."""
        mail = self._posted(account, request)
        if isinstance(mail, Receipt) or mail is None:
            return []
        return [mail]

    def receipts(self, account: ChannelAccount, request: WebhookRequest) -> list[Receipt]:
        mail = self._posted(account, request)
        return [mail] if isinstance(mail, Receipt) else []

    def _form(self, request: WebhookRequest) -> webhooks.Form:
        if getattr(self._read, "form_of", None) is not request:
            self._read.form = webhooks.read_form(request)
            self._read.form_of = request
        form: webhooks.Form = self._read.form
        return form

    def _posted(
        self, account: ChannelAccount, request: WebhookRequest
    ) -> InboundMessage | Receipt | None:
        if getattr(self._read, "mail_of", None) is request:
            mail: InboundMessage | Receipt | None = self._read.mail
            return mail
        settings = _settings(account)
        form = self._form(request)
        raw = (
            webhooks.mailgun_mime(form)
            if settings.webhook == "mailgun"
            else webhooks.sendgrid_mime(form)
        )
        fallback = POSTED_ID.format(digest=hashlib.sha256(raw).hexdigest())
        try:
            mail = inbound(raw, settings, received_at=request.received_at, fallback_id=fallback)
        except parsing.MailRefused as exc:
            raise MalformedPayload(str(exc)) from None
        self._read.mail, self._read.mail_of = mail, request
        return mail

    # -- inbound from a mailbox -------------------------------------------------------------

    def polls(self, account: ChannelAccount) -> bool:
        return _settings(account).imap is not None

    def poll(self, account: ChannelAccount, control: PollControl) -> None:
        """Take the folder's new mail by UID, oldest first, :data:`FETCH_BATCH` at a time,
        each batch kept (committed) before it is marked stored on the server; then wait for
        more (IDLE where the server offers it) until the worker stops.

        The cursor is the folder's ``UIDVALIDITY`` and the last UID kept. When the server
        renumbered the folder (another ``UIDVALIDITY``), every mail not marked stored is
        fetched again: those kept before are found by their ``Message-ID``.
        """
        settings = _settings(account)
        try:
            with Mailbox(_mailbox_address(settings)) as mailbox:
                control.connected()
                last = _last_uid(control.cursor, mailbox.uidvalidity)
                while True:
                    last = self._take_new(settings, mailbox, control, last)
                    if control.once or control.stopping.is_set():
                        return
                    assert settings.imap is not None
                    mailbox.wait(settings.imap.poll_seconds, control.stopping)
                    if control.stopping.is_set():
                        return
                    control.connected()
        except MailboxUnreachable as exc:
            raise PollFailed(str(exc)) from None

    def _take_new(
        self, settings: EmailAccountSettings, mailbox: Mailbox, control: PollControl, last: int
    ) -> int:
        uids = mailbox.new_uids(last)
        for start in range(0, len(uids), FETCH_BATCH):
            if control.stopping.is_set():
                break
            batch = uids[start : start + FETCH_BATCH]
            fetched = mailbox.fetch(batch, max_bytes=settings.max_message_bytes)
            messages: list[InboundMessage] = []
            receipts: list[Receipt] = []
            for mail in fetched:
                found = polled(mail, settings, mailbox.uidvalidity)
                if isinstance(found, InboundMessage):
                    messages.append(found)
                elif isinstance(found, Receipt):
                    receipts.append(found)
            cursor = f"{mailbox.uidvalidity}:{max(batch)}"
            control.keep(Fetched(messages, cursor, receipts))
            mailbox.mark_stored(batch)
            last = max(batch)
        return last

    # -- outbound -------------------------------------------------------------------------

    def auto_reply_limit(self, account: ChannelAccount) -> AutoReplyLimit | None:
        settings = _settings(account)
        return AutoReplyLimit(
            settings.auto_replies_per_sender, timedelta(hours=settings.auto_reply_hours)
        )

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Send ``text`` as a new mail with the account's ``default_subject``; its
        ``Message-ID`` is the id returned (a bounce names it)."""
        settings = _settings(account)
        return _deliver(settings, recipient, text, subject=settings.default_subject)

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
        """Send ``text`` as the answer to the customer's mail ``answering``: ``Re:`` its
        subject, ``In-Reply-To`` its ``Message-ID`` and ``References`` its thread followed by
        it (RFC 5322 §3.6.4), so that their mail client shows it under their mail; an
        ``automatic`` one says so (``Auto-Submitted: auto-replied``, RFC 3834)."""
        settings = _settings(account)
        message_id = answering.reply_token
        if message_id is not None and not _writable_id(message_id):
            message_id = None
        references = [i for i in answering.thread if _writable_id(i)]
        references += [message_id] if message_id else []
        return _deliver(
            settings,
            recipient,
            text,
            subject=smtp.reply_subject(answering.subject or settings.default_subject),
            in_reply_to=message_id,
            references=tuple(dict.fromkeys(references)),
            automatic=automatic,
        )


def inbound(
    raw: bytes,
    settings: EmailAccountSettings,
    *,
    received_at: datetime,
    fallback_id: str,
) -> InboundMessage | Receipt | None:
    """A mail as the inbox keeps it: a customer's message, a receipt for a bounce (None for
    a bounce that names no mail of ours, or reports no failure).

    :param fallback_id: its id when it has no usable ``Message-ID``.
    :raises parsing.MailRefused: for a mail that cannot be taken in, with the reason.
    """
    limits = parsing.MailLimits(
        max_bytes=settings.max_message_bytes,
        stored_attachment_bytes=settings.stored_attachment_bytes,
    )
    mail = parsing.parse_mail(raw, limits)
    if mail.bounce is not None:
        return _receipt(mail.bounce, received_at)
    if mail.sender is None:
        raise parsing.MailRefused("the mail names no sender")
    return _message(mail, received_at, fallback_id)


def polled(
    fetched: FetchedMail, settings: EmailAccountSettings, uidvalidity: int
) -> InboundMessage | Receipt | None:
    """A mail fetched from the mailbox as the inbox keeps it. A mail over the account's
    size, of which only the headers were fetched, or one that cannot be read whole (a
    mail bomb, a broken structure) is kept by its headers, with the reason as its summary,
    so that the agent knows the customer wrote; None when not even its headers name a
    sender (logged)."""
    fallback = POLLED_ID.format(validity=uidvalidity, uid=fetched.uid)
    received_at = datetime.now(UTC)
    if fetched.complete:
        try:
            return inbound(fetched.raw, settings, received_at=received_at, fallback_id=fallback)
        except parsing.MailRefused as exc:
            reason = str(exc)
    else:
        reason = (
            f"the mail is {_megabytes(fetched.size)}, over the account's"
            f" {_megabytes(settings.max_message_bytes)}: only its headers were taken in"
        )
    try:
        headers = parsing.parse_mail(_header_block(fetched.raw))
    except parsing.MailRefused as exc:
        log.warning("mail %s not taken in: %s (%s)", fallback, reason, exc)
        return None
    if headers.sender is None:
        log.warning("mail %s not taken in: %s", fallback, reason)
        return None
    message = _message(headers, received_at, fallback)
    return InboundMessage(
        external_id=message.external_id,
        identities=message.identities,
        occurred_at=message.occurred_at,
        kind="text",
        subject=message.subject,
        summary=f"{message.subject} — {reason}"[:SUMMARY_LENGTH] if message.subject else reason,
        thread=message.thread,
        automated=message.automated,
        reply_token=message.reply_token,
        display_name=message.display_name,
    )


def _message(mail: parsing.ParsedMail, received_at: datetime, fallback_id: str) -> InboundMessage:
    assert mail.sender is not None
    sent_at = mail.sent_at
    if sent_at is None or sent_at > received_at + PROVIDER_CLOCK_LEAD:
        sent_at = received_at
    thread = tuple(dict.fromkeys((*mail.references, *mail.in_reply_to)))
    return InboundMessage(
        external_id=mail.message_id or fallback_id,
        identities=(IdentityRef("email", mail.sender),),
        occurred_at=sent_at,
        kind="text",
        text=mail.text,
        reply_token=mail.message_id,
        display_name=mail.sender_name,
        subject=mail.subject or None,
        summary=_summary(mail),
        thread=thread,
        automated=mail.automated,
        attachments=tuple(
            Attachment(a.filename, a.content_type, a.size, a.content) for a in mail.attachments
        ),
    )


def _summary(mail: parsing.ParsedMail) -> str:
    """The subject and the new words, without the reply they quote, and the files."""
    new = " ".join(mail.new_text.split())
    parts = [part for part in (mail.subject, new) if part]
    files = [a.filename or a.content_type for a in mail.attachments]
    if files:
        parts.append("📎 " + ", ".join(files))
    return " — ".join(parts)[:SUMMARY_LENGTH]


def _receipt(bounce: parsing.Bounce, received_at: datetime) -> Receipt | None:
    if bounce.original_message_id is None or bounce.action != "failed":
        return None
    reason = " ".join(part for part in (bounce.status, bounce.diagnostic) if part)
    return Receipt(
        external_id=bounce.original_message_id,
        status=ReceiptStatus.FAILED,
        at=received_at,
        error=f"bounced: {reason}" if reason else "bounced",
    )


def _deliver(
    settings: EmailAccountSettings,
    recipient: IdentityRef,
    text: str,
    *,
    subject: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    automatic: bool = False,
) -> str:
    if recipient.kind != "email":
        raise SendError(f"email cannot send to a {recipient.kind!r} identity", retryable=False)
    if settings.smtp is None:
        raise SendError(
            f"the account of {settings.address} has no outgoing server ([smtp])", retryable=False
        )
    outgoing = smtp.Outgoing(
        sender=settings.address,
        sender_name=settings.display_name,
        recipient=recipient.value,
        subject=subject,
        text=text,
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=automatic,
    )
    message_id = smtp.new_message_id(settings.address)
    try:
        message = smtp.compose(outgoing, message_id=message_id, at=datetime.now(UTC))
    except ValueError as exc:
        raise SendError(f"the mail cannot be written: {exc}", retryable=False) from None
    smtp.send(_smtp_server(settings), message)
    return message_id


def _settings(account: ChannelAccount) -> EmailAccountSettings:
    if not isinstance(account.credentials, EmailAccountSettings):
        raise TypeError(f"account {account.name!r} is not configured as an email account")
    return account.credentials


def _webhook_secret(account: ChannelAccount, settings: EmailAccountSettings) -> str:
    if settings.webhook is None or settings.webhook_secret is None:
        raise BadSignature(f"account {account.name!r} takes no webhook: its mail is polled")
    return settings.webhook_secret.get_secret_value()


def _mailbox_address(settings: EmailAccountSettings) -> MailboxAddress:
    imap = settings.imap
    assert imap is not None
    return MailboxAddress(
        host=imap.host,
        port=imap.port,
        security=imap.security,
        user=imap.user,
        password=imap.password.get_secret_value(),
        folder=imap.folder,
        processed_folder=imap.processed_folder,
        timeout=imap.timeout_seconds,
        ssl_context=_tls_context(imap.ca_file),
    )


def _smtp_server(settings: EmailAccountSettings) -> smtp.SmtpServer:
    server = settings.smtp
    assert server is not None
    return smtp.SmtpServer(
        host=server.host,
        port=server.port,
        security=server.security,
        user=server.user,
        password=None if server.password is None else server.password.get_secret_value(),
        timeout=server.timeout_seconds,
        ssl_context=_tls_context(server.ca_file),
    )


def _writable_id(message_id: str) -> bool:
    """Whether an id from a customer's mail can go back in a header: printable ASCII, as
    RFC 5322's msg-id is; another (a hostile ``References``) is left out, not allowed to
    stop the answer."""
    return message_id.isascii() and message_id.isprintable() and " " not in message_id


def _tls_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """The system's trust, and the account's own certificate authority when it names one;
    None: the client's default (the system's)."""
    if ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(ca_file))


def _last_uid(cursor: str | None, uidvalidity: int) -> int:
    """The last UID kept, when the cursor is of this UIDVALIDITY; 0 otherwise."""
    if cursor is None:
        return 0
    validity, _, uid = cursor.partition(":")
    if validity != str(uidvalidity) or not uid.isdigit():
        return 0
    return int(uid)


def _header_block(raw: bytes) -> bytes:
    for end in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(end)
        if found != -1:
            return raw[: found + len(end)]
    return raw


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
