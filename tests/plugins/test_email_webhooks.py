"""The email channel's inbound webhooks: Mailgun routes and SendGrid Inbound Parse.

Requests are built as the providers send them: multipart bodies by httpx's encoder, or by
hand where httpx cannot (a part's charset, hostile bodies). Mailgun signatures are computed
here from Mailgun's documented formula, hex(HMAC-SHA256(signing key, timestamp + token)).
The original messages are built with the standard library, and the rebuilt MIME is read
back with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from regiocrm.interfaces.channels import (
    BadSignature,
    BodylessSignature,
    MalformedPayload,
    MissingSignature,
    StaleRequest,
    WebhookRequest,
)
from regiocrm.plugins.channels.email.webhooks import (
    Form,
    FormFile,
    mailgun_mime,
    read_form,
    sendgrid_mime,
    verify_mailgun,
    verify_sendgrid,
)
from regiocrm.testing.channels import deeply_nested_json

URL = "https://crm.example.com/webhooks/email/support_jp"
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SECRET = "s3cr3t-Pars3-k3y"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(hours=9)
TOKEN = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
SUBJECT = "Re: Angebot für den Service \N{EN DASH} Termin"
REFERENCES = " ".join(f"<thread-{n}.0123456789@mail.example.org>" for n in range(40))


def webhook(request: httpx.Request) -> WebhookRequest:
    """What the core hands the channel for an HTTP request as a provider sends it."""
    return WebhookRequest(
        method=request.method,
        url=str(request.url),
        query=dict(request.url.params),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.read(),
        received_at=NOW,
    )


def form_post(data: dict[str, Any], files: dict[str, Any] | None = None) -> WebhookRequest:
    return webhook(httpx.Request("POST", URL, data=data, files=files))


def raw_post(body: bytes, content_type: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=URL,
        query={},
        headers={"content-type": content_type},
        body=body,
        received_at=NOW,
    )


def multipart(*parts: tuple[bytes, bytes], boundary: bytes = b"xYzZY") -> bytes:
    """A multipart/form-data body of (part headers, data), written out per RFC 7578."""
    chunks = [
        b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
        for headers, data in parts
    ]
    return b"".join(chunks) + b"--" + boundary + b"--\r\n"


def sendgrid_form(fields: dict[str, str | bytes]) -> WebhookRequest:
    """A SendGrid Inbound Parse post without files, its parts as in a captured one: a
    Content-Disposition each, no Content-Type, the bytes as SendGrid has them."""
    parts = [
        (
            b'Content-Disposition: form-data; name="%s"' % name.encode(),
            value.encode() if isinstance(value, str) else value,
        )
        for name, value in fields.items()
    ]
    return raw_post(multipart(*parts), "multipart/form-data; boundary=xYzZY")


def lf(text: str) -> str:
    """Text read back from the wire, whose lines end in CRLF (RFC 5322 §2.3), with LF."""
    return text.replace("\r\n", "\n")


def mailgun_signature(timestamp: str, token: str, key: str = SIGNING_KEY) -> dict[str, str]:
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def original_message() -> EmailMessage:
    """The customer's reply as their mail client sent it."""
    message = EmailMessage(policy=SMTP)
    message["Received"] = "from mail.example.org by mxa.mailgun.org; Fri, 1 May 2026 11:59:58 +0000"
    message["From"] = "Jörg Müller <joerg@example.org>"
    message["To"] = "Support <support@crm.example.com>"
    message["Subject"] = SUBJECT
    message["Date"] = "Fri, 01 May 2026 11:59:57 +0000"
    message["Message-ID"] = "<reply-1.0123456789@mail.example.org>"
    message["In-Reply-To"] = "<thread-39.0123456789@mail.example.org>"
    message["References"] = REFERENCES
    message["Auto-Submitted"] = "no"
    message.set_content("Der Termin passt. Grüße\n")
    message.add_alternative("<p>Der Termin passt. Grüße</p>\n", subtype="html")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="Angebot.pdf")
    return message


