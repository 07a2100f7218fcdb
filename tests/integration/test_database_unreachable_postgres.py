"""The database of a served deployment becomes unreachable, then comes back: the provider is
told to deliver again (503) and nothing is kept meanwhile; once the database is back the
server stores and processes again by itself, with no restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from at_commit import LOST, at_commit, nothing_at_commit
from line_deployment import ACCOUNT, line_deployment, post, statuses, wait_processed
from served import serving
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from tcp_proxy import proxying

from regiocrm.messaging.inbox import POLL_SECONDS

pytestmark = pytest.mark.postgres

# Generous, for a machine busy with other tests.
DEADLINE_SECONDS = 30
CANNOT_CLAIM = "cannot claim until the database answers"


def test_webhooks_answer_503_while_the_database_is_unreachable_and_resume_after(
    postgres_url: URL, postgres_zone: Engine, tmp_path: Path
) -> None:
    target = (postgres_url.host or "127.0.0.1", postgres_url.port or 5432)
    with proxying(target) as proxy:
        line_deployment(tmp_path, postgres_url.set(host="127.0.0.1", port=proxy.port))
        with serving(tmp_path) as server:
            before = post(server.base, "m-before")
            assert before.status_code == 200, before.text
            wait_processed(postgres_zone, "m-before")

            proxy.cut()
            refused = post(server.base, "m-during")
            kept_meanwhile = statuses(postgres_zone, "m-during")
            health = httpx.get(f"{server.base}/healthz")
            deadline = time.monotonic() + DEADLINE_SECONDS
            while CANNOT_CLAIM not in server.log():
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.1)
            # The outage lasts a few of the worker's polls, each of which fails.
            time.sleep(4 * POLL_SECONDS)
            said = server.log()

            proxy.listen()
            again = post(server.base, "m-during")
            recovered = httpx.get(f"{server.base}/healthz")
            wait_processed(postgres_zone, "m-during")
            said_after = server.log()

    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"].isdigit()
    assert refused.json()["detail"] == "the database is unavailable or busy: try again later"
    assert "127.0.0.1" not in refused.text, "the driver's message stays in the log"
    assert kept_meanwhile == [], "nothing stored that was not acknowledged"
    assert statuses(postgres_zone, "m-during") == ["processed"], "stored once, on redelivery"
    assert f"POST /webhooks/line/{ACCOUNT} answered 503" in said
    assert "Connection refused" in said
    assert said.count(CANNOT_CLAIM) == 1, "said once, not at every poll"
    assert "Traceback" not in said, said
    assert "claims again: the database answers" in said_after
    assert health.status_code == 503
    assert health.json()["zones"]["jp"]["reachable"] is False
    assert again.status_code == 200, again.text
    assert recovered.status_code == 200, recovered.json()


def test_a_message_whose_processing_lost_the_database_is_processed_once_it_is_back(
    postgres_url: URL, postgres_zone: Engine, tmp_path: Path
) -> None:
    """The server's connection is terminated as the inbox worker commits the message's
    timeline entry (a failover, a restart): the message is not failed for a human to
    retry, but stays waiting, and is processed once the database commits again."""
    line_deployment(tmp_path, postgres_url)
    with serving(tmp_path) as server:
        at_commit(postgres_zone, "interactions", LOST)
        answer = post(server.base, "m-lost")
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + DEADLINE_SECONDS
        while "terminating connection due to administrator command" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        nothing_at_commit(postgres_zone, "interactions")
        wait_processed(postgres_zone, "m-lost")
    with postgres_zone.connect() as connection:
        entries = connection.execute(
            text("SELECT count(*) FROM interactions WHERE external_id = 'm-lost'")
        ).scalar_one()
    assert entries == 1


def test_a_database_that_never_answers_is_503_not_a_hung_request(
    postgres_url: URL, postgres_zone: Engine, tmp_path: Path
) -> None:
    """The database accepts connections and never answers (overloaded, or a pooler in front
    of it stuck): a webhook is answered 503 once connecting times out, rather than held
    until the provider gives up, with every thread that serves it waiting too."""
    target = (postgres_url.host or "127.0.0.1", postgres_url.port or 5432)
    with proxying(target) as proxy:
        line_deployment(tmp_path, postgres_url.set(host="127.0.0.1", port=proxy.port))
        with serving(tmp_path) as server:
            proxy.cut()
            proxy.listen(answering=False)
            silent = post(server.base, "m-silent")
            kept_meanwhile = statuses(postgres_zone, "m-silent")
            said = server.log()
            proxy.cut()
            proxy.listen()
            again = post(server.base, "m-silent")
            wait_processed(postgres_zone, "m-silent")
    assert silent.status_code == 503, silent.text
    assert kept_meanwhile == []
    assert "timeout expired" in said
    assert again.status_code == 200, again.text
