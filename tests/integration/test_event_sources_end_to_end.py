"""End to end through a real ``regiocrm worker``: a Shanghai car's service-due event,
published to Mosquitto, becomes a lead for the dealer that services the car, and the lead
and the event appear on its owner's one view."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from connected_cars import SHANGHAI_VIN, own_car
from event_streams import MQTT, event_json, require_broker, wait_until
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from regiocrm.platform.hooks import Hooks
from regiocrm.platform.settings import load_settings
from regiocrm.services.application import Application
from regiocrm.services.callers import SYSTEM
from regiocrm.services.customers import CustomerService
from regiocrm.testing import deployment_environment, run_regiocrm


def test_a_service_due_published_to_mqtt_is_a_lead_on_the_customer_s_view(
    tmp_path: Path, regiocrm_hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_broker(MQTT, "Mosquitto")
    tag = uuid.uuid4().hex[:12]
    (tmp_path / "regiocrm.toml").write_text(
        '[deployment]\nmarket = "CN"\n\n'
        "[event_sources.cars]\n"
        'kind = "mqtt"\n'
        f'topic = "regiocrm-test/{tag}/+/events"\n'
        f'client_id = "regiocrm-e2e-{tag}"\n'
    )
    upgraded = run_regiocrm("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    monkeypatch.chdir(tmp_path)
    app = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
    try:
        car = own_car(app, SHANGHAI_VIN, "CN", "Shanghai Motors")
    finally:
        app.close()

    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "regiocrm", "worker"],
            cwd=tmp_path,
            env=deployment_environment(PYTHONUNBUFFERED="1"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "event source cars: connected" in log.read_text(), "the worker")
        publisher = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        publisher.connect(*MQTT)
        publisher.loop_start()
        body = event_json(SHANGHAI_VIN, "svc-1", "service_due", due_in_km=500)
        publisher.publish(
            f"regiocrm-test/{tag}/{SHANGHAI_VIN}/events", json.dumps(body), qos=1
        ).wait_for_publish(timeout=10)
        publisher.disconnect()
        publisher.loop_stop()

        app = Application.open(load_settings(regiocrm_hooks), regiocrm_hooks)
        try:
            customers = CustomerService(app)
            wait_until(
                lambda: bool(customers.overview(SYSTEM, car.customer_id).leads),
                "the lead on the customer's view",
            )
            overview = customers.overview(SYSTEM, car.customer_id)
            [lead] = overview.leads
        finally:
            app.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert lead.dealer is not None
    assert lead.dealer.id == car.dealer_id
    assert lead.customer_id == car.customer_id
    [reported] = overview.telematics.events
    assert (reported.vin, reported.kind) == (SHANGHAI_VIN, "service_due")
    assert worker.returncode == 0, log.read_text()
    assert "event source cars: 1 events delivered in 1 batches" in log.read_text()
