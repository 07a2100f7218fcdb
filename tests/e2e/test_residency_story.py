"""The seed's residency story on the embedded default: SQLite zones created for the
packs' placements (`cn` and `jp` among them)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from residency_story import play

from regiocrm.http.app import create_app
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings


def test_china_crm_data_moves_home_from_japan_with_nothing_lost(
    deployment_dir: Path, regiocrm_hooks: Hooks, regiocrm_cli
) -> None:
    story = play(deployment_dir, regiocrm_hooks, regiocrm_cli)
    # The customer 360 reads from the zones the data now lives in.
    with TestClient(create_app(load_settings(regiocrm_hooks), regiocrm_hooks)) as client:
        customer = client.get(f"/api/customers/{story['customer_id']}", headers=story["auth"])
        assert customer.status_code == 200
        assert customer.json()["identities"] == [
            {"kind": "phone", "value": "+8613800138000", "verified": False}
        ]
        listed = client.get("/api/customers?limit=200", headers=story["auth"]).json()["items"]
        assert len(listed) == 7
