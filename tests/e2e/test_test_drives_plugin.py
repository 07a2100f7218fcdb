"""The test-drives example plugin (``examples/test_drives``), installed into a fresh virtual
environment beside regiocrm with no change to the core: it passes its own tests, and its
rows are placed by residency, shown in ``residency report``, moved by ``residency
migrate``, counted in ``storage report`` and carried by ``export customer``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from test_new_market import fresh_environment, install

from regiocrm.testing import deployment_environment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_drives"

# Run in the fresh environment: a customer of mainland China, registered by the brand's
# competence centre (so no dealer is linked to them but by the test drive), and their test
# drive at a Shanghai dealer, booked through the plugin's route.
BOOK = """
import json, sys
from fastapi.testclient import TestClient
from regiocrm.http.app import create_app
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings

token, dealer = sys.argv[1], sys.argv[2]
hooks = Hooks()
with TestClient(create_app(load_settings(hooks), hooks)) as client:
    auth = {"Authorization": f"Bearer {token}"}
    customer = client.post(
        "/api/customers", json={"market": "CN", "family_name": "Wang"}, headers=auth
    )
    assert customer.status_code == 201, customer.text
    drive = client.post(
        "/api/test-drives",
        headers=auth,
        json={
            "customer_id": customer.json()["id"],
            "organization_id": dealer,
            "vehicle_model": "Tourer",
            "scheduled_at": "2026-12-24T10:00:00+08:00",
        },
    )
    assert drive.status_code == 201, drive.text
    print(json.dumps({"customer": customer.json()["id"], "drive": drive.json()["id"]}))
"""

# The document an export to a zone keeps there.
KEPT = """
import json, sys
from sqlalchemy import select
from regiocrm.models import CustomerExport
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.platform.stores import ZoneStores

hooks = Hooks()
stores = ZoneStores.open(load_settings(hooks), hooks)
with stores.session() as session:
    kept = session.scalars(select(CustomerExport)).one()
    print(json.dumps(kept.document["data"]))
stores.dispose()
"""


def run(python: Path, *args: str, cwd: Path, exit_code: int = 0, **variables: str) -> str:
    done = subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=deployment_environment(**variables),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == exit_code, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


def regiocrm(python: Path, *args: str, cwd: Path, exit_code: int = 0, **variables: str) -> Any:
    """``regiocrm ARGS... --json`` in the environment of ``python``; what it printed."""
    out = run(python, "-m", "regiocrm", *args, "--json", cwd=cwd, exit_code=exit_code, **variables)
    return json.loads(out)


def test_the_test_drives_plugin_is_an_entity_like_any_other(tmp_path: Path) -> None:
    python = fresh_environment(tmp_path / "venv")
    shutil.copytree(
        EXAMPLE, tmp_path / "source", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    install(python, tmp_path / "source", cwd=tmp_path)

    # Its own tests, against the installed distribution rather than the source folder.
    tests = tmp_path / "its-tests"
    shutil.copytree(EXAMPLE / "tests", tests / "tests")
    shutil.copy(EXAMPLE / "pyproject.toml", tests)
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tests)
    assert " passed" in tested.splitlines()[-1]

    deployment = tmp_path / "deployment"
    deployment.mkdir()
    plugins = regiocrm(python, "plugins", "list", cwd=deployment)
    [plugin] = [p for p in plugins if p["distribution"] == "regiocrm-test-drives"]
    assert "register_models" in plugin["hooks"]

    run(python, "-m", "regiocrm", "db", "upgrade", cwd=deployment)
    run(
        python,
        "-m",
        "regiocrm",
        "orgs",
        "add",
        "Shanghai Motors",
        "--kind",
        "dealer",
        "--market",
        "CN",
        cwd=deployment,
    )
    dealer = next(
        org["id"]
        for org in regiocrm(python, "orgs", "list", cwd=deployment)
        if org["name"] == "Shanghai Motors"
    )
    token = (
        run(
            python,
            "-m",
            "regiocrm",
            "users",
            "add",
            "centre",
            "--role",
            "competence_centre",
            cwd=deployment,
        )
        .strip()
        .splitlines()[-1]
    )
    booked = json.loads(run(python, "-c", BOOK, token, dealer, cwd=deployment))

    report = regiocrm(python, "residency", "report", cwd=deployment)
    assert drives_in(report) == [("cn", "CN", "crm", 1, "ok")]

    storage = regiocrm(python, "storage", "report", cwd=deployment)
    [shanghai] = [row for row in storage if row["organization"] == "Shanghai Motors"]
    assert shanghai["used_mib_by_class"]["crm"] > 0, "its test drive is all it holds"

    exported = regiocrm(
        python, "export", "customer", booked["customer"], "--to", "jp", cwd=deployment
    )
    assert exported["classes"] == ["crm", "identity"]
    document = json.loads(run(python, "-c", KEPT, cwd=deployment))
    [row] = document["crm"]["test_drives"]
    assert row["id"] == booked["drive"]

    # The deployment now keeps mainland CRM data in Japan: the test drive moves there.
    in_japan = {"REGIOCRM_RESIDENCY__PLACEMENT__CN__CRM": "jp"}
    report = regiocrm(python, "residency", "report", cwd=deployment, exit_code=1, **in_japan)
    assert drives_in(report) == [("cn", "CN", "crm", 1, "misplaced")]
    migrated = regiocrm(python, "residency", "migrate", cwd=deployment, **in_japan)
    moved = [m for m in migrated["moved"] if m["table"] == "test_drives"]
    assert [(m["from"], m["to"], m["moved"]) for m in moved] == [("cn", "jp", 1)]
    report = regiocrm(python, "residency", "report", cwd=deployment, **in_japan)
    assert drives_in(report) == [("jp", "CN", "crm", 1, "ok")]


def drives_in(report: dict[str, Any]) -> list[tuple[str, str, str, int, str]]:
    """Where the report finds test drives: zone, market, class, rows and status."""
    return [
        (
            zone["zone"],
            entry["market"],
            entry["data_class"],
            entry["tables"]["test_drives"],
            entry["status"],
        )
        for zone in report["zones"]
        for entry in zone["holdings"]
        if "test_drives" in entry["tables"]
    ]
