"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback, for
the served-HTTP tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from regiocrm.testing import deployment_environment, run_regiocrm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_user(folder: Path, name: str, role: str, *options: str) -> str:
    """A new user of the deployment in ``folder``, and their API token."""
    added = run_regiocrm("users", "add", name, "--role", role, *options, cwd=folder)
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def add_user_with_password(folder: Path, name: str, role: str, password: str, *options: str) -> str:
    """A new user of the deployment in ``folder`` who signs in to the console with
    ``password`` (given on standard input, as ``--password-stdin`` reads it); their API
    token. ``options`` such as ``"--org", "Tokyo Hub"`` go to ``regiocrm users add``."""
    arguments = ("users", "add", name, "--role", role, *options, "--password-stdin")
    added = subprocess.run(
        [sys.executable, "-m", "regiocrm", *arguments],
        cwd=folder,
        env=deployment_environment(),
        input=password,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def admin_token(folder: Path) -> str:
    """Migrate the deployment in ``folder`` and add an admin; their API token."""
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    return add_user(folder, "ops", "admin")


@dataclass(frozen=True)
class Server:
    """A running ``regiocrm serve``: where it answers, and the file its output goes to."""

    base: str
    output: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.output.read_text()


@contextmanager
def serving(folder: Path, *options: str) -> Iterator[Server]:
    """``regiocrm serve`` on a free port in ``folder`` (migrated), with ``options`` such as
    ``"--workers", "2"``, until the block ends, once it answers. Its output (uvicorn's
    access log included) goes to ``folder/serve.log`` as it is written: a pipe nobody reads
    would stop the server once the access log filled it."""
    port = free_port()
    output = folder / "serve.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "regiocrm", "serve", "--port", str(port), *options],
            cwd=folder,
            env=deployment_environment(PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", output, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{server.base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"regiocrm serve did not start: {server.log()}")
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Console:
    """A migrated deployment in ``folder`` served at ``server``, for the console's tests."""

    folder: Path
    server: Server

    @property
    def base(self) -> str:
        return self.server.base

    def add_user(self, name: str, role: str, password: str, *options: str) -> str:
        """Add a user who signs in with ``password``; their API token (see
        :func:`add_user_with_password`)."""
        return add_user_with_password(self.folder, name, role, password, *options)


@contextmanager
def serving_console(folder: Path) -> Iterator[Console]:
    """Migrate the deployment in ``folder`` and serve it until the block ends."""
    upgraded = run_regiocrm("db", "upgrade", cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    with serving(folder) as server:
        yield Console(folder, server)
