"""The email channel's MIME parser against mails built with the standard library or written
out byte for byte as real mailers and MTAs write them.

Expected text is encoded with Python's own codecs (or taken from the charset's tables), never
copied from the parser's output.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import random
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.policy import default as default_policy

import pytest

from regiocrm.plugins.channels.email.parsing import (
    Bounce,
    MailLimits,
    MailRefused,
    ParsedMail,
    html_to_text,
    message_ids,
    parse_mail,
    trim_quoted,
)


def crlf(text: str) -> bytes:
    """A mail written in a test as text with ``\\n``, on the wire with CRLF."""
    return text.replace("\n", "\r\n").encode("utf-8")


def b_word(text: str, charset: str, codec: str | None = None) -> bytes:
    """An RFC 2047 B encoded word of ``text`` in ``charset`` (bytes from ``codec``)."""
    data = base64.b64encode(text.encode(codec or charset)).decode("ascii")
    return f"=?{charset}?B?{data}?=".encode("ascii")


def assert_clean(parsed: ParsedMail) -> None:
    """No lone surrogate and no NUL in any string of the result."""

    def strings(value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return [
                s
                for field in dataclasses.fields(value)
                for s in strings(getattr(value, field.name))
            ]
        if isinstance(value, tuple):
            return [s for item in value for s in strings(item)]
        return []

    for text in strings(parsed):
        assert "\x00" not in text
        assert not any("\ud800" <= char <= "\udfff" for char in text), repr(text)


def person_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Taro Yamada <taro@example.jp>"
    mail["To"] = "support@brand.example"
    mail["Subject"] = "Order 1042"
    mail["Date"] = "Mon, 15 Jan 2024 10:00:00 +0900"
    mail["Message-ID"] = "<CAJ1234@mail.example.jp>"
    return mail


# --------------------------------------------------------------------------- the basics


def test_a_plain_mail_is_read_field_by_field() -> None:
    mail = person_mail()
    mail["In-Reply-To"] = "<crm-1@brand.example>"
    mail["References"] = "<crm-0@brand.example> <crm-1@brand.example>"
    mail.set_content("Hello,\nwhere is my parcel?\n")

    parsed = parse_mail(mail.as_bytes())

    assert parsed.message_id == "CAJ1234@mail.example.jp"
    assert parsed.in_reply_to == ("crm-1@brand.example",)
    assert parsed.references == ("crm-0@brand.example", "crm-1@brand.example")
    assert parsed.sender == "taro@example.jp"
    assert parsed.sender_name == "Taro Yamada"
    assert parsed.subject == "Order 1042"
    assert parsed.sent_at == datetime(2024, 1, 15, 1, 0, tzinfo=UTC)
    assert parsed.text == "Hello,\nwhere is my parcel?"
    assert parsed.new_text == parsed.text
    assert parsed.attachments == ()
    assert parsed.automated is None
    assert parsed.bounce is None


def test_alternative_prefers_the_plain_text() -> None:
    mail = person_mail()
    mail.set_content("plain version\n")
    mail.add_alternative("<p>html version</p>", subtype="html")

    assert parse_mail(mail.as_bytes()).text == "plain version"


def test_html_only_mail_is_reduced_to_text() -> None:
    mail = person_mail()
    mail.set_content(
        "<html><head><title>Newsletter</title><style>p {color: red}</style></head>"
        "<body><h1>Hi&nbsp;there</h1><p>Price: 5 &lt; 6 &amp; &#x3042;</p></body></html>",
        subtype="html",
    )

    text = parse_mail(mail.as_bytes()).text

    assert text == "Hi there\n\nPrice: 5 < 6 & あ"


def test_the_first_text_part_that_is_not_an_attachment_is_the_body() -> None:
    mail = person_mail()
    mail.make_mixed()
    notes = MIMEText("attached notes\n")
    notes.add_header("Content-Disposition", "attachment")
    mail.attach(notes)
    mail.attach(MIMEText("the real body\n"))
    mail.attach(MIMEText("a footer a list appended\n"))

    parsed = parse_mail(mail.as_bytes())

    assert parsed.text == "the real body"
    assert [(a.filename, a.content_type, a.content) for a in parsed.attachments] == [
        (None, "text/plain", b"attached notes\n")
    ]


def test_apple_mail_layout_alternative_with_related_html() -> None:
    mail = person_mail()
    mail.set_content("see the photo\n")
    mail.add_alternative('<p>see the photo</p><img src="cid:photo1">', subtype="html")
    html_part = mail.get_payload()[1]
    html_part.add_related(
        b"\x89PNG\r\n\x1a\nfake", "image", "png", cid="<photo1>", filename="p.png"
    )
    mail.add_attachment(b"%PDF-1.7 ...", maintype="application", subtype="pdf", filename="a.pdf")

    parsed = parse_mail(mail.as_bytes())

    assert parsed.text == "see the photo"
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("p.png", "image/png"),
        ("a.pdf", "application/pdf"),
    ]


# --------------------------------------------------------------------------- HTML


def test_html_to_text_leaves_no_markup_from_hostile_html() -> None:
    text = html_to_text(
        '<p>Hi</p><img src=x onerror=alert(1)><script>alert("x")</script>'
        '<a href="javascript:alert(2)" onclick="alert(3)">link</a>'
        "<iframe src=https://evil.example></iframe><svg onload=alert(4)></svg>"
    )

    assert "<" not in text
    assert "alert" not in text
    assert text == "Hi\n\nlink"


def test_html_blocks_become_line_breaks_and_blank_runs_collapse() -> None:
    text = html_to_text(
        "<div>first</div><div>second<br>third</div>"
        "<ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>"
        "<p>para</p><br><br><br><br><br><h2>Title</h2>"
    )

    assert text == "first\nsecond\nthird\none\ntwo\na b\nc d\n\npara\n\nTitle"


def test_html_blockquote_is_quoted_like_plain_text() -> None:
    text = html_to_text("<p>mine</p><blockquote>theirs<blockquote>older</blockquote></blockquote>")

    assert text == "mine\n\n> theirs\n\n>> older"


def test_html_nested_past_the_depth_limit_still_breaks_lines() -> None:
    assert html_to_text("<div>line" * 300) == "\n".join(["line"] * 300)


@pytest.mark.parametrize(
    ("start", "unit"),
    [
        ("", "<div>x"),  # nesting: every start tag checks the open elements
        ("", "<b><div></b>x"),  # misnesting: the adoption agency reparents on every </b>
        ("<table>", "<br>x"),  # stray content in a table is moved before it, node by node
    ],
)
def test_html_bombs_read_as_lines(start: str, unit: str) -> None:
    # Each unit is a line of "x" in a browser. Parsed as written, 50,000 of them keep
    # html5ever busy for many seconds (it is quadratic in them); tamed, it is linear.
    assert html_to_text(start + unit * 50_000) == "\n".join(["x"] * 50_000)


# --------------------------------------------------------------------------- charsets


def test_iso_2022_jp_built_by_the_standard_library() -> None:
    mail = MIMEText("お世話になっております。\n注文の件です。\n", _charset="iso-2022-jp")
    mail["From"] = Header("山田 太郎", "iso-2022-jp").encode() + " <taro@example.jp>"
    mail["Subject"] = Header("ご注文について", "iso-2022-jp")

    raw = mail.as_bytes()
    assert b"\x1b$B" in raw
    parsed = parse_mail(raw)

    assert parsed.subject == "ご注文について"
    assert parsed.sender_name == "山田 太郎"
    assert parsed.text == "お世話になっております。\n注文の件です。"


def test_japanese_mobile_mail_written_as_the_carriers_send_it() -> None:
    subject = "明日の打ち合わせ"
    body = "了解しました。\n明日10時に伺います。\n"
    raw = (
        crlf(
            "Return-Path: <hanako@docomo.ne.jp>\n"
            "Date: Tue, 16 Jan 2024 08:30:12 +0900 (JST)\n"
            "Message-ID: <0123456789.ABCDEF@docomo.ne.jp>\n"
            "MIME-Version: 1.0\n"
        )
        + b"From: "
        + b_word("花子", "ISO-2022-JP", "iso2022_jp")
        + b" <hanako@docomo.ne.jp>\r\nSubject: "
        + b_word(subject, "ISO-2022-JP", "iso2022_jp")
        + crlf(
            "\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n"
        )
        + body.replace("\n", "\r\n").encode("iso2022_jp")
    )

    parsed = parse_mail(raw)

    assert parsed.sender == "hanako@docomo.ne.jp"
    assert parsed.sender_name == "花子"
    assert parsed.subject == subject
    assert parsed.text == body.strip()


def windows_iso_2022_jp(text: str) -> bytes:
    """``text`` in ISO-2022-JP as Windows mailers (CP50221) write NEC row 13: JIS X 0213
    plane 1 has ① and ㈱ in the same cells, so Python's ``iso2022_jp_2004`` bytes become
    Outlook's by writing its ``ESC $ ( Q`` as plain ``ESC $ B``."""
    return text.encode("iso2022_jp_2004").replace(b"\x1b$(Q", b"\x1b$B")