def header_block(message: EmailMessage) -> str:
    return message.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"


def read_back(mime: bytes) -> EmailMessage:
    message = message_from_bytes(mime, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def assert_keeps_the_thread(message: EmailMessage) -> None:
    assert message["Message-ID"] == "<reply-1.0123456789@mail.example.org>"
    assert message["In-Reply-To"] == "<thread-39.0123456789@mail.example.org>"
    assert message["References"] == REFERENCES
    assert message["From"].addresses[0].display_name == "Jörg Müller"
    assert message["From"].addresses[0].addr_spec == "joerg@example.org"
    assert message["Subject"] == SUBJECT
    assert message["Auto-Submitted"] == "no"
    assert message["Date"].datetime == datetime(2026, 5, 1, 11, 59, 57, tzinfo=UTC)


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    return lf(part.get_content())


def attachments_of(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_content())
        for part in message.iter_attachments()
    ]


# --- read_form ---------------------------------------------------------------------------


def test_read_form_reads_multipart_fields_and_files() -> None:
    request = form_post(
        {"subject": "Grüße", "to": ["first@example.com", "second@example.com"]},
        {"attachment1": ("Angebot.pdf", PDF, "application/pdf")},
    )

    form = read_form(request)

    assert form.fields == {"subject": "Grüße", "to": "first@example.com"}
    assert form.files == {"attachment1": FormFile("Angebot.pdf", "application/pdf", PDF)}
    assert form.raw["subject"] == "Grüße".encode()


def test_read_form_reads_urlencoded_fields() -> None:
    form = read_form(form_post({"body-plain": "a+b & c=d, Grüße", "token": ["first", "second"]}))

    assert form.fields == {"body-plain": "a+b & c=d, Grüße", "token": "first"}
    assert form.files == {}


def test_read_form_honours_a_parts_charset() -> None:
    body = multipart(
        (
            b'Content-Disposition: form-data; name="subject"\r\n'
            b"Content-Type: text/plain; charset=ISO-8859-1",
            "Grüße, café".encode("iso-8859-1"),
        )
    )

    form = read_form(raw_post(body, "multipart/form-data; boundary=xYzZY"))

    assert form.fields["subject"] == "Grüße, café"


