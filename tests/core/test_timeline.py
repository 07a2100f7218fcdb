"""The timeline module: steps kept with their audit record, messages written once, and a
customer's timeline read a page at a time across the records merged into them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, select

from regiocrm.crm.access import Scope, sees
from regiocrm.crm.accounts import create_organization
from regiocrm.crm.customers import Customers, NewCustomer
from regiocrm.crm.timeline import MessageEntry, Step, Timeline, append_once
from regiocrm.interfaces.terms import Direction, OrganizationKind, UserRole
from regiocrm.models import AuditEvent, Customer, DataClass, Interaction
from regiocrm.models.base import utcnow
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.ids import new_id
from regiocrm.platform.stores import ZonedSession, ZoneStores

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def a_customer(session: ZonedSession, hooks: Hooks) -> Customer:
    return Customers(session, hooks).create(NewCustomer(market="CN"))


def a_step(customer: Customer, summary: str = "case 'x': opened (new)") -> Step:
    return Step(
        market=customer.market,
        customer_id=customer.id,
        channel="case",
        touchpoint="case",
        summary=summary,
        organization_id=None,
    )


def message(customer: Customer, at: datetime, text: str, entry_id: uuid.UUID) -> MessageEntry:
    return MessageEntry(
        id=entry_id,
        market=customer.market,
        customer_id=customer.id,
        channel="sms",
        direction=Direction.INBOUND,
        touchpoint="sms_cn",
        text=text,
        summary=None,
        external_id=f"ext-{text}",
        occurred_at=at,
        case_id=None,
    )


def crm_connection(session: ZonedSession) -> Connection:
    return session.zone_connection(session.residency.zone_for("CN", DataClass.CRM))


def count(stores: ZoneStores, *conditions: object) -> int:
    with stores.session() as session:
        return session.scalar(select(func.count()).select_from(Interaction).where(*conditions))


def audited(stores: ZoneStores, action: str) -> list[dict[str, str]]:
    with stores.session() as session:
        return list(session.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)))


def test_a_step_goes_on_the_timeline_with_its_audit_record(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        customer = a_customer(session, regiocrm_hooks)
        Timeline(session).record_step(
            a_step(customer, "x" * 600),
            actor_id=None,
            action="case.opened",
            subject_type="customer",
            subject=customer,
            detail={"status": "new"},
            personal={"reason": "a word the customer said"},
        )
    with migrated.session() as session:
        [entry] = session.scalars(select(Interaction)).all()
    assert (entry.customer_id, entry.channel, entry.direction) == (
        customer.id,
        "case",
        Direction.INTERNAL,
    )
    assert entry.summary == "x" * 500, "cut to what the column keeps"
    [detail] = audited(migrated, "case.opened")
    assert (detail["status"], detail["reason"]) == ("new", "a word the customer said")


def test_a_step_rolled_back_leaves_neither_entry_nor_audit_record(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        customer = a_customer(session, regiocrm_hooks)

    def step_then_fail() -> None:
        with migrated.session() as session:
            Timeline(session).record_step(
                a_step(customer),
                actor_id=None,
                action="case.opened",
                subject_type="customer",
                subject=customer,
            )
            raise RuntimeError("the operation failed after the step")

    with pytest.raises(RuntimeError, match="failed after the step"):
        step_then_fail()
    assert count(migrated) == 0
    assert audited(migrated, "case.opened") == []


def test_a_step_of_no_customer_is_audited_only(migrated: ZoneStores, regiocrm_hooks: Hooks) -> None:
    with migrated.session() as session:
        customer = a_customer(session, regiocrm_hooks)
        Timeline(session).record_step(
            None, actor_id=None, action="lead.contacted", subject_type="lead", subject=customer
        )
    assert count(migrated) == 0
    assert audited(migrated, "lead.contacted") == [{}]


def test_a_registration_links_the_customer_to_the_dealership(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        dealer = create_organization(
            session, name="Pudong Motors", kind=OrganizationKind.DEALER, market="CN"
        )
        customer = a_customer(session, regiocrm_hooks)
    staff = Scope(new_id(), UserRole.DEALER_STAFF, frozenset({"CN"}), frozenset({dealer.id}))
    with migrated.session() as session:
        assert not sees(session, staff, customer)
        entry = Timeline(session).registration(
            market="CN", customer_id=customer.id, organization_id=dealer.id
        )
    with migrated.session() as session:
        assert sees(session, staff, customer)
    assert (entry.touchpoint, entry.summary, entry.channel) == ("registration", "registered", "crm")


def test_a_message_written_again_is_kept_once(migrated: ZoneStores, regiocrm_hooks: Hooks) -> None:
    with migrated.session() as session:
        customer = a_customer(session, regiocrm_hooks)
    first, other = new_id(), new_id()
    for attempt in range(2):
        with migrated.session() as session:
            append_once(crm_connection(session), message(customer, T0, "hi", first))
            if attempt:
                append_once(crm_connection(session), message(customer, T0, "again", other))
    with migrated.session() as session:
        kept = session.execute(select(Interaction.id, Interaction.text)).all()
    assert sorted(kept) == sorted([(first, "hi"), (other, "again")])


def test_a_message_sent_goes_on_the_timeline_now_as_outbound(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    before = utcnow()
    with migrated.session() as session:
        customer = a_customer(session, regiocrm_hooks)
        sent = Timeline(session).sent(
            market="CN",
            customer_id=customer.id,
            channel="sms",
            touchpoint="sms_cn",
            text="您的车已保养完毕",
            external_id="SM1",
            summary="campaign 'service'",
        )
        assert sent.id is not None, "flushed: the caller answers with its id"
    with migrated.session() as session:
        kept = session.get_one(Interaction, sent.id)
    assert (kept.direction, kept.text, kept.external_id, kept.summary) == (
        Direction.OUTBOUND,
        "您的车已保养完毕",
        "SM1",
        "campaign 'service'",
    )
    assert before <= kept.occurred_at <= utcnow()


def test_the_timeline_pages_oldest_first_across_the_merge_set(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    """Two records of one person, merged, and someone else: the survivor's timeline holds
    both records' entries, in time order (ids break a tie), and no one else's."""
    with migrated.session() as session:
        survivor, merged, stranger = (a_customer(session, regiocrm_hooks) for _ in range(3))
        connection = crm_connection(session)
        tied = sorted([new_id(), new_id()])
        written = [
            message(merged, T0 + timedelta(hours=2), "third", new_id()),
            message(survivor, T0, "first", new_id()),
            message(survivor, T0 + timedelta(hours=3), "fifth", tied[1]),
            message(merged, T0 + timedelta(hours=3), "fourth", tied[0]),
            message(survivor, T0 + timedelta(hours=1), "second", new_id()),
            message(stranger, T0 + timedelta(hours=1, minutes=30), "not theirs", new_id()),
        ]
        for entry in written:
            append_once(connection, entry)
        customers = Customers(session, regiocrm_hooks)
        customers.merge(survivor.id, merged.id, reason="one person", scope=None)
        merge_set = customers.merge_set(survivor.id)
    pages, after = [], None
    with migrated.session() as session:
        while True:
            page = Timeline(session).page(merge_set, limit=2, after=after)
            pages.append([entry.text for entry in page.entries])
            if page.next is None:
                break
            assert page.next == (page.entries[-1].occurred_at, page.entries[-1].id)
            after = page.next
    assert pages == [["first", "second"], ["third", "fourth"], ["fifth"]]
