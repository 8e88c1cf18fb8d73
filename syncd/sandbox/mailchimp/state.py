"""The sandbox's in-memory Mailchimp account: audiences, members, merge fields, tags, activity.

Pure state and rules (no HTTP): the routes in ``app.py`` validate requests, call these methods
and render what they return. A rule the vendor enforces raises :class:`Problem`, rendered as
Mailchimp's problem-details JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"

#: what a fresh Mailchimp audience has, plus the custom text fields our seeded account uses
DEFAULT_MERGE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
    ("BIRTHDAY", "Birthday", "birthday"),
    ("COMPANY", "Company", "text"),
    ("INDUSTRY", "Industry", "text"),
    ("CO_SIZE", "Company size", "text"),
    ("JOB_TITLE", "Job title", "text"),
)

#: the reason Mailchimp shows for a member unsubscribed by an abuse (spam) complaint
ABUSE_REASON = "Abuse complaint"


class Problem(Exception):
    """A Mailchimp error answer: problem-details JSON with ``title`` and ``detail``."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        super().__init__(f"{status} {title}: {detail}")


def not_found() -> Problem:
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")


def invalid_resource(errors: list[dict[str, str]]) -> Problem:
    return Problem(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. "
        "For field-specific details, see the 'errors' array.",
        errors,
    )


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def mc_time(dt: datetime | None) -> str:
    """Mailchimp's timestamp shape: ISO 8601, whole seconds, ``+00:00``."""
    if dt is None:
        return ""
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def looks_like_email(email: str) -> bool:
    """Mailchimp's own (loose) check: one ``@``, a dotted domain, no spaces."""
    local, _, domain = email.strip().partition("@")
    return bool(local) and "." in domain and "@" not in domain and " " not in email.strip()


@dataclass
class ActivityItem:
    activity_type: str  # sent, open, click, bounce, unsub, abuse, order
    created_at: datetime
    campaign_id: str
    campaign_title: str = ""
    link_clicked: str | None = None
    bounce_type: str | None = None
    order_id: str | None = None
    order_total: Decimal | None = None
    currency_code: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "activity_type": self.activity_type,
            "created_at_timestamp": mc_time(self.created_at),
            "campaign_id": self.campaign_id,
            "campaign_title": self.campaign_title,
        }
        if self.link_clicked is not None:
            body["link_clicked"] = self.link_clicked
        if self.bounce_type is not None:
            body["bounce_type"] = self.bounce_type
        if self.order_id is not None:
            body["order_id"] = self.order_id
            body["order_total"] = str(self.order_total) if self.order_total is not None else ""
            body["currency_code"] = self.currency_code or ""
        return body


@dataclass
class Member:
    id: str
    email_address: str  # as the member was stored, possibly messy
    status: str
    timestamp_signup: datetime | None
    timestamp_opt: datetime | None
    last_changed: datetime
    merge_fields: dict[str, Any] = field(default_factory=dict)
    language: str = ""
    vip: bool = False
    email_type: str = "html"
    source: str = "API - Generic"
    unsubscribe_reason: str | None = None
    activity: list[ActivityItem] = field(default_factory=list)
    seq: int = 0  # creation order, Mailchimp's default listing order

    @property
    def unique_email_id(self) -> str:
        return self.id[:10]


@dataclass
class MergeField:
    merge_id: int
    tag: str
    name: str
    type: str
    required: bool = False
    default_value: str = ""
    public: bool = False
    display_order: int = 0
    help_text: str = ""

    def as_json(self, list_id: str) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "tag": self.tag,
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": self.default_value,
            "public": self.public,
            "display_order": self.display_order,
            "options": {},
            "help_text": self.help_text,
            "list_id": list_id,
        }


@dataclass
class Segment:
    """A static segment; Mailchimp's tags are static segments."""

    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    members: set[str] = field(default_factory=set)  # subscriber hashes

    def as_json(self, list_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "member_count": len(self.members),
            "type": "static",
            "created_at": mc_time(self.created_at),
            "updated_at": mc_time(self.updated_at),
            "options": {},
            "list_id": list_id,
        }


