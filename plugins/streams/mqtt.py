"""The MQTT event source: vehicles (or their provider's gateway) publish events to a broker.

paho-mqtt rather than aiomqtt: the worker runs each source in a thread, and paho's
``manual_ack`` lets us send the PUBACK of each message ourselves, after the sink's commit,
where aiomqtt (over paho) acknowledges as a message is handed over. The session is MQTT 5
with a fixed client id, ``clean_start`` false and a session expiry, so the broker keeps
queueing QoS 1 messages while no worker is connected, and sends again on reconnection
whatever it had sent but not seen acknowledged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.event_sources import (
    Backoff,
    EventSource,
    EventSourceSettings,
    SourceControl,
    SourceStopped,
)

log = logging.getLogger(__name__)

# How long a connection (and its subscription) may take before it is given up and tried
# again after a backoff.
CONNECT_TIMEOUT = 10.0


class MqttSettings(EventSourceSettings):
    """``[event_sources.<name>] kind = "mqtt"``."""

    kind: Literal["mqtt"]
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(
        default="vehicles/+/events",
        min_length=1,
        description="the topic filter subscribed to, at QoS 1; the payload is one JSON"
        " event, or NDJSON lines of events",
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the fixed client id the broker keeps the session under; default"
        " `regiocrm-<source name>`. One worker process per id: the broker drops a"
        " connection when another takes its id",
    )
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = Field(default=False, description="connect over TLS (the system's CAs)")
    keepalive_seconds: int = Field(default=30, ge=5, le=3600)
    session_expiry_hours: int = Field(
        default=168,
        ge=1,
        le=24 * 365,
        description="how long the broker keeps the session and queues messages while no"
        " worker is connected",
    )
    gather_seconds: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description="how long a batch waits for more messages after its first",
    )

    @field_validator("topic")
    @classmethod
    def _a_topic_filter(cls, value: str) -> str:
        levels = value.split("/")
        if any(
            ("+" in level and level != "+") or ("#" in level and level != "#") for level in levels
        ):
            raise ValueError(f"{value!r}: '+' and '#' must each fill a whole topic level")
        if "#" in levels[:-1]:
            raise ValueError(f"{value!r}: '#' may only be the last topic level")
        return value


class ConnectionLost(Exception):
    """The broker refused us or the connection dropped."""


class SinkFailed(Exception):
    """The sink raised: the batch is not acknowledged, and the connection is dropped so the
    broker sends it again when we are back."""


@dataclass
class _Connection:
    """One connection to the broker, with what paho's network thread handed over."""

    settings: MqttSettings
    client_id: str
    messages: queue.Queue[Any] = field(default_factory=queue.Queue)
    ready: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    client: Any = None

    def open(self) -> None:
        from paho.mqtt.client import Client
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        settings = self.settings
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            # Reconnection is ours, with backoff, on a fresh client: paho's own would
            # resume without telling us that the batch in hand can no longer be acked.
            reconnect_on_failure=False,
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = settings.session_expiry_hours * 3600
        # The broker sends at most this many messages ahead of our acknowledgements: one
        # batch in hand and one gathering.
        properties.ReceiveMaximum = min(2 * settings.batch_size, 65535)
        self.client = client
        try:
            client.connect(
                settings.host,
                settings.port,
                keepalive=settings.keepalive_seconds,
                clean_start=False,
                properties=properties,
            )
        except OSError as exc:
            raise ConnectionLost(f"{settings.host}:{settings.port}: {exc}") from None
        client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._lose(f"the broker refused the connection: {reason}")
            return
        client.subscribe(self.settings.topic, qos=1)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: list[Any], props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            self._lose(f"the broker refused the subscription to {self.settings.topic!r}")
            return
        self.ready.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages.put(message)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._lose(f"disconnected: {reason}")

    def _lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
        self.lost.set()

    def close(self) -> None:
        if self.client is None:
            return
        # No acknowledgement goes out from here: what is queued and unacknowledged the
        # broker sends again to the next connection with our client id. The ones sent
        # before are still in paho's queue: they leave ahead of the DISCONNECT, once the
        # network thread writes it (the broker then closes, which ``lost`` sees).
        self.client.disconnect()
        self.lost.wait(CONNECT_TIMEOUT)
        self.client.loop_stop()


class MqttSource(EventSource):
    """Subscribes to a topic filter at QoS 1 and acknowledges each message after the
    commit of the batch that carried it."""

    kind = "mqtt"
    settings_model = MqttSettings

    def run(self, settings: Any, control: SourceControl) -> None:
        assert isinstance(settings, MqttSettings)
        client_id = settings.client_id or f"regiocrm-{control.name}"
        backoff = Backoff()
        delays = backoff.delays()
        while not control.stopping.is_set():
            connection = _Connection(settings, client_id)
            try:
                self._connect(connection, control)
                control.connected()
                backoff.reset()
                self._pump(connection, settings, control)
            except SourceStopped:
                pass
            except (ConnectionLost, SinkFailed) as exc:
                control.disconnected(str(exc))
            finally:
                connection.close()
            if control.stopping.is_set():
                return
            try:
                control.wait(next(delays))
            except SourceStopped:
                return

    def _connect(self, connection: _Connection, control: SourceControl) -> None:
        connection.open()
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not connection.ready.is_set():
            if connection.lost.is_set():
                raise ConnectionLost(connection.reason)
            if time.monotonic() > deadline:
                raise ConnectionLost("no answer from the broker in time")
            control.wait(0.02)

    def _pump(
        self, connection: _Connection, settings: MqttSettings, control: SourceControl
    ) -> None:
        """Batches until the connection drops or the worker stops (after the batch in hand)."""
        while not control.stopping.is_set():
            if connection.lost.is_set():
                raise ConnectionLost(connection.reason)
            try:
                first = connection.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + settings.gather_seconds
            while len(batch) < settings.batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(connection.messages.get(timeout=remaining))
                except queue.Empty:
                    break
            self._deliver(connection, batch, control)

    def _deliver(self, connection: _Connection, batch: list[Any], control: SourceControl) -> None:
        events = control.read((message.payload, message.topic) for message in batch)
        try:
            control.deliver(events)
        except Exception as exc:
            log.exception("event source %s: the sink failed", control.name)
            raise SinkFailed(f"the sink failed: {exc}") from exc
        for message in batch:
            connection.client.ack(message.mid, message.qos)


@hookimpl
def register_event_sources() -> list[EventSource]:
    return [MqttSource()]
