"""The email channel's mailbox client against a real Dovecot (``tests/imap_server.py``).

Mail is built with the standard library and delivered, and the mailbox is inspected, with
``imaplib`` through the server helper, never with the client under test. A second Dovecot
that advertises neither IDLE, MOVE nor UIDPLUS plays a plainer server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any, TypeVar

import pytest
from imap_server import Dovecot, free_port, require_dovecot, start_dovecot
from tcp_proxy import TcpProxy, proxying

from regiocrm.plugins.channels.email.imap import (
    FetchedMail,
    Mailbox,
    MailboxAddress,
    MailboxUnreachable,
)

T = TypeVar("T")
STORED = {"$RegiocrmStored", "\\Seen"}
# A call that should return at once (or within a second) and has not after this long hangs.
HANG_SECONDS = 30.0


@pytest.fixture
def server(dovecot: Dovecot) -> Dovecot:
    dovecot.reset()
    return dovecot


@pytest.fixture(scope="module")
def plain_dovecot() -> Iterator[Dovecot]:
    """A Dovecot whose capabilities after login are only IMAP4rev1 and LITERAL+."""
    require_dovecot()
    with start_dovecot(capability="IMAP4rev1 LITERAL+") as started:
        yield started


@pytest.fixture
def plain_server(plain_dovecot: Dovecot) -> Dovecot:
    plain_dovecot.reset()
    return plain_dovecot


def address(server: Dovecot, **changes: Any) -> MailboxAddress:
    """The test user's INBOX over IMAPS, with ``changes``."""
    imaps = MailboxAddress(
        host=server.host,
        port=server.imaps_port,
        security="tls",
        user=server.user,
        password=server.password,
        timeout=5.0,
        ssl_context=server.ssl_context,
    )
    return replace(imaps, **changes)


def mail(subject: str, body: str = "Is the car ready for pick-up on Friday?\n") -> bytes:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.org>"
    message["To"] = "service@example.com"
    message["Subject"] = subject
    message.set_content(body)
    return message.as_bytes(policy=SMTP)


def header_block(raw: bytes) -> bytes:
    """The header of a message with the empty line ending it, as BODY[HEADER] is (RFC 3501
    section 6.4.5)."""
    header, separator, _ = raw.partition(b"\r\n\r\n")
    assert separator
    return header + separator


def refusal(refused: MailboxAddress) -> str:
    """What :class:`MailboxUnreachable` says when opening ``refused`` fails."""
    with pytest.raises(MailboxUnreachable) as failed, Mailbox(refused):
        pass
    return str(failed.value)


