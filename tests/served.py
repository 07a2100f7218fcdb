"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback, for
the served-HTTP tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``regiocrm serve`` on a free port in ``folder`` (migrated), until the block ends;
    yields its base URL once it answers. Its output goes to ``folder/serve.log``: a pipe
    nobody reads would stop the server once the access log filled it."""
    port = free_port()
    log = folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "regiocrm", "serve", "--port", str(port)],
            cwd=folder,
            env=deployment_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"regiocrm serve did not start: {log.read_text()}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