def test_a_field_that_is_not_utf8_is_kept_as_bytes_only() -> None:
    text = "お問い合わせありがとうございます".encode("shift_jis")
    body = multipart((b'Content-Disposition: form-data; name="text"', text))

    form = read_form(raw_post(body, "multipart/form-data; boundary=xYzZY"))

    assert "text" not in form.fields
    assert form.raw["text"] == text


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"email": "x"}', "application/json", "not a form"),
        (b"", "", "not a form"),
        (
            multipart((b'Content-Disposition: form-data; name="a"', b"1")),
            "multipart/form-data",
            "no boundary",
        ),
        (
            multipart((b'Content-Disposition: form-data; name="a"', b"1"))[:-9],
            "multipart/form-data; boundary=xYzZY",
            "ends before its closing boundary",
        ),
        (b"this is no multipart body", "multipart/form-data; boundary=xYzZY", "malformed"),
        (b"--xYzZY\r\nno header line\r\n", "multipart/form-data; boundary=xYzZY", "malformed"),
        (
            multipart((b"Content-Disposition: form-data", b"1")),
            "multipart/form-data; boundary=xYzZY",
            "no Content-Disposition: form-data with a name",
        ),
        (
            multipart((b'Content-Disposition: form-data; name="\xff\xfe"', b"1")),
            "multipart/form-data; boundary=xYzZY",
            "not UTF-8",
        ),
        (b"--" + b"b" * 300 + b"--\r\n", "multipart/form-data; boundary=" + "b" * 300, "malformed"),
        (b"%ff%fe=1", "application/x-www-form-urlencoded", "not UTF-8"),
    ],
)
def test_read_form_refuses_what_is_not_a_form(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        read_form(raw_post(body, content_type))


def test_read_form_refuses_ten_thousand_parts() -> None:
    part = (b'Content-Disposition: form-data; name="a"', b"1")
    body = multipart(*[part] * 10_000)

    with pytest.raises(MalformedPayload, match="more than 200 parts"):
        read_form(raw_post(body, "multipart/form-data; boundary=xYzZY"))


def test_read_form_counts_parts_against_max_parts() -> None:
    body = multipart(*[(b'Content-Disposition: form-data; name="a"', b"1")] * 3)
    request = raw_post(body, "multipart/form-data; boundary=xYzZY")

    assert read_form(request, max_parts=3).fields == {"a": "1"}
    with pytest.raises(MalformedPayload, match="more than 2 parts"):
        read_form(request, max_parts=2)


def test_read_form_refuses_ten_thousand_urlencoded_fields() -> None:
    body = b"&".join(b"a%d=1" % n for n in range(10_000))

    with pytest.raises(MalformedPayload, match="more than 200 fields"):
        read_form(raw_post(body, "application/x-www-form-urlencoded"))


# --- Mailgun: signature ------------------------------------------------------------------


def test_verify_mailgun_accepts_its_signature_and_returns_the_token() -> None:
    signed_at = NOW - timedelta(minutes=3)
    form = read_form(form_post({**mailgun_signature(unix(signed_at), TOKEN), "body-plain": "x"}))

    signature = verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE)

    assert signature == BodylessSignature(key=TOKEN, valid_until=signed_at + MAX_AGE)


def test_verify_mailgun_refuses_another_key() -> None:
    form = read_form(form_post(mailgun_signature(unix(NOW), TOKEN, key="key-of-someone-else")))

    with pytest.raises(BadSignature) as raised:
        verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE)
    assert type(raised.value) is BadSignature


def test_verify_mailgun_refuses_a_signature_moved_to_another_timestamp() -> None:
    fields = mailgun_signature(unix(NOW - timedelta(days=3)), TOKEN)
    form = read_form(form_post({**fields, "timestamp": unix(NOW)}))

    with pytest.raises(BadSignature) as raised:
        verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE)
    assert type(raised.value) is BadSignature


@pytest.mark.parametrize("missing", ["timestamp", "token", "signature"])
def test_verify_mailgun_wants_all_three_fields(missing: str) -> None:
    fields = mailgun_signature(unix(NOW), TOKEN)
    del fields[missing]

    with pytest.raises(MissingSignature):
        verify_mailgun(SIGNING_KEY, read_form(form_post(fields)), now=NOW, max_age=MAX_AGE)


def test_verify_mailgun_takes_a_signature_as_old_as_max_age() -> None:
    form = read_form(form_post(mailgun_signature(unix(NOW - MAX_AGE), TOKEN)))

    assert verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE).valid_until == NOW


@pytest.mark.parametrize(
    "signed_at", [NOW - MAX_AGE - timedelta(seconds=1), NOW + timedelta(minutes=5, seconds=1)]
)
def test_verify_mailgun_refuses_a_stale_or_future_timestamp(signed_at: datetime) -> None:
    form = read_form(form_post(mailgun_signature(unix(signed_at), TOKEN)))

    with pytest.raises(StaleRequest):
        verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE)


def test_verify_mailgun_allows_its_clock_a_little_ahead() -> None:
    signed_at = NOW + timedelta(minutes=4)
    form = read_form(form_post(mailgun_signature(unix(signed_at), TOKEN)))

    assert verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE).valid_until == (
        signed_at + MAX_AGE
    )


