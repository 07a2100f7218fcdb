"""The handle event hooks receive: the services, to act on what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regiocrm.services.callers import SYSTEM, Caller
from regiocrm.services.cases import CaseService
from regiocrm.services.contracts import ContractService
from regiocrm.services.conversations import ConversationService
from regiocrm.services.customers import CustomerService
from regiocrm.services.exports import ExportService
from regiocrm.services.leads import LeadService

if TYPE_CHECKING:
    from regiocrm.services.application import Application


class Services:
    """The services of the deployment that fired an event, as its hooks receive them (the
    ``services`` argument), so that a plugin can act on the event without reaching into
    regiocrm's internals, as datasette hands its ``datasette`` object to its hooks::

        @hookimpl
        def message_received(message, account, customer_id, services):
            services.cases.open(services.caller, NewCase(customer_id, account.market, ...))

    Each service is the one every front end calls, over the same application, and each of
    its methods takes who asks: a handler asks as :attr:`caller`, the system, which sees
    every customer and acts as no user (what it writes is audited without an actor).

    Each call is one transaction of its own, committed before it returns, as for any front
    end. Events fire once their own change is committed, so what a handler does comes
    after that change and is not part of it: a handler that raises is logged, and neither
    the event's change nor what the handler committed before raising is undone. Whatever
    a handler changes fires its own events (opening a case fires ``case_transitioned``).
    """

    def __init__(self, app: Application) -> None:
        self._app = app

    @property
    def caller(self) -> Caller:
        """The system, as whom a handler asks the services."""
        return SYSTEM

    @property
    def cases(self) -> CaseService:
        return CaseService(self._app)

    @property
    def contracts(self) -> ContractService:
        return ContractService(self._app)

    @property
    def conversations(self) -> ConversationService:
        return ConversationService(self._app)

    @property
    def customers(self) -> CustomerService:
        return CustomerService(self._app)

    @property
    def exports(self) -> ExportService:
        return ExportService(self._app)

    @property
    def leads(self) -> LeadService:
        return LeadService(self._app)
