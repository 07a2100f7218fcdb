"""The domain model: one module per aggregate, all on one declarative base.

Importing this package registers every table on ``Base.metadata``.
"""

from regiocrm.models.audit import AuditEvent
from regiocrm.models.base import AppendOnlyError, Base, DataClass, Model, PlacedBy
from regiocrm.models.campaign import Campaign, CampaignMember, CampaignStatus, DeliveryStatus
from regiocrm.models.case import Case, CaseStatus, Priority
from regiocrm.models.consent import Consent, ConsentAction
from regiocrm.models.contract import Contract, ContractKind, ContractStatus
from regiocrm.models.customer import Customer, CustomerKind
from regiocrm.models.identity import Identity
from regiocrm.models.inbox import InboxMessage, InboxStatus, ReplyStatus, SeenSignature
from regiocrm.models.interaction import Direction, Interaction
from regiocrm.models.lead import Lead, LeadStatus
from regiocrm.models.organization import LicenceTier, Organization, OrganizationKind
from regiocrm.models.residency import CustomerExport, TransferAssessment
from regiocrm.models.telematics import TelematicsEvent
from regiocrm.models.user import ApiToken, User, UserRole
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
    "Contract",
    "ContractKind",
    "ContractStatus",
    "Customer",
    "CustomerExport",
    "CustomerKind",
    "DataClass",
    "DeliveryStatus",
    "Direction",
    "Identity",
    "InboxMessage",
    "InboxStatus",
    "Interaction",
    "Lead",
    "LeadStatus",
    "LicenceTier",
    "Model",
    "Organization",
    "OrganizationKind",
    "Ownership",
    "PlacedBy",
    "Priority",
    "ReplyStatus",
    "SeenSignature",
    "TelematicsEvent",
    "TransferAssessment",
    "User",
    "UserRole",
    "Vehicle",
]
