"""Inbound mail read from its raw bytes: what a CRM keeps of it, and refusal of the rest.

:func:`parse_mail` turns one RFC 5322 message, as IMAP or a provider's webhook hands it
over, into a :class:`ParsedMail`: the ids that thread it, the sender, the subject, the body
as plain text and the new part of a reply, the attachments, whether a robot may answer it
and, for a delivery status notification, which of our mails bounced. The standard
library's :mod:`email` parser (``policy.default``) does the MIME work; this module adds
what real mail needs on top of it:

* charsets as mailers really label them: ``gb2312`` that is GBK, ``ks_c_5601-1987`` that
  is CP949, ``iso-2022-jp`` that carries Windows' NEC and IBM extensions, each decoded with
  its superset, and anything undecodable replaced by U+FFFD rather than raising;
* limits against mail bombs, checked as the parser builds the tree, so that it never
  recurses deeper than :attr:`MailLimits.max_depth`;
* HTML reduced to text with nh3 (ammonia), so no markup leaves this module, and tamed
  first so that hostile markup costs the HTML parser linear time;
* every string in the result free of lone surrogates and of NUL (a PostgreSQL ``text``
  column takes neither).

Any input either parses or raises :class:`MailRefused` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.parser
import email.policy
import email.utils
import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Self, cast

import nh3


class MailRefused(Exception):
    """The mail cannot be taken in; ``str(exc)`` is the reason, an English sentence."""


@dataclass(frozen=True)
class MailLimits:
    """What one mail may hold before it is refused as a bomb.

    :param max_bytes: the whole raw message.
    :param max_parts: every part the parser creates counts, containers included, and so does
        each per-recipient block of a delivery status report.
    :param max_depth: nesting of multiparts and ``message/*`` parts; a plain multipart mail
        is one level deep.
    :param stored_attachment_bytes: an attachment's decoded bytes are kept up to this size;
        a larger one keeps its metadata only.
    :param max_text_chars: the body text kept; a longer one is cut and ends with "…".
    """

    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 100
    max_depth: int = 8
    stored_attachment_bytes: int = 1024 * 1024
    max_text_chars: int = 100_000


DEFAULT_LIMITS = MailLimits()


@dataclass(frozen=True)
class Attachment:
    """One attached file, never opened: an archive or an attached mail is one attachment.

    :param filename: the name the sender gave, without any directory part.
    :param content_type: e.g. ``application/pdf``, lower case.
    :param size: the decoded size in bytes.
    :param content: the decoded bytes, or None above
        :attr:`MailLimits.stored_attachment_bytes`.
    """

    filename: str | None
    content_type: str
    size: int
    content: bytes | None


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification (RFC 3464) about a mail we sent.

    :param original_message_id: the Message-ID of our mail that bounced, no angle brackets.
    :param recipient: the Final-Recipient address.
    :param action: ``failed``, ``delayed``, ``delivered``, ``relayed`` or ``expanded``.
    :param status: the enhanced status code (RFC 3463), e.g. ``5.1.1``.
    :param diagnostic: the Diagnostic-Code text, without its type (``smtp;``).
    """

    original_message_id: str | None
    recipient: str | None
    action: str
    status: str | None
    diagnostic: str | None


@dataclass(frozen=True)
class ParsedMail:
    """What a CRM keeps of one inbound mail.

    :param message_id: Message-ID without ``<>``; None when missing or unusable.
    :param in_reply_to: the ids of In-Reply-To, without ``<>``.
    :param references: the ids of References, without ``<>``, oldest first.
    :param sender: the From address (addr-spec) as written; None only for a bounce whose
        From names no address.
    :param sender_name: the From display name, decoded; None if there is none.
    :param subject: decoded; "" if there is none.
    :param sent_at: the Date header, timezone-aware; None if missing or unusable.
    :param text: the body as plain text (see :func:`parse_mail`).
    :param new_text: ``text`` without the quoted reply (:func:`trim_quoted`).
    :param attachments: every attached file, in the order of the mail.
    :param automated: why no robot may answer this mail (see :func:`parse_mail`), or None
        for a person's mail.
    :param bounce: the delivery status notification, if the mail is one.
    """

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: str | None
    sender_name: str | None
    subject: str
    sent_at: datetime | None
    text: str
    new_text: str
    attachments: tuple[Attachment, ...]
    automated: str | None
    bounce: Bounce | None


# --------------------------------------------------------------------------- parsing


def parse_mail(raw: bytes, limits: MailLimits = DEFAULT_LIMITS) -> ParsedMail:
    """Read one mail from its raw bytes.

    The body is the ``text/plain`` part of a ``multipart/alternative`` (its ``text/html``
    when it has none), otherwise the first ``text/plain`` or ``text/html`` part that is not
    an attachment; HTML goes through :func:`html_to_text`. Line breaks become ``\\n``.

    ``automated`` names the first sign of a mail no robot should answer, as
    ``"<Header>: <value>"``. RFC 3834 §2 says automatic responses SHOULD NOT answer a mail
    whose Auto-Submitted is anything but ``no``, and MAY pass over one with a Precedence of
    ``bulk``, ``junk`` or ``list``, any ``List-*`` field (RFC 2369, RFC 2919), or a sender
    like ``MAILER-DAEMON``, ``owner-*`` or ``*-request``; §3.1 sends a response only to the
    return path, so none goes to a null one (``Return-Path: <>``) either. To those this
    adds ``X-Autoreply`` and ``X-Autorespond`` (what other autoresponders mark their
    replies with), ``postmaster`` as a sender, ``multipart/report`` (a report is a machine's
    mail) and Microsoft's ``X-Auto-Response-Suppress`` with ``All`` or ``AutoReply``: that
    header marks no machine's mail but asks that robots not answer it, which is the
    question ``automated`` answers. Its other values (``OOF``, ``DR``, ``NDR``, ``RN``,
    ``NRN``) only refuse out-of-office notices and delivery or read receipts.

    :param raw: the message as received, headers and body.
    :param limits: the sizes past which the mail is refused.
    :raises MailRefused: the mail is too large or nests or splits too much, is not a mail
        at all, or names no sender and is not a bounce.
    """
    if len(raw) > limits.max_bytes:
        raise MailRefused(
            f"the mail is {len(raw)} bytes long, more than the limit of {limits.max_bytes}"
        )
    if not raw.strip():
        raise MailRefused("the mail is empty")
    if not _FIRST_HEADER.match(raw):
        raise MailRefused("the bytes are not a mail: they do not start with a header field")
    try:
        return _read(raw, limits)
    except RecursionError as exc:
        # With the parts bounded by _Part, what is left to recurse on is comments
        # nested in a header field, "(((((…" thousands deep.
        raise MailRefused(
            "the mail nests too deeply to be read (its parts or a header field's comments)"
        ) from exc
    except MailRefused:
        raise
    except Exception as exc:
        # The stdlib email package has had crash bugs on hostile header fields (IndexError,
        # HeaderParseError, ...); whatever it raises, the mail is refused, never a 500.
        raise MailRefused("the mail is malformed and could not be read") from exc


# A field name (printable ASCII but ":") and its colon, or the "From " line of an mbox.
_FIRST_HEADER = re.compile(rb"[!-9;-~]{1,998}:|From ")


def _read(raw: bytes, limits: MailLimits) -> ParsedMail:
    msg = _parse(raw, limits)
    body = _body_part(msg)
    # Raw 8-bit bytes in a header field are most often in the body's charset.
    hint = _charset(body if body is not None else msg)
    name, address = _sender(msg, hint)
    bounce = _bounce(msg)
    if address is None and bounce is None:
        raise MailRefused("the mail names no sender")
    text = _body_text(body, limits.max_text_chars)
    message_id = message_ids(_header(msg, "message-id", hint))
    return ParsedMail(
        message_id=message_id[0] if message_id else None,
        in_reply_to=message_ids(_header(msg, "in-reply-to", hint)),
        references=message_ids(_header(msg, "references", hint)),
        sender=address,
        sender_name=name,
        subject=_clean_line(_decode_words(_header(msg, "subject", hint) or "")),
        sent_at=_sent_at(_header(msg, "date", hint)),
        text=text,
        new_text=trim_quoted(text),
        attachments=_attachments(msg, body, limits, hint),
        automated=_automated(msg, address, hint),
        bounce=bounce,
    )


class _Budget:
    """The parts a parse has created so far, against the limits."""

    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.parts = 1


class _Part(email.message.EmailMessage):
    """A part of the parsed mail that refuses, as the parser attaches a part to it, a part
    too many or a part too deep, and that finds its header fields by name in one step.

    The feed parser builds the tree by attaching each part to its parent as soon as it meets
    the part's header, and it recurses once per level of nesting (5,000 nested multiparts
    end in a RecursionError). Checking here stops the parser at ``max_parts`` parts and at
    ``max_depth`` levels, before it or anything walking the tree can go deeper.
    """

    def __init__(self, budget: _Budget) -> None:
        super().__init__(email.policy.default)
        self._budget = budget
        self._depth = 0
        self._fields: dict[str, str] | None = None

    # Narrowed to parts as typeshed's own EmailMessage.attach narrows it.
    def attach(self, payload: Self) -> None:  # type: ignore[override]
        limits = self._budget.limits
        self._budget.parts += 1
        if self._budget.parts > limits.max_parts:
            raise MailRefused(f"the mail has more than {limits.max_parts} MIME parts")
        payload._depth = self._depth + 1
        if payload._depth > limits.max_depth:
            raise MailRefused(f"the mail nests its parts more than {limits.max_depth} levels deep")
        super().attach(payload)

    def fields(self) -> dict[str, str]:
        """The first field of each name (lower case) as received, in the order received;
        raw 8-bit bytes are surrogate escapes, as the parser leaves them.

        Built once the parse is done: a bomb's hundreds of thousands of fields are then
        not scanned again for every name looked up.
        """
        if self._fields is None:
            self._fields = {}
            for key, value in self.raw_items():
                self._fields.setdefault(key.lower(), str(value))
        return self._fields


def _parse(raw: bytes, limits: MailLimits, *, headers_only: bool = False) -> _Part:
    budget = _Budget(limits)

    def part() -> _Part:
        return _Part(budget)

    parser = email.parser.BytesParser(part, policy=email.policy.default)
    # typeshed types the result by the policy's factory, not by ``part``.
    return cast("_Part", parser.parsebytes(raw, headersonly=headers_only))


def _children(part: _Part) -> list[_Part]:
    # A leaf's get_payload() decodes its text with its charset parameter, which raises on
    # a hostile one ("a\0b"); a container's hands its list over as it is.
    if not part.is_multipart():
        return []
    return [child for child in part.get_payload() if isinstance(child, _Part)]


def _body_part(part: _Part) -> _Part | None:
    """The part that holds the body text, as :func:`parse_mail` describes it."""
    content_type = part.get_content_type()
    if content_type in ("text/plain", "text/html"):
        return None if _is_attachment(part) else part
    if part.get_content_maintype() != "multipart":
        return None
    found = [body for body in map(_body_part, _children(part)) if body is not None]
    if content_type == "multipart/alternative":
        plain = [body for body in found if body.get_content_type() == "text/plain"]
        found = plain or found
    return found[0] if found else None


def _is_attachment(part: _Part) -> bool:
    return part.get_content_disposition() == "attachment" or _filename(part, None) is not None


# How many bytes of the body are read per character kept: enough for the text in any
# charset and for the markup around it in HTML. Reading more would only spend time on text
# that is cut anyway.
_BODY_BYTES_PER_CHAR = 20


def _body_text(part: _Part | None, max_chars: int) -> str:
    if part is None:
        return ""
    data = _payload_bytes(part)
    budget = max_chars * _BODY_BYTES_PER_CHAR
    text = _decode(data[:budget], _charset(part))
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    text = _clean_text(text).strip()
    if len(text) > max_chars or len(data) > budget:
        text = text[: max_chars - 1] + "…"
    return text


def _payload_bytes(part: _Part) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


# How an attached mail is written back to bytes: its header fields as they came, never
# refolded, and CRLF line ends (RFC 5322).
_VERBATIM = email.policy.default.clone(refold_source="none", linesep="\r\n")


def _attachments(
    msg: _Part, body: _Part | None, limits: MailLimits, hint: str | None
) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    pending = [msg]
    while pending:
        part = pending.pop()
        content_type = part.get_content_type()
        if part.get_content_maintype() == "multipart":
            pending.extend(reversed(_children(part)))
            continue
        if part is body or content_type == "message/delivery-status":
            continue
        filename = _filename(part, hint)
        if (
            part.get_content_maintype() == "text"
            and filename is None
            and part.get_content_disposition() != "attachment"
        ):
            continue
        inner = _children(part)
        if inner:
            content = b"".join(message.as_bytes(policy=_VERBATIM) for message in inner)
        else:
            content = _payload_bytes(part)
        found.append(
            Attachment(
                filename=filename,
                content_type=_clean_line(content_type),
                size=len(content),
                content=content if len(content) <= limits.stored_attachment_bytes else None,
            )
        )
    return tuple(found)


def _filename(part: _Part, hint: str | None) -> str | None:
    """The attachment's name from Content-Disposition ``filename`` or Content-Type ``name``,
    in RFC 2231 form, as an RFC 2047 encoded word (as most Japanese mailers write it,
    against RFC 2047 §5), or as raw 8-bit bytes; without any directory part."""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = _param(part, header, param)
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _language, encoded = value
            name = _decode(encoded.encode("latin-1"), charset or None)
        else:
            name = _decode_words(_bytes_text(value.encode("latin-1"), hint))
        name = re.split(r"[/\\]", _clean_line(name))[-1].strip()
        if name:
            return name
    return None


def _param(part: _Part, header: str, name: str) -> str | tuple[str | None, str | None, str] | None:
    """A parameter of a header field as written, RFC 2231 continuations joined; raw 8-bit
    bytes are latin-1 characters, to be encoded back with latin-1.

    The field is read again with ``compat32``, which hands RFC 2231 values back as
    ``(charset, language, percent-decoded text)`` so that the charset can be decoded here
    like any other, mislabels included. It is given latin-1 text, not the parser's surrogate
    escapes, which it would replace.
    """
    value = _raw(part, header)
    if value is None:
        return None
    legacy = email.message.Message()
    legacy[header] = value.encode("utf-8", "surrogateescape").decode("latin-1")
    return legacy.get_param(name, header=header)


def _charset(part: _Part) -> str | None:
    value = _param(part, "content-type", "charset")
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------------- headers


def _raw(msg: _Part, name: str) -> str | None:
    """The first ``name`` field as received, unfolded (see :meth:`_Part.fields`)."""
    value = msg.fields().get(name)
    return None if value is None else re.sub(r"[\r\n]", "", value).strip()


def _header(msg: _Part, name: str, hint: str | None) -> str | None:
    """The first ``name`` field as text (encoded words still encoded)."""
    value = _raw(msg, name)
    return None if value is None else _bytes_text(value.encode("utf-8", "surrogateescape"), hint)


def _bytes_text(data: bytes, hint: str | None) -> str:
    """Header bytes as text: UTF-8 (RFC 6532) when they are, else the ``hint`` charset
    when they decode in it, else UTF-8 with U+FFFD."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = _decode_exact(data, hint) if hint else None
    return text if text is not None else data.decode("utf-8", "replace")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_words(text: str) -> str:
    """Decode the RFC 2047 encoded words in ``text``, with the charset supersets of
    :func:`parse_mail`.

    Lenient where mailers are sloppy: words not set apart by spaces are decoded too,
    adjacent words in one charset are joined before decoding (a character split across two
    words survives), broken base64 is decoded as far as it goes.
    """
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        # RFC 2047 §6.2: white space between two encoded words is not displayed.
        joined = bool(pending) and not gap.strip()
        if pending and not (joined and charset == pending_charset):
            pieces.append(_decode(b"".join(pending), pending_charset))
            pending.clear()
        if not joined:
            pieces.append(gap)
        encoded = match.group(3).encode("ascii", "replace")
        data = _b_decode(encoded) if match.group(2) in "bB" else binascii.a2b_qp(encoded, True)
        pending.append(data)
        pending_charset = charset
        position = match.end()
    if pending:
        pieces.append(_decode(b"".join(pending), pending_charset))
    pieces.append(text[position:])
    return "".join(pieces)


def _b_decode(encoded: bytes) -> bytes:
    """Base64 as far as it decodes: stray characters dropped, missing padding added."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", encoded)
    data = data[: len(data) - len(data) % 4 if len(data) % 4 == 1 else len(data)]
    return base64.b64decode(data + b"=" * (-len(data) % 4))


_MAX_FROM_CHARS = 4096


def _sender(msg: _Part, hint: str | None) -> tuple[str | None, str | None]:
    """The first From mailbox as ``(display name, addr-spec)``; an address without ``@``
    (nothing a reply could reach) counts as none."""
    value = _header(msg, "from", hint)
    if value is None:
        return None, None
    # The first mailbox is near the start; the stdlib's address parser takes seconds per
    # megabyte of a bomb's From field.
    for name, address in email.utils.getaddresses([value[:_MAX_FROM_CHARS]]):
        if "@" in address:
            return _clean_line(_decode_words(name)) or None, _clean_line(address)
    return None, None


_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_UNUSABLE_ID = re.compile(r"[\s\x00-\x1f\x7f]")


def message_ids(value: str | None) -> tuple[str, ...]:
    """The ids in a Message-ID, In-Reply-To or References field, without ``<>``, in order
    and without repeats.

    A field with no ``<`` at all that is one bare token is taken as that id, as some mailers
    write Message-ID; phrases (RFC 822 allowed them in In-Reply-To) give nothing. An id
    longer than 250 characters, or holding white space or a control character, is dropped.
    """
    if not value:
        return ()
    found = _MESSAGE_ID.findall(value)
    if not found and "<" not in value:
        found = [value]
    ids: list[str] = []
    for candidate in found:
        candidate = candidate.strip()
        if (
            candidate
            and len(candidate) <= 250
            and not _UNUSABLE_ID.search(candidate)
            and not _SURROGATE.search(candidate)
            and candidate not in ids
        ):
            ids.append(candidate)
    return tuple(ids)


def _sent_at(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        sent = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if sent.tzinfo is None or not 1970 <= sent.year <= 2200:
        return None
    return sent


_ROBOT_SENDERS = re.compile(r"^(mailer-daemon|postmaster|owner-.*|.*-request)$", re.IGNORECASE)
_AUTO_REPLY_FIELDS = ("x-autoreply", "x-autorespond")


def _automated(msg: _Part, address: str | None, hint: str | None) -> str | None:
    """Why no robot may answer ``msg``, as :func:`parse_mail` lists it, or None."""
    submitted = _header(msg, "auto-submitted", hint)
    keyword = _first_token(submitted)
    if keyword and keyword != "no":
        return f"Auto-Submitted: {keyword}"
    precedence = _first_token(_header(msg, "precedence", hint))
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    for name in msg.fields():
        if name.startswith("list-"):
            return f"{_canonical(name)}: {_brief(_header(msg, name, hint))}"
    for name in _AUTO_REPLY_FIELDS:
        value = _header(msg, name, hint)
        if value is not None:
            return f"{_canonical(name)}: {_brief(value)}"
    suppress = _header(msg, "x-auto-response-suppress", hint) or ""
    for token in re.split(r"[\s,;]+", suppress):
        if token.lower() in ("all", "autoreply"):
            return f"X-Auto-Response-Suppress: {token}"
    if msg.get_content_type() == "multipart/report":
        return "Content-Type: multipart/report"
    if address is not None and _ROBOT_SENDERS.match(address.rpartition("@")[0]):
        return f"From: {address}"
    if _header(msg, "return-path", hint) in ("<>", "<<>>"):
        return "Return-Path: <>"
    return None


def _first_token(value: str | None) -> str | None:
    """The keyword that opens a field, lower case, comments and parameters left out."""
    if value is None:
        return None
    token = re.split(r"[\s;(]", _clean_line(value), maxsplit=1)[0].lower()
    return token or None


def _brief(value: str | None) -> str:
    text = _clean_line(value or "")
    return text if len(text) <= 100 else text[:99] + "…"


def _canonical(name: str) -> str:
    return "-".join(word.capitalize() for word in name.split("-"))


# --------------------------------------------------------------------------- bounces


_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _bounce(msg: _Part) -> Bounce | None:
    """The RFC 3464 report in a ``multipart/report; report-type=delivery-status``.

    With several recipients the first one whose Action is ``failed`` is reported (else the
    first one). The original's Message-ID comes from the returned message
    (``message/rfc822``) or its header (``text/rfc822-headers``).
    """
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = _param(msg, "content-type", "report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    recipients: list[_Part] = []
    original_id: str | None = None
    for part in _children(msg):
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            recipients += [block for block in _children(part) if _raw(block, "action")]
        elif content_type == "message/rfc822" and original_id is None:
            inner = _children(part)
            original_id = _first_id(inner[0]) if inner else None
        elif content_type == "text/rfc822-headers" and original_id is None:
            returned = _parse(_payload_bytes(part), DEFAULT_LIMITS, headers_only=True)
            original_id = _first_id(returned)
    if not recipients:
        return None
    chosen = next((block for block in recipients if _action(block) == "failed"), recipients[0])
    status = _STATUS_CODE.search(_header(chosen, "status", None) or "")
    return Bounce(
        original_message_id=original_id,
        recipient=_typed_value(_header(chosen, "final-recipient", None)),
        action=_action(chosen) or "failed",
        status=status.group(1) if status else None,
        diagnostic=_typed_value(_header(chosen, "diagnostic-code", None)),
    )


def _action(block: _Part) -> str | None:
    return _first_token(_header(block, "action", None))


def _first_id(msg: _Part) -> str | None:
    ids = message_ids(_header(msg, "message-id", None))
    return ids[0] if ids else None


def _typed_value(value: str | None) -> str | None:
    """The text of a DSN field written ``type; text`` (``rfc822; a@example.com``), with
    the angle brackets some MTAs put around an address removed."""
    if value is None:
        return None
    text = value.partition(";")[2] if ";" in value else value
    text = re.sub(r"\s+", " ", _clean_line(text)).strip()
    if text.startswith("<") and text.endswith(">") and text.count("<") == 1:
        text = text[1:-1].strip()
    return text or None


# --------------------------------------------------------------------------- charsets


_ISO_2022_JP = "iso-2022-jp"

# Labels decoded with a superset: what mailers send under the label is the superset, and
# the superset decodes the strict charset the same. The Latin and Thai ones follow the
# WHATWG Encoding Standard; ASCII labels most often hide UTF-8.
_SUPERSETS = {
    label: superset
    for superset, labels in (
        (
            "gb18030",
            "gb2312 gb_2312 gb_2312-80 csgb2312 euc-cn x-euc-cn gbk x-gbk cp936 ms936 windows-936"
            " chinese",
        ),
        (
            "cp949",
            "euc-kr x-euc-kr cseuckr ks_c_5601-1987 ks_c_5601-1989 ks_c_5601 ksc5601 ksc_5601"
            " korean uhc windows-949 x-windows-949",
        ),
        ("cp932", "shift_jis shift-jis sjis x-sjis ms_kanji csshiftjis windows-31j ms932"),
        ("big5hkscs", "big5 big-5 csbig5 cn-big5 x-x-big5 big5-hkscs"),
        (
            _ISO_2022_JP,
            "iso-2022-jp csiso2022jp iso-2022-jp-1 iso-2022-jp-2 iso-2022-jp-3 iso-2022-jp-2004"
            " iso-2022-jp-ms cp50220 cp50221 cp50222",
        ),
        ("utf-8", "us-ascii ascii ansi_x3.4-1968 iso646-us"),
        ("cp1252", "iso-8859-1 iso8859-1 latin1 latin-1 l1"),
        ("cp1254", "iso-8859-9 latin5"),
        ("cp874", "tis-620 iso-8859-11"),
    )
    for label in labels.split()
}


def _codec(label: str | None) -> str | None:
    """The Python codec that decodes ``label``'s charset as mailers use it, or None."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _SUPERSETS.get(name, name)
    if name == _ISO_2022_JP:
        return name
    try:
        b"".decode(name)
    except (LookupError, UnicodeError, ValueError):
        # Unknown, or a bytes-to-bytes codec ("base64") that is no charset.
        return None
    return name


def _decode(data: bytes, label: str | None) -> str:
    """``data`` in the charset ``label``; unknown charsets and undecodable bytes give
    U+FFFD, never an error."""
    codec = _codec(label)
    if codec == _ISO_2022_JP:
        return _decode_iso2022jp(data)
    try:
        return data.decode(codec or "utf-8", "replace")
    except (UnicodeError, LookupError):
        # A codec that takes no "replace" ("idna").
        return data.decode("utf-8", "replace")


def _decode_exact(data: bytes, label: str | None) -> str | None:
    """``data`` in the charset ``label``, or None if any byte does not decode in it."""
    codec = _codec(label)
    if codec is None:
        return None
    if codec == _ISO_2022_JP:
        text = _decode_iso2022jp(data)
        return None if "\ufffd" in text else text
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP as Japanese mailers write it.

    Strict ISO-2022-JP first. Failing that, Microsoft's reading (CP50220-CP50222, what
    Outlook and most Windows mailers write under this label): ``ESC $ B`` also holds NEC's
    row 13 (①, ㈱) and the NEC-selected IBM kanji of rows 89-92 (髙, 﨑), each in the row
    Shift_JIS gives it, so a JIS pair is read through CP932; ``ESC ( I`` and SO/SI give
    half-width katakana. No Python codec reads that: ``iso2022_jp_2004`` puts ① in the
    same cell but only under ``ESC $ ( Q``. JIS X 0213 (``ESC $ ( Q``) and ISO-2022-JP-2's
    other sets are then tried with Python's codecs, and if nothing reads every byte,
    Microsoft's reading with U+FFFD for the rest.
    """
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    text = _decode_cp5022x(data)
    if "\ufffd" in text:
        for codec in ("iso2022_jp_2004", "iso2022_jp_2", "iso2022_jp_ext"):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
    return text


# The designations Microsoft's decoder reads, or an escape it cannot.
_ISO2022_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$\(@|\$\(B)?")
_SHIFT_OUT = re.compile(rb"\x0e([\x21-\x5f]*)\x0f?")


def _decode_cp5022x(data: bytes) -> str:
    pieces: list[str] = []
    mode = b"(B"
    position = 0
    for match in _ISO2022_ESCAPE.finditer(data):
        pieces.append(_decode_segment(data[position : match.start()], mode))
        if match.group(1) is None:
            pieces.append("\ufffd")
        else:
            mode = match.group(1)
        position = match.end()
    pieces.append(_decode_segment(data[position:], mode))
    return "".join(pieces)


def _decode_segment(chunk: bytes, mode: bytes) -> str:
    if mode in (b"(B", b"(J"):
        # Bytes above 0x7f here are Shift_JIS sent under the wrong label; CP932 reads them.
        shifted = _SHIFT_OUT.sub(lambda m: bytes(b | 0x80 for b in m.group(1)), chunk)
        return shifted.decode("cp932", "replace")
    if mode == b"(I":
        return bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in chunk).decode("cp932", "replace")
    return _jis_pairs(chunk)


def _jis_pairs(chunk: bytes) -> str:
    """Two-byte JIS read as CP932 (rows 95-114, Microsoft's user-defined area, have lead
    bytes up to 0x92); control bytes between pairs (a line break in a broken mail) pass.

    A run that is plain JIS X 0208 goes through the C codec; only a run holding an extension
    is converted pair by pair here.
    """
    try:
        return (b"\x1b$B" + chunk + b"\x1b(B").decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    pieces: list[str] = []
    sjis = bytearray()
    index = 0
    while index < len(chunk):
        first = chunk[index]
        if first < 0x21:
            sjis.append(first)
            index += 1
            continue
        second = chunk[index + 1] if index + 1 < len(chunk) else 0
        if not (0x21 <= first <= 0x92 and 0x21 <= second <= 0x7E):
            pieces.append(sjis.decode("cp932", "replace") + "\ufffd")
            sjis.clear()
            index += 1
            continue
        lead = ((first - 0x21) >> 1) + 0x81
        if lead > 0x9F:
            lead += 0x40
        # Odd rows go to trail bytes 0x40-0x9e (skipping 0x7f), even rows to 0x9f-0xfc.
        trail = second + (0x1F if second < 0x60 else 0x20) if first & 1 else second + 0x7E
        sjis += bytes((lead, trail))
        index += 2
    pieces.append(sjis.decode("cp932", "replace"))
    return "".join(pieces)


# --------------------------------------------------------------------------- text


_SURROGATE = re.compile("[\ud800-\udfff]")
# What no database keeps (NUL, lone surrogates) shows where it was, as U+FFFD; the other
# controls (an escape left by a mislabelled charset, a bell) are dropped.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x01-\x08\x0b-\x1f\x7f]")


def _clean_text(text: str) -> str:
    """Line breaks as ``\\n``; no lone surrogate, NUL or other control but tab."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _UNSTORABLE.sub("\ufffd", text))


def _clean_line(text: str) -> str:
    """One line of text: as :func:`_clean_text`, with line breaks and tabs as spaces."""
    return _clean_text(re.sub(r"[\r\n\t]+", " ", text)).strip()


# What nh3 is left to parse (see _tame_html): block elements, and the elements it drops
# with their content.
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6"})
_DROPPED_TAGS = frozenset({"script", "style", "title"})
_TAG = re.compile(r"<(/?)([a-z0-9]+)\s*/?>")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


