"""A private Dovecot for the email channel's tests: Debian's ``dovecot-imapd`` run in the
foreground from a temporary folder with a configuration of its own (never the system's
service), one user with a plaintext password, maildir storage, and IMAP (STARTTLS) and
IMAPS listeners on free loopback ports with a certificate for ``localhost``/127.0.0.1 made
here. It starts in a fraction of a second; tests share one per session and empty it with
:meth:`Dovecot.reset`.

What the tests assert about the mailbox they read with the standard library's ``imaplib``,
never with the client under test.
"""

from __future__ import annotations

import base64
import datetime
import grp
import imaplib
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOVECOT = Path("/usr/sbin/dovecot")
HOST = "127.0.0.1"
USER = "agent@example.com"
PASSWORD = "dovecot-test-secret"
# A Dovecot on loopback that takes longer than this to listen, or to stop, is broken.
START_SECONDS = 10.0
STOP_SECONDS = 10.0
# Run as root (as here and in CI), Dovecot refuses to run its login processes or to give a
# mailbox to root: it uses the accounts its Debian package creates, and the mail belongs to
# nobody. Run as anyone else, everything is that user's.
ROOT_LOGIN_USER = "dovenull"
ROOT_INTERNAL_USER = "dovecot"
ROOT_MAIL_USER = "nobody"

CONFIG = """\
# Nothing outside the folder: not the system's /run/dovecot, /var/lib/dovecot or syslog.
base_dir = {folder}/run
state_dir = {folder}/state
instance_name = regiocrm-test-{port}
protocols = imap
listen = {host}
log_path = {folder}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
# nobody, or a CI runner's user, may have a UID below Dovecot's default of 500.
first_valid_uid = 1
# No ssl_dh: Dovecot 2.3 wants it only for the old finite-field DHE ciphers, which no
# client here negotiates (TLS 1.3, or ECDHE).
ssl = yes
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
auth_mechanisms = plain login
disable_plaintext_auth = no
# A refused login is answered without Dovecot's 2 s delay, and later logins from loopback
# are not slowed down either (anvil's authentication penalty, off with its socket's mode 0).
auth_failure_delay = 0
mail_location = maildir:{folder}/mail/%u
{capability}
passdb {{
  driver = passwd-file
  args = {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={folder}/mail/%u
}}
# Only root may chroot: the login and anvil processes run where they are, as anyone.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


def dovecot_unavailable() -> str | None:
    """Why a Dovecot cannot run here, or None when it can."""
    if not os.access(DOVECOT, os.X_OK):
        return f"no Dovecot at {DOVECOT} (apt-get install dovecot-imapd)"
    if os.geteuid() == 0:
        missing = []
        for name in (ROOT_LOGIN_USER, ROOT_INTERNAL_USER, ROOT_MAIL_USER):
            try:
                pwd.getpwnam(name)
            except KeyError:
                missing.append(name)
        if missing:
            return (
                f"the accounts {', '.join(missing)} Dovecot runs as under root do not exist "
                "(apt-get install dovecot-imapd creates them)"
            )
    return None


def require_dovecot() -> None:
    """Skip the calling test with the reason where Dovecot cannot run, but fail it under
    ``CI=true``, where that would silently leave the email channel's mailboxes untested
    (``.ci/run`` installs Dovecot)."""
    reason = dovecot_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the IMAP tests must run)")
    pytest.skip(reason)


def imap_utf7(name: str) -> str:
    """A folder name as IMAP sends it, in RFC 3501 section 5.1.3's modified UTF-7: printable
    ASCII as itself (``&`` as ``&-``), each run of other characters as ``&``, their UTF-16BE
    in base64 (``,`` for ``/``, no padding) and ``-``."""
    out: list[str] = []
    pending: list[str] = []

    def shift() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            shift()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    shift()
    return "".join(out)


def quoted(name: str) -> str:
    """``name`` as an IMAP quoted string, for ``imaplib``, which sends arguments as given."""
    return '"' + imap_utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Dovecot:
    """A running Dovecot and what a client needs to log in to it: ``ssl_context`` trusts
    its certificate, which ``ca_file`` holds (PEM) for settings that name a file."""

    host: str
    imap_port: int
    imaps_port: int
    user: str
    password: str
    ssl_context: ssl.SSLContext
    ca_file: Path
    log: Path

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in ``imaplib`` session over IMAPS."""
        connection = imaplib.IMAP4_SSL(
            self.host, self.imaps_port, ssl_context=self.ssl_context, timeout=START_SECONDS
        )
        try:
            connection.login(self.user, self.password)
            yield connection
        finally:
            with suppress(imaplib.IMAP4.error, OSError):
                connection.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver ``raw`` to ``folder`` and return its UID (from ``APPENDUID``, RFC 4315)."""
        with self.session() as connection:
            status, data = connection.append(quoted(folder), "", None, raw)
        match = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0] or b"")
        assert status == "OK", f"APPEND to {folder!r} answered {status} {data!r}"
        assert match, f"APPEND to {folder!r} answered no APPENDUID: {data!r}"
        return int(match.group(1))

    def uids(self, folder: str = "INBOX") -> dict[int, frozenset[str]]:
        """The messages in ``folder``: each UID with its flags and keywords, but not
        ``\\Recent`` (which only says which session looked first)."""
        with self.session() as connection:
            status, data = connection.select(quoted(folder), readonly=True)
            assert status == "OK", f"EXAMINE {folder!r} answered {status} {data!r}"
            status, data = connection.uid("FETCH", "1:*", "(FLAGS)")
        assert status == "OK", f"UID FETCH in {folder!r} answered {status} {data!r}"
        messages = {}
        for line in data:
            if not isinstance(line, bytes):
                continue
            uid = re.search(rb"UID (\d+)", line)
            flags = re.search(rb"FLAGS \(([^)]*)\)", line)
            assert uid, f"FETCH answered no UID: {line!r}"
            assert flags, f"FETCH answered no FLAGS: {line!r}"
            names = frozenset(flags.group(1).decode("ascii").split())
            messages[int(uid.group(1))] = names - {"\\Recent"}
        return messages

    def uidvalidity(self, folder: str = "INBOX") -> int:
        """``folder``'s UIDVALIDITY, from STATUS."""
        with self.session() as connection:
            status, data = connection.status(quoted(folder), "(UIDVALIDITY)")
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        assert status == "OK", f"STATUS {folder!r} answered {status} {data!r}"
        assert match, f"STATUS {folder!r} answered no UIDVALIDITY: {data!r}"
        return int(match.group(1))

    def subscribed(self, folder: str) -> bool:
        """Whether ``folder`` is subscribed (LSUB lists it), as mail programs show it."""
        with self.session() as connection:
            status, data = connection.lsub('""', quoted(folder))
        assert status == "OK", f"LSUB {folder!r} answered {status} {data!r}"
        return any(isinstance(line, bytes) for line in data)

    def reset(self) -> None:
        """Delete every folder but INBOX, and every message in INBOX."""
        with self.session() as connection:
            status, data = connection.list()
            assert status == "OK", f"LIST answered {status} {data!r}"
            names = [_listed_name(line) for line in data if isinstance(line, bytes)]
            for name in sorted(names, key=len, reverse=True):
                if name.upper() != "INBOX":
                    connection.unsubscribe(f'"{name}"')
                    status, data = connection.delete(f'"{name}"')
                    assert status == "OK", f"DELETE {name!r} answered {status} {data!r}"
            _, exists = connection.select("INBOX")
            if exists[0] != b"0":
                connection.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                connection.expunge()


