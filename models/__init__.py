"""Every table of the product; importing this package registers them all on one metadata."""

from models.api_token import ApiToken
from models.audit import AuditEvent
from models.base import utcnow
from models.district import District
from models.district_review import DistrictReview
from models.dpor import DporDesignation
from models.finding import ConflictFinding
from models.job_run import JobRun, JobState
from models.login_attempt import LoginAttempt
from models.named_account import NamedAccount
from models.named_account_list import NamedAccountList
from models.outbox import OutboxMessage
from models.partner import Partner
from models.policy import PolicyData, PolicyVersion
from models.registration import Registration
from models.seat_credit import SeatCredit
from models.ticket import Ticket
from models.ticket_event import TicketEvent
from models.user import User
from models.webhook import WebhookEndpoint

__all__ = [
    "ApiToken",
    "AuditEvent",
    "ConflictFinding",
    "District",
    "DistrictReview",
    "DporDesignation",
    "JobRun",
    "JobState",
    "LoginAttempt",
    "NamedAccount",
    "NamedAccountList",
    "OutboxMessage",
    "Partner",
    "PolicyData",
    "PolicyVersion",
    "Registration",
    "SeatCredit",
    "Ticket",
    "TicketEvent",
    "User",
    "WebhookEndpoint",
    "utcnow",
]
