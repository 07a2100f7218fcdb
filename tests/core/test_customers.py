"""Identity resolution and merges: one record per person, whichever identity they use."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from regiocrm import hookimpl
from regiocrm.crm.access import Scope
from regiocrm.crm.customers import Customers, IdentityTaken, MergeRefused, NewCustomer
from regiocrm.interfaces.channels import IdentityRef
from regiocrm.interfaces.identities import InvalidIdentity
from regiocrm.models import AuditEvent, Customer, Identity, UserRole
from regiocrm.platform.hooks import Hooks
from regiocrm.platform.stores import ZoneStores


def identities_of(session, customer_id: uuid.UUID) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Identity.kind, Identity.value).where(Identity.customer_id == customer_id)
    )
    return {(kind, value) for kind, value in rows}


def test_a_new_identity_creates_a_customer_in_the_accounts_market(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        resolution = Customers(session, regiocrm_hooks).resolve(
            [IdentityRef("line", "U4af4980629"), IdentityRef("phone", "090-1234-5678")], "JP"
        )
        assert resolution.created
        assert resolution.market == "JP"
        assert identities_of(session, resolution.customer_id) == {
            ("line", "U4af4980629"),
            ("phone", "+819012345678"),
        }


def test_a_known_identity_finds_its_customer_however_it_is_written(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        first = customers.create(
            NewCustomer(market="KR", family_name="홍", given_name="길동"),
            [IdentityRef("phone", "010-1234-5678")],
        )
        again = customers.resolve([IdentityRef("phone", "+82 10 1234 5678")], "KR")
        assert not again.created
        assert again.customer_id == first.id


def test_two_identities_of_two_customers_merge_them(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        older = customers.create(NewCustomer(market="AU"), [IdentityRef("phone", "0412345678")])
        newer = customers.resolve([IdentityRef("whatsapp", "61400000001")], "AU").customer_id
        # A WhatsApp message vouches for both: the wa_id and the phone number it is.
        resolution = customers.resolve(
            [IdentityRef("whatsapp", "61400000001"), IdentityRef("phone", "+61412345678")], "AU"
        )
        assert resolution.customer_id == older.id
        assert resolution.merged == [newer]
        assert identities_of(session, older.id) == {
            ("phone", "+61412345678"),
            ("whatsapp", "61400000001"),
        }
        assert customers.get(newer).id == older.id
        assert customers.merge_set(older.id) == [older.id, newer]
        [merge] = session.scalars(select(AuditEvent).where(AuditEvent.action == "customer.merged"))
        assert merge.subject_id == older.id
        assert merge.detail["merged"] == str(newer)


def test_resolving_many_senders_sees_what_the_earlier_ones_created_and_merged(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    """A batch of messages, in order: a new sender twice, then a message vouching for two
    customers' identities, then one from the identity of the customer it merged away."""
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        older = customers.create(NewCustomer(market="AU"), [IdentityRef("phone", "0412345678")])
        newer = customers.resolve([IdentityRef("whatsapp", "61400000001")], "AU").customer_id
        first, again, both, merged_away = customers.resolve_many(
            [
                ([IdentityRef("whatsapp", "61400000002")], "AU"),
                ([IdentityRef("whatsapp", "61400000002")], "AU"),
                (
                    [IdentityRef("whatsapp", "61400000001"), IdentityRef("phone", "0412345678")],
                    "AU",
                ),
                ([IdentityRef("whatsapp", "61400000001")], "AU"),
            ]
        )
        assert first.created
        assert (again.customer_id, again.created) == (first.customer_id, False)
        assert (both.customer_id, both.merged) == (older.id, [newer])
        assert (merged_away.customer_id, merged_away.merged) == (older.id, [])
        assert session.scalar(select(func.count()).select_from(Identity)) == 3


