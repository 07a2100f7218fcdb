"""Segments: saved, validated filters over customers, evaluated by the database.

A segment names its markets and any of: the customer's locale, the model of a vehicle they
own, how long they have owned it, an active contract ending within some days, and when
they were last in touch. Each becomes a condition of one SQL statement per market (an
``EXISTS`` over ownerships, contracts or the timeline), run in the zone that keeps the
market's classes of data the segment relates; nothing is filtered in Python.

Consent is per purpose and channel: a customer is reachable on a channel when the latest
consent entry for the purpose on that channel or on every channel (``*``) is a grant, and
they have an identity the channel can reach. A campaign tries its channels in order of
preference; :func:`channel_choice` is the first that reaches each customer, in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import aliased

from regiocrm.crm.access import Scope, visible
from regiocrm.crm.contracts import expiring
from regiocrm.interfaces.channels import Channel
from regiocrm.interfaces.packs import PackError, PackRegistry
from regiocrm.models import (
    Consent,
    ConsentAction,
    Contract,
    ContractKind,
    Customer,
    DataClass,
    Identity,
    Interaction,
    Ownership,
    Vehicle,
)
from regiocrm.models.base import utcnow
from regiocrm.platform.i18n import parse_locale
from regiocrm.platform.stores import ZONES_OPTION
from regiocrm.residency.rules import Residency

MARKET = r"^[A-Z]{2}$"
PURPOSE = r"^[a-z][a-z0-9_]{0,39}$"


class SegmentError(ValueError):
    """A segment that cannot be used as given: the reason names the field."""


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Longer than any vehicle is owned, and short enough that "owned since" is a date.
MAX_OWNERSHIP_YEARS = 100


class YearsRange(_Filter):
    """How long a customer has owned a vehicle they still own, in years."""

    min: float | None = Field(default=None, ge=0, le=MAX_OWNERSHIP_YEARS)
    max: float | None = Field(default=None, ge=0, le=MAX_OWNERSHIP_YEARS)

    @field_validator("max")
    @classmethod
    def _not_backwards(cls, value: float | None, info: Any) -> float | None:
        low = info.data.get("min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"max {value} is below min {low}: the range is backwards")
        return value


class LastInteraction(_Filter):
    """When the customer was last in touch: within the last days, or not for more than."""

    within_days: int | None = Field(default=None, ge=1, le=3660)
    more_than_days: int | None = Field(default=None, ge=1, le=3660)

    @field_validator("more_than_days")
    @classmethod
    def _one_of_them(cls, value: int | None, info: Any) -> int | None:
        if (value is None) == (info.data.get("within_days") is None):
            raise ValueError("give within_days or more_than_days, one of them")
        return value


class Segment(_Filter):
    """Who a campaign is for. Every field but ``markets`` narrows it further."""

    markets: tuple[str, ...] = Field(min_length=1, description="ISO 3166-1 alpha-2 codes")
    locales: tuple[str, ...] | None = Field(
        default=None, description="the customer's locale, or their market's default"
    )
    vehicle_models: tuple[str, ...] | None = Field(
        default=None, description="the model of a vehicle they still own"
    )
    ownership_years: YearsRange | None = None
    contract_ends_within_days: int | None = Field(
        default=None, ge=0, le=3660, description="an active contract ending from today on"
    )
    contract_kinds: tuple[ContractKind, ...] | None = None
    last_interaction: LastInteraction | None = None
    purpose: str = Field(default="marketing", pattern=PURPOSE, description="what consent")

    @field_validator("markets")
    @classmethod
    def _markets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for market in value:
            if len(market) != 2 or not market.isupper():
                raise ValueError(f"{market!r} is not a market code (two capital letters)")
        return tuple(dict.fromkeys(value))

    @field_validator("locales")
    @classmethod
    def _locales(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(str(parse_locale(item)) for item in value)

    @field_validator("contract_kinds")
    @classmethod
    def _kinds_need_an_end(
        cls, value: tuple[ContractKind, ...] | None, info: Any
    ) -> tuple[ContractKind, ...] | None:
        if value is not None and info.data.get("contract_ends_within_days") is None:
            raise ValueError("contract_kinds narrows contract_ends_within_days: give both")
        return value

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Segment:
        """A segment from its saved form.

        :raises SegmentError: naming every unknown field and every bad value.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "segment"
                if error["type"] == "extra_forbidden":
                    problems.append(f"unknown segment field {where!r}")
                else:
                    problems.append(
                        f"segment.{where}: {error['msg'].removeprefix('Value error, ')}"
                    )
            raise SegmentError("; ".join(problems)) from None

    def as_saved(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def data_classes(self) -> set[DataClass]:
        """The classes of data the segment's statement relates."""
        classes = {DataClass.IDENTITY}
        if self.vehicle_models or self.ownership_years or self.last_interaction:
            classes.add(DataClass.CRM)
        if self.contract_ends_within_days is not None:
            classes.add(DataClass.FINANCIAL)
        return classes


def matches(
    segment: Segment, market: str, packs: PackRegistry, today: date | None = None
) -> ColumnElement[bool]:
    """The condition of a customer of ``market`` in the segment (consent aside)."""
    today = today or date.today()
    conditions: list[ColumnElement[bool]] = [
        Customer.market == market,
        Customer.merged_into_id.is_(None),
    ]
    if segment.locales is not None:
        chosen: ColumnElement[bool] = Customer.preferred_locale.in_(segment.locales)
        if packs.market(market).locale in segment.locales:
            chosen = or_(chosen, Customer.preferred_locale.is_(None))
        conditions.append(chosen)
    if segment.vehicle_models is not None or segment.ownership_years is not None:
        conditions.append(_owns(segment, today))
    if segment.contract_ends_within_days is not None:
        ending = list(expiring(segment.contract_ends_within_days, today))
        if segment.contract_kinds is not None:
            ending.append(Contract.kind.in_(segment.contract_kinds))
        conditions.append(exists().where(Contract.customer_id == Customer.id, *ending))
    if segment.last_interaction is not None:
        conditions.append(_in_touch(segment.last_interaction))
    return and_(*conditions)


def _owns(segment: Segment, today: date) -> ColumnElement[bool]:
    owned = [Ownership.customer_id == Customer.id, Ownership.ended_on.is_(None)]
    years = segment.ownership_years
    if years is not None and years.min is not None:
        owned.append(Ownership.started_on <= _years_before(today, years.min))
    if years is not None and years.max is not None:
        owned.append(Ownership.started_on >= _years_before(today, years.max))
    if segment.vehicle_models is not None:
        owned.append(
            exists().where(
                Vehicle.id == Ownership.vehicle_id, Vehicle.model.in_(segment.vehicle_models)
            )
        )
    return exists().where(*owned)


def _years_before(today: date, years: float) -> date:
    return today - timedelta(days=round(years * 365.2425))


def _in_touch(last: LastInteraction) -> ColumnElement[bool]:
    days = last.within_days or last.more_than_days or 0
    recent = exists().where(
        Interaction.customer_id == Customer.id,
        Interaction.occurred_at >= utcnow() - timedelta(days=days),
    )
    return recent if last.within_days is not None else not_(recent)


def consents(purpose: str, channel: str, dialect: str) -> ColumnElement[bool]:
    """The condition of a customer whose consent for ``purpose`` on ``channel`` is in
    force: their latest entry for the channel or for every channel is a grant.

    Written as each database's planner does it best over a million customers (figures in
    docs/performance.md): SQLite probes row by row, and the latest entry is one backwards
    step in the covering index; PostgreSQL joins sets, and "a grant with no later entry"
    becomes a hash anti-join where a per-row subquery stays a loop.
    """
    if dialect == "postgresql":
        return _grant_without_later_entry(purpose, channel)
    latest = Consent.latest(purpose, channel, Consent.action).where(
        Consent.customer_id == Customer.id
    )
    # No entry is no consent: false, not NULL, so that "not reached by an earlier channel"
    # holds for those without one.
    no_entry = literal(ConsentAction.WITHDRAW, Consent.action.type)
    in_force = func.coalesce(latest.scalar_subquery(), no_entry)
    return in_force == ConsentAction.GRANT


def _grant_without_later_entry(purpose: str, channel: str) -> ColumnElement[bool]:
    grant, later = aliased(Consent), aliased(Consent)
    channels = [channel, "*"]
    return exists().where(
        grant.customer_id == Customer.id,
        grant.purpose == purpose,
        grant.channel.in_(channels),
        grant.action == ConsentAction.GRANT,
        not_(
            exists().where(
                later.customer_id == grant.customer_id,
                later.purpose == purpose,
                later.channel.in_(channels),
                tuple_(later.occurred_at, later.id) > tuple_(grant.occurred_at, grant.id),
            )
        ),
    )


def reachable(channel: Channel) -> ColumnElement[bool]:
    """The condition of a customer with an identity ``channel`` can reach."""
    return exists().where(
        Identity.customer_id == Customer.id, Identity.kind.in_(channel.identity_kinds)
    )


def receives(purpose: str, channel: Channel, dialect: str) -> ColumnElement[bool]:
    """The condition of a customer ``channel`` reaches with their consent: the identity
    first, a cheaper probe that rules many out."""
    return and_(reachable(channel), consents(purpose, channel.name, dialect))


def channel_choice(purpose: str, channels: Sequence[Channel], dialect: str) -> Any:
    """The first of ``channels`` (in order of preference) that reaches the customer with
    their consent, as a SQL expression; NULL when none does."""
    return case(
        *[(receives(purpose, channel, dialect), channel.name) for channel in channels],
        else_=None,
    )


def _dialect(session: Any, statement: Select[Any]) -> str:
    """The database of the one zone a segment statement runs in."""
    [zone] = statement.get_execution_options()[ZONES_OPTION]
    return str(session.stores.engine(zone).dialect.name)


def _count(session: Any, statement: Select[Any], *conditions: ColumnElement[bool]) -> int:
    return int(session.scalar(statement.where(*conditions)) or 0)


class Evaluation:
    """A segment's statements for one deployment: per market, in the zone keeping what the
    segment relates, within what the planner sees."""

    def __init__(
        self, segment: Segment, packs: PackRegistry, residency: Residency, scope: Scope | None
    ) -> None:
        self.segment = segment
        self.packs = packs
        self.residency = residency
        self.scope = scope

    def statements(self, columns: Sequence[Any]) -> list[tuple[str, Select[Any]]]:
        """``SELECT columns`` over the segment's customers, for each market.

        :raises SegmentError: for a market no pack serves.
        :raises regiocrm.residency.rules.ApartError: for a market keeping apart what the segment
            relates.
        """
        classes = self.segment.data_classes()
        if self.scope is not None and self.scope.organizations is not None:
            classes.add(DataClass.CRM)
        found = []
        for market in self.segment.markets:
            try:
                self.packs.market(market)
            except PackError:
                raise SegmentError(f"markets: no installed pack serves {market!r}") from None
            zone = self.residency.zone_together(market, classes)
            query = select(*columns).where(matches(self.segment, market, self.packs))
            if self.scope is not None:
                query = query.where(visible(self.scope))
            found.append((market, query.execution_options(**{ZONES_OPTION: [zone]})))
        return found

    def count(self, session: Any) -> dict[str, int]:
        """The customers in the segment, per market."""
        return {
            market: _count(session, statement)
            for market, statement in self.statements([func.count(Customer.id)])
        }

    def audience(
        self, session: Any, channels: Sequence[Channel]
    ) -> dict[str, dict[str | None, int]]:
        """Per market, the segment's customers by the channel that would reach them
        (``None``: no channel has both their consent and a way to them).

        Each channel counts those it reaches and no channel before it does, without
        grouping a million rows by channel. PostgreSQL plans the conditions as semi-joins
        when they are the WHERE clause (a statement per channel); SQLite probes its indexes
        row by row either way, so one pass counts every channel at once (figures in
        docs/performance.md).
        """
        purpose = self.segment.purpose
        counts: dict[str, dict[str | None, int]] = {}
        for market, statement in self.statements([func.count()]):
            dialect = _dialect(session, statement)
            wanted = [
                and_(
                    receives(purpose, channel, dialect),
                    *(not_(receives(purpose, before, dialect)) for before in channels[:n]),
                )
                for n, channel in enumerate(channels)
            ]
            if dialect == "postgresql":
                total = _count(session, statement)
                reached = [_count(session, statement, condition) for condition in wanted]
            else:
                columns = [func.count(), *(func.count(case((w, 1))) for w in wanted)]
                total, *reached = session.execute(statement.with_only_columns(*columns)).one()
            found: dict[str | None, int] = {
                channel.name: int(count) for channel, count in zip(channels, reached, strict=True)
            }
            found[None] = total - sum(found.values())
            counts[market] = {key: count for key, count in found.items() if count}
        return counts

    def members(
        self, session: Any, channels: Sequence[Channel], batch: int = 1000
    ) -> Iterator[tuple[str, uuid.UUID, str | None, str]]:
        """Each reachable customer of the segment as (market, id, locale, channel), in id
        order, read a batch at a time."""
        for market, statement in self.statements([Customer.id, Customer.preferred_locale]):
            choice = channel_choice(self.segment.purpose, channels, _dialect(session, statement))
            statement = statement.add_columns(choice.label("channel"))
            after: uuid.UUID | None = None
            while True:
                page = statement.where(choice.is_not(None)).order_by(Customer.id).limit(batch)
                if after is not None:
                    page = page.where(Customer.id > after)
                rows = session.execute(page).all()
                for customer_id, locale, channel in rows:
                    yield market, customer_id, locale, channel
                if len(rows) < batch:
                    break
                after = rows[-1][0]
