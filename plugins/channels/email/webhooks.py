"""Inbound email through a provider's webhook: Mailgun routes and SendGrid Inbound Parse.

Both providers POST a form to ``/webhooks/email/{account}``. :func:`read_form` reads it,
:func:`verify_mailgun` or :func:`verify_sendgrid` checks who sent it, and
:func:`mailgun_mime` or :func:`sendgrid_mime` hands back the message as raw RFC 5322 bytes
for the email parser.

Mailgun (a route's ``forward()`` action) posts ``application/x-www-form-urlencoded``, or
``multipart/form-data`` when there are attachments. A destination URL ending in ``mime``
gets the message as it came, in ``body-mime``. Any other URL gets it parsed:
``message-headers`` (the original headers in order, as a JSON list of ``[name, value]``
pairs), ``body-plain`` and ``body-html`` in UTF-8, the files ``attachment-1`` to
``attachment-N`` (``attachment-count``), and ``content-id-map`` (``{content-id:
"attachment-N"}``). Every post carries ``timestamp``, ``token`` (50 random characters) and
``signature``, the hex HMAC-SHA256 of timestamp + token keyed with the account's webhook
signing key. That signature leaves the body out, so :func:`verify_mailgun` returns a
:class:`~regiocrm.interfaces.channels.BodylessSignature`.

SendGrid Inbound Parse posts ``multipart/form-data``. With "POST the raw, full MIME
message" on, the message is the ``email`` field. Otherwise SendGrid sends:

- ``headers``, the raw header block;
- ``text`` and ``html``, in the message's own charsets and not re-encoded, with
  ``charsets`` (JSON) naming the charset of each field;
- ``attachments`` (how many), ``attachment-info`` (JSON keyed by file field: filename,
  type, charset, content-id) and the files ``attachment1`` to ``attachmentN``.

SendGrid signs nothing unless a security policy (ECDSA signature, OAuth) is attached through
its API. This module does not read those. The account's secret goes in the URL the customer
configures instead, as the HTTP Basic password or the ``key`` query parameter.

References: Mailgun "Receiving Messages via HTTP through a forward() action"
(documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http) and
"Securing Webhooks" (…/user-manual/webhooks/securing-webhooks); Twilio SendGrid "Inbound
Email Parse Webhook" (twilio.com/docs/sendgrid/for-developers/parsing-email/inbound-email),
"Setting Up The Inbound Parse Webhook" (…/parsing-email/setting-up-the-inbound-parse-webhook)
and "Securing your Inbound Parse Webhooks" (…/parsing-email/securing-your-parse-webhooks).
django-anymail ``anymail/webhooks/mailgun.py`` and ``sendgrid.py`` handle the same fields.
The capture in its ``tests/test_sendgrid_inbound.py`` shows ``text`` posted in windows-1252
and ``html`` in ISO-8859-1.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.errors import MessageError
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from regiocrm.interfaces.channels import (
    UNIX_EPOCH,
    BadSignature,
    BodylessSignature,
    MalformedPayload,
    MissingSignature,
    StaleRequest,
    WebhookRequest,
    constant_time_equal,
    parse_json,
)

# Mailgun's clock may run a little ahead of ours; further ahead, the timestamp is not live.
MAILGUN_CLOCK_LEAD = timedelta(minutes=5)

# The original headers are written as they came. Set raw, they are neither parsed nor
# refolded (refold_source="none"). SMTP's policy ends lines with CRLF.
_POLICY = SMTP.clone(refold_source="none")
# RFC 5322 §2.2: a field name is printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# Every character str.splitlines() breaks at, and NUL: a header value holding one could
# start a header of its own on output.
_LINE_BREAK = re.compile("[\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# Headers that describe the body: the body is rebuilt, so its own take their place.
_BODY_HEADER = re.compile(r"(?i)mime-version|content-.*")
_FOLD_WIDTH = 78
# A non-ASCII header value is encoded by the standard library's header parser and folder.
# Their time grows faster than a value's length and reaches seconds at some tens of
# kilobytes of hostile text, so each value and all of them together have a cap.
_MAX_ENCODED_HEADER = 2000
_MAX_ENCODED_HEADERS = 16_000
# Hostile values make the header parser and folder fail with these (IndexError and
# RecursionError, with nested comments, among them).
_HEADER_ERRORS = (ValueError, LookupError, TypeError, AttributeError, RecursionError, MessageError)
# These codecs yield lone surrogates (utf-7, the escapes) or take quadratic time (punycode,
# idna), which makes them no charset for a webhook's text.
_REFUSED_CODECS = frozenset({"utf-7", "unicode-escape", "raw-unicode-escape", "punycode", "idna"})
_MEDIA_TYPE = re.compile(r"([A-Za-z0-9!#$&^_.+-]+)/([A-Za-z0-9!#$&^_.+-]+)")
_CHARSET_PARAM = re.compile(r"""(?i)charset\s*=\s*"?([A-Za-z0-9!#$%&'+^_`{}~.:-]{1,64})""")
# RFC 5322 msg-id's dot-atom-text with the "@", and at most 250 characters of it.
_CONTENT_ID = re.compile(r"<?([A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,250})>?")
_FILENAME_NOISE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_MAX_FILENAME = 255


