"""The NATS JetStream event source: a durable pull consumer that any number of ``regiocrm
worker`` processes share.

Each worker fetches batches from the same durable consumer; JetStream hands a message to
one fetcher at a time and, until it is acknowledged, to no other. A message is
acknowledged after the sink committed the batch that carried it; when the sink fails the
batch is negatively acknowledged (redelivered after a pause), and a worker that dies
leaves its batch to come back to another after ``ack_wait``. At-least-once delivery and the
sink's idempotence on (VIN, event id) make the effect exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.event_sources import (
    Backoff,
    EventSource,
    EventSourceSettings,
    SourceControl,
    SourceStopped,
)

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

NAME = r"^[A-Za-z0-9_-]{1,64}$"


class JetStreamSettings(EventSourceSettings):
    """``[event_sources.<name>] kind = "jetstream"``."""

    kind: Literal["jetstream"]
    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        min_length=1,
        description="NATS server URLs, tried in turn",
    )
    stream: str = Field(default="VEHICLE_EVENTS", pattern=NAME)
    subject: str = Field(
        default="vehicles.*.events",
        min_length=1,
        description="the subjects the consumer takes from the stream; the payload is one"
        " JSON event, or NDJSON lines of events",
    )
    durable: str = Field(
        default="regiocrm",
        pattern=NAME,
        description="the durable consumer's name: every worker with the same name shares it",
    )
    create: bool = Field(
        default=False,
        description="create the stream (file storage, on `subject`) and the consumer when"
        " missing; otherwise a missing one is an error the worker retries",
    )
    ack_wait_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="how long JetStream waits for a message's acknowledgement before it"
        " hands the message to another worker: longer than a batch's commit",
    )
    max_ack_pending: int = Field(
        default=10_000,
        ge=1,
        description="messages handed out and not yet acknowledged, over all workers",
    )
    nak_delay_seconds: float = Field(
        default=2, ge=0, le=600, description="when a batch the sink failed comes back"
    )
    fetch_timeout_seconds: float = Field(
        default=1, gt=0, le=60, description="how long one fetch waits for messages"
    )
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @field_validator("servers")
    @classmethod
    def _nats_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"{url!r} is not a NATS URL (nats://host:4222)")
        return value


class JetStreamSource(EventSource):
    """Fetches batches from a durable pull consumer; acks after the sink's commit."""

    kind = "jetstream"
    settings_model = JetStreamSettings

    def run(self, settings: Any, control: SourceControl) -> None:
        assert isinstance(settings, JetStreamSettings)
        asyncio.run(self._run(settings, control))

    async def _run(self, settings: JetStreamSettings, control: SourceControl) -> None:
        backoff = Backoff()
        delays = backoff.delays()
        while not control.stopping.is_set():
            try:
                await self._session(settings, control, backoff)
            except SourceStopped:
                return
            except Exception as exc:
                # The server unreachable, the stream or consumer missing, a fetch cut off:
                # whatever it was, nothing unacknowledged is lost; try again.
                log.debug("event source %s", control.name, exc_info=True)
                control.disconnected(f"{type(exc).__name__}: {exc}")
            if control.stopping.is_set():
                return
            if await _pause(control, next(delays)):
                return

    async def _session(
        self, settings: JetStreamSettings, control: SourceControl, backoff: Backoff
    ) -> None:
        import nats

        nc = await nats.connect(
            servers=settings.servers,
            user=settings.user,
            password=settings.password.get_secret_value() if settings.password else None,
            token=settings.token.get_secret_value() if settings.token else None,
            name=f"regiocrm-{control.name}",
            # Our loop reconnects with backoff; the client's own reconnection would hide a
            # server that is gone for good.
            allow_reconnect=False,
            connect_timeout=5,
            error_cb=_quiet,
            disconnected_cb=None,
        )
        try:
            js = nc.jetstream()
            if settings.create:
                await _ensure(js, settings)
            subscription = await js.pull_subscribe_bind(
                durable=settings.durable, stream=settings.stream
            )
            await js.consumer_info(settings.stream, settings.durable)
            control.connected()
            backoff.reset()
            await self._pump(nc, subscription, settings, control)
        finally:
            if not nc.is_closed:
                await nc.close()

    async def _pump(
        self, nc: Client, subscription: Any, settings: JetStreamSettings, control: SourceControl
    ) -> None:
        # One batch is committed (in a thread) while the next is fetched and read: the
        # sink's commit and the client's work per message overlap rather than add up.
        # Batches are committed one at a time, in the order fetched.
        committing: asyncio.Task[None] | None = None
        try:
            while not control.stopping.is_set():
                if nc.is_closed:
                    raise ConnectionError("the connection to NATS closed")
                try:
                    batch: list[Msg] = await subscription.fetch(
                        settings.batch_size, timeout=settings.fetch_timeout_seconds
                    )
                except TimeoutError:
                    # Nothing came in time (nats-py raises its own subclass or asyncio's).
                    continue
                if committing is not None:
                    await committing
                committing = asyncio.create_task(self._deliver(nc, batch, settings, control))
        finally:
            # The batch in hand is finished (committed and acknowledged, or nak'ed) before
            # the connection closes; an error of its own is the session's.
            if committing is not None:
                await committing

    async def _deliver(
        self, nc: Client, batch: list[Msg], settings: JetStreamSettings, control: SourceControl
    ) -> None:
        events = control.read((message.data, message.subject) for message in batch)
        try:
            # The sink blocks on its commit: off the event loop, which keeps the
            # connection's pings answered meanwhile.
            await asyncio.to_thread(control.deliver, events)
        except Exception:
            log.exception("event source %s: the sink failed", control.name)
            for message in batch:
                await message.nak(delay=settings.nak_delay_seconds)
            await nc.flush()
            return
        for message in batch:
            await message.ack()
        # The acknowledgements leave now, not with the next fetch: a worker stopped or
        # killed after this line has no batch it committed still pending.
        await nc.flush()


async def _ensure(js: JetStreamContext, settings: JetStreamSettings) -> None:
    """The stream and the durable consumer, created if missing, as ``create = true`` asks."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=settings.stream, subjects=[settings.subject], storage=StorageType.FILE
            )
        )
    try:
        await js.consumer_info(settings.stream, settings.durable)
    except NotFoundError:
        await js.add_consumer(
            settings.stream,
            ConsumerConfig(
                durable_name=settings.durable,
                name=settings.durable,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_seconds,
                max_ack_pending=settings.max_ack_pending,
                max_deliver=-1,
                filter_subject=settings.subject,
            ),
        )


async def _pause(control: SourceControl, seconds: float) -> bool:
    """Sleep for a backoff, waking each 0.1 s to see whether the worker stops; true then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if control.stopping.is_set():
            return True
        await asyncio.sleep(min(0.1, deadline - loop.time()))
    return control.stopping.is_set()


async def _quiet(error: Exception) -> None:
    # The session's own handling reports what matters (control.disconnected); nats-py would
    # otherwise log every refused connection attempt with a traceback.
    log.debug("nats: %s", error)


@hookimpl
def register_event_sources() -> list[EventSource]:
    return [JetStreamSource()]
