"""The words of the CRM: the states, kinds and roles that packs, hooks, the API and the
stores share. The models store them; packs name them (service-level targets per priority,
lead statuses, licence tiers); front ends read and validate them."""

from __future__ import annotations

import enum


class OrganizationKind(enum.StrEnum):
    OEM = "oem"
    WHOLESALER = "wholesaler"
    DEALER = "dealer"
    CALL_CENTRE = "call_centre"
    PARTNER = "partner"


class LicenceTier(enum.StrEnum):
    """Wholesalers hold full licences; dealerships community licences with less storage."""

    FULL = "full"
    COMMUNITY = "community"


class UserRole(enum.StrEnum):
    """What a user does, and so what they see (see :mod:`regiocrm.crm.access`)."""

    ADMIN = "admin"
    COMPETENCE_CENTRE = "competence_centre"
    WHOLESALER_STAFF = "wholesaler_staff"
    DEALER_STAFF = "dealer_staff"
    CALL_CENTRE_AGENT = "call_centre_agent"
    PARTNER_AUDITOR = "partner_auditor"
    # A connected-car provider's system: it posts its market's vehicle events and reads
    # nothing, so it has no console.
    TELEMATICS_PROVIDER = "telematics_provider"


class CustomerKind(enum.StrEnum):
    PERSON = "person"
    COMPANY = "company"


class ConsentAction(enum.StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CaseStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class LeadStatus(enum.StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    WON = "won"
    LOST = "lost"


class ContractKind(enum.StrEnum):
    SALES = "sales"
    LEASE = "lease"
    FINANCING = "financing"
    SERVICE = "service"


class ContractStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    # Handed to the provider, answer not yet recorded: after a crash, not sent again.
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    REPLIED = "replied"


class InboxStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class ReplyStatus(enum.StrEnum):
    """Where the auto-reply decided when its message was stored has got to."""

    IN_ANSWER = "in_answer"
    """It went out in the webhook's HTTP answer (a redelivery is answered with it again)."""
    TO_SEND = "to_send"
    """The inbox pipeline sends it through the channel's API."""
    SENDING = "sending"
    """A worker began sending it. Found so later, the worker died meanwhile: the provider
    may have it, so it is never sent again, and it stays off the timeline."""
    SENT = "sent"
    """The provider took it, under ``reply_external_id``."""
    FAILED = "failed"
    """The provider refused it (the log says why); it stays off the timeline."""
