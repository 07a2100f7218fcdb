"""The application, wired once for every front end: what a service may reach."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from regiocrm.crm.access import scope_of
from regiocrm.crm.accounts import authenticate
from regiocrm.crm.leads import DealerLocator
from regiocrm.geo.chain import MapChain
from regiocrm.interfaces.channels import PROVIDER_TIMEOUT, ChannelRegistry
from regiocrm.messaging.inbox import InboxWorker
from regiocrm.messaging.pipeline import InboxPipeline
from regiocrm.platform.group_commit import GroupCommit
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.migrations import Migrator
from regiocrm.platform.settings import RegiocrmSettings
from regiocrm.platform.stores import ZonedSession, ZoneStores
from regiocrm.services.callers import Caller

if TYPE_CHECKING:
    from regiocrm.services.telematics import TelematicsService


@dataclass
class Application:
    """One deployment's stores, channels, maps and inbox, as the services use them.

    :param http_client: for the providers' APIs (sending, enriching, geocoding); tests pass
        one with a mocked transport.
    :param pipeline: what is done with each stored inbound message, the same for the
        serving process's worker and for ``regiocrm inbox retry``.
    :param inbox: the worker thread that runs the pipeline; started by whoever serves.
    :param group_commit: where webhook deliveries are written, in groups that commit
        together.
    :param hooks: the deployment's hooks, whose events hand their implementations the
        services over this application (:class:`regiocrm.services.Services`).
    """

    settings: RegiocrmSettings
    hooks: Hooks
    stores: ZoneStores
    migrator: Migrator
    channels: ChannelRegistry
    http_client: httpx.Client
    maps: MapChain
    dealers: DealerLocator
    pipeline: InboxPipeline
    inbox: InboxWorker
    group_commit: GroupCommit
    owns_client: bool = True

    @classmethod
    def open(
        cls, settings: RegiocrmSettings, hooks: Hooks, *, http_client: httpx.Client | None = None
    ) -> Application:
        """The application of a deployment; close it with :meth:`close`.

        :raises regiocrm.residency.rules.ResidencyConfigError: for a placement the rules
            forbid.
        """
        # The handle's services are built over the application, which needs the hooks
        # that hand it out: imported here, and made when an event fires, by when the
        # application exists.
        from regiocrm.services.handle import Services

        hooks = hooks.with_services(lambda: Services(app))
        stores = ZoneStores.open(settings, hooks)
        channels = hooks.channel_registry(settings)
        client = http_client or httpx.Client(timeout=PROVIDER_TIMEOUT)
        pipeline = InboxPipeline(stores, hooks, channels, client)
        app = cls(
            settings=settings,
            hooks=hooks,
            stores=stores,
            migrator=Migrator(stores, hooks),
            channels=channels,
            http_client=client,
            maps=MapChain(hooks, settings, client),
            dealers=DealerLocator(),
            pipeline=pipeline,
            inbox=InboxWorker(stores, pipeline.batch, enabled=settings.inbox.process_in_server),
            group_commit=GroupCommit(stores),
            owns_client=http_client is None,
        )
        return app

    def start(self) -> None:
        """Start processing the inbox in this process, first what an earlier run left."""
        self.inbox.start(resume=all(state.migrated for state in self.migrator.states()))

    def standalone_worker(self) -> InboxWorker:
        """An inbox worker for ``regiocrm worker``, which processes the inbox whatever
        ``[inbox] process_in_server`` says of the serving processes; the caller starts and
        stops it."""
        return InboxWorker(self.stores, self.pipeline.batch)

    def close(self) -> None:
        """Stop the inbox worker (if started) and the committer of webhook deliveries (once
        it committed what it holds), and release connections."""
        self.group_commit.stop()
        self.inbox.stop()
        if self.owns_client:
            self.http_client.close()
        self.stores.dispose()

    @property
    def telematics(self) -> TelematicsService:
        """Vehicle events: :meth:`~regiocrm.services.telematics.TelematicsService.ingest`
        is the sink the batch API and every stream source hand their batches to."""
        # The service is built over the application: imported when first asked for.
        from regiocrm.services.telematics import TelematicsService

        return TelematicsService(self)

    @contextmanager
    def transaction(self) -> Iterator[ZonedSession]:
        """A session over every zone, committed when the block ends, rolled back when it
        raises."""
        with self.stores.session() as session:
            yield session

    def authenticate(self, token: str) -> Caller | None:
        """The caller a bearer token belongs to, with their scope; ``None`` for a token that
        is unknown, revoked or of an inactive user."""
        with self.transaction() as session:
            user = authenticate(session, token)
            if user is None:
                return None
            return Caller.of(user, scope_of(session, user))
