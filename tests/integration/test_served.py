"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from regiocrm.testing import deployment_environment, run_regiocrm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    assert run_regiocrm("db", "upgrade", cwd=tmp_path).returncode == 0
    added = run_regiocrm("users", "add", "ops", "--role", "admin", cwd=tmp_path)
    token = added.stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "regiocrm", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=deployment_environment(),
        stdout=subprocess.PIPE,
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
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"regiocrm serve did not start: {output}")
                time.sleep(0.1)
        yield base, token
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_served_health_openapi_and_auth(served: tuple[str, str]) -> None:
    base, token = served
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 200
    assert health.json()["zones"]["main"]["migrated"] is True
    assert "/api/me" in httpx.get(f"{base}/openapi.json").json()["paths"]
    assert httpx.get(f"{base}/api/me").status_code == 401
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.status_code, me.json()["name"]) == (200, "ops")
    too_big = httpx.post(f"{base}/api/me", content=b"x" * 2_000_000)
    assert too_big.status_code == 413
