"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import add_user, serving

from regiocrm.testing import run_regiocrm


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    assert run_regiocrm("db", "upgrade", cwd=tmp_path).returncode == 0
    token = add_user(tmp_path, "ops", "admin")
    with serving(tmp_path) as base:
        yield base, token


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