@dataclass(frozen=True)
class FormFile:
    """A file part of a form: its ``filename`` and ``Content-Type`` as posted."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Form:
    """A provider's form as posted, read by :func:`read_form`.

    :param fields: the text fields (a repeated name: the first), decoded as UTF-8 or as the
        part's ``charset=``. A field whose bytes are not text in that charset is in
        ``raw`` only.
    :param files: the file parts by field name (a repeated name: the first).
    :param raw: the bytes of every text field, as posted. SendGrid posts a message's text
        and html in the message's own charsets, and raw MIME may hold 8-bit text in any
        charset: refusing what is not UTF-8 would lose real mail.
    """

    fields: Mapping[str, str]
    files: Mapping[str, FormFile]
    raw: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class _Attachment:
    filename: str | None
    content_type: str
    data: bytes
    content_id: str | None = None


def read_form(request: WebhookRequest, *, max_parts: int = 200) -> Form:
    """The form of a webhook request: ``multipart/form-data`` (read with python-multipart)
    or ``application/x-www-form-urlencoded``.

    :param max_parts: how many parts or fields the form may have; a provider sends a few
        dozen and one per attachment.
    :raises MalformedPayload: for another content type, a multipart body without a
        boundary, malformed, cut short or with more than ``max_parts`` parts, and for a
        field name that is not UTF-8.
    """
    media_type, params = _content_type(request)
    if media_type == "multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedPayload("the multipart/form-data body has no boundary")
        return _multipart_form(request.body, boundary, max_parts)
    if media_type == "application/x-www-form-urlencoded":
        charset = params.get(b"charset", b"").decode("latin-1") or None
        return _urlencoded_form(request.body, charset, max_parts)
    raise MalformedPayload(
        f"the body is {media_type or 'of no content type'!r}, not a form"
        " (multipart/form-data or application/x-www-form-urlencoded)"
    )


def verify_mailgun(
    signing_key: str, form: Form, *, now: datetime, max_age: timedelta
) -> BodylessSignature:
    """Check Mailgun's signature: ``signature`` is the hex HMAC-SHA256 of ``timestamp`` +
    ``token``, keyed with the account's webhook signing key.

    The signature does not cover the body, so it is returned for the core to let it carry
    one body only. Its key is the token, and it stays valid until ``timestamp + max_age``.

    :param now: when the request arrived, timezone-aware.
    :param max_age: how old a signed timestamp may be. Mailgun retries a failed delivery
        for hours, signing each try anew.
    :raises MissingSignature: when ``timestamp``, ``token`` or ``signature`` is missing
        or not UTF-8.
    :raises BadSignature: when the signature does not match, or the signed timestamp is
        not Unix seconds.
    :raises StaleRequest: when the timestamp is older than ``max_age`` or more than
        :data:`MAILGUN_CLOCK_LEAD` ahead of ``now``.
    """
    timestamp, token, given = (
        form.fields.get(name) for name in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and given):
        raise MissingSignature("Mailgun signs with the form fields timestamp, token and signature")
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not constant_time_equal(expected, given):
        raise BadSignature("the Mailgun signature does not match the timestamp and the token")
    # Digits only, and few: int() would take "1_765_000_000", and a long run of digits is
    # no time at all.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadSignature(f"the signed timestamp {timestamp[:40]!r} is not Unix seconds")
    seconds = int(timestamp)
    if seconds > (now + MAILGUN_CLOCK_LEAD - UNIX_EPOCH) // timedelta(seconds=1):
        raise StaleRequest(f"the signed timestamp {seconds} is ahead of our clock")
    signed_at = UNIX_EPOCH + timedelta(seconds=seconds)
    if now - signed_at > max_age:
        raise StaleRequest(f"the signature is {(now - signed_at).total_seconds():.0f} s old")
    return BodylessSignature(key=token, valid_until=signed_at + max_age)


def verify_sendgrid(secret: str, request: WebhookRequest) -> None:
    """Check the secret that SendGrid's Inbound Parse URL carries, since SendGrid signs
    nothing. It is the HTTP Basic password (``https://inbound:SECRET@host/webhooks/email/
    acct``) or the ``key`` query parameter. One of them must match, compared in constant
    time.

    :raises MissingSignature: with neither.
    :raises BadSignature: when none matches.
    """
    offered: list[str | None] = []
    authorization = request.headers.get("authorization")
    if authorization is not None and authorization[:6].lower() == "basic ":
        offered.append(_basic_password(authorization[6:]))
    key = request.query.get("key")
    if key:
        offered.append(key)
    if not offered:
        raise MissingSignature(
            "the request carries neither HTTP Basic credentials nor a key parameter:"
            " the SendGrid Inbound Parse URL must hold the account's secret"
        )
    if not any(
        password is not None and constant_time_equal(secret, password) for password in offered
    ):
        raise BadSignature("the secret in the SendGrid Inbound Parse URL does not match")


def mailgun_mime(form: Form) -> bytes:
    """The raw message of a Mailgun route delivery. It is ``body-mime`` as it came, for a
    route forwarding to a URL ending in ``mime``. Otherwise it is rebuilt from
    ``message-headers``, ``body-plain``, ``body-html`` and the files ``attachment-1`` to
    ``attachment-N``.

    :raises MalformedPayload: when the form has neither form, or a field is not what
        Mailgun sends.
    """
    mime = _bytes(form, "body-mime")
    if mime is not None:
        return mime
    headers_text = _text(form, "message-headers")
    if headers_text is None:
        raise MalformedPayload(
            "the form has neither body-mime nor message-headers: not a Mailgun route delivery"
        )
    headers = parse_json(headers_text.encode("utf-8"))
    if not (isinstance(headers, list) and all(_is_pair(header) for header in headers)):
        raise MalformedPayload("message-headers is not a JSON list of [name, value] pairs")
    content_ids = {
        name: content_id for content_id, name in _json_strings(form, "content-id-map").items()
    }
    attachments = [
        _attachment(
            form,
            name,
            filename=None,
            content_type=None,
            content_id=content_ids.get(name),
        )
        for name in (f"attachment-{n}" for n in range(1, _count(form, "attachment-count") + 1))
    ]
    return _rebuilt(
        [(name, value) for name, value in headers],
        text=_text(form, "body-plain"),
        html=_text(form, "body-html"),
        attachments=attachments,
    )


def sendgrid_mime(form: Form) -> bytes:
    """The raw message of a SendGrid Inbound Parse post. It is the ``email`` field when
    "POST the raw, full MIME message" is on. Otherwise it is rebuilt from ``headers``,
    ``text`` and ``html`` (decoded in the charsets ``charsets`` names, UTF-8 with
    replacement characters for a charset Python does not know), ``attachment-info`` and
    the files ``attachment1`` to ``attachmentN``.

    :raises MalformedPayload: when the form has neither form, or a field is not what
        SendGrid sends.
    """
    mime = _bytes(form, "email")
    if mime is not None:
        return mime
    header_block = _bytes(form, "headers")
    if header_block is None:
        raise MalformedPayload(
            "the form has neither email nor headers: not a SendGrid Inbound Parse post"
        )
    charsets = _json_strings(form, "charsets")
    info = _json_object(form, "attachment-info")
    attachments = []
    for name in (f"attachment{n}" for n in range(1, _count(form, "attachments") + 1)):
        details = info.get(name)
        if details is not None and not isinstance(details, dict):
            raise MalformedPayload(f"attachment-info holds no JSON object for {name}")
        details = details or {}
        attachments.append(
            _attachment(
                form,
                name,
                filename=_string(details.get("filename")),
                content_type=_string(details.get("type")),
                content_id=_string(details.get("content-id")),
            )
        )
    text, html = (_bytes(form, name) for name in ("text", "html"))
    return _rebuilt(
        _header_lines(header_block.decode("utf-8", errors="replace")),
        text=None if text is None else _decoded(text, charsets.get("text")),
        html=None if html is None else _decoded(html, charsets.get("html")),
        attachments=attachments,
    )


def _content_type(request: WebhookRequest) -> tuple[str, dict[bytes, bytes]]:
    value = request.headers.get("content-type", "")
    try:
        media_type, params = parse_options_header(value.encode("latin-1"))
    except UnicodeEncodeError:
        raise MalformedPayload("the Content-Type header is not Latin-1 text") from None
    return media_type.decode("latin-1"), params


def _multipart_form(body: bytes, boundary: bytes, max_parts: int) -> Form:
    fields: dict[str, str] = {}
    files: dict[str, FormFile] = {}
    raw: dict[str, bytes] = {}
    headers: dict[bytes, bytes] = {}
    header_name: list[bytes] = []
    header_value: list[bytes] = []
    data: list[bytes] = []
    parts = 0

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        if parts > max_parts:
            raise MalformedPayload(f"the form has more than {max_parts} parts")
        headers.clear()
        data.clear()

    def on_header_field(buffer: bytes, start: int, end: int) -> None:
        header_name.append(buffer[start:end])

    def on_header_value(buffer: bytes, start: int, end: int) -> None:
        header_value.append(buffer[start:end])

    def on_header_end() -> None:
        headers[b"".join(header_name).lower()] = b"".join(header_value).strip(b" \t")
        header_name.clear()
        header_value.clear()

    def on_part_data(buffer: bytes, start: int, end: int) -> None:
        data.append(buffer[start:end])

    def on_part_end() -> None:
        disposition, options = parse_options_header(headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise MalformedPayload("a form part has no Content-Disposition: form-data with a name")
        name = _field_name(options[b"name"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if b"filename" in options:
            filename = options[b"filename"].decode("utf-8", errors="replace")
            files.setdefault(
                name,
                FormFile(filename, content_type or "application/octet-stream", b"".join(data)),
            )
        else:
            charset = _CHARSET_PARAM.search(content_type)
            _add_field(fields, raw, name, b"".join(data), charset.group(1) if charset else None)

    try:
        parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        parser.write(body)
    except FormParserError as error:
        raise MalformedPayload(f"the multipart/form-data body is malformed: {error}") from None
    if parser.state != MultipartState.END:
        raise MalformedPayload("the multipart/form-data body ends before its closing boundary")
    return Form(fields=fields, files=files, raw=raw)


def _urlencoded_form(body: bytes, charset: str | None, max_parts: int) -> Form:
    fields: dict[str, str] = {}
    raw: dict[str, bytes] = {}
    # Latin-1 maps each byte to one character and back, so percent-escapes and raw bytes
    # both come out as the bytes that were sent.
    try:
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="latin-1",
            max_num_fields=max_parts,
        )
    except ValueError:
        raise MalformedPayload(f"the form has more than {max_parts} fields") from None
    for name, value in pairs:
        _add_field(
            fields, raw, _field_name(name.encode("latin-1")), value.encode("latin-1"), charset
        )
    return Form(fields=fields, files={}, raw=raw)


def _field_name(name: bytes) -> str:
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload(f"the form field name {name[:40]!r} is not UTF-8") from None


def _add_field(
    fields: dict[str, str], raw: dict[str, bytes], name: str, data: bytes, charset: str | None
) -> None:
    if name in raw:
        return
    raw[name] = data
    codec = _codec(charset) if charset else None
    with contextlib.suppress(UnicodeDecodeError):
        fields[name] = data.decode(codec or "utf-8")


def _codec(charset: str) -> str | None:
    """The Python codec of a charset name, or None for one Python lacks, one that is no
    text encoding (``base64``, ``zlib``) or one of :data:`_REFUSED_CODECS`."""
    try:
        name = codecs.lookup(charset).name
        # Decoding b"" succeeds whatever the codec: the probe needs a byte.
        b"a".decode(name, errors="replace")
    except (LookupError, ValueError):
        return None
    return None if name in _REFUSED_CODECS else name


def _decoded(data: bytes, charset: str | None) -> str:
    """``data`` in ``charset``, or in UTF-8 when it names no codec; bytes that are not
    text in it become replacement characters."""
    codec = _codec(charset) if charset else None
    return data.decode(codec or "utf-8", errors="replace")


def _bytes(form: Form, name: str) -> bytes | None:
    """A field's bytes as posted, whether it came as a text field or a file."""
    if name in form.raw:
        return form.raw[name]
    if name in form.fields:
        return form.fields[name].encode("utf-8")
    if name in form.files:
        return form.files[name].data
    return None