# 髙 is IBM extension kanji Shift_JIS 0xEEE0 (NEC-selected, row 92 cell 66); CP50220/CP50221
# keep each extension in its Shift_JIS row, so in ISO-2022-JP it is JIS 0x7C 0x62 = "|b".
TAKA = b"\x1b$B|b\x1b(B"


def test_iso_2022_jp_with_nec_and_ibm_extensions() -> None:
    circled = windows_iso_2022_jp("①㈱")
    assert circled == b"\x1b$B-!-j\x1b(B"  # NEC row 13, cells 1 and 74
    body = circled + b" " + TAKA + "橋です".encode("iso2022_jp")
    raw = (
        b"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?"
        + base64.b64encode(circled + TAKA)
        + b"?=\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n"
        + body
    )

    parsed = parse_mail(raw)

    assert parsed.subject == "①㈱髙"
    assert parsed.text == "①㈱ 髙橋です"


def test_iso_2022_jp_with_jis_x_0213_designation() -> None:
    raw = (
        b"From: a@example.jp\r\nContent-Type: text/plain; charset=ISO-2022-JP-2004\r\n\r\n"
        + "俱楽部の𩸽".encode("iso2022_jp_2004")
    )

    assert parse_mail(raw).text == "俱楽部の𩸽"


@pytest.mark.parametrize(
    ("label", "strict", "real", "sample"),
    [
        ("gb2312", "gb2312", "gbk", "朱镕基先生"),
        ("GBK", "gbk", "gb18030", "𠮷"),
        ("x-gbk", "x-gbk", "gbk", "朱镕基"),
        ("ks_c_5601-1987", "euc_kr", "cp949", "똠방각하"),
        ("euc-kr", "euc_kr", "cp949", "똠방"),
        ("Shift_JIS", "shift_jis", "cp932", "①髙橋"),
        ("big5", "big5", "big5hkscs", "搭𨋢"),
    ],
)
def test_mislabelled_cjk_charsets_decode_with_their_superset(
    label: str, strict: str, real: str, sample: str
) -> None:
    data = sample.encode(real)
    with pytest.raises((LookupError, UnicodeDecodeError)):
        data.decode(strict)  # the label alone would not decode these bytes
    raw = (
        b"From: "
        + b_word("送信者", label, real)
        + b" <s@example.cn>\r\nSubject: "
        + b_word(sample, label, real)
        + f"\r\nContent-Type: text/plain; charset={label}\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n".encode("ascii")
        + data
    )

    parsed = parse_mail(raw)

    assert parsed.text == sample
    assert parsed.subject == sample
    assert parsed.sender_name == "送信者"


