"""Who asks a service: a user, with what their role lets them see, or the system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from regiocrm.crm.access import Forbidden, Scope
from regiocrm.interfaces.terms import UserRole
from regiocrm.models import User


@dataclass(frozen=True)
class Caller:
    """A signed-in user, as every service receives them, or :data:`SYSTEM`.

    :param user_id: ``None`` for the system, which acts as no user: what it writes is
        audited without an actor, as the inbox's own work is.
    :param organization_id: ``None`` for the system, which works for no organization.
    :param scope: what they may see (:mod:`regiocrm.crm.access`), applied by the services
        in their queries.
    """

    user_id: uuid.UUID | None
    name: str
    role: UserRole
    organization_id: uuid.UUID | None
    scope: Scope

    @classmethod
    def of(cls, user: User, scope: Scope) -> Caller:
        return cls(user.id, user.name, user.role, user.organization_id, scope)

    @property
    def organization(self) -> uuid.UUID:
        """The organization they work for.

        :raises Forbidden: for the system, which works for none, for what only a member of
            one may do (plan a campaign, read their own entry).
        """
        if self.organization_id is None:
            raise Forbidden(f"{self.name} works for no organization")
        return self.organization_id

    @property
    def works_for_a_partner(self) -> bool:
        """Whether they act for a dealer or a wholesaler: their work is linked to their
        organization (a case is assigned there, a customer registered there)."""
        return self.scope.organizations is not None


SYSTEM = Caller(None, "system", UserRole.ADMIN, None, Scope(None, UserRole.ADMIN, None, None))
"""The deployment itself, as event hooks act through :class:`~regiocrm.services.Services`:
it sees every customer of every market, as an administrator does."""