def _listed_name(line: bytes) -> str:
    match = re.fullmatch(rb'\([^)]*\) (?:"[^"]*"|NIL) "?(.*?)"?', line)
    assert match, f"unexpected LIST response {line!r}"
    return match.group(1).decode("ascii")


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def write_certificate(folder: Path) -> ssl.SSLContext:
    """A self-signed certificate for ``localhost`` and 127.0.0.1 in ``folder`` (``cert.pem``,
    ``key.pem``), and a client context that trusts it and nothing else."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ssl.create_default_context(cadata=pem.decode("ascii"))


@contextmanager
def start_dovecot(*, capability: str | None = None) -> Iterator[Dovecot]:
    """A Dovecot of its own, stopped and deleted afterwards.

    :param capability: Dovecot's ``imap_capability``: what it advertises after login in
        place of its own list, to play a server without (say) IDLE or MOVE.
    """
    folder = Path(tempfile.mkdtemp(prefix="regiocrm-dovecot-"))
    # Under root the mail processes run as nobody and auth as dovecot: they must reach in.
    folder.chmod(0o711)
    try:
        yield from _run(folder, capability)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(folder: Path, capability: str | None) -> Iterator[Dovecot]:
    if os.geteuid() == 0:
        login_user, internal_user = ROOT_LOGIN_USER, ROOT_INTERNAL_USER
        mail_account = pwd.getpwnam(ROOT_MAIL_USER)
    else:
        mail_account = pwd.getpwuid(os.getuid())
        login_user = internal_user = mail_account.pw_name
    internal_group = grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name
    (folder / "mail").mkdir()
    os.chown(folder / "mail", mail_account.pw_uid, mail_account.pw_gid)
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    (folder / "passwd").chmod(0o644)
    context = write_certificate(folder)
    imap_port, imaps_port = free_port(), free_port()
    config = folder / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            folder=folder,
            host=HOST,
            port=imaps_port,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
            mail_uid=mail_account.pw_uid,
            mail_gid=mail_account.pw_gid,
            imap_port=imap_port,
            imaps_port=imaps_port,
            capability=f"imap_capability = {capability}" if capability is not None else "",
        ),
        encoding="utf-8",
    )
    startup = folder / "startup.log"
    with startup.open("wb") as output:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_listening(process, (imap_port, imaps_port), folder)
        yield Dovecot(
            host=HOST,
            imap_port=imap_port,
            imaps_port=imaps_port,
            user=USER,
            password=PASSWORD,
            ssl_context=context,
            ca_file=folder / "cert.pem",
            log=folder / "dovecot.log",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(process: subprocess.Popen[bytes], ports: tuple[int, ...], folder: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    waiting = list(ports)
    while waiting:
        if process.poll() is not None or time.monotonic() > deadline:
            logs = [folder / "startup.log", folder / "dovecot.log"]
            said = "\n".join(path.read_text(errors="replace") for path in logs if path.exists())
            raise RuntimeError(f"Dovecot did not start listening on {ports}:\n{said}")
        try:
            socket.create_connection((HOST, waiting[0]), timeout=1).close()
        except OSError:
            time.sleep(0.02)
        else:
            waiting.pop(0)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A Dovecot shared by the session's tests: call ``reset()`` before using it."""
    require_dovecot()
    with start_dovecot() as server:
        yield server