def test_an_encoded_word_split_inside_a_character_is_joined() -> None:
    data = "日本語の件名".encode()
    first, second = base64.b64encode(data[:4]), base64.b64encode(data[4:])
    raw = (
        b"From: a@example.jp\r\nSubject: =?UTF-8?B?"
        + first
        + b"?=\r\n =?UTF-8?B?"
        + second
        + b"?=\r\n\r\nx"
    )

    assert parse_mail(raw).subject == "日本語の件名"


def test_unknown_charset_and_bad_bytes_are_replaced_not_raised() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?x-klingon?Q?caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\nhello \xff\xfe world"
    )

    parsed = parse_mail(raw)

    assert parsed.text == "hello \ufffd\ufffd world"
    assert parsed.subject == "caf\ufffd"
    assert_clean(parsed)


def test_a_bytes_to_bytes_codec_is_no_charset() -> None:
    raw = b"From: a@example.com\r\nContent-Type: text/plain; charset=base64\r\n\r\naGk="

    assert parse_mail(raw).text == "aGk="


def test_raw_utf8_in_headers_is_decoded() -> None:
    raw = (
        "From: 山田 太郎 <taro@example.jp>\r\nSubject: 見積もりの件\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n本文"
    ).encode()

    parsed = parse_mail(raw)

    assert (parsed.sender_name, parsed.subject, parsed.text) == (
        "山田 太郎",
        "見積もりの件",
        "本文",
    )
    assert_clean(parsed)


def test_raw_shift_jis_in_headers_is_read_in_the_body_charset() -> None:
    raw = (
        b"From: "
        + "鈴木".encode("cp932")
        + b" <suzuki@example.jp>\r\nSubject: "
        + "お問い合わせ".encode("cp932")
        + b"\r\nContent-Type: text/plain; charset=Shift_JIS\r\n\r\n"
        + "本文".encode("cp932")
    )

    parsed = parse_mail(raw)

    assert (parsed.sender_name, parsed.subject, parsed.text) == ("鈴木", "お問い合わせ", "本文")


def test_raw_shift_jis_in_headers_without_a_charset_leaves_no_surrogates() -> None:
    raw = b"From: a@example.jp\r\nSubject: " + "お問い合わせ".encode("cp932") + b"\r\n\r\nx"

    parsed = parse_mail(raw)

    assert "\ufffd" in parsed.subject
    assert_clean(parsed)


# --------------------------------------------------------------------------- attachments


