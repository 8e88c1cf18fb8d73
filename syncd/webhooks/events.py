"""What a vendor webhook says, in syncd's words, and why a delivery is refused.

Each vendor module turns an authenticated request into :class:`WebhookEvent` values; the
processor applies them. Only suppressing statuses (unsubscribed, complained, bounced) change
consent: a webhook never subscribes anyone. Everything else only marks the contact changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from syncd.records import ConsentStatus


class EventKind(StrEnum):
    #: an unsubscribe, complaint or hard bounce: consent changes now, removals go out now
    CONSENT = "consent"
    #: a profile change, a new subscriber, a list addition: the next incremental run looks
    CHANGED = "changed"
    #: nothing syncd acts on (a campaign being sent, an unknown event type)
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    vendor: str
    kind: EventKind
    #: a stable key per event (the vendor's event id, or a digest of the event): replays
    key: str
    email: str | None = None
    #: the vendor's own contact id, when the event names no email (HubSpot's objectId)
    remote_id: str | None = None
    status: ConsentStatus | None = None
    raw_status: str = ""
    list_id: str | None = None
    occurred_at: datetime | None = None
    #: the vendor's event name, kept for the report
    name: str = ""


class WebhookRejected(Exception):
    """A delivery refused before anything is stored: the status to answer and why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status} {message}")


def unauthorised(message: str = "not authenticated") -> WebhookRejected:
    return WebhookRejected(401, message)


def malformed(message: str) -> WebhookRejected:
    return WebhookRejected(400, message)


def digest(*parts: object) -> str:
    """A replay key made of an event's own fields (for vendors that send no event id)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode()).hexdigest()