def _text(form: Form, name: str) -> str | None:
    """A text field, or None when absent.

    :raises MalformedPayload: when it is there but not text.
    """
    text = form.fields.get(name)
    if text is None and name in form.raw:
        raise MalformedPayload(f"the field {name} is not UTF-8 text")
    return text


def _json_object(form: Form, name: str) -> dict[str, Any]:
    text = _text(form, name)
    if text is None:
        return {}
    payload = parse_json(text.encode("utf-8"))
    if not isinstance(payload, dict):
        raise MalformedPayload(f"{name} is not a JSON object")
    return payload


def _json_strings(form: Form, name: str) -> dict[str, str]:
    payload = _json_object(form, name)
    if not all(isinstance(value, str) for value in payload.values()):
        raise MalformedPayload(f"{name} is not a JSON object of strings")
    return payload


def _is_pair(value: object) -> bool:
    return (
        isinstance(value, list) and len(value) == 2 and all(isinstance(item, str) for item in value)
    )


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _count(form: Form, name: str) -> int:
    """The number of attachments the form says it holds, checked against the files it holds."""
    text = _text(form, name)
    if text is None:
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or int(text) > len(form.files):
        raise MalformedPayload(
            f"{name} is {text[:40]!r}, but the form holds {len(form.files)} files"
        )
    return int(text)


