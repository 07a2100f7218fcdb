"""Contracts: sales, leases, financing and service plans, the financial data of a customer.

A contract is placed by residency as financial data (China's stays in China) and refers to
its customer and vehicle by id, whatever zones they are in. Contracts ending soon are what
a renewal campaign is made of: :func:`expiring` finds them in the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select

from regiocrm.crm import audit
from regiocrm.crm.customers import Customers
from regiocrm.crm.timeline import Step, Timeline
from regiocrm.models import Contract, ContractKind, ContractStatus, Vehicle
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.i18n import to_minor_units
from regiocrm.platform.stores import ZonedSession


class ContractError(Exception):
    """A contract that cannot be stored as given; nothing was stored."""


class UnknownContract(ContractError):
    pass


@dataclass(frozen=True)
class NewContract:
    customer_id: uuid.UUID
    market: str
    kind: ContractKind
    starts_on: date
    ends_on: date | None = None
    status: ContractStatus = ContractStatus.DRAFT
    vehicle_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    reference: str | None = None
    amount: Decimal | None = None
    currency: str | None = None


class Contracts:
    """Contract operations inside one session; the caller commits. Reading a contract is
    reading a customer's financial data: every read is audited with the reader."""

    def __init__(self, session: ZonedSession, hooks: Hooks) -> None:
        self.session = session
        self.hooks = hooks

    def create(self, new: NewContract, *, actor_id: uuid.UUID | None) -> Contract:
        """Store a contract.

        :raises ContractError: for a date range backwards, an amount finer than its
            currency allows, or a vehicle that does not exist.
        :raises regiocrm.crm.customers.UnknownCustomer: for no such customer.
        :raises regiocrm.interfaces.packs.PackError: for a market no pack serves.
        """
        if new.ends_on is not None and new.ends_on < new.starts_on:
            raise ContractError(
                f"the contract ends ({new.ends_on}) before it starts ({new.starts_on}):"
                " the date range is backwards"
            )
        market = self.hooks.packs().market(new.market)
        customer = Customers(self.session, self.hooks).get(new.customer_id)
        currency = new.currency or market.currency
        if new.amount is not None:
            try:
                to_minor_units(new.amount, currency)
            except ValueError as exc:
                raise ContractError(str(exc)) from None
        if new.vehicle_id is not None and self.session.get(Vehicle, new.vehicle_id) is None:
            raise ContractError(f"no vehicle {new.vehicle_id}")
        contract = Contract(
            market=new.market,
            customer_id=customer.id,
            vehicle_id=new.vehicle_id,
            organization_id=new.organization_id,
            kind=new.kind,
            status=new.status,
            reference=new.reference,
            starts_on=new.starts_on,
            ends_on=new.ends_on,
            amount=new.amount,
            currency=currency if new.amount is not None else new.currency,
        )
        self.session.add(contract)
        self.session.flush()
        # The step names the kind only: the terms are financial data, which residency may
        # keep in another zone than the timeline. It names no organization either, so a
        # contract does not link the customer to a dealer as work done there would.
        Timeline(self.session).record_step(
            Step(
                market=contract.market,
                customer_id=contract.customer_id,
                channel="contract",
                touchpoint=contract.kind.value,
                summary=f"{contract.kind.value} contract ({contract.status.value})",
                organization_id=None,
            ),
            actor_id=actor_id,
            action="contract.created",
            subject_type="contract",
            subject=contract,
            detail=self._detail(contract),
        )
        return contract

    def read(
        self,
        contract_id: uuid.UUID,
        *,
        actor_id: uuid.UUID | None,
        within: Callable[[str, uuid.UUID | None], bool] = lambda market, organization: True,
    ) -> Contract:
        """The contract, if ``within`` (given its market and organization) says the reader
        may see it.

        :raises UnknownContract: for no such contract, or one the reader may not see.
        """
        contract = self.session.get(Contract, contract_id)
        if contract is None or not within(contract.market, contract.organization_id):
            raise UnknownContract(f"no contract {contract_id}")
        self._audit(contract, "contract.read", actor_id)
        return contract

    def listing(
        self,
        *,
        actor_id: uuid.UUID | None,
        within: ColumnElement[bool] | None = None,
        customer_ids: list[uuid.UUID] | None = None,
        status: ContractStatus | None = None,
        ending_within_days: int | None = None,
        limit: int = 50,
    ) -> list[Contract]:
        """Contracts (those ``within`` holds of), those ending soonest first; each one listed
        is a read, audited."""
        query = select(Contract).order_by(Contract.ends_on, Contract.id).limit(limit)
        if within is not None:
            query = query.where(within)
        if customer_ids is not None:
            query = query.where(Contract.customer_id.in_(customer_ids))
        if status is not None:
            query = query.where(Contract.status == status)
        if ending_within_days is not None:
            query = query.where(*expiring(ending_within_days))
        found = list(self.session.scalars(query))
        for contract in found:
            self._audit(contract, "contract.read", actor_id)
        return found

    def _audit(self, contract: Contract, action: str, actor_id: uuid.UUID | None) -> None:
        audit.record(
            self.session,
            actor_id=actor_id,
            action=action,
            subject_type="contract",
            subject=contract,
            detail=self._detail(contract),
        )

    @staticmethod
    def _detail(contract: Contract) -> dict[str, object]:
        return {"customer": contract.customer_id, "kind": contract.kind.value}


def expiring(within_days: int, today: date | None = None) -> tuple[Any, ...]:
    """The conditions of an active contract ending between today and ``within_days`` from
    now: what a renewal campaign's audience is made of, evaluated by the database."""
    start = today or date.today()
    return (
        Contract.status == ContractStatus.ACTIVE,
        Contract.ends_on >= start,
        Contract.ends_on <= start + timedelta(days=within_days),
    )