def test_attachment_metadata_and_stored_bytes() -> None:
    small, large = b"a" * 100, bytes(range(256)) * 40
    mail = person_mail()
    mail.set_content("two files\n")
    mail.add_attachment(small, maintype="application", subtype="octet-stream", filename="s.bin")
    mail.add_attachment(large, maintype="application", subtype="octet-stream", filename="l.bin")

    parsed = parse_mail(mail.as_bytes(), MailLimits(stored_attachment_bytes=len(small)))

    assert [(a.filename, a.size, a.content) for a in parsed.attachments] == [
        ("s.bin", len(small), small),
        ("l.bin", len(large), None),
    ]


def nested_zip() -> bytes:
    """A zip holding a zip holding a zip, incompressible so that it stays large."""
    data = random.Random(7).randbytes(3000)  # noqa: S311 - test data, not a secret
    for level in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"level{level}.bin", data)
        data = buffer.getvalue()
    return data


def test_a_zip_of_zips_is_one_attachment_never_opened() -> None:
    archive = nested_zip()
    mail = person_mail()
    mail.set_content("the archive\n")
    mail.add_attachment(archive, maintype="application", subtype="zip", filename="bundle.zip")

    kept = parse_mail(mail.as_bytes()).attachments
    metadata_only = parse_mail(mail.as_bytes(), MailLimits(stored_attachment_bytes=1000))

    assert [(a.filename, a.content_type, a.size) for a in kept] == [
        ("bundle.zip", "application/zip", len(archive))
    ]
    assert kept[0].content == archive
    assert zipfile.ZipFile(io.BytesIO(archive)).namelist() == ["level2.bin"]
    assert [(a.size, a.content) for a in metadata_only.attachments] == [(len(archive), None)]


def test_japanese_filenames_as_mailers_write_them() -> None:
    name = "見積書.pdf"
    rfc2231 = "".join(f"%{byte:02X}" for byte in name.encode("iso2022_jp"))
    raw = (
        crlf(
            'From: a@example.jp\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
            "Content-Type: text/plain\n\nbody\n--b\n"
        )
        + b'Content-Type: application/pdf; name="'
        + b_word(name, "ISO-2022-JP", "iso2022_jp")
        + b'"\r\nContent-Disposition: attachment; filename="'
        + b_word(name, "ISO-2022-JP", "iso2022_jp")
        + crlf('"\nContent-Transfer-Encoding: base64\n\nJVBERg==\n--b\n')
        + crlf("Content-Type: application/pdf\nContent-Disposition: attachment;\n")
        + f" filename*=iso-2022-jp''{rfc2231}\r\n\r\n%PDF\r\n--b\r\n".encode("ascii")
        + b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
        + "見積書.pdf".encode()
        + crlf('"\n\n%PDF\n--b\n')
        + crlf("Content-Type: text/plain\n")
        + crlf('Content-Disposition: attachment; filename="../../etc/passwd"\n')
        + crlf("\nroot:x:0:0\n--b--\n")
    )

    parsed = parse_mail(raw)

    assert parsed.text == "body"
    assert [a.filename for a in parsed.attachments] == [name, name, name, "passwd"]
    assert parsed.attachments[0].content == b"%PDF"


def test_a_forwarded_mail_is_one_attachment() -> None:
    inner = person_mail()
    del inner["Subject"]
    inner["Subject"] = "the original"
    inner.set_content("original body\n")
    mail = person_mail()
    mail.set_content("see attached\n")
    mail.add_attachment(inner)

    (attachment,) = parse_mail(mail.as_bytes()).attachments

    assert attachment.content_type == "message/rfc822"
    assert attachment.content is not None
    assert attachment.size == len(attachment.content)
    reread = BytesParser(policy=default_policy).parsebytes(attachment.content)
    assert reread["Subject"] == "the original"
    assert reread.get_content() == "original body\r\n"  # written back with CRLF line ends


# --------------------------------------------------------------------------- bombs


