"""Customer exports for front ends: a customer's data across a border, as the residency
rules allow (:mod:`regiocrm.residency.exports` makes it, in one transaction of its own)."""

from __future__ import annotations

import uuid
from pathlib import Path

from regiocrm.crm.access import Forbidden
from regiocrm.interfaces.terms import UserRole
from regiocrm.residency.exports import Exported, export_customer
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller

# Taking personal data across a border is a data-protection decision, not a desk task.
# These roles see every customer, so no customer is outside an exporter's scope.
EXPORTERS = frozenset({UserRole.ADMIN, UserRole.COMPETENCE_CENTRE})


class ExportService:
    """Exports of one customer's data, each committed (the export kept, or its refusal
    audited) before the method returns."""

    def __init__(self, app: Application) -> None:
        self.app = app

    @property
    def zones(self) -> list[str]:
        """The configured zones, which an export may go to."""
        return list(self.app.stores.names)

    def export(self, caller: Caller, customer_id: uuid.UUID, destination: str) -> Exported:
        """Export a customer for the caller: to a zone, or, for
        :data:`~regiocrm.residency.exports.FILE`, as the document alone, which the caller
        hands over (a download).

        :raises Forbidden: for a caller whose role does not export (admins and competence
            centres do).
        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer.
        :raises regiocrm.residency.exports.ExportRefused: when the rules do not allow it;
            the refusal is audited.
        :raises regiocrm.residency.exports.ExportError: for a zone that is not configured.
        """
        if caller.role not in EXPORTERS:
            raise Forbidden(f"a {caller.role.value} may not export customer data")
        return export_customer(
            self.app.stores, self.app.hooks, customer_id, destination, actor_id=caller.user_id
        )

    def export_as_operator(
        self, customer_id: uuid.UUID, destination: str, *, path: Path | None = None
    ) -> Exported:
        """Export a customer as the deployment's operator (the CLI, audited as the system):
        to a zone, or into the new file ``path`` for
        :data:`~regiocrm.residency.exports.FILE`.

        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer.
        :raises regiocrm.residency.exports.ExportRefused: when the rules do not allow it;
            the refusal is audited.
        :raises regiocrm.residency.exports.ExportError: for a zone that is not configured,
            or a file that exists already or cannot be written.
        """
        return export_customer(self.app.stores, self.app.hooks, customer_id, destination, path=path)
