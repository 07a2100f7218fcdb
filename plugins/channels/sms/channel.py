"""The Twilio Programmable Messaging protocol: signed form posts in, TwiML out, REST sends.

One account is one Twilio sending number (``from_number``) of one Twilio account or
subaccount (``account_sid`` and its ``auth_token``). Twilio posts an incoming message as an
``application/x-www-form-urlencoded`` form signed over the URL it called and the form
(``X-Twilio-Signature``), and takes replies in the answer as TwiML.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx
import phonenumbers
from pydantic import SecretStr, field_validator

from regiocrm.interfaces.channels import (
    BadSignature,
    Channel,
    ChannelAccount,
    ChannelAccountSettings,
    IdentityRef,
    InboundMessage,
    MalformedPayload,
    MissingSignature,
    Reply,
    SendError,
    WebhookRequest,
    WebhookResponse,
    accepted_id,
    call_provider,
    constant_time_equal,
)

TWILIO_API = "https://api.twilio.com/2010-04-01"
SIGNATURE_HEADER = "x-twilio-signature"
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9]\d{1,14}")
DEFAULT_PORTS = {"https": 443, "http": 80}
# Statuses of messages *we* sent. A status callback pointed at this webhook reports one of
# them with our own number as ``From``; it is a receipt, not a customer's message.
OUTBOUND_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "read",
    }
)
# Characters XML 1.0 cannot carry at all, even escaped; a reply containing one would make
# the whole TwiML document unreadable to Twilio.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


class SmsAccountSettings(ChannelAccountSettings):
    """``[channel_accounts.<name>]`` for a Twilio number.

    :param auth_token: the (sub)account's auth token: the API password and the webhook
        signing key.
    :param account_sid: ``AC`` and 32 hex digits.
    :param from_number: the Twilio number, E.164 (``+61…``); other spellings are
        normalised to it.
    :param webhook_url: the URL exactly as configured in Twilio, when it differs from the
        URL the server sees (a proxy or load balancer rewriting scheme, host or path).
        Twilio signs the URL it called, so verification must use that one.
    """

    channel: Literal["sms"] = "sms"
    auth_token: SecretStr
    account_sid: str
    from_number: str
    webhook_url: str | None = None

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if not ACCOUNT_SID.fullmatch(value):
            raise ValueError(f"{value!r} is not a Twilio Account SID ('AC' and 32 hex digits)")
        return value

    @field_validator("from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(
                f"{value!r} is not an international phone number (+ and country code): {exc}"
            ) from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"{value!r} is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("webhook_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
                raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value


class SmsChannel(Channel):
    """SMS and MMS through Twilio.

    :cvar reply_deadline: Twilio gives up on a webhook after 15 seconds.
    """

    name = "sms"
    account_settings = SmsAccountSettings
    reply_deadline = timedelta(seconds=15)
    replies_in_response = True
    identity_kinds = ("phone",)

    def verify(self, account: ChannelAccount, request: WebhookRequest) -> None:
        """Check ``X-Twilio-Signature`` as twilio-python's ``RequestValidator`` does for a
        form post: base64 HMAC-SHA1, keyed with the auth token, of the URL followed by
        every form field's name and value, sorted by name and then value (a repeated name
        contributes each of its values). The URL is tried without its port and with the
        scheme's default port, because Twilio is not consistent about signing the port.
        Query-string parameters are part of the URL, not of the sorted fields.
        """
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise MissingSignature(f"the request carries no {SIGNATURE_HEADER} header")
        try:
            fields = _form(request.body)
        except UnicodeDecodeError:
            raise BadSignature("the body is not a UTF-8 form, so Twilio did not sign it") from None
        settings = _settings(account)
        key = settings.auth_token.get_secret_value().encode()
        signed_fields = "".join(name + value for name, value in sorted(fields))
        for url in _url_variants(settings.webhook_url or request.url):
            digest = hmac.new(key, (url + signed_fields).encode(), hashlib.sha1).digest()
            if constant_time_equal(base64.b64encode(digest).decode(), signature):
                return
        raise BadSignature("the signature does not match the URL, the form and the auth token")

    def parse(self, account: ChannelAccount, request: WebhookRequest) -> list[InboundMessage]:
        """The incoming message of the form. Twilio sends no time, so the message is dated
        when the request arrived; a status callback for a message we sent gives none."""
        try:
            fields = dict(_form(request.body))
        except UnicodeDecodeError:
            raise MalformedPayload("the body is not a UTF-8 form") from None
        if (fields.get("MessageStatus") or fields.get("SmsStatus")) in OUTBOUND_STATUSES:
            return []
        missing = [name for name in ("MessageSid", "From") if not fields.get(name)]
        if missing:
            raise MalformedPayload(f"not a Twilio message webhook: no {', '.join(missing)}")
        try:
            media = int(fields.get("NumMedia") or 0)
        except ValueError:
            raise MalformedPayload("NumMedia is not a number") from None
        body = fields.get("Body", "")
        kind = _media_kind(fields.get("MediaContentType0", "")) if media else "text"
        return [
            InboundMessage(
                external_id=fields["MessageSid"],
                identities=(IdentityRef("phone", fields["From"]),),
                occurred_at=request.received_at,
                kind=kind,
                text=body if body or kind == "text" else None,
            )
        ]

    def respond(
        self,
        account: ChannelAccount,
        request: WebhookRequest,
        messages: Sequence[InboundMessage],
        replies: Sequence[Reply],
    ) -> WebhookResponse:
        """TwiML with one ``<Message>`` per reply, or an empty ``<Response/>``, which tells
        Twilio to send nothing (any other body, even an empty one, is logged as an error
        in the Twilio console)."""
        if not replies:
            return WebhookResponse(200, f"{TWIML_HEAD}<Response/>".encode(), "application/xml")
        verbs = "".join(
            f"<Message>{escape(XML_ILLEGAL.sub('', reply.text))}</Message>" for reply in replies
        )
        twiml = f"{TWIML_HEAD}<Response>{verbs}</Response>"
        return WebhookResponse(200, twiml.encode(), "application/xml")

    def send(
        self,
        account: ChannelAccount,
        recipient: IdentityRef,
        text: str,
        *,
        client: httpx.Client,
        reply_token: str | None = None,
    ) -> str:
        """Create a Message resource and return its SID (``SM…``). SMS has no reply tokens,
        so ``reply_token`` is not used."""
        settings = _settings(account)
        if recipient.kind != "phone" or not E164.fullmatch(recipient.value):
            # The value stays out of the message: errors are logged, numbers are personal.
            raise SendError(
                f"SMS needs an E.164 phone identity, not this {recipient.kind} one",
                retryable=False,
            )
        url = f"{TWILIO_API}/Accounts/{settings.account_sid}/Messages.json"
        form = {"To": recipient.value, "From": settings.from_number, "Body": text}
        auth = (settings.account_sid, settings.auth_token.get_secret_value())
        response = call_provider("Twilio", lambda: client.post(url, data=form, auth=auth))
        if not response.is_success:
            raise _send_error(response)
        return accepted_id(response, "Twilio", lambda answer: answer["sid"])


def _settings(account: ChannelAccount) -> SmsAccountSettings:
    if not isinstance(account.credentials, SmsAccountSettings):
        raise TypeError(f"account {account.name!r} is not configured as an SMS account")
    return account.credentials


def _form(body: bytes) -> list[tuple[str, str]]:
    """The form's fields in order, empty values kept: Twilio signs ``Body=`` too.

    :raises UnicodeDecodeError: for a body that is not UTF-8.
    """
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)


def _url_variants(url: str) -> tuple[str, ...]:
    """``url`` as given, without its port, and with its port (the scheme's default when
    it has none): the URLs Twilio may have signed for the same webhook."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return (url,)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    explicit = port if port is not None else DEFAULT_PORTS.get(parts.scheme)
    netlocs = [f"{userinfo}{at}{host}"]
    if explicit is not None:
        netlocs.append(f"{userinfo}{at}{host}:{explicit}")
    variants = [url, *(urlunsplit(parts._replace(netloc=netloc)) for netloc in netlocs)]
    return tuple(dict.fromkeys(variants))


def _media_kind(content_type: str) -> str:
    """``image``, ``video`` or ``audio`` by the first attachment's type; ``file`` else."""
    major = content_type.partition("/")[0].lower()
    return major if major in {"image", "video", "audio"} else "file"


def _send_error(response: httpx.Response) -> SendError:
    """A Twilio REST error: throttling (429) and Twilio's own failures (5xx) may pass on a
    later attempt; a 4xx (21211 invalid ``To``, 21610 recipient replied STOP…) will not."""
    retryable = response.status_code == 429 or response.status_code >= 500
    try:
        error = response.json()
        detail = f"error {error['code']}: {error['message']} ({error.get('more_info', '-')})"
    except (ValueError, LookupError, TypeError):
        detail = response.text[:200]
    return SendError(f"Twilio answered {response.status_code}, {detail}", retryable=retryable)