def _attachment(
    form: Form,
    name: str,
    *,
    filename: str | None,
    content_type: str | None,
    content_id: str | None,
) -> _Attachment:
    file = form.files.get(name)
    if file is None:
        raise MalformedPayload(f"the form counts {name} among its attachments but has no such file")
    return _Attachment(
        filename=filename or file.filename,
        content_type=content_type or file.content_type,
        data=file.data,
        content_id=content_id,
    )


def _header_lines(block: str) -> list[tuple[str, str]]:
    """The ``(name, value)`` headers of a raw header block, unfolded (RFC 5322 §2.2.3),
    up to its first empty line; a line that is no header is left out."""
    headers: list[tuple[str, str]] = []
    in_header = False
    for line in re.split(r"\r?\n", block):
        if not line:
            break
        if line[0] in " \t":
            if in_header:
                name, value = headers[-1]
                headers[-1] = (name, value + line)
            continue
        name, colon, value = line.partition(":")
        in_header = bool(colon)
        if in_header:
            headers.append((name.rstrip(" \t"), value))
    return headers


def _rebuilt(
    headers: Sequence[tuple[str, str]],
    *,
    text: str | None,
    html: str | None,
    attachments: Sequence[_Attachment],
) -> bytes:
    """A MIME message of the original headers and a new body of ``text``, ``html`` and
    ``attachments``, in UTF-8.

    A header whose name is not an RFC 5322 field name, or whose value holds a line break
    (header injection), is left out. So are the headers that describe the old body
    (MIME-Version, Content-*).
    """
    message = EmailMessage(policy=_POLICY)
    encoded = 0
    for name, value in headers:
        value = value.strip(" \t")
        if (
            not _FIELD_NAME.fullmatch(name)
            or _BODY_HEADER.fullmatch(name)
            or _LINE_BREAK.search(value)
        ):
            continue
        if value.isascii():
            message.set_raw(name, _folded(name, value))
        elif len(value) <= _MAX_ENCODED_HEADER and encoded + len(value) <= _MAX_ENCODED_HEADERS:
            encoded += len(value)
            folded = _encoded(name, value)
            if folded is not None:
                message.set_raw(name, folded)
    if text is not None and html is not None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")
    for attachment in attachments:
        _attach(message, attachment)
    return message.as_bytes()