def nested_multiparts(levels: int) -> bytes:
    lines = ['From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for level in range(1, levels):
        lines.append(
            f'--b{level - 1}\r\nContent-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
        )
    lines.append(f"--b{levels - 1}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n")
    lines += [f"--b{level}--\r\n" for level in reversed(range(levels))]
    return "".join(lines).encode("ascii")


def deepest_stack(call: Callable[[], object]) -> int:
    """How many Python frames deep ``call`` went."""
    depth = deepest = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal depth, deepest
        if event == "call":
            depth += 1
            deepest = max(deepest, depth)
        elif event == "return":
            depth -= 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(previous)
    return deepest


def test_five_thousand_nested_multiparts_are_refused_without_deep_recursion() -> None:
    bomb = nested_multiparts(5000)

    def parse() -> None:
        with pytest.raises(MailRefused, match="more than 8 levels deep"):
            parse_mail(bomb)

    # Parsing all 5,000 levels would take the stack past 5,000 frames (and the stdlib parser
    # into a RecursionError); the refusal comes after a few levels.
    assert deepest_stack(parse) < 300


def test_five_thousand_nested_messages_are_refused() -> None:
    bomb = b"From: a@example.com\r\nContent-Type: message/rfc822\r\n\r\n" * 5000

    with pytest.raises(MailRefused, match="levels deep"):
        parse_mail(bomb)


def test_nesting_up_to_the_limit_is_read() -> None:
    limits = MailLimits(max_depth=3)

    assert parse_mail(nested_multiparts(3), limits).text == "deep"
    with pytest.raises(MailRefused, match="more than 3 levels deep"):
        parse_mail(nested_multiparts(4), limits)


def flat_multipart(leaves: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(leaves))
    head = 'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    return f"{head}{parts}--b--\r\n".encode()


def test_more_than_a_hundred_parts_are_refused() -> None:
    assert parse_mail(flat_multipart(99)).text == "part 0"  # 100 parts with the container
    with pytest.raises(MailRefused, match="more than 100 MIME parts"):
        parse_mail(flat_multipart(100))


def test_a_mail_over_the_size_limit_is_refused_unread() -> None:
    raw = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"A" * (30 * 1024 * 1024)

    with pytest.raises(MailRefused, match="more than the limit of 26214400"):
        parse_mail(raw)


# --------------------------------------------------------------------------- garbage


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_are_refused(seed: int) -> None:
    with pytest.raises(MailRefused, match="not a mail"):
        parse_mail(random.Random(seed).randbytes(4096))  # noqa: S311 - garbage, not a secret


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", b"   "])
def test_empty_input_is_refused(raw: bytes) -> None:
    with pytest.raises(MailRefused, match="empty"):
        parse_mail(raw)


def test_a_png_is_not_a_mail() -> None:
    with pytest.raises(MailRefused, match="not a mail"):
        parse_mail(b"\x89PNG\r\n\x1a\n" + bytes(64))


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.com\r\nSubject: no body",
        b"From: a@example.com\r\nSubject: empty body\r\n\r\n",
    ],
)
def test_header_only_and_empty_body(raw: bytes) -> None:
    parsed = parse_mail(raw)

    assert (parsed.sender, parsed.text, parsed.new_text) == ("a@example.com", "", "")


def test_nul_bytes_show_where_they_were() -> None:
    """No database keeps NUL; U+FFFD in its place, as the channel conformance kit asks of
    every channel, tells the agent something was there."""
    parsed = parse_mail(b"From: a@example.com\r\nSubject: a\x00b\r\n\r\nbo\x00dy\x07")

    assert (parsed.subject, parsed.text) == ("a\ufffdb", "bo\ufffddy")


def test_broken_transfer_encodings_decode_what_they_can() -> None:
    b64 = parse_mail(
        b"From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV29ybGQ!!\r\n=="
    )
    qp = parse_mail(
        b"From: a@example.com\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =ZZ soft=\r\nbreak"
    )

    assert b64.text.startswith("Hello World")
    assert qp.text == "café =ZZ softbreak"


def test_a_hostile_charset_parameter_is_an_unknown_charset() -> None:
    raw = b'From: a@example.com\r\nContent-Type: text/plain; charset="utf\x00-8"\r\n\r\nhello'

    assert parse_mail(raw).text == "hello"


def test_whatever_the_stdlib_raises_becomes_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object) -> str:
        raise IndexError("list index out of range")  # as email's header parser has done

    monkeypatch.setattr(Message, "get_content_type", broken)

    with pytest.raises(MailRefused, match="malformed"):
        parse_mail(b"From: a@example.com\r\nSubject: s\r\n\r\nbody")


def test_comments_nested_thousands_deep_are_refused() -> None:
    raw = b"From: a@example.com\r\nContent-Type: text/plain " + b"(" * 5000 + b"\r\n\r\nx"

    with pytest.raises(MailRefused, match="too deeply"):
        parse_mail(raw)


@pytest.mark.parametrize(
    "sender",
    [None, "", "Taro Yamada", "undisclosed-recipients:;"],
)
def test_a_mail_that_names_no_sender_is_refused(sender: str | None) -> None:
    head = "" if sender is None else f"From: {sender}\r\n"
    raw = f"{head}To: b@example.com\r\nSubject: who?\r\n\r\nbody".encode()

    with pytest.raises(MailRefused, match=r"^the mail names no sender$"):
        parse_mail(raw)


# --------------------------------------------------------------------------- ids and dates


def test_message_ids_extracts_bracketed_ids_in_order() -> None:
    value = "<a@x.example> (comment) <b@y.example>\r\n <a@x.example> <c@z.example>"

    assert message_ids(value) == ("a@x.example", "b@y.example", "c@z.example")


