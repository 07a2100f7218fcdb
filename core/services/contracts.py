"""Contracts for front ends: stored, listed and read by a caller who sees them.

A contract is a customer's financial data: every contract shown is a read, audited with its
reader. A contract is seen by those who see its market and organization
(:func:`regiocrm.crm.access.holds`); one outside the caller's scope is answered as one
that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from regiocrm.crm.access import holds, rows_in
from regiocrm.crm.contracts import Contracts, NewContract
from regiocrm.crm.customers import Customers
from regiocrm.interfaces.terms import ContractStatus
from regiocrm.models import Contract
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller


@dataclass(frozen=True)
class ContractView:
    """A contract as front ends show it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    vehicle_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    market: str
    kind: str
    status: str
    reference: str | None
    starts_on: date
    ends_on: date | None
    amount: Decimal | None
    currency: str | None

    @classmethod
    def of(cls, contract: Contract) -> ContractView:
        return cls(
            id=contract.id,
            customer_id=contract.customer_id,
            vehicle_id=contract.vehicle_id,
            organization_id=contract.organization_id,
            market=contract.market,
            kind=contract.kind.value,
            status=contract.status.value,
            reference=contract.reference,
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            amount=contract.amount,
            currency=contract.currency,
        )

    def as_json(self) -> dict[str, Any]:
        """Ids, days and the amount as strings (an amount keeps its exact decimals)."""
        return {
            **vars(self),
            "id": str(self.id),
            "customer_id": str(self.customer_id),
            "vehicle_id": None if self.vehicle_id is None else str(self.vehicle_id),
            "organization_id": (
                None if self.organization_id is None else str(self.organization_id)
            ),
            "starts_on": self.starts_on.isoformat(),
            "ends_on": None if self.ends_on is None else self.ends_on.isoformat(),
            "amount": None if self.amount is None else str(self.amount),
        }


class ContractService:
    """What a caller may do with contracts; each method one transaction, committed before
    it returns.

    Every method raises :class:`~regiocrm.crm.access.Forbidden` for a role that reads no
    customer data.
    """

    def __init__(self, app: Application) -> None:
        self.app = app

    def create(self, caller: Caller, new: NewContract) -> ContractView:
        """Store a contract of a customer the caller sees. A dealer's or wholesaler's
        contract is theirs unless it names an organization. Audited.

        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer, or one the
            caller does not see.
        :raises regiocrm.crm.contracts.ContractError: for a date range backwards, an amount
            finer than its currency allows, or a vehicle that does not exist.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        if caller.works_for_a_partner and new.organization_id is None:
            new = replace(new, organization_id=caller.organization_id)
        with self.app.transaction() as session:
            Customers(session, self.app.hooks).visible(new.customer_id, caller.scope)
            contract = Contracts(session, self.app.hooks).create(new, actor_id=caller.user_id)
            return ContractView.of(contract)

    def find(
        self,
        caller: Caller,
        *,
        customer_id: uuid.UUID | None = None,
        status: ContractStatus | None = None,
        ending_within_days: int | None = None,
        limit: int,
    ) -> list[ContractView]:
        """The contracts the caller sees, those ending soonest first: of a customer and the
        records merged into them when ``customer_id`` is given, and the active ones ending
        from today to ``ending_within_days`` from now when that is. Each read is
        audited."""
        caller.scope.require_customers()
        with self.app.transaction() as session:
            merged = None
            if customer_id is not None:
                merged = Customers(session, self.app.hooks).merge_set(customer_id)
            found = Contracts(session, self.app.hooks).listing(
                actor_id=caller.user_id,
                within=rows_in(caller.scope, Contract.market, Contract.organization_id),
                customer_ids=merged,
                status=status,
                ending_within_days=ending_within_days,
                limit=limit,
            )
            return [ContractView.of(contract) for contract in found]

    def get(self, caller: Caller, contract_id: uuid.UUID) -> ContractView:
        """One contract the caller sees; the read is audited.

        :raises regiocrm.crm.contracts.UnknownContract: for no such contract, and alike for
            one outside the scope.
        """
        caller.scope.require_customers()
        with self.app.transaction() as session:
            contract = Contracts(session, self.app.hooks).read(
                contract_id, actor_id=caller.user_id, within=partial(holds, caller.scope)
            )
            return ContractView.of(contract)