@dataclass
class Audience:
    id: str
    name: str
    created_at: datetime
    members: dict[str, Member] = field(default_factory=dict)
    merge_fields: dict[str, MergeField] = field(default_factory=dict)  # by tag
    segments: dict[int, Segment] = field(default_factory=dict)
    #: hashes of members deleted permanently: they can never be re-added by the API
    forgotten: set[str] = field(default_factory=set)
    next_segment_id: int = 10_001
    next_merge_id: int = 1
    next_seq: int = 0

    def add_merge_field(self, tag: str, name: str, type_: str) -> MergeField:
        mf = MergeField(self.next_merge_id, tag, name, type_, display_order=self.next_merge_id)
        self.next_merge_id += 1
        self.merge_fields[tag] = mf
        return mf

    def add_segment(self, name: str, now: datetime) -> Segment:
        seg = Segment(self.next_segment_id, name, now, now)
        self.next_segment_id += 1
        self.segments[seg.id] = seg
        return seg

    def segment_named(self, name: str) -> Segment | None:
        for seg in self.segments.values():
            if seg.name == name:
                return seg
        return None

    def add_member(
        self, email: str, status: str, now: datetime, *, created_at: datetime | None = None
    ) -> Member:
        member = Member(
            id=subscriber_hash(email),
            email_address=email,
            status=status,
            timestamp_signup=created_at or now,
            timestamp_opt=now if status == "subscribed" else None,
            last_changed=now,
            merge_fields={tag: "" for tag in self.merge_fields},
            seq=self.next_seq,
        )
        self.next_seq += 1
        self.members[member.id] = member
        return member

    def tags_of(self, member_id: str) -> list[Segment]:
        return [s for s in self.segments.values() if member_id in s.members]

    def member_json(self, m: Member) -> dict[str, Any]:
        tags = self.tags_of(m.id)
        body: dict[str, Any] = {
            "id": m.id,
            "email_address": m.email_address,
            "unique_email_id": m.unique_email_id,
            "contact_id": hashlib.md5(m.id.encode(), usedforsecurity=False).hexdigest(),
            "full_name": " ".join(
                str(m.merge_fields.get(t) or "") for t in ("FNAME", "LNAME")
            ).strip(),
            "web_id": m.seq + 100_000,
            "email_type": m.email_type,
            "status": m.status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": dict(m.merge_fields),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "",
            "timestamp_signup": mc_time(m.timestamp_signup),
            "ip_opt": "",
            "timestamp_opt": mc_time(m.timestamp_opt),
            "member_rating": 2,
            "last_changed": mc_time(m.last_changed),
            "language": m.language,
            "vip": m.vip,
            "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0},
            "source": m.source,
            "tags_count": len(tags),
            "tags": [{"id": s.id, "name": s.name} for s in tags],
            "list_id": self.id,
        }
        if m.unsubscribe_reason is not None:
            body["unsubscribe_reason"] = m.unsubscribe_reason
        return body


@dataclass
class MailchimpState:
    audiences: dict[str, Audience] = field(default_factory=dict)

    def audience(self, list_id: str) -> Audience:
        try:
            return self.audiences[list_id]
        except KeyError:
            raise not_found() from None

    def member(self, list_id: str, member_key: str) -> Member:
        """A member by subscriber hash (Mailchimp also accepts the address itself)."""
        audience = self.audience(list_id)
        key = subscriber_hash(member_key) if "@" in member_key else member_key.lower()
        try:
            return audience.members[key]
        except KeyError:
            raise not_found() from None

    def create_audience(self, list_id: str, name: str, now: datetime) -> Audience:
        audience = Audience(id=list_id, name=name, created_at=now)
        for tag, label, type_ in DEFAULT_MERGE_FIELDS:
            audience.add_merge_field(tag, label, type_)
        self.audiences[list_id] = audience
        return audience


def audience_json(a: Audience) -> dict[str, Any]:
    by_status = count_statuses(a.members.values())
    return {
        "id": a.id,
        "web_id": 1,
        "name": a.name,
        "date_created": mc_time(a.created_at),
        "list_rating": 0,
        "email_type_option": False,
        "visibility": "prv",
        "double_optin": False,
        "stats": {
            "member_count": by_status.get("subscribed", 0),
            "unsubscribe_count": by_status.get("unsubscribed", 0),
            "cleaned_count": by_status.get("cleaned", 0),
            "member_count_since_send": 0,
            "merge_field_count": len(a.merge_fields),
        },
    }


def count_statuses(members: Iterable[Member]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in members:
        counts[m.status] = counts.get(m.status, 0) + 1
    return counts