def test_message_ids_tolerates_a_bare_id_but_not_a_phrase() -> None:
    assert message_ids("  1234.5678@mailer.example ") == ("1234.5678@mailer.example",)
    assert message_ids("Your message of Mon, 15 Jan 2024") == ()
    assert message_ids(None) == ()


def test_message_ids_drops_unusable_ids() -> None:
    too_long = "x" * 245 + "@a.bc"
    assert len(too_long) == 250
    value = f"<{too_long}> <{too_long}y> <a b@c> <tab\t@c> <ctl\x01@c> <> <good@c>"

    assert message_ids(value) == (too_long, "good@c")


def test_an_unusable_message_id_is_none() -> None:
    raw = b"From: a@example.com\r\nMessage-ID: <has space@example.com>\r\n\r\nx"

    assert parse_mail(raw).message_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Mon, 15 Jan 2024 10:00:00 +0900",
            datetime(2024, 1, 15, 10, tzinfo=timezone(timedelta(hours=9))),
        ),
        ("15 Jan 2024 10:00 GMT", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("Mon, 15 Jan 2024 10:00:00 -0000", None),  # RFC 5322 §3.3: the zone is unknown
        ("yesterday", None),
        ("Mon, 15 Jan 1969 10:00:00 +0000", None),
        ("Mon, 15 Jan 2201 10:00:00 +0000", None),
        ("Mon, 45 Jan 2024 10:00:00 +0000", None),
    ],
)
def test_sent_at(value: str, expected: datetime | None) -> None:
    raw = f"From: a@example.com\r\nDate: {value}\r\n\r\nx".encode()

    assert parse_mail(raw).sent_at == expected


# --------------------------------------------------------------------------- automated


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: no", None),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: first-class", None),
        ("List-Id: Users <users.lists.example>", "List-Id: Users <users.lists.example>"),
        ("List-Unsubscribe: <mailto:u@example.com>", "List-Unsubscribe: <mailto:u@example.com>"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Vacation", "X-Autorespond: Vacation"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: DR, AutoReply", "X-Auto-Response-Suppress: AutoReply"),
        ("X-Auto-Response-Suppress: OOF, DR", None),
        ("Return-Path: <>", "Return-Path: <>"),
        ("Return-Path: <taro@example.jp>", None),
    ],
)
def test_automated_mail_is_named(headers: str, reason: str | None) -> None:
    raw = f"From: taro@example.jp\r\n{headers}\r\nSubject: s\r\n\r\nbody".encode()

    assert parse_mail(raw).automated == reason


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example",
        "postmaster@example.com",
        "owner-users@lists.example",
        "users-request@lists.example",
    ],
)
def test_mail_from_a_robot_address_is_automated(sender: str) -> None:
    raw = f"From: {sender}\r\nSubject: s\r\n\r\nbody".encode()

    assert parse_mail(raw).automated == f"From: {sender}"


# --------------------------------------------------------------------------- bounces

POSTFIX_DSN = """\
Return-Path: <>
X-Original-To: support@brand.example
Delivered-To: support@brand.example
Received: by mail.brand.example (Postfix)
\tid 4TJ2cY3kTbz9sRr; Mon, 15 Jan 2024 10:00:05 +0900 (JST)
Date: Mon, 15 Jan 2024 10:00:05 +0900 (JST)
From: MAILER-DAEMON@mail.brand.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@brand.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4TJ2cX0wL9z9sRq.1705280405/mail.brand.example"
Content-Transfer-Encoding: 8bit
Message-Id: <20240115010005.4TJ2cY3kTbz9sRr@mail.brand.example>

This is a MIME-encapsulated message.

--4TJ2cX0wL9z9sRq.1705280405/mail.brand.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.brand.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nobody@customer.example>: host mx.customer.example[192.0.2.25] said: 550
    5.1.1 <nobody@customer.example>: Recipient address rejected: User unknown
    in local recipient table (in reply to RCPT TO command)

--4TJ2cX0wL9z9sRq.1705280405/mail.brand.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.brand.example
X-Postfix-Queue-ID: 4TJ2cX0wL9z9sRq
X-Postfix-Sender: rfc822; support@brand.example
Arrival-Date: Mon, 15 Jan 2024 10:00:03 +0900 (JST)

Final-Recipient: rfc822; nobody@customer.example
Original-Recipient: rfc822;nobody@customer.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.customer.example
Diagnostic-Code: smtp; 550 5.1.1 <nobody@customer.example>: Recipient address
    rejected: User unknown in local recipient table

--4TJ2cX0wL9z9sRq.1705280405/mail.brand.example
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <support@brand.example>
Received: by mail.brand.example (Postfix, from userid 1000)
\tid 4TJ2cX0wL9z9sRq; Mon, 15 Jan 2024 10:00:03 +0900 (JST)
From: Brand Support <support@brand.example>
To: nobody@customer.example
Subject: Your order
Message-ID: <20240115010003.crm-8f3a@brand.example>
Date: Mon, 15 Jan 2024 10:00:03 +0900
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Thank you for your order.

--4TJ2cX0wL9z9sRq.1705280405/mail.brand.example--
"""