def _folded(name: str, value: str) -> str:
    """An ASCII value folded at its spaces so that lines stay within 78 characters
    where a word allows (RFC 5322 §2.1.1)."""
    lines: list[str] = []
    line = ""
    width = len(name) + 2
    for word in re.findall(r"[ \t]*[^ \t]+", value):
        if line and width + len(line) + len(word) > _FOLD_WIDTH:
            lines.append(line)
            line, width = word, 0
        else:
            line += word
    lines.append(line)
    return "\r\n".join(lines)


def _encoded(name: str, value: str) -> str | None:
    """A non-ASCII value as RFC 2047 encoded words, folded, or None when the standard
    library cannot parse it."""
    try:
        folded = _POLICY.header_factory(name, value).fold(policy=_POLICY)
    except _HEADER_ERRORS:
        return None
    encoded = folded[len(name) + 1 :].strip()
    return encoded if encoded.isascii() else None


def _attach(message: EmailMessage, attachment: _Attachment) -> None:
    maintype, subtype = "application", "octet-stream"
    media_type = _MEDIA_TYPE.match(attachment.content_type.strip())
    # base64 is not allowed on message/* and multipart/* parts (RFC 2046 §5.1, §5.2), and
    # their bytes are the provider's to vouch for: they stay a file.
    if media_type and media_type.group(1).lower() not in ("message", "multipart"):
        maintype, subtype = media_type.group(1).lower(), media_type.group(2).lower()
    charset = _CHARSET_PARAM.search(attachment.content_type)
    filename = _FILENAME_NOISE.sub("", attachment.filename or "")[:_MAX_FILENAME]
    content_id = _CONTENT_ID.fullmatch(attachment.content_id or "")
    message.add_attachment(
        attachment.data,
        maintype=maintype,
        subtype=subtype,
        filename=filename or None,
        disposition="inline" if content_id else "attachment",
        cid=f"<{content_id.group(1)}>" if content_id else None,
        params={"charset": charset.group(1)} if charset and maintype == "text" else {},
    )


def _basic_password(credentials: str) -> str | None:
    """The password of HTTP Basic credentials (RFC 7617), or None when there is none."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(":")[2] or None
