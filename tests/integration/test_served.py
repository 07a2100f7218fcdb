"""`regiocrm serve` as a user runs it: a real uvicorn process answering over loopback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from at_commit import LOST, REFUSED, SLOW, at_commit, nothing_at_commit
from served import Server, admin_token, serving
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from regiocrm.http.access_log import MASK
from regiocrm.plugins.channels.whatsapp.testing import VERIFY_TOKEN, WhatsAppDriver


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    token = admin_token(tmp_path)
    with serving(tmp_path) as server:
        yield server.base, token


def test_served_health_openapi_and_auth(served: tuple[str, str]) -> None:
    base, token = served
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 200
    assert health.json()["zones"]["main"]["migrated"] is True
    assert "/api/me" in httpx.get(f"{base}/openapi.json").json()["paths"]
    assert httpx.get(f"{base}/api/me").status_code == 401
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.status_code, me.json()["name"]) == (200, "ops")
    assert (me.headers["x-content-type-options"], me.headers["cache-control"]) == (
        "nosniff",
        "no-store",
    )
    too_big = httpx.post(f"{base}/api/me", content=b"x" * 2_000_000)
    assert too_big.status_code == 413


def test_served_write_on_a_locked_zone_is_503_with_nothing_stored(
    served: tuple[str, str], tmp_path: Path
) -> None:
    """Another process holds the write lock of the zone Chinese customers are placed in
    (``var/cn.db``) for longer than the server waits for it: the write is answered 503
    (try again) and nothing is kept, not a 500 and not a success."""
    base, token = served
    zone = sqlite3.connect(tmp_path / "var" / "cn.db", isolation_level=None)
    try:
        zone.execute("BEGIN IMMEDIATE")
        answer = httpx.post(
            f"{base}/api/customers",
            json={"market": "CN", "family_name": "王"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        zone.execute("ROLLBACK")
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"].isdigit()
        assert "database" in answer.json()["detail"]
        assert zone.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    finally:
        zone.close()


def test_served_access_log_shows_no_secret(tmp_path: Path) -> None:
    """Meta verifies a WhatsApp webhook with the account's verify token in the query
    string; `config show` masks that token, and so must the access log, however the
    token is encoded. A phone number looked up through the API stays out of it too."""
    account = WhatsAppDriver().account_settings()
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in account.items())
    (tmp_path / "regiocrm.toml").write_text(f"[channel_accounts.wa_au]\n{table}\n")
    token = admin_token(tmp_path)
    webhook = "/webhooks/whatsapp/wa_au"
    with serving(tmp_path) as server:
        verified = httpx.get(
            f"{server.base}{webhook}",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "7",
            },
        )
        assert (verified.status_code, verified.text) == (200, "7")
        encoded = "".join(f"%{byte:02X}" for byte in VERIFY_TOKEN.encode())
        httpx.get(f"{server.base}{webhook}?hub.verify_token={encoded}&hub.challenge=8")
        found = httpx.get(
            f"{server.base}/api/customers",
            params={"identity": "phone:+8613800138000"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200
        log = server.log()
    assert f"{webhook}?hub.mode=subscribe&hub.verify_token={MASK}&hub.challenge=7" in log
    assert f"{webhook}?hub.verify_token={MASK}&hub.challenge=8" in log
    assert f"/api/customers?identity={MASK}" in log
    assert VERIFY_TOKEN not in log
    assert encoded not in log
    assert "13800138000" not in log


@dataclass(frozen=True)
class PostgresDesk:
    """A served deployment whose one zone is a PostgreSQL database, an admin's token, and
    the test's own way into that database (a new connection for every use)."""

    server: Server
    token: str
    zone: Engine

    def register(self, family_name: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.base}/api/customers",
            json={"market": "CN", "family_name": family_name},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def stored(self, table: str, **where: str) -> int:
        condition = " AND ".join(f"{column} = :{column}" for column in where) or "true"
        with self.zone.connect() as connection:
            query = text(f"SELECT count(*) FROM {table} WHERE {condition}")  # noqa: S608
            return int(connection.execute(query, where).scalar_one())


@pytest.fixture
def postgres_desk(postgres_url: URL, tmp_path: Path) -> Iterator[PostgresDesk]:
    url = postgres_url.render_as_string(hide_password=False)
    (tmp_path / "regiocrm.toml").write_text(f'home_zone = "cn"\n\n[zones]\ncn = "{url}"\n')
    token = admin_token(tmp_path)
    zone = create_engine(postgres_url, poolclass=NullPool)
    try:
        with serving(tmp_path) as server:
            yield PostgresDesk(server, token, zone)
    finally:
        zone.dispose()


# How long each COMMIT takes in the test below: far longer than the test needs to read the
# zone once it has an answer (milliseconds), so an answer sent before its commit is caught.
SLOW_COMMIT_SECONDS = 0.5


@pytest.mark.postgres
def test_served_201_only_after_its_row_is_committed(postgres_desk: PostgresDesk) -> None:
    """Every COMMIT is made slow, as synchronous replication makes it in production: a
    deferred constraint trigger sleeps in it. After each 201 the test opens a new
    connection to the zone and looks for the customer.

    An answer sent before its commit leaves while COMMIT still sleeps, and the test's read,
    milliseconds later, finds nothing. An answer sent after its commit cannot arrive before
    the row is visible to any new connection, whatever the timing: the test cannot fail
    for a slow machine.
    """
    at_commit(postgres_desk.zone, "customers", SLOW.format(seconds=SLOW_COMMIT_SECONDS))
    early = []
    for number in range(8):
        answer = postgres_desk.register(f"王{number}")
        assert answer.status_code == 201, answer.text
        customer_id = answer.json()["id"]
        if not postgres_desk.stored("customers", id=customer_id):
            early.append(customer_id)
    assert early == [], f"{len(early)} of 8 answered 201 before their commit"


@pytest.mark.postgres
def test_served_commit_that_fails_is_500_with_nothing_stored(
    postgres_desk: PostgresDesk,
) -> None:
    """A constraint checked at COMMIT refuses the transaction: the caller is told it failed
    (500), and neither the customer nor its audit entry is kept."""
    at_commit(postgres_desk.zone, "customers", REFUSED)
    answer = postgres_desk.register("王")
    assert answer.status_code == 500, answer.text
    assert postgres_desk.stored("customers") == 0
    assert postgres_desk.stored("audit_events", action="customer.created") == 0


@pytest.mark.postgres
def test_served_database_lost_at_commit_is_503_then_recovers(
    postgres_desk: PostgresDesk,
) -> None:
    """The server's connection dies during COMMIT (the backend is terminated, as a
    failover or a restart does): the answer is 503 with Retry-After and nothing is kept.
    Once the database is back the same request succeeds on a new connection."""
    at_commit(postgres_desk.zone, "customers", LOST)
    lost = postgres_desk.register("王")
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"].isdigit()
    assert "database" in lost.json()["detail"]
    assert postgres_desk.stored("customers") == 0
    assert "postgres" not in lost.text
    nothing_at_commit(postgres_desk.zone, "customers")
    again = postgres_desk.register("王")
    assert again.status_code == 201, again.text
    assert postgres_desk.stored("customers", id=again.json()["id"]) == 1