def within(seconds: float, function: Callable[[], T]) -> T:
    """``function()`` in a thread, failing the test when it has not returned by
    ``seconds``: a bound on a hang, far above the time the call takes."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def set_later(stop: threading.Event) -> threading.Timer:
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    return timer


def append_later(server: Dovecot, raw: bytes) -> threading.Timer:
    timer = threading.Timer(0.3, server.append, args=(raw,))
    timer.start()
    return timer


# Opening ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("security", "port"),
    [("tls", "imaps_port"), ("starttls", "imap_port"), ("none", "imap_port")],
)
def test_opens_the_folder_and_lists_its_mail(server: Dovecot, security: str, port: str) -> None:
    uid = server.append(mail("Brake noise"))
    opened = address(server, security=security, port=getattr(server, port))
    with Mailbox(opened) as mailbox:
        assert mailbox.uidvalidity == server.uidvalidity()
        assert mailbox.can_idle
        assert mailbox.new_uids(0) == [uid]


def test_uidvalidity_is_the_same_in_every_session(server: Dovecot) -> None:
    with Mailbox(address(server)) as first:
        pass
    with Mailbox(address(server)) as second:
        pass
    assert first.uidvalidity == second.uidvalidity == server.uidvalidity()


def test_a_wrong_password_is_refused_without_showing_it(server: Dovecot) -> None:
    wrong = "Wrong-Passw0rd-42"
    message = refusal(address(server, password=wrong))
    # RFC 5530's response code, in Dovecot's words.
    assert message == (
        f"login refused by 127.0.0.1:{server.imaps_port}: "
        "[AUTHENTICATIONFAILED] Authentication failed."
    )
    assert wrong not in message


def test_a_server_that_echoes_the_password_does_not_get_it_into_the_message() -> None:
    secret = "s3cret-that-must-not-show"
    with fake_imap(b"IMAP4rev1 AUTH=PLAIN") as port:
        message = refusal(MailboxAddress("127.0.0.1", port, "none", "agent", secret))
    assert message.startswith(f"login refused by 127.0.0.1:{port}: ")
    assert "you said" in message
    assert secret not in message


def test_starttls_that_the_server_does_not_offer_is_refused() -> None:
    with fake_imap(b"IMAP4rev1 AUTH=PLAIN") as port:
        message = refusal(MailboxAddress("127.0.0.1", port, "starttls", "agent", "pw"))
    assert message == f"127.0.0.1:{port} does not offer STARTTLS"


def test_a_closed_port_is_unreachable(server: Dovecot) -> None:
    port = free_port()
    assert refusal(address(server, port=port)).startswith(f"cannot connect to 127.0.0.1:{port}: ")


def test_a_server_that_never_answers_is_unreachable_after_the_timeout(server: Dovecot) -> None:
    proxy = TcpProxy((server.host, server.imaps_port))
    proxy.listen(answering=False)
    try:
        silent = address(server, port=proxy.port, timeout=0.5)
        message = within(HANG_SECONDS, lambda: refusal(silent))
    finally:
        proxy.cut()
    assert message.startswith(f"cannot connect to 127.0.0.1:{proxy.port}: ")


@pytest.mark.parametrize(("security", "port"), [("tls", "imaps_port"), ("starttls", "imap_port")])
def test_an_untrusted_certificate_fails_the_handshake(
    server: Dovecot, security: str, port: str
) -> None:
    # The system's trusted certificates, which do not include the test's own.
    untrusting = address(server, security=security, port=getattr(server, port), ssl_context=None)
    message = refusal(untrusting)
    assert message.startswith(f"TLS handshake with 127.0.0.1:{untrusting.port} failed: ")


def test_a_missing_folder_is_named(server: Dovecot) -> None:
    message = refusal(address(server, folder="Nowhere"))
    assert message.startswith(f"cannot open the folder 'Nowhere' on 127.0.0.1:{server.imaps_port}")


# Listing and reading ---------------------------------------------------------------------


def test_new_uids_are_those_after_the_cursor(server: Dovecot) -> None:
    first, second, third = (server.append(mail(f"Visit {n}")) for n in range(3))
    with Mailbox(address(server)) as mailbox:
        assert mailbox.new_uids(0) == [first, second, third]
        assert mailbox.new_uids(first) == [second, third]
        # "UID n:*" with n past the highest UID still matches the highest message.
        assert mailbox.new_uids(third) == []
        assert mailbox.new_uids(third + 100) == []


def test_fetch_reads_small_mail_whole_and_big_mail_by_its_header(server: Dovecot) -> None:
    small = mail("Short question")
    big = mail("Photos of the damage", body=("x" * 70 + "\n") * 100)
    limit = len(small) + 10
    assert len(big) > limit
    small_uid, big_uid = server.append(small), server.append(big)
    with Mailbox(address(server)) as mailbox:
        fetched = mailbox.fetch([big_uid, small_uid, big_uid + 50], max_bytes=limit)
    assert fetched == [
        FetchedMail(uid=small_uid, size=len(small), raw=small, complete=True),
        FetchedMail(uid=big_uid, size=len(big), raw=header_block(big), complete=False),
    ]
    # BODY.PEEK leaves both unread.
    assert server.uids() == {small_uid: frozenset(), big_uid: frozenset()}


def test_fetching_nothing_asks_nothing(server: Dovecot) -> None:
    with Mailbox(address(server)) as mailbox:
        assert mailbox.fetch([], max_bytes=1000) == []


# Marking stored --------------------------------------------------------------------------


def test_stored_mail_is_flagged_seen_and_no_longer_new(server: Dovecot) -> None:
    stored, waiting = server.append(mail("Invoice")), server.append(mail("Quote"))
    with Mailbox(address(server)) as mailbox:
        mailbox.mark_stored([stored])
        assert mailbox.new_uids(0) == [waiting]
    assert server.uids() == {stored: frozenset(STORED), waiting: frozenset()}
    with Mailbox(address(server)) as again:
        assert again.new_uids(0) == [waiting]


def test_stored_mail_moves_to_a_processed_folder_created_for_it(server: Dovecot) -> None:
    done = "処理済み"
    first, second, waiting = (server.append(mail(f"Booking {n}")) for n in range(3))
    with Mailbox(address(server, processed_folder=done)) as mailbox:
        mailbox.mark_stored([first])
        assert mailbox.new_uids(0) == [second, waiting]
    assert server.subscribed(done)
    assert sorted(server.uids(done).values()) == [frozenset(STORED)]
    # The folder exists now, and a new session moves into it too.
    with Mailbox(address(server, processed_folder=done)) as mailbox:
        mailbox.mark_stored([second])
    assert server.uids() == {waiting: frozenset()}
    assert sorted(server.uids(done).values()) == [frozenset(STORED)] * 2


def test_without_move_stored_mail_is_copied_and_expunged(plain_server: Dovecot) -> None:
    stored, waiting = plain_server.append(mail("Invoice")), plain_server.append(mail("Quote"))
    with Mailbox(address(plain_server, processed_folder="Done")) as mailbox:
        mailbox.mark_stored([stored])
    assert plain_server.uids() == {waiting: frozenset()}
    assert list(plain_server.uids("Done").values()) == [frozenset(STORED)]


# Waiting ---------------------------------------------------------------------------------


def test_idle_wait_hears_of_mail_appended_meanwhile(server: Dovecot) -> None:
    with Mailbox(address(server)) as mailbox:
        appending = append_later(server, mail("Arrives during IDLE"))
        assert mailbox.wait(HANG_SECONDS, threading.Event()) is True
        appending.join()
        assert mailbox.new_uids(0) == list(server.uids())


def test_idle_wait_times_out_without_mail(server: Dovecot) -> None:
    with Mailbox(address(server)) as mailbox:
        assert mailbox.wait(0.5, threading.Event()) is False
        # IDLE was ended cleanly: the session goes on.
        assert mailbox.new_uids(0) == []


def test_idle_wait_returns_when_asked_to_stop(server: Dovecot) -> None:
    stop = threading.Event()
    with Mailbox(address(server)) as mailbox:
        set_later(stop)
        assert within(HANG_SECONDS, lambda: mailbox.wait(3600, stop)) is False
        assert mailbox.new_uids(0) == []


def test_mail_announced_during_another_command_ends_the_next_wait(server: Dovecot) -> None:
    with Mailbox(address(server)) as mailbox:
        uid = server.append(mail("Arrives between commands"))
        # Dovecot searches the mailbox as the session knew it, then announces the new mail
        # with the answer: IDLE would not announce it again (and would time out here).
        mailbox.new_uids(0)
        assert mailbox.wait(2.0, threading.Event()) is True
        assert mailbox.new_uids(0) == [uid]
        assert mailbox.wait(0.5, threading.Event()) is False


def test_a_connection_lost_during_idle_is_unreachable(server: Dovecot) -> None:
    with (
        proxying((server.host, server.imaps_port)) as proxy,
        Mailbox(address(server, port=proxy.port)) as mailbox,
    ):
        threading.Timer(0.3, proxy.cut).start()
        with pytest.raises(MailboxUnreachable) as lost:
            within(HANG_SECONDS, lambda: mailbox.wait(3600, threading.Event()))
    expected = f"lost the connection to 127.0.0.1:{proxy.port} trying to wait for mail: "
    assert str(lost.value).startswith(expected)


def test_without_idle_a_wait_asks_with_noop(plain_server: Dovecot) -> None:
    with Mailbox(address(plain_server)) as mailbox:
        assert not mailbox.can_idle
        uid = plain_server.append(mail("Arrives while polling"))
        # Nothing told the session yet: only the wait's NOOP (at its end) hears of it.
        assert mailbox.wait(0.5, threading.Event()) is True
        assert mailbox.new_uids(0) == [uid]
        assert mailbox.wait(0.5, threading.Event()) is False


def test_without_idle_a_wait_returns_when_asked_to_stop(plain_server: Dovecot) -> None:
    stop = threading.Event()
    with Mailbox(address(plain_server)) as mailbox:
        set_later(stop)
        assert within(HANG_SECONDS, lambda: mailbox.wait(3600, stop)) is False


# A server of our own making, for what Dovecot does not do --------------------------------


@contextmanager
def fake_imap(capabilities: bytes) -> Iterator[int]:
    """A loopback server for one connection: it offers ``capabilities``, answers LOGIN with
    NO quoting the command back (a careless server echoes the password), and anything else
    with BAD. Yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, connection.makefile("rwb") as stream:
            stream.write(b"* OK [CAPABILITY " + capabilities + b"] fake server ready\r\n")
            stream.flush()
            for line in stream:
                tag, _, command = line.rstrip(b"\r\n").partition(b" ")
                if command.upper() == b"CAPABILITY":
                    stream.write(b"* CAPABILITY " + capabilities + b"\r\n" + tag + b" OK done")
                elif command.upper().startswith(b"LOGIN "):
                    stream.write(tag + b" NO [AUTHENTICATIONFAILED] you said " + command)
                else:
                    stream.write(tag + b" BAD not here")
                stream.write(b"\r\n")
                stream.flush()

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    try:
        yield port
    finally:
        listener.close()
        serving.join(HANG_SECONDS)