def html_to_text(html_text: str) -> str:
    """Reduce an HTML mail body to plain text.

    nh3 (ammonia) parses the HTML as a browser does (after :func:`_tame_html`) and keeps
    only the text and the block elements, with no attribute; ``<script>``, ``<style>`` and
    ``<title>`` go with their content, and so does a ``<head>``, which holds nothing else
    with text. Block elements (p, div, br, li, tr, h1-h6, ...) become line breaks,
    paragraphs and headings a blank line, table cells a space, and a
    ``<blockquote>``'s lines are quoted with ``>`` as a plain-text mailer would, so that
    :func:`trim_quoted` finds the quote of an HTML reply. Entities are unescaped, runs of
    blank lines collapse to one. The result holds no markup that was markup in the HTML.
    """
    cleaned = nh3.clean(
        _tame_html(_SURROGATE.sub("\ufffd", html_text)),
        tags=set(_BLOCK_TAGS),
        clean_content_tags=set(_DROPPED_TAGS),
        attributes={},
        link_rel=None,
    )
    lines = _TextLines()
    position = 0
    for match in _TAG.finditer(cleaned):
        lines.write(cleaned[position : match.start()])
        closing, tag = match.group(1) == "/", match.group(2)
        if tag == "br":
            lines.end_line(hard=True)
        elif tag == "blockquote":
            lines.end_line(blank_after=True)
            lines.depth = max(0, lines.depth + (-1 if closing else 1))
        else:
            lines.end_line(blank_after=tag in _PARAGRAPH_TAGS)
        position = match.end()
    lines.write(cleaned[position:])
    lines.end_line()
    return "\n".join(lines.lines)


