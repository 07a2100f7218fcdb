"""The directory service: organizations and users added and listed by the operator, each
audited as the system and nothing stored on bad input; a caller reads only their own
entry."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from regiocrm.crm.accounts import AccountError
from regiocrm.interfaces.maps import Point
from regiocrm.interfaces.terms import LicenceTier, OrganizationKind, UserRole
from regiocrm.models import ApiToken, AuditEvent, Organization, User
from regiocrm.platform.stores import ZoneStores
from regiocrm.services.application import Application
from regiocrm.services.callers import Caller
from regiocrm.services.directory import DirectoryService, NewOrganization


def stored(stores: ZoneStores) -> dict[str, list[object]]:
    with stores.session() as session:
        return {
            "organizations": list(session.scalars(select(Organization.name))),
            "users": list(session.scalars(select(User.name))),
            "tokens": list(session.scalars(select(ApiToken.id))),
            "audit": [
                (action, actor)
                for action, actor in session.execute(
                    select(AuditEvent.action, AuditEvent.actor_id).order_by(AuditEvent.id)
                )
            ],
        }


def signed_in(app: Application, name: str, organization: str | None = None) -> Caller:
    account = DirectoryService(app).add_user(name, UserRole.DEALER_STAFF, organization)
    caller = app.authenticate(account.token)
    assert caller is not None
    return caller


def test_a_first_user_joins_the_deployments_own_organization_all_audited(
    application: Application, migrated: ZoneStores
) -> None:
    directory = DirectoryService(application)
    account = directory.add_user("mei", UserRole.ADMIN)
    deployment = application.settings.deployment
    own = deployment.organization
    assert (account.user.name, account.user.organization, account.user.tokens) == ("mei", own, 1)
    assert account.token.startswith("rcm_")
    assert stored(migrated)["audit"] == [
        ("organization.created", None),
        ("user.created", None),
        ("token.issued", None),
    ]
    [org] = directory.organizations()
    assert (org.name, org.kind, org.market) == (own, OrganizationKind.OEM, deployment.market)
    assert [user.as_json()["role"] for user in directory.users()] == ["admin"]
    assert application.authenticate(account.token) is not None


def test_organizations_are_listed_with_their_parent_by_name(application: Application) -> None:
    directory = DirectoryService(application)
    directory.add_organization(NewOrganization("Importer", OrganizationKind.WHOLESALER, "AU"))
    dealer = directory.add_organization(
        NewOrganization(
            "Parramatta Motors",
            OrganizationKind.DEALER,
            "AU",
            parent="Importer",
            location=Point(-33.8151, 151.0011),
            subdivision="nsw",
        )
    )
    assert (dealer.where, dealer.licence_tier, dealer.parent) == (
        "AU-NSW",
        LicenceTier.COMMUNITY,
        "Importer",
    )
    listed = {org.name: org.as_json() for org in directory.organizations()}
    assert listed["Parramatta Motors"]["parent"] == "Importer"
    assert listed["Parramatta Motors"]["kind"] == "dealer"
    assert (listed["Parramatta Motors"]["lat"], listed["Importer"]["parent"]) == (-33.8151, None)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (NewOrganization(" ", OrganizationKind.DEALER, "AU"), "needs a name that is not blank"),
        (
            NewOrganization("X", OrganizationKind.DEALER, "AU", parent="Nobody"),
            "unknown parent organization 'Nobody'",
        ),
        (
            NewOrganization("X", OrganizationKind.DEALER, "AU", subdivision="Sydney"),
            "'Sydney' is not an ISO 3166-2 subdivision of AU",
        ),
    ],
    ids=["blank-name", "unknown-parent", "unknown-subdivision"],
)
def test_an_organization_that_cannot_be_added_leaves_nothing(
    application: Application, migrated: ZoneStores, new: NewOrganization, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        DirectoryService(application).add_organization(new)
    assert stored(migrated) == {"organizations": [], "users": [], "tokens": [], "audit": []}


@pytest.mark.parametrize(
    ("name", "organization", "message"),
    [
        ("li", "Nowhere", "unknown organization 'Nowhere': add it with `regiocrm orgs add"),
        (" ", None, "a user needs a login name that is not blank"),
    ],
    ids=["unknown-organization", "blank-name"],
)
def test_a_user_who_cannot_be_added_leaves_nothing_not_even_the_organization(
    application: Application,
    migrated: ZoneStores,
    name: str,
    organization: str | None,
    message: str,
) -> None:
    with pytest.raises(AccountError, match=message):
        DirectoryService(application).add_user(name, UserRole.ADMIN, organization)
    assert stored(migrated) == {"organizations": [], "users": [], "tokens": [], "audit": []}


def test_a_taken_login_is_refused_and_issues_no_second_token(
    application: Application, migrated: ZoneStores
) -> None:
    directory = DirectoryService(application)
    directory.add_user("mei", UserRole.CALL_CENTRE_AGENT)
    before = stored(migrated)
    with pytest.raises(AccountError, match="user 'mei' already exists"):
        directory.add_user("mei", UserRole.ADMIN)
    assert stored(migrated) == before


def test_a_caller_reads_their_own_entry_only(application: Application) -> None:
    directory = DirectoryService(application)
    directory.add_organization(NewOrganization("Importer", OrganizationKind.WHOLESALER, "CN"))
    directory.add_organization(
        NewOrganization("Shanghai Motors", OrganizationKind.DEALER, "CN", parent="Importer")
    )
    li = signed_in(application, "li", "Shanghai Motors")
    wang = signed_in(application, "wang", "Importer")
    mine = directory.me(li)
    assert (mine.name, mine.organization.name, mine.organization.parent) == (
        "li",
        "Shanghai Motors",
        "Importer",
    )
    assert mine.as_json() == {
        "id": str(li.user_id),
        "name": "li",
        "role": "dealer_staff",
        "organization": {
            "id": str(li.organization_id),
            "name": "Shanghai Motors",
            "kind": "dealer",
            "market": "CN",
            "subdivision": None,
        },
    }
    assert directory.me(wang).organization.name == "Importer"
