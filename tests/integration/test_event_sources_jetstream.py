"""The NATS JetStream event source against the server on 127.0.0.1:4222, in this process:
events reach the sink once and are acknowledged after it, a batch the sink failed comes
back, a cut connection loses nothing, and a missing stream is waited for, not created,
unless the settings allow it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import nats
import pytest
from event_streams import (
    NATS,
    MemorySink,
    payload,
    require_broker,
    run_apart,
    running_source,
    wait_until,
)
from nats.js.api import ConsumerInfo
from tcp_proxy import TcpProxy

from regiocrm.plugins.streams.jetstream import JetStreamSettings, JetStreamSource

VIN = "LSVAU2180N2183294"


@dataclass(frozen=True)
class Stream:
    """A stream, subject tree and durable consumer of this test's own."""

    name: str
    subject: str
    durable: str

    def settings(self, *, port: int = NATS[1], **values: object) -> JetStreamSettings:
        return JetStreamSettings.model_validate(
            {
                "kind": "jetstream",
                "servers": [f"nats://127.0.0.1:{port}"],
                "stream": self.name,
                "subject": f"{self.subject}.*.events",
                "durable": self.durable,
                "create": True,
                "nak_delay_seconds": 0.1,
                **values,
            }
        )

    def publish(self, bodies: list[bytes]) -> None:
        run_apart(lambda: self._publish(bodies))

    async def _publish(self, bodies: list[bytes]) -> None:
        nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
        js = nc.jetstream()
        for body in bodies:
            await js.publish(f"{self.subject}.{VIN}.events", body, stream=self.name)
        await nc.close()

    def consumer(self) -> ConsumerInfo:
        async def info() -> ConsumerInfo:
            nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
            found = await nc.jetstream().consumer_info(self.name, self.durable)
            await nc.close()
            return found

        return run_apart(info)


def remove_stream(name: str) -> None:
    async def remove() -> None:
        nc = await nats.connect(f"nats://{NATS[0]}:{NATS[1]}")
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(name)
        await nc.close()

    run_apart(remove)


@pytest.fixture
def stream() -> Iterator[Stream]:
    require_broker(NATS, "NATS JetStream")
    tag = uuid.uuid4().hex[:12]
    found = Stream(f"REGIOCRM_TEST_{tag}", f"regiocrm-test.{tag}", f"worker-{tag}")
    yield found
    remove_stream(found.name)


def test_events_reach_the_sink_once_and_are_acked_after_it(stream: Stream) -> None:
    sink = MemorySink()
    with running_source(JetStreamSource(), stream.settings(batch_size=50), sink) as control:
        wait_until(lambda: control.snapshot().connected, "the consumer")
        stream.publish([payload(VIN, f"e-{n}") for n in range(300)] + [b"[]", b"{"])
        sink.wait_stored(300)
        wait_until(lambda: control.snapshot().rejected == 2, "the two bad messages counted")
    assert sorted(sink.deliveries.values()) == [1] * 300
    consumer = stream.consumer()
    assert consumer.num_pending == 0
    assert consumer.num_ack_pending == 0, "every message, the bad ones too, was acknowledged"


def test_a_batch_the_sink_failed_is_redelivered(stream: Stream) -> None:
    sink = MemorySink()
    sink.failing = True
    # ack_wait is long: the batch comes back because it was negatively acknowledged.
    settings = stream.settings(ack_wait_seconds=600)
    with running_source(JetStreamSource(), settings, sink) as control:
        wait_until(lambda: control.snapshot().connected, "the consumer")
        stream.publish([payload(VIN, f"e-{n}") for n in range(20)])
        sink.wait_for(lambda s: s.failures >= 2, "the sink failing twice")
        assert sink.stored == {}
        sink.failing = False
        sink.wait_stored(20)
        status = control.snapshot()
    assert set(sink.stored) == {(VIN, f"e-{n}") for n in range(20)}
    assert status.failures >= 2
    assert stream.consumer().num_ack_pending == 0


def test_a_cut_connection_loses_nothing(stream: Stream) -> None:
    """The connection is cut while the sink commits a batch: its acknowledgements go
    nowhere, so JetStream hands the batch out again after ``ack_wait``; what is published
    meanwhile waits in the stream."""
    proxy = TcpProxy(NATS)
    proxy.listen()
    sink = MemorySink()
    settings = stream.settings(port=proxy.port, ack_wait_seconds=1)
    try:
        with running_source(JetStreamSource(), settings, sink) as control:
            wait_until(lambda: control.snapshot().connected, "the consumer")
            sink.holding = True
            stream.publish([payload(VIN, f"e-{n}") for n in range(20)])
            assert sink.held.wait(10)
            proxy.cut()
            sink.release()
            stream.publish([payload(VIN, f"e-{n}") for n in range(20, 50)])
            proxy.listen()
            sink.wait_stored(50)
            wait_until(lambda: stream.consumer().num_ack_pending == 0, "every ack")
            status = control.snapshot()
    finally:
        proxy.cut()
    assert set(sink.stored) == {(VIN, f"e-{n}") for n in range(50)}
    assert status.reconnects >= 1
    assert max(sink.deliveries.values()) == 2, "the batch cut off was delivered again"


def test_a_missing_stream_is_not_created_unless_allowed(stream: Stream) -> None:
    sink = MemorySink()
    with running_source(JetStreamSource(), stream.settings(create=False), sink) as control:
        wait_until(lambda: control.snapshot().last_error is not None, "the first attempt")
        status = control.snapshot()
    assert not status.connected
    assert "not found" in (status.last_error or "").lower()
    with pytest.raises(nats.js.errors.NotFoundError):
        stream.consumer()
