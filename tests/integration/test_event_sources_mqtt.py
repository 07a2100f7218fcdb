"""The MQTT event source against Mosquitto on 127.0.0.1:1883: events reach the sink once, a
message is acknowledged only after the sink's commit, a failed or cut-off batch comes back
after the reconnection, and nothing is lost while the source is away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from event_streams import MQTT, MemorySink, payload, require_broker, running_source, wait_until
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from tcp_proxy import TcpProxy

from regiocrm.plugins.streams.mqtt import MqttSettings, MqttSource

VIN = "LSVAU2180N2183294"


@pytest.fixture
def broker() -> None:
    require_broker(MQTT, "Mosquitto")


@pytest.fixture
def topic_root() -> str:
    """A topic tree of this test's own, so that no other test's leftovers reach it."""
    return f"regiocrm-test/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def publisher(broker: None) -> Iterator[Client]:
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(*MQTT)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def publish(client: Client, topic: str, body: bytes) -> None:
    client.publish(topic, body, qos=1).wait_for_publish(timeout=10)


def settings(topic_root: str, *, port: int = MQTT[1], **values: object) -> MqttSettings:
    return MqttSettings.model_validate(
        {
            "kind": "mqtt",
            "port": port,
            "topic": f"{topic_root}/+/events",
            "client_id": f"regiocrm-test-{topic_root.rsplit('/', 1)[1]}",
            **values,
        }
    )


def test_events_reach_the_sink_once_and_bad_messages_are_counted_and_acked(
    publisher: Client, topic_root: str
) -> None:
    sink = MemorySink()
    topic = f"{topic_root}/{VIN}/events"
    config = settings(topic_root)
    with running_source(MqttSource(), config, sink) as control:
        wait_until(lambda: control.snapshot().connected, "the subscription")
        for n in range(100):
            publish(publisher, topic, payload(VIN, f"e-{n}"))
        publish(publisher, topic, b"{not json")
        publish(publisher, topic, payload("NOT-A-VIN", "bad"))
        ndjson = payload(VIN, "e-100") + b"\n" + payload(VIN, "e-101") + b"\n"
        publish(publisher, topic, ndjson)
        sink.wait_stored(102)
        wait_until(lambda: control.snapshot().rejected == 2, "the two bad messages counted")
    assert sorted(sink.deliveries.values()) == [1] * 102
    assert ("NOT-A-VIN", "bad") not in sink.stored

    # Back under the same client id: the broker resends whatever it had not seen
    # acknowledged, before anything newer; the marker published now comes after all that.
    with running_source(MqttSource(), config, sink) as control:
        publish(publisher, topic, payload(VIN, "marker"))
        sink.wait_stored(103)
        assert control.snapshot().rejected == 0, "the bad messages were acknowledged"
    assert sorted(sink.deliveries.values()) == [1] * 103, "nothing was delivered twice"


def test_a_batch_the_sink_failed_is_not_acked_and_comes_back_after_reconnecting(
    publisher: Client, topic_root: str
) -> None:
    sink = MemorySink()
    sink.failing = True
    topic = f"{topic_root}/{VIN}/events"
    with running_source(MqttSource(), settings(topic_root), sink) as control:
        wait_until(lambda: control.snapshot().connected, "the subscription")
        for n in range(10):
            publish(publisher, topic, payload(VIN, f"e-{n}"))
        sink.wait_for(lambda s: s.failures >= 2, "the sink failing twice")
        assert sink.stored == {}
        sink.failing = False
        sink.wait_stored(10)
        status = control.snapshot()
    assert status.failures >= 2
    assert status.reconnects >= 1
    assert set(sink.stored) == {(VIN, f"e-{n}") for n in range(10)}


def test_a_cut_connection_loses_nothing_and_the_batch_in_hand_comes_back(
    publisher: Client, topic_root: str
) -> None:
    """The connection is cut while the sink commits a batch: its acknowledgements go
    nowhere, so the broker sends it again; what is published while the source is cut off
    is queued in its session and delivered when it is back."""
    proxy = TcpProxy(MQTT)
    proxy.listen()
    sink = MemorySink()
    topic = f"{topic_root}/{VIN}/events"
    try:
        with running_source(MqttSource(), settings(topic_root, port=proxy.port), sink) as control:
            wait_until(lambda: control.snapshot().connected, "the subscription")
            sink.holding = True
            for n in range(20):
                publish(publisher, topic, payload(VIN, f"e-{n}"))
            assert sink.held.wait(10)
            proxy.cut()
            sink.release()
            for n in range(20, 50):
                publish(publisher, topic, payload(VIN, f"e-{n}"))
            proxy.listen()
            sink.wait_stored(50)
            status = control.snapshot()
    finally:
        proxy.cut()
    assert set(sink.stored) == {(VIN, f"e-{n}") for n in range(50)}
    assert status.reconnects >= 1
    # The batch whose acknowledgements were cut off was delivered again.
    assert max(sink.deliveries.values()) == 2