@pytest.mark.parametrize(
    ("timestamp", "error"),
    [("1_777_636_800", BadSignature), ("9" * 40, BadSignature), ("9" * 12, StaleRequest)],
)
def test_verify_mailgun_refuses_a_signed_timestamp_that_is_no_time(
    timestamp: str, error: type[Exception]
) -> None:
    form = read_form(form_post(mailgun_signature(timestamp, TOKEN)))

    with pytest.raises(error):
        verify_mailgun(SIGNING_KEY, form, now=NOW, max_age=MAX_AGE)


# --- SendGrid: the secret in the URL -----------------------------------------------------


def sendgrid_post(url: str = URL, auth: tuple[str, str] | None = None) -> WebhookRequest:
    request = httpx.Request(
        "POST", url, data={"email": "From: a@example.org\r\n\r\nhi\r\n"}, files={}
    )
    if auth is not None:
        request = next(httpx.BasicAuth(*auth).auth_flow(request))
    return webhook(request)


def test_verify_sendgrid_accepts_the_basic_auth_password() -> None:
    verify_sendgrid(SECRET, sendgrid_post(auth=("inbound", SECRET)))


def test_verify_sendgrid_accepts_the_key_parameter() -> None:
    verify_sendgrid(SECRET, sendgrid_post(f"{URL}?key={SECRET}"))


@pytest.mark.parametrize(
    "request_",
    [
        sendgrid_post(auth=("inbound", "wrong")),
        sendgrid_post(auth=(SECRET, "")),
        sendgrid_post(f"{URL}?key=wrong"),
        sendgrid_post(f"{URL}?key={SECRET}x"),
    ],
)
def test_verify_sendgrid_refuses_a_wrong_secret(request_: WebhookRequest) -> None:
    with pytest.raises(BadSignature):
        verify_sendgrid(SECRET, request_)


def test_an_empty_secret_opens_no_door() -> None:
    with pytest.raises(BadSignature):
        verify_sendgrid("", sendgrid_post(auth=("inbound", "")))
    with pytest.raises(MissingSignature):
        verify_sendgrid("", sendgrid_post(f"{URL}?key="))


def test_verify_sendgrid_refuses_garbled_basic_credentials() -> None:
    request = sendgrid_post()
    garbled = WebhookRequest(
        method="POST",
        url=URL,
        query={},
        headers={**request.headers, "authorization": "Basic not*base64!"},
        body=request.body,
        received_at=NOW,
    )

    with pytest.raises(BadSignature):
        verify_sendgrid(SECRET, garbled)


@pytest.mark.parametrize("authorization", [None, f"Bearer {SECRET}"])
def test_verify_sendgrid_wants_a_secret(authorization: str | None) -> None:
    request = sendgrid_post()
    headers = dict(request.headers)
    if authorization is not None:
        headers["authorization"] = authorization
    bare = WebhookRequest("POST", URL, {}, headers, request.body, NOW)

    with pytest.raises(MissingSignature):
        verify_sendgrid(SECRET, bare)


# --- Mailgun: the message ----------------------------------------------------------------


def test_mailgun_mime_returns_body_mime_as_posted() -> None:
    raw = (
        b"From: =?iso-2022-jp?b?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\n"
        b"Subject: test\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "予約の件".encode("shift_jis") + b"\r\n"
    )
    fields = {**mailgun_signature(unix(NOW), TOKEN), "recipient": "support@crm.example.com"}
    body = urlencode({**fields, "body-mime": raw}).encode("ascii")
    request = raw_post(body, "application/x-www-form-urlencoded")

    assert mailgun_mime(read_form(request)) == raw


def mailgun_parsed_post(message: EmailMessage, **extra: str) -> WebhookRequest:
    """A route's forward() of ``message`` to a URL not ending in mime: parsed fields, and
    the attachments as files (multipart/form-data)."""
    return form_post(
        {
            **mailgun_signature(unix(NOW), TOKEN),
            "recipient": "support@crm.example.com",
            "sender": "joerg@example.org",
            "from": str(message["From"]),
            "subject": str(message["Subject"]),
            "message-headers": json.dumps([[name, str(value)] for name, value in message.items()]),
            "body-plain": "Der Termin passt. Grüße\n",
            "body-html": "<p>Der Termin passt. Grüße</p>\n",
            "stripped-text": "Der Termin passt.",
            "attachment-count": "2",
            "content-id-map": json.dumps({"<logo@mail.example.org>": "attachment-2"}),
            **extra,
        },
        {
            "attachment-1": ("Angebot.pdf", PDF, "application/pdf"),
            "attachment-2": ("logo.png", PNG, "image/png"),
        },
    )