def test_a_wechat_unionid_links_openids_across_official_accounts(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        service_account = customers.resolve(
            [IdentityRef("wechat_openid", "wxA:o1"), IdentityRef("wechat_unionid", "uX")], "CN"
        ).customer_id
        mini_program = customers.resolve(
            [IdentityRef("wechat_openid", "wxB:o2"), IdentityRef("wechat_unionid", "uX")], "CN"
        ).customer_id
        assert mini_program == service_account
        assert ("wechat_openid", "wxB:o2") in identities_of(session, service_account)


def test_merges_are_flattened(migrated: ZoneStores, regiocrm_hooks: Hooks) -> None:
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        a, b, c = (
            customers.resolve([IdentityRef("line", f"U{n}")], "JP").customer_id for n in range(3)
        )
        customers.merge(b, c, reason="same person", scope=None)
        customers.merge(a, b, reason="same person", scope=None)
        pointers = dict(session.execute(select(Customer.id, Customer.merged_into_id)).all())
        assert pointers == {a: None, b: a, c: a}
        assert sorted(customers.merge_set(a)) == sorted([a, b, c])


def test_binding_an_identity_of_another_customer_merges_into_the_older(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    actor = uuid.uuid4()
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        dealer_entry = customers.create(
            NewCustomer(market="CN"), [IdentityRef("phone", "13800138000")]
        )
        follower = customers.resolve([IdentityRef("wechat_openid", "wx1:oF")], "CN").customer_id
        resolution = customers.bind(
            follower, IdentityRef("phone", "+86 138 0013 8000"), actor_id=actor, scope=None
        )
        assert resolution.customer_id == dealer_entry.id
        assert resolution.merged == [follower]
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == actor)
        ).all()
        assert sorted(actions) == ["customer.merged", "identity.bound"]


