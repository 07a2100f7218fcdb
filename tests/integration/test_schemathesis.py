"""The served API against its own OpenAPI document, fuzzed by schemathesis as an outside
client would: with an admin's token and with a dealer's, no answer may be a server error,
an undocumented status, content type or header, or a body its schema does not describe.

The admin's run is pointed at the records seeded (its path parameters are their ids), so
that it fuzzes what a real customer, case, lead and contract answer; the dealer's run draws
its ids, as a stranger would, and meets refusals.

Bounded for CI's two cores: a fixed seed, a few examples per operation, one worker (with
more, Python 3.11's ``ast`` module can fail inside hypothesis's threads), no example
database (nothing is written outside the test's temporary folder), and only loopback is
ever asked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from served import add_user, serving

from regiocrm.testing import deployment_environment, run_regiocrm

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
MAX_EXAMPLES = 10
SEED = 13
TESTED = re.compile(r"(\d+) generated, (\d+) passed")


@dataclass(frozen=True)
class Deployment:
    base: str
    tokens: dict[str, str]
    ids: dict[str, str]


def seed(base: str, dealer: str) -> dict[str, str]:
    """A customer with an identity and consent, a case, a lead and a contract, so that
    listings answer with items as well as empty; their ids by path parameter."""
    auth = {"Authorization": f"Bearer {dealer}"}
    customer = httpx.post(
        f"{base}/api/customers",
        json={
            "market": "CN",
            "family_name": "王",
            "given_name": "芳",
            "identities": [{"kind": "phone", "value": "+8613800138000"}],
            "consents": [{"purpose": "marketing"}],
        },
        headers=auth,
    )
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["id"]
    ids = {"customer_id": customer_id}
    for name, path, body in (
        ("case_id", "/api/cases", {"customer_id": customer_id, "market": "CN", "subject": "刹车"}),
        (
            "lead_id",
            "/api/leads",
            {"market": "CN", "lat": 31.2, "lon": 121.5, "customer_id": customer_id},
        ),
        (
            "contract_id",
            "/api/contracts",
            {
                "customer_id": customer_id,
                "market": "CN",
                "kind": "service",
                "starts_on": "2026-01-01",
                "ends_on": "2027-01-01",
            },
        ),
    ):
        answer = httpx.post(f"{base}{path}", json=body, headers=auth)
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    return ids


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for both runs: migrating and starting it is a third of the time."""
    folder = tmp_path_factory.mktemp("deployment")
    assert run_regiocrm("db", "upgrade", cwd=folder).returncode == 0
    dealer_added = run_regiocrm(
        "orgs", "add", "Pudong Motors", "--kind", "dealer", "--market", "CN",
        "--lat", "31.209", "--lon", "121.596", cwd=folder,
    )  # fmt: skip
    assert dealer_added.returncode == 0, dealer_added.stderr
    tokens = {
        "admin": add_user(folder, "ops", "admin"),
        "dealer_staff": add_user(folder, "wang", "dealer_staff", "--org", "Pudong Motors"),
    }
    with serving(folder) as server:
        yield Deployment(server.base, tokens, seed(server.base, tokens["dealer_staff"]))


def schemathesis(
    base: str, token: str, folder: Path, ids: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` in ``folder``, its path parameters fixed to ``ids``."""
    config = folder / "schemathesis.toml"
    config.write_text(
        "[parameters]\n" + "".join(f'"path.{name}" = "{value}"\n' for name, value in ids.items())
    )
    command = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(config),
        "run", f"{base}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--suppress-health-check", "all",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--no-color",
    ]  # fmt: skip
    return subprocess.run(
        command,
        cwd=folder,
        env=deployment_environment(
            python_path=[Path(__file__).parent],
            HYPOTHESIS_STORAGE_DIRECTORY=str(folder / ".hypothesis"),
            SCHEMATHESIS_HOOKS="schemathesis_hooks",
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("role", ["admin", "dealer_staff"])
def test_the_served_api_keeps_to_its_openapi_document(
    deployment: Deployment, tmp_path: Path, role: str
) -> None:
    ids = deployment.ids if role == "admin" else {}
    run = schemathesis(deployment.base, deployment.tokens[role], tmp_path, ids)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    tested = TESTED.search(report)
    assert tested is not None, report
    generated, passed = map(int, tested.groups())
    assert generated == passed > 0, report