def test_mailgun_mime_rebuilds_a_parsed_delivery() -> None:
    rebuilt = read_back(mailgun_mime(read_form(mailgun_parsed_post(original_message()))))

    assert_keeps_the_thread(rebuilt)
    assert body(rebuilt, "plain") == "Der Termin passt. Grüße\n"
    assert body(rebuilt, "html") == "<p>Der Termin passt. Grüße</p>\n"
    assert attachments_of(rebuilt) == [
        ("Angebot.pdf", "application/pdf", PDF),
        ("logo.png", "image/png", PNG),
    ]
    inline = list(rebuilt.iter_attachments())[1]
    assert inline["Content-ID"] == "<logo@mail.example.org>"
    assert inline.get_content_disposition() == "inline"


def test_the_rebuilt_message_has_its_own_mime_headers_only() -> None:
    original = original_message()
    mime = mailgun_mime(read_form(mailgun_parsed_post(original)))
    rebuilt = read_back(mime)

    assert rebuilt.get_all("MIME-Version") == ["1.0"]
    assert len(rebuilt.get_all("Content-Type", [])) == 1
    assert rebuilt.get_boundary() != original.get_boundary()
    assert not rebuilt.defects
    assert max(len(line) for line in mime.split(b"\r\n")) <= 998


def test_mailgun_mime_rebuilds_a_urlencoded_delivery() -> None:
    headers = [["From", "a@example.org"], ["Message-ID", "<x@example.org>"], ["Subject", "Hi"]]
    request = form_post(
        {
            **mailgun_signature(unix(NOW), TOKEN),
            "message-headers": json.dumps(headers),
            "body-plain": "Hello",
        }
    )

    rebuilt = read_back(mailgun_mime(read_form(request)))

    assert rebuilt["Message-ID"] == "<x@example.org>"
    assert rebuilt.get_content_type() == "text/plain"
    assert lf(rebuilt.get_content()) == "Hello\n"


def test_the_rebuilt_message_leaves_out_injected_headers() -> None:
    headers = [
        ["From", "a@example.org"],
        ["X-Crlf", "a\r\nBcc: victim@example.org"],
        ["X-Lf", "a\nBcc: victim@example.org"],
        ["X-Separator", "a\x1cBcc: victim@example.org"],
        ["X-Unicode-Break", "a\u2028Bcc: victim@example.org"],
        ["Bcc: victim@example.org\r\nX-Name", "a"],
        ["X Space", "a"],
        ["X-Fine", "kept"],
    ]
    form = Form(fields={"message-headers": json.dumps(headers), "body-plain": "hi"}, files={})

    mime = mailgun_mime(form)
    rebuilt = read_back(mime)

    assert b"victim" not in mime
    assert rebuilt.keys() == [
        "From",
        "X-Fine",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    ]


