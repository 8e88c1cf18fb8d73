"""The records that flow from connectors into the store, and changes that flow back.

Every connector speaks this vocabulary; vendor shapes never leave ``connectors/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar


class ConsentStatus(StrEnum):
    """One consent vocabulary for every vendor (the raw vendor value is kept beside it)."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    PENDING = "pending"
    UNKNOWN = "unknown"


#: statuses that suppress a contact from every marketing membership
SUPPRESSING = frozenset(
    {ConsentStatus.UNSUBSCRIBED, ConsentStatus.BOUNCED, ConsentStatus.COMPLAINED}
)


#: the contact attributes every connector maps its vendor's fields onto (``custom.<name>``
#: holds anything else)
CONTACT_ATTRIBUTES = (
    "first_name",
    "last_name",
    "phone",
    "country",
    "city",
    "company",
    "industry",
    "company_size",
    "job_title",
    "language",
)


class ActivityType(StrEnum):
    SEND = "send"
    OPEN = "open"
    CLICK = "click"
    PURCHASE = "purchase"
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"


class TargetKind(StrEnum):
    TAG = "tag"
    LIST = "list"
    PROPERTY = "property"


class ChangeOp(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    SET = "set"


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact as a tool holds it. ``email`` is normalised; ``attributes`` use syncd names
    (first_name, last_name, phone, country, city, company, industry, company_size, job_title,
    language, plus any custom field under its own name)."""

    tool: str
    remote_id: str
    email: str
    updated_at: datetime
    attributes: dict[str, str | None] = field(default_factory=dict)
    memberships: frozenset[str] = frozenset()  # list ids / tag names the tool reports
    raw_email: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """Consent of one contact in one tool for one channel (and optionally one list)."""

    tool: str
    email: str
    status: ConsentStatus
    raw_status: str
    changed_at: datetime | None
    channel: str = "email"
    legal_basis: str | None = None
    source: str | None = None
    list_id: str | None = None  # set when the status is about one list only


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    tool: str
    email: str
    type: ActivityType
    occurred_at: datetime
    event_id: str  # stable per tool, so re-reading a page never doubles an event
    campaign: str | None = None
    value: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A record kept out of the merge (e.g. an invalid email), reported, never dropped silently."""

    tool: str
    remote_id: str
    raw_email: str
    reason: str


R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """A page of records and the cursor that covers it.

    The caller commits the records, then stores ``cursor``: a cursor never runs ahead of the
    data it covers. ``invalid`` lists records normalisation refused on this page.
    """

    records: list[R]
    cursor: str | None
    invalid: list[InvalidRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a segment lands in one tool: a tag, a list or a property, by its syncd name."""

    kind: TargetKind
    name: str


@dataclass(frozen=True, slots=True)
class Change:
    """One change for one contact in one tool. ``value`` is for properties."""

    target: Target
    op: ChangeOp
    email: str
    remote_id: str | None = None
    value: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    ok: bool
    reason: str | None = None  # the vendor's words when it refused the record