def test_a_postfix_bounce() -> None:
    parsed = parse_mail(crlf(POSTFIX_DSN))

    assert parsed.bounce == Bounce(
        original_message_id="20240115010003.crm-8f3a@brand.example",
        recipient="nobody@customer.example",
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 <nobody@customer.example>: Recipient address rejected: "
        "User unknown in local recipient table",
    )
    assert parsed.sender == "MAILER-DAEMON@mail.brand.example"
    assert parsed.sender_name == "Mail Delivery System"
    assert parsed.automated == "Auto-Submitted: auto-replied"
    assert parsed.text.startswith("This is the mail system at host mail.brand.example.")
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


HEADERS_ONLY_DSN = """\
Return-Path: <>
Subject: Delivery Status Notification
Date: Tue, 16 Jan 2024 02:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type="delivery-status"; boundary="=_dsn"

--=_dsn
Content-Type: text/plain

Delivery to two recipients has problems.

--=_dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example

Final-Recipient: rfc822; <slow@customer.example>
Action: delayed
Status: 4.4.1
Diagnostic-Code: smtp; 421 4.4.1 Connection timed out

Final-Recipient: rfc822; gone@customer.example
Action: FAILED
Status: 5.2.1 (mailbox disabled)
Diagnostic-Code: smtp; 550 5.2.1 The email account that you tried to reach is disabled.

--=_dsn
Content-Type: text/rfc822-headers

From: Brand Support <support@brand.example>
To: slow@customer.example, gone@customer.example
Subject: Newsletter
Message-ID: <crm-20240116-77@brand.example>

--=_dsn--
"""


def test_a_headers_only_bounce_from_the_null_sender() -> None:
    parsed = parse_mail(crlf(HEADERS_ONLY_DSN))

    assert parsed.sender is None
    assert parsed.bounce == Bounce(
        original_message_id="crm-20240116-77@brand.example",
        recipient="gone@customer.example",
        action="failed",
        status="5.2.1",
        diagnostic="550 5.2.1 The email account that you tried to reach is disabled.",
    )
    assert parsed.automated == "Content-Type: multipart/report"


def test_a_read_receipt_is_a_report_but_no_bounce() -> None:
    raw = crlf(
        "From: taro@example.jp\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="r"\n\n'
        "--r\nContent-Type: text/plain\n\nYour message was displayed.\n"
        "--r\nContent-Type: message/disposition-notification\n\n"
        "Final-Recipient: rfc822; taro@example.jp\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
        "--r--\n"
    )

    parsed = parse_mail(raw)

    assert parsed.bounce is None
    assert parsed.automated == "Content-Type: multipart/report"


# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    ("reply", "new"),
    [
        pytest.param(
            "Thanks, that works.\n\n"
            "On Mon, Jan 15, 2024 at 10:00 AM Taro Yamada <taro@example.jp>\n"
            "wrote:\n\n> Could you check the order?\n>\n> Taro\n",
            "Thanks, that works.",
            id="gmail-wrapped",
        ),
        pytest.param(
            "Sounds good.\n\nSent from my iPhone\n\n"
            "> On Jan 15, 2024, at 10:00, Taro Yamada <taro@example.jp> wrote:\n>\n"
            "> Could you check the order?\n",
            "Sounds good.\n\nSent from my iPhone",
            id="apple-mail",
        ),
        pytest.param(
            "Done.\n\nOn 1/15/24 10:00 AM, Taro Yamada wrote:\n> Could you check?\n",
            "Done.",
            id="thunderbird",
        ),
        pytest.param(
            "I will call you.\n\n-----Original Message-----\nFrom: Taro Yamada <taro@example.jp>\n"
            "Sent: Monday, January 15, 2024 10:00 AM\nTo: support@brand.example\n"
            "Subject: Order\n\nCould you check the order?\n",
            "I will call you.",
            id="outlook-original-message",
        ),
        pytest.param(
            "I will call you.\n\n________________________________\n"
            "From: Taro Yamada <taro@example.jp>\nSent: Monday, January 15, 2024 10:00\n"
            "To: support@brand.example\nSubject: Order\n\nCould you check?\n",
            "I will call you.",
            id="outlook-rule",
        ),
        pytest.param(
            "Noted.\n\nFrom: Taro Yamada <taro@example.jp>\nSent: Monday, January 15, 2024 10:00\n"
            "To: support@brand.example\n\nCould you check?\n",
            "Noted.",
            id="outlook-header-block",
        ),
        pytest.param(
            "承知しました。\nよろしくお願いいたします。\n\n"
            "2024年1月15日(月) 10:00 山田太郎 <taro@example.jp>:\n\n"
            "> お世話になっております。\n> 注文の件です。\n",
            "承知しました。\nよろしくお願いいたします。",
            id="gmail-ja",
        ),
        pytest.param(
            "了解です。\n\n2024/01/15 10:00、山田太郎 <taro@example.jp>のメッセージ:\n\n"
            "> お世話になっております。\n",
            "了解です。",
            id="apple-mail-ja",
        ),
        pytest.param(
            "了解です。\n\n山田太郎 さんは書きました:\n> こんにちは\n",
            "了解です。",
            id="thunderbird-ja",
        ),
        pytest.param(
            "承知しました。\n\n差出人: 山田 太郎 <taro@example.co.jp>\n"
            "送信日時: 2024年1月15日 10:00\n"
            "宛先: support@brand.example\n件名: 見積もり\n\nお世話になっております。\n",
            "承知しました。",
            id="outlook-ja",
        ),
        pytest.param(
            "收到，谢谢。\n\n在 2024年1月15日 10:00，张伟 <zhang@example.cn> 写道：\n\n> 您好\n",
            "收到，谢谢。",
            id="zh-cn",
        ),
        pytest.param(
            "收到。\n\n陳小明 <chen@example.tw> 於 2024年1月15日 週一 上午10:00 寫道：\n\n> 您好\n",
            "收到。",
            id="gmail-zh-tw",
        ),
        pytest.param(
            "好的\n\n------------------ 原始邮件 ------------------\n"
            "发件人: 张伟 <zhang@example.cn>\n发送时间: 2024年1月15日(星期一) 上午10:00\n"
            "收件人: support@brand.example\n主题: 订单\n\n您好\n",
            "好的",
            id="qq-mail-zh",
        ),
        pytest.param(
            "확인했습니다.\n\n"
            "2024년 1월 15일 (월) 오전 10:00, 홍길동 <hong@example.kr>님이 작성:\n\n> 안녕하세요\n",
            "확인했습니다.",
            id="gmail-ko",
        ),
        pytest.param(
            "감사합니다.\n\n"
            "2024-01-15 10:00 GMT+09:00 홍길동 <hong@example.kr> 작성:\n\n> 안녕하세요\n",
            "감사합니다.",
            id="ko-short",
        ),
        pytest.param(
            "네 알겠습니다.\n\n보낸 사람: 홍길동 <hong@example.kr>\n"
            "보낸 날짜: 2024년 1월 15일 월요일 오전 10:00\n"
            "받는 사람: support@brand.example\n제목: 주문\n\n안녕하세요\n",
            "네 알겠습니다.",
            id="outlook-ko",
        ),
    ],
)
def test_trim_quoted(reply: str, new: str) -> None:
    assert trim_quoted(reply) == new


def test_trim_quoted_keeps_interleaved_answers() -> None:
    text = "> Which size?\nLarge.\n> Which colour?\nBlue.\n\nThanks"

    assert trim_quoted(text) == text


def test_trim_quoted_keeps_a_colon_line_without_quote() -> None:
    text = "My colleague wrote:\nthe parcel left today."

    assert trim_quoted(text) == text


def test_trim_quoted_returns_everything_when_nothing_would_be_left() -> None:
    assert trim_quoted("\n> only a quote\n> nothing new\n") == "> only a quote\n> nothing new"


def test_a_gmail_html_reply_is_trimmed_through_its_blockquote() -> None:
    mail = person_mail()
    mail.set_content(
        '<div dir="ltr">Thanks!</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">On Mon, Jan 15, 2024 at 10:00 AM Support '
        "&lt;support@brand.example&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Your order has shipped.</blockquote></div>',
        subtype="html",
    )

    parsed = parse_mail(mail.as_bytes())

    assert parsed.new_text == "Thanks!"
    assert "> Your order has shipped." in parsed.text


def test_only_the_bytes_the_kept_text_needs_are_read() -> None:
    mail = person_mail()
    mail.set_content("hello" + " " * 500 + "world\n")

    text = parse_mail(mail.as_bytes(), MailLimits(max_text_chars=10)).text

    # 20 bytes a character are read (200 here): "world" is past them, and the cut is noted.
    assert text == "hello…"


def test_the_body_text_is_cut_at_the_limit() -> None:
    mail = person_mail()
    mail.set_content("x" * 500 + "\n")

    text = parse_mail(mail.as_bytes(), MailLimits(max_text_chars=100)).text

    assert text == "x" * 99 + "…"