def test_the_rebuilt_message_survives_headers_the_stdlib_cannot_parse() -> None:
    headers = [
        ["From", "(" * 1500 + "é <a@example.org>"],
        ["To", "(" * 3000 + "<a@example.org>"],
        ["Message-ID", "<<<>>é"],
        *[["X-Heavy", "(é)" * 600]] * 300,
        ["Subject", "still here"],
    ]
    form = Form(fields={"message-headers": json.dumps(headers), "body-plain": "hi"}, files={})

    rebuilt = read_back(mailgun_mime(form))

    assert rebuilt["From"] is None
    assert rebuilt["Message-ID"] is None
    assert 0 < len(rebuilt.get_all("X-Heavy", [])) < 300
    assert rebuilt["Subject"] == "still here"
    assert lf(rebuilt.get_content()) == "hi\n"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"body-plain": "hi"}, "neither body-mime nor message-headers"),
        ({"message-headers": '[["From", '}, "not JSON"),
        ({"message-headers": deeply_nested_json().decode()}, "not JSON"),
        ({"message-headers": '{"From": "a@example.org"}'}, "list of \\[name, value\\] pairs"),
        ({"message-headers": '[["From", "a@b", "c"]]'}, "list of \\[name, value\\] pairs"),
        ({"message-headers": '[["From", 1]]'}, "list of \\[name, value\\] pairs"),
        ({"message-headers": '[["From", "a@b"]]', "attachment-count": "3"}, "holds 1 files"),
        ({"message-headers": '[["From", "a@b"]]', "attachment-count": "-1"}, "holds 1 files"),
        ({"message-headers": '[["From", "a@b"]]', "attachment-count": "9" * 5000}, "holds 1 files"),
        (
            {"message-headers": "[]", "attachment-count": "1", "content-id-map": "[1]"},
            "JSON object",
        ),
    ],
)
def test_mailgun_mime_refuses_what_mailgun_does_not_send(
    fields: dict[str, str], reason: str
) -> None:
    form = Form(fields=fields, files={"attachment-1": FormFile("a.txt", "text/plain", b"a")})

    with pytest.raises(MalformedPayload, match=reason):
        mailgun_mime(form)


def test_mailgun_mime_refuses_a_missing_attachment_file() -> None:
    form = Form(
        fields={"message-headers": "[]", "attachment-count": "1"},
        files={"attachment-2": FormFile("a.txt", "text/plain", b"a")},
    )

    with pytest.raises(MalformedPayload, match="attachment-1"):
        mailgun_mime(form)


def test_mailgun_mime_refuses_message_headers_that_are_not_utf8() -> None:
    body = multipart(
        (b'Content-Disposition: form-data; name="message-headers"', b'[["Subject", "\xff"]]')
    )

    with pytest.raises(MalformedPayload, match="message-headers is not UTF-8"):
        mailgun_mime(read_form(raw_post(body, "multipart/form-data; boundary=xYzZY")))


# --- SendGrid: the message ---------------------------------------------------------------


def test_sendgrid_mime_returns_the_raw_email_as_posted() -> None:
    raw = (
        b"From: yamada@example.jp\r\nSubject: test\r\n"
        b"Content-Type: text/plain; charset=Shift_JIS\r\n\r\n"
        + "予約の件".encode("shift_jis")
        + b"\r\n"
    )
    request = sendgrid_form(
        {
            "email": raw,
            "to": "support@crm.example.com",
            "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"}),
            "envelope": json.dumps(
                {"to": ["support@crm.example.com"], "from": "yamada@example.jp"}
            ),
        }
    )

    assert sendgrid_mime(read_form(request)) == raw


