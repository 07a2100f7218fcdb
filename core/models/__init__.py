"""The domain model: one module per aggregate, all on one declarative base.

Importing this package registers every table on ``Base.metadata``. The words the models
store (statuses, kinds, roles) are :mod:`regiocrm.interfaces.terms`'s, named here too.

This package is an essential plugin: it registers the core's entities through
``register_models``, the hook a plugin registers its own through.
"""

from regiocrm.hookspecs import hookimpl
from regiocrm.interfaces.data_classes import DataClass
from regiocrm.interfaces.terms import (
    CampaignStatus,
    CaseStatus,
    ConsentAction,
    ContractKind,
    ContractStatus,
    CustomerKind,
    DeliveryStatus,
    Direction,
    InboxStatus,
    LeadStatus,
    LicenceTier,
    OrganizationKind,
    Priority,
    ReplyStatus,
    UserRole,
)
from regiocrm.models.address import OrganizationAddress, PostalAddress
from regiocrm.models.audit import AuditEvent
from regiocrm.models.base import AppendOnlyError, Base, Model, PlacedBy
from regiocrm.models.campaign import Campaign, CampaignMember
from regiocrm.models.case import Case
from regiocrm.models.consent import Consent
from regiocrm.models.contract import Contract
from regiocrm.models.conversation import Conversation
from regiocrm.models.customer import Customer
from regiocrm.models.identity import Identity
from regiocrm.models.imports import ImportIssue, ImportJob
from regiocrm.models.inbox import InboxMessage, PolledAccount, SeenSignature
from regiocrm.models.interaction import Interaction
from regiocrm.models.lead import Lead
from regiocrm.models.organization import Organization
from regiocrm.models.residency import CustomerExport, TransferAssessment
from regiocrm.models.telematics import TelematicsAlert, TelematicsDay, TelematicsEvent
from regiocrm.models.user import ApiToken, ConsoleSession, SignInFailure, User
from regiocrm.models.vehicle import Ownership, Vehicle

__all__ = [
    "ApiToken",
    "AppendOnlyError",
    "AuditEvent",
    "Base",
    "Campaign",
    "CampaignMember",
    "CampaignStatus",
    "Case",
    "CaseStatus",
    "Consent",
    "ConsentAction",
    "ConsoleSession",
    "Contract",
    "ContractKind",
    "ContractStatus",
    "Conversation",
    "Customer",
    "CustomerExport",
    "CustomerKind",
    "DataClass",
    "DeliveryStatus",
    "Direction",
    "Identity",
    "ImportIssue",
    "ImportJob",
    "InboxMessage",
    "InboxStatus",
    "Interaction",
    "Lead",
    "LeadStatus",
    "LicenceTier",
    "Model",
    "Organization",
    "OrganizationAddress",
    "OrganizationKind",
    "Ownership",
    "PlacedBy",
    "PolledAccount",
    "PostalAddress",
    "Priority",
    "ReplyStatus",
    "SeenSignature",
    "SignInFailure",
    "TelematicsAlert",
    "TelematicsDay",
    "TelematicsEvent",
    "TransferAssessment",
    "User",
    "UserRole",
    "Vehicle",
]


@hookimpl
def register_models() -> list[type[Model]]:
    return [
        ApiToken,
        AuditEvent,
        Campaign,
        CampaignMember,
        Case,
        Consent,
        ConsoleSession,
        Contract,
        Conversation,
        Customer,
        CustomerExport,
        Identity,
        ImportIssue,
        ImportJob,
        InboxMessage,
        Interaction,
        Lead,
        Organization,
        OrganizationAddress,
        Ownership,
        PolledAccount,
        PostalAddress,
        SeenSignature,
        SignInFailure,
        TelematicsAlert,
        TelematicsDay,
        TelematicsEvent,
        TransferAssessment,
        User,
        Vehicle,
    ]