def test_a_customer_known_by_phone_takes_the_whatsapp_id_made_of_it(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    """The WhatsApp id of a customer's own number is theirs: bound, with no merge; and a
    new record claiming that id is the customer already known by the number."""
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        known = customers.create(NewCustomer(market="AU"), [IdentityRef("phone", "0412 345 678")])
        resolution = customers.bind(
            known.id, IdentityRef("whatsapp", "61412345678"), actor_id=None, scope=None
        )
        assert (resolution.customer_id, resolution.merged) == (known.id, [])
        assert identities_of(session, known.id) == {
            ("phone", "+61412345678"),
            ("whatsapp", "61412345678"),
        }
    with pytest.raises(IdentityTaken) as refused, migrated.session() as session:
        Customers(session, regiocrm_hooks).create(
            NewCustomer(market="AU"), [IdentityRef("phone", "+61 412 345 678")]
        )
    assert refused.value.owner_id == known.id
    wa_id = IdentityRef("whatsapp", "61412345678")
    with pytest.raises(IdentityTaken) as refused, migrated.session() as session:
        Customers(session, regiocrm_hooks).create(NewCustomer(market="AU"), [wa_id])
    assert refused.value.owner_id == known.id
    with migrated.session() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_an_invalid_identity_is_refused_and_nothing_is_stored(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    def resolve() -> None:
        with migrated.session() as session:
            Customers(session, regiocrm_hooks).resolve(
                [IdentityRef("phone", "12345"), IdentityRef("line", "U1")], "CN"
            )

    with pytest.raises(InvalidIdentity, match="not a valid phone number in CN"):
        resolve()
    with migrated.session() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
        assert session.scalar(select(func.count()).select_from(Identity)) == 0


def test_creating_with_a_taken_identity_names_its_owner(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        owner = Customers(session, regiocrm_hooks).create(
            NewCustomer(market="JP"), [IdentityRef("email", "Taro.Yamada@Example.JP")]
        )
    with pytest.raises(IdentityTaken) as refused, migrated.session() as session:
        Customers(session, regiocrm_hooks).create(
            NewCustomer(market="JP"), [IdentityRef("email", "taro.yamada@example.jp")]
        )
    assert refused.value.owner_id == owner.id
    with migrated.session() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_a_user_merges_only_customers_they_see(migrated: ZoneStores, regiocrm_hooks: Hooks) -> None:
    """The service asks the scope, whoever calls it: a Chinese agent's binding, merge or
    registration touching a Japanese customer is refused naming no one, and audited."""
    agent = Scope(uuid.uuid4(), UserRole.CALL_CENTRE_AGENT, frozenset({"CN"}), None)
    region = Scope(uuid.uuid4(), UserRole.COMPETENCE_CENTRE, None, None)
    line = IdentityRef("line", "U4af4980629")
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        japanese = customers.resolve([line], "JP").customer_id
        chinese = customers.create(NewCustomer(market="CN")).id
        with pytest.raises(MergeRefused) as bound:
            customers.bind(chinese, line, actor_id=agent.user_id, scope=agent)
        with pytest.raises(MergeRefused) as merged:
            customers.merge(chinese, japanese, reason="same", actor_id=agent.user_id, scope=agent)
        with pytest.raises(IdentityTaken) as taken:
            customers.create(NewCustomer(market="CN"), [line], scope=agent)
        for refusal in (bound, merged, taken):
            assert str(japanese) not in str(refusal.value)
        assert taken.value.owner_id is None
        assert identities_of(session, japanese) == {("line", "U4af4980629")}
        assert session.get_one(Customer, japanese).merged_into_id is None
        refusals = session.execute(
            select(AuditEvent.action, AuditEvent.subject_id).where(
                AuditEvent.actor_id == agent.user_id
            )
        ).all()
        assert refusals == [("customer.merge_refused", chinese)] * 2
        assert customers.bind(chinese, line, actor_id=None, scope=region).merged


class MergeRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, uuid.UUID, str, uuid.UUID | None]] = []

    @hookimpl
    def customer_merged(
        self, survivor_id: uuid.UUID, merged_id: uuid.UUID, reason: str, actor_id: uuid.UUID | None
    ) -> None:
        self.calls.append((survivor_id, merged_id, reason, actor_id))


def test_hook_customer_merged(migrated: ZoneStores, regiocrm_hooks: Hooks, register_plugin) -> None:
    recorder = MergeRecorder()
    register_plugin(recorder)
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        a = customers.resolve([IdentityRef("line", "Ua")], "JP").customer_id
        b = customers.resolve([IdentityRef("line", "Ub")], "JP").customer_id
        customers.merge(a, b, reason="agent says so", actor_id=None, scope=None)
        assert recorder.calls == []  # not before the merge is committed
    assert recorder.calls == [(a, b, "agent says so", None)]


def test_a_merge_rolled_back_is_never_announced(
    migrated: ZoneStores, regiocrm_hooks: Hooks, register_plugin
) -> None:
    recorder = MergeRecorder()
    register_plugin(recorder)

    def merge_then_fail() -> None:
        with migrated.session() as session:
            customers = Customers(session, regiocrm_hooks)
            a = customers.resolve([IdentityRef("line", "Ua")], "JP").customer_id
            b = customers.resolve([IdentityRef("line", "Ub")], "JP").customer_id
            customers.merge(a, b, reason="oops", scope=None)
            raise RuntimeError("the request failed after the merge")

    with pytest.raises(RuntimeError):
        merge_then_fail()
    assert recorder.calls == []
    with migrated.session() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_secondary_identity_that_does_not_normalise_is_left_out(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    with migrated.session() as session:
        resolution = Customers(session, regiocrm_hooks).resolve(
            [IdentityRef("whatsapp", "999123"), IdentityRef("phone", "+999123")], "AU"
        )
        assert identities_of(session, resolution.customer_id) == {("whatsapp", "999123")}


def test_a_merge_across_markets_keeps_each_identity_in_its_zone_and_finds_it(
    migrated: ZoneStores, regiocrm_hooks: Hooks
) -> None:
    """A Korean record (zone kr) merges into an older Hong Kong one (zone jp): the Korean
    identity stays in kr, pointing to a customer in jp, and is still recognised."""
    with migrated.session() as session:
        customers = Customers(session, regiocrm_hooks)
        hong_kong = customers.create(NewCustomer(market="HK"), [IdentityRef("email", "a@x.hk")])
        korean = customers.create(NewCustomer(market="KR"), [IdentityRef("email", "b@x.kr")])
    with migrated.session() as session:
        resolution = Customers(session, regiocrm_hooks).resolve(
            [IdentityRef("email", "a@x.hk"), IdentityRef("email", "b@x.kr")], "HK"
        )
    assert (resolution.customer_id, resolution.merged) == (hong_kong.id, [korean.id])
    with migrated.engine("kr").connect() as connection:
        [(owner,)] = connection.execute(select(Identity.customer_id)).all()
        assert owner == hong_kong.id, "the identity stays in its market's zone"
    with migrated.engine("jp").connect() as connection:
        assert connection.execute(select(Customer.id).where(Customer.id == hong_kong.id)).all()
    with migrated.session() as session:
        found = Customers(session, regiocrm_hooks).find(IdentityRef("email", "b@x.kr"), "KR")
        again = Customers(session, regiocrm_hooks).resolve([IdentityRef("email", "b@x.kr")], "KR")
    assert found is not None
    assert found.id == hong_kong.id
    assert (again.customer_id, again.market, again.created) == (hong_kong.id, "HK", False)