def test_sendgrid_mime_rebuilds_a_parsed_post_in_its_charsets() -> None:
    original = original_message()
    text = "山田です。ご連絡ありがとうございます。\n"
    html = "<p>山田です。</p>\n"
    request = form_post(
        {
            "headers": header_block(original),
            "from": "Jörg Müller <joerg@example.org>",
            "subject": str(original["Subject"]),
            "text": text.encode("iso-2022-jp"),
            "html": html.encode("shift_jis"),
            "charsets": json.dumps(
                {
                    "to": "UTF-8",
                    "subject": "UTF-8",
                    "from": "UTF-8",
                    "text": "ISO-2022-JP",
                    "html": "Shift_JIS",
                }
            ),
            "attachments": "2",
            "attachment-info": json.dumps(
                {
                    "attachment2": {
                        "filename": "logo.png",
                        "type": "image/png",
                        "content-id": "logo123",
                    },
                    "attachment1": {"filename": "見積書.pdf", "type": "application/pdf"},
                }
            ),
            "content-ids": json.dumps({"logo123": "attachment2"}),
            "envelope": json.dumps(
                {"to": ["support@crm.example.com"], "from": "joerg@example.org"}
            ),
            "spam_score": "0.1",
        },
        {
            "attachment1": ("見積書.pdf", PDF, "application/pdf"),
            "attachment2": ("logo.png", PNG, "image/png"),
        },
    )

    rebuilt = read_back(sendgrid_mime(read_form(request)))

    assert_keeps_the_thread(rebuilt)
    assert body(rebuilt, "plain") == text
    assert body(rebuilt, "html") == html
    assert attachments_of(rebuilt) == [
        ("見積書.pdf", "application/pdf", PDF),
        ("logo.png", "image/png", PNG),
    ]
    assert list(rebuilt.iter_attachments())[1]["Content-ID"] == "<logo123>"


@pytest.mark.parametrize("charset", ["x-no-such-charset", "utf-7", "base64", "zlib"])
def test_sendgrid_mime_reads_an_unknown_charset_as_utf8(charset: str) -> None:
    request = sendgrid_form(
        {
            "headers": "From: a@example.org\r\nSubject: hi\r\n",
            "text": b"caf\xc3\xa9 +2AA- \xe9",
            "charsets": json.dumps({"text": charset}),
        }
    )

    rebuilt = read_back(sendgrid_mime(read_form(request)))

    assert lf(rebuilt.get_content()) == "café +2AA- \ufffd\n"


def test_sendgrid_mime_unfolds_the_header_block_and_skips_what_is_no_header() -> None:
    block = (
        "From: a@example.org\r\n"
        "References: <one@example.org>\r\n"
        "\t<two@example.org>\r\n"
        "this line is no header\r\n"
        " and neither is its continuation\r\n"
        "Subject: hi\r\n"
        "\r\n"
        "X-After-The-Block: ignored\r\n"
    )
    request = sendgrid_form({"headers": block, "text": "hi"})

    rebuilt = read_back(sendgrid_mime(read_form(request)))

    assert rebuilt["References"] == "<one@example.org>\t<two@example.org>"
    assert rebuilt.keys()[:3] == ["From", "References", "Subject"]
    assert "X-After-The-Block" not in rebuilt


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": "hi", "to": "a@example.org"}, "neither email nor headers"),
        ({"headers": "", "charsets": "not json"}, "not JSON"),
        ({"headers": "", "charsets": deeply_nested_json().decode()}, "not JSON"),
        ({"headers": "", "charsets": '["UTF-8"]'}, "charsets is not a JSON object"),
        ({"headers": "", "charsets": '{"text": ["UTF-8"]}'}, "JSON object of strings"),
        ({"headers": "", "attachment-info": "[]"}, "attachment-info is not a JSON object"),
        (
            {"headers": "", "attachments": "1", "attachment-info": '{"attachment1": "x"}'},
            "no JSON object for attachment1",
        ),
        ({"headers": "", "attachments": "2"}, "holds 1 files"),
        ({"headers": "", "attachments": "1e3"}, "holds 1 files"),
    ],
)
def test_sendgrid_mime_refuses_what_sendgrid_does_not_send(
    fields: dict[str, str], reason: str
) -> None:
    form = Form(fields=fields, files={"attachment1": FormFile("a.txt", "text/plain", b"a")})

    with pytest.raises(MalformedPayload, match=reason):
        sendgrid_mime(form)


def test_sendgrid_mime_refuses_a_missing_attachment_file() -> None:
    form = Form(
        fields={"headers": "", "attachments": "1"},
        files={"attachment2": FormFile("a.txt", "text/plain", b"a")},
    )

    with pytest.raises(MalformedPayload, match="attachment1"):
        sendgrid_mime(form)
