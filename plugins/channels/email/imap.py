"""The email channel's mailbox client: one IMAP session on one folder, on ``imapclient``.

The worker polls a mailbox with it: :meth:`Mailbox.new_uids` lists what arrived after its
cursor and is not yet stored, :meth:`Mailbox.fetch` reads it without marking it read,
:meth:`Mailbox.mark_stored` flags (and may move) what the CRM has stored, and
:meth:`Mailbox.wait` sleeps until the server announces new mail (IDLE) or the time is up.
A cursor is a UID, and UIDs only mean something together with the folder's UIDVALIDITY.

Everything that goes wrong on the way to or in the server (a refused connection, a failed
TLS handshake, a refused login, a missing folder, a dropped connection, an answer that does
not parse) is a :class:`MailboxUnreachable` whose message says why in a sentence, without
the password.

References: RFC 3501 (IMAP4rev1: UID SEARCH, ``BODY.PEEK``, UIDVALIDITY), RFC 2177 (IDLE),
RFC 6851 (MOVE), RFC 4315 (UIDPLUS, ``UID EXPUNGE``), and imapclient's documentation.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import (  # type: ignore[import-untyped]
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

# RFC 2177: a server may log an idle client off after 30 minutes, so IDLE is renewed sooner.
IDLE_SLICE_SECONDS = 29 * 60
# How often an idle wait looks whether it has been asked to stop.
IDLE_CHECK_SECONDS = 1.0
# Without IDLE, how often a wait asks the server (NOOP) whether mail came.
NOOP_SECONDS = 10.0
SEEN = r"\Seen"
# A library or server failure, or an answer that cannot be read (imapclient's parser raises
# these on malformed responses; a hostile server can nest parentheses without end).
FAILURES = (IMAPClientError, OSError, ValueError, LookupError, RecursionError)


class MailboxUnreachable(Exception):
    """The server cannot be reached or refuses us (connect, TLS, login, select, or any later
    command); ``str()`` says why in a sentence, with no secret in it."""


@dataclass(frozen=True)
class MailboxAddress:
    """Where a mailbox is and how to log in to it.

    :param security: ``tls`` for implicit TLS (IMAPS, port 993), ``starttls`` to upgrade a
        plain connection (port 143) before logging in, ``none`` for neither (only for a server
        on a network that is itself private).
    :param password: the password in plain text; the caller unwraps its ``SecretStr``.
    :param folder: the folder polled.
    :param processed_folder: where stored mail is moved (created when missing); ``None``
        leaves it in ``folder``, flagged :attr:`Mailbox.STORED_FLAG`.
    :param timeout: seconds to connect, and to wait for any answer.
    :param ssl_context: the TLS settings; ``None`` for the system's trusted certificates and
        hostname checking (``ssl.create_default_context()``).
    """

    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    user: str
    password: str
    folder: str = "INBOX"
    processed_folder: str | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class FetchedMail:
    """One message as read from the server.

    :param size: its size in bytes (``RFC822.SIZE``).
    :param raw: the whole message, or only its header block (with the empty line ending it)
        when ``complete`` is false.
    :param complete: false when the message was over the size limit and only its header was
        fetched.
    """

    uid: int
    size: int
    raw: bytes
    complete: bool


class Mailbox:
    """One IMAP session on one folder: connects, logs in and selects the folder on
    ``__enter__``, logs out on ``__exit__``.

    :ivar uidvalidity: the folder's UIDVALIDITY (from SELECT), once open; a UID cursor
        saved under another value means nothing any more.
    :ivar can_idle: whether the server offers IDLE, so :meth:`wait` hears of new mail at once.
    """

    STORED_FLAG = "$RegiocrmStored"

    def __init__(self, address: MailboxAddress) -> None:
        self.address = address
        self.uidvalidity = 0
        self.can_idle = False
        self._client: Any = None
        self._broken = False
        self._processed_folder_ready = False

    def __enter__(self) -> Mailbox:
        address = self.address
        with self._failing("open the mailbox", connecting=True):
            self._client = IMAPClient(
                address.host,
                port=address.port,
                ssl=address.security == "tls",
                ssl_context=address.ssl_context,
                timeout=address.timeout,
            )
            try:
                self._open()
            except BaseException:
                # No LOGOUT: a server that stopped answering would make it wait once more.
                self._broken = True
                self._close()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()

    def new_uids(self, after_uid: int) -> list[int]:
        """The UIDs above ``after_uid`` not flagged :attr:`STORED_FLAG`, ascending.

        :raises MailboxUnreachable: when the search fails.
        """
        after_uid = max(after_uid, 0)
        criteria = ["UID", f"{after_uid + 1}:*", "NOT", "KEYWORD", self.STORED_FLAG]
        with self._failing("search the mailbox"):
            found = self._session.search(criteria)
        # "n:*" always includes the highest UID, even when that is below n (RFC 3501 6.4.8).
        return sorted(uid for uid in found if uid > after_uid)

    def fetch(self, uids: Sequence[int], *, max_bytes: int) -> list[FetchedMail]:
        """Read ``uids`` without marking them read (``BODY.PEEK``): whole when at most
        ``max_bytes``, only the header block when bigger. The sizes are fetched first. UIDs
        that are gone (expunged meanwhile) or that the server answers without content are
        left out.

        :returns: the mail in ascending UID order.
        :raises MailboxUnreachable: when a fetch fails.
        """
        if not uids:
            return []
        with self._failing("fetch mail"):
            answers = self._session.fetch(uids, ["RFC822.SIZE"])
            sizes = {uid: answer.get(b"RFC822.SIZE") for uid, answer in answers.items()}
            sizes = {uid: size for uid, size in sizes.items() if isinstance(size, int)}
            small = [uid for uid, size in sizes.items() if size <= max_bytes]
            big = [uid for uid, size in sizes.items() if size > max_bytes]
            whole = self._session.fetch(small, ["BODY.PEEK[]"]) if small else {}
            headers = self._session.fetch(big, ["BODY.PEEK[HEADER]"]) if big else {}
        contents = {uid: (answer.get(b"BODY[]"), True) for uid, answer in whole.items()}
        contents |= {uid: (answer.get(b"BODY[HEADER]"), False) for uid, answer in headers.items()}
        return [
            FetchedMail(uid, sizes[uid], raw, complete)
            for uid, (raw, complete) in sorted(contents.items())
            if isinstance(raw, bytes)
        ]

    def mark_stored(self, uids: Sequence[int]) -> None:
        """Flag ``uids`` :attr:`STORED_FLAG` and ``\\Seen``, then move them to the processed
        folder if there is one (creating and subscribing it when missing): with MOVE where
        the server has it, else COPY, ``\\Deleted`` and EXPUNGE (of only these UIDs where
        the server has UIDPLUS).

        :raises MailboxUnreachable: when a step fails; what was flagged stays flagged, so
            :meth:`new_uids` does not list it again.
        """
        if not uids:
            return
        target = self.address.processed_folder
        with self._failing("mark mail as stored"):
            self._session.add_flags(uids, [self.STORED_FLAG, SEEN], silent=True)
            if target is None:
                return
            self._ensure_folder(target)
            if self._session.has_capability("MOVE"):
                self._session.move(uids, target)
                return
            self._session.copy(uids, target)
            self._session.delete_messages(uids, silent=True)
            if self._session.has_capability("UIDPLUS"):
                self._session.uid_expunge(uids)
            else:
                self._session.expunge()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to ``seconds`` for the server to announce new mail: in IDLE when the
        server offers it (renewed every 29 minutes, RFC 2177), else asking with NOOP every
        ten seconds and once at the end. Returns within about a second once ``stop`` is set.

        :returns: true when the server announced new mail (EXISTS), during the wait or with
            the answer to an earlier command of this session since the last wait; false on
            timeout or ``stop``.
        :raises MailboxUnreachable: when the connection fails meanwhile.
        """
        deadline = time.monotonic() + seconds
        with self._failing("wait for mail"):
            if self._announced_meanwhile():
                return True
            wait = self._idle if self.can_idle else self._poll
            announced = wait(deadline, stop)
            self._announced_meanwhile()
        return announced

    @property
    def _session(self) -> Any:
        if self._client is None:
            raise RuntimeError("the mailbox is used outside its with block")
        return self._client

    @property
    def _where(self) -> str:
        return f"{self.address.host}:{self.address.port}"

    def _open(self) -> None:
        client = self._session
        if self.address.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise MailboxUnreachable(f"{self._where} does not offer STARTTLS")
            client.starttls(self.address.ssl_context)
        try:
            client.login(self.address.user, self.address.password)
        except LoginError as exc:
            raise self._unreachable(f"login refused by {self._where}", exc) from None
        try:
            selected = client.select_folder(self.address.folder)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClientAbortError):
                raise
            message = f"cannot open the folder {self.address.folder!r} on {self._where}"
            raise self._unreachable(message, exc) from None
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        self.can_idle = bool(client.has_capability("IDLE"))
        # SELECT's EXISTS counts the mail already there, which is no announcement.
        self._announced_meanwhile()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if not self._broken:
            try:
                client.logout()
                return
            except FAILURES:
                pass
        # A session that failed is in no known state (it may be in IDLE): it is only closed.
        with suppress(OSError):
            client.shutdown()

    def _ensure_folder(self, folder: str) -> None:
        if self._processed_folder_ready:
            return
        if not self._session.folder_exists(folder):
            self._session.create_folder(folder)
            # Mail programs show only subscribed folders.
            self._session.subscribe_folder(folder)
        self._processed_folder_ready = True

    def _announced_meanwhile(self) -> bool:
        """Whether an EXISTS came with the answer to a command since the last look: mail
        that arrives during a search or a store is announced there, and IDLE does not
        announce it again. imapclient keeps no record of it; imaplib's untagged responses
        do, and this empties them."""
        return bool(self._session._imap.untagged_responses.pop("EXISTS", None))

    def _idle(self, deadline: float, stop: threading.Event) -> bool:
        while not stop.is_set() and time.monotonic() < deadline:
            if self._idle_slice(min(deadline, time.monotonic() + IDLE_SLICE_SECONDS), stop):
                return True
        return False

    def _idle_slice(self, until: float, stop: threading.Event) -> bool:
        client = self._session
        client.idle()
        announced = False
        while not announced and not stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                break
            asked = min(left, IDLE_CHECK_SECONDS)
            started = time.monotonic()
            responses = client.idle_check(timeout=asked)
            announced = _announces_mail(responses)
            if not responses and time.monotonic() - started < asked / 2:
                # Readable without a whole line: the server hung up (or sent half a line).
                # Ending IDLE tells which: it fails on a dead connection, and a live one
                # idles again.
                break
        _, responses = client.idle_done()
        return announced or _announces_mail(responses)

    def _poll(self, deadline: float, stop: threading.Event) -> bool:
        while True:
            if stop.wait(max(0.0, min(deadline - time.monotonic(), NOOP_SECONDS))):
                return False
            _, responses = self._session.noop()
            if _announces_mail(responses):
                return True
            if time.monotonic() >= deadline:
                return False

    @contextmanager
    def _failing(self, doing: str, *, connecting: bool = False) -> Iterator[None]:
        """Turn what the library, the socket or TLS raise into :class:`MailboxUnreachable`;
        the session then ends without LOGOUT, its state being unknown."""
        try:
            yield
        except MailboxUnreachable:
            self._broken = True
            raise
        except FAILURES as exc:
            self._broken = True
            where = self._where
            if connecting and isinstance(exc, ssl.SSLError):
                message = f"TLS handshake with {where} failed"
            elif connecting and isinstance(exc, OSError | IMAPClientAbortError):
                message = f"cannot connect to {where}"
            elif isinstance(exc, OSError | IMAPClientAbortError):
                message = f"lost the connection to {where} trying to {doing}"
            elif isinstance(exc, IMAPClientError):
                message = f"{where} refused to {doing}"
            else:
                message = f"{where} answered in a way that cannot be read trying to {doing}"
            raise self._unreachable(message, exc) from None

    def _unreachable(self, message: str, exc: BaseException) -> MailboxUnreachable:
        if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
            reason = exc.verify_message
        elif isinstance(exc, ssl.SSLError) and exc.reason:
            reason = exc.reason
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            # imapclient words a refusal "<command> failed: <the server's text>", and a
            # refused login as the repr of the server's bytes.
            reason = re.sub(r"^\w+ failed: ", "", str(exc))
            reason = re.sub(r"^b(['\"])(.*)\1$", r"\2", reason) or type(exc).__name__
        if self.address.password:
            reason = reason.replace(self.address.password, "***")
        return MailboxUnreachable(f"{message}: {reason}")


def _announces_mail(responses: Sequence[object]) -> bool:
    """Whether parsed untagged responses include ``* n EXISTS``."""
    return any(
        isinstance(response, tuple) and len(response) > 1 and response[1] == b"EXISTS"
        for response in responses
    )