# The HTML tokenizer's view of markup, enough to find every tag: a comment; a bogus comment
# ("<!DOCTYPE …>", "<?…>"); a script, style or title element up to its end tag (its content
# holds no tags); a tag, whose quoted attribute values may hold ">". Each also ends at the
# end of the text, as an unclosed one does, so that no match backtracks over the rest.
_HTML_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<[!?][^>]*+(?:>|\Z)"
    r"|<(script|style|title)\b.*?(?=</\1|\Z)"
    r"|<(/?)([a-z][^\t\n\f\r />]*+)"
    r"""(?:[^>"'=]|=[\t\n\f\r ]*+"[^"]*+(?:"|\Z)|=[\t\n\f\r ]*+'[^']*+(?:'|\Z)|=)*+(?:>|\Z)""",
    re.IGNORECASE | re.DOTALL,
)
# What each kept tag becomes; any other tag (inline, form, media, foreign, unknown) goes,
# its text stays.
_BLOCKS_AS_DIV = (
    "address article aside caption center details dialog dir dl fieldset figcaption figure"
    " footer form header hgroup legend listing main menu nav ol pre search section summary"
    " table tr ul"
)
_TAMED = {
    **{name: name for name in _BLOCK_TAGS | _DROPPED_TAGS},
    **dict.fromkeys(_BLOCKS_AS_DIV.split(), "div"),
    "dt": "li",
    "dd": "li",
    "hr": "br",
}
# Kept elements the parser nests; the others close themselves (p, li, the void br) or are
# dropped with their content.
_NESTING = frozenset({"div", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"})
_MAX_HTML_DEPTH = 100


def _tame_html(html_text: str) -> str:
    """``html_text`` reduced to what :func:`html_to_text` needs, in a shape the HTML parser
    reads in linear time.

    An HTML parser checks its open elements on most start tags, reparents nodes for
    misnested ``<b><div></b>`` (the adoption agency) and moves stray content out of tables:
    a few megabytes of such markup cost html5ever, nh3's parser, minutes. So only block
    elements are kept, written plainly (tables as rows of ``<div>`` and cells after a
    space), every other tag goes (its text stays), and no element opens more than
    :data:`_MAX_HTML_DEPTH` deep: a deeper one becomes ``<br>``, still breaking the line.
    The kept elements' end tags close as the parser's do, the innermost open element of that
    name and all inside it, so the depth counted here is the parser's.
    """
    stack: list[str] = []
    open_names: dict[str, int] = {}

    def rewrite(token: re.Match[str]) -> str:
        written = token.group(3)
        if written is None:
            return token.group(0)
        closing, written = token.group(2), written.lower()
        if written in ("td", "th"):
            return "" if closing else " "
        if written not in _TAMED:
            return ""
        name = _TAMED[written]
        if name in _NESTING:
            if closing:
                if not open_names.get(name):
                    return ""
                while (closed := stack.pop()) != name:
                    open_names[closed] -= 1
                open_names[name] -= 1
            elif len(stack) >= _MAX_HTML_DEPTH:
                return "<br>"
            else:
                stack.append(name)
                open_names[name] = open_names.get(name, 0) + 1
        return f"<{closing}{name}>"

    return _HTML_TOKEN.sub(rewrite, html_text)


class _TextLines:
    """Plain-text lines written from HTML text runs and block boundaries."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0
        self._words: list[str] = []
        self._blank = False

    def write(self, escaped: str) -> None:
        """Add a run of nh3's (escaped) text; source white space collapses as in HTML."""
        text = html.unescape(_HTML_SPACE.sub(" ", escaped)).replace("\xa0", " ")
        self._words.append(text)

    def end_line(self, *, hard: bool = False, blank_after: bool = False) -> None:
        """End the current line if it has text; a ``hard`` break on an empty line (a
        ``<br>`` after a ``<br>``) is a blank line."""
        line = "".join(self._words).strip()
        self._words.clear()
        if line:
            if self._blank and self.lines:
                self.lines.append("")
            self._blank = False
            self.lines.append(">" * self.depth + " " + line if self.depth else line)
        elif hard:
            self._blank = True
        if blank_after:
            self._blank = True


# --------------------------------------------------------------------------- replies


_QUOTED = re.compile(r"^[ \t]*>")
# The end of an attribution line, as mailers write it in each language:
#   Gmail, Apple Mail, Thunderbird (en):  On Mon, Jan 15, 2024 at 10:00 AM Taro <t@x> wrote:
#   fr, de, es:                           ... a écrit : / ... schrieb: / ... escribió:
#   Gmail (ja):                           2024年1月15日(月) 10:00 山田太郎 <taro@example.jp>:
#   Apple Mail (ja):                      2024/01/15 10:00、山田太郎 <taro@example.jp>のメッセージ:
#   Thunderbird (ja):                     山田太郎 さんは書きました:
#   Apple Mail / Gmail (zh-CN):           在 2024年1月15日 ... 张伟 <zhang@example.cn> 写道：
#   Gmail (zh-TW):                        陳小明 <chen@example.tw> 於 2024年1月15日 ... 寫道：
#   Gmail (ko):                           2024년 1월 15일 (월) 오전 10:00, 홍길동 <h@x>님이 작성:
_ATTRIBUTION = re.compile(
    r"(\bwrote|a écrit|schrieb|escribió|写道|寫道|작성|のメッセージ|書きました"
    r"|<[^<>\s@]+@[^<>\s]+>)\s*[:：]$",
    re.IGNORECASE,
)
# How an attribution that a mailer wrapped onto two lines starts.
_ATTRIBUTION_START = re.compile(r"^\s*(On\s|Le\s|Am\s|El\s|在|於|\d{4}\s*[年년/.-])", re.I)
_OUTLOOK_RULE = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine"
    r"|元のメッセージ|原始邮件|原始郵件|원본 메시지)\s*-{2,}|_{20,})\s*$",
    re.IGNORECASE,
)
_FROM_FIELD = re.compile(r"^\s*\**(From|Von|De|差出人|发件人|寄件者|보낸 사람)\**\s*[:：]", re.I)
_SENT_FIELD = (
    r"\**(Sent|Date|Gesendet|Envoyé|送信日時|发送时间|發送時間|寄件日期|日期|보낸 날짜)\**\s*[:：]"
)
_SENT_LINE = re.compile(r"^\s*" + _SENT_FIELD, re.IGNORECASE)
_SENT_INLINE = re.compile(r"\s" + _SENT_FIELD, re.IGNORECASE)


def trim_quoted(text: str) -> str:
    """The new part of a reply: ``text`` cut at the first sign of the quoted mail.

    That is the first of: an attribution line ("On … wrote:", "…のメッセージ:",
    "… 写道：", "…님이 작성:", …, possibly wrapped onto two lines) followed by ``>``-quoted
    lines; the run of ``>``-quoted lines that reaches the end; Outlook's separators
    ("-----Original Message-----" and its translations, a line of underscores) or the
    header block it quotes ("From: … Sent: …", "差出人: … 送信日時: …", "发件人: … 发送时间: …",
    "보낸 사람: … 보낸 날짜: …"). If nothing would be left, the whole text is returned,
    stripped.
    """
    lines = text.splitlines()
    cut = min(_attribution_cut(lines), _trailing_quote_cut(lines), _outlook_cut(lines))
    return "\n".join(lines[:cut]).strip() or text.strip()


def _attribution_cut(lines: list[str]) -> int:
    next_text = len(lines)
    # For each line, the index of the next non-blank line after it.
    following = [len(lines)] * len(lines)
    for index in range(len(lines) - 1, -1, -1):
        following[index] = next_text
        if lines[index].strip():
            next_text = index
    for index, line in enumerate(lines):
        stripped = line.rstrip()
        if not stripped.endswith((":", "：")) or _QUOTED.match(line):
            continue
        after = following[index]
        if after == len(lines) or not _QUOTED.match(lines[after]):
            continue
        if not _ATTRIBUTION.search(stripped):
            continue
        previous = lines[index - 1] if index else ""
        if (
            previous.strip()
            and not _QUOTED.match(previous)
            and not _ATTRIBUTION_START.match(line)
            and _ATTRIBUTION_START.match(previous)
        ):
            return index - 1
        return index
    return len(lines)


def _trailing_quote_cut(lines: list[str]) -> int:
    start = len(lines)
    index = len(lines)
    while index > 0 and (not lines[index - 1].strip() or _QUOTED.match(lines[index - 1])):
        index -= 1
        if lines[index].strip():
            start = index
    return start


def _outlook_cut(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _OUTLOOK_RULE.match(line):
            return index
        if _FROM_FIELD.match(line) and (
            _SENT_INLINE.search(line)
            or any(_SENT_LINE.match(following) for following in lines[index + 1 : index + 4])
        ):
            return index
    return len(lines)
