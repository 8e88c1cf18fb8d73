"""Brevo marketing webhooks: one JSON event per POST (``event``, ``email``, ``ts_event`` ...).

Brevo sends no signature; a webhook is created with Basic-auth credentials or a URL of our
choosing, so this receiver takes either the secret as the Basic-auth password (user name from
the config) or a secret path segment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.normalize import InvalidEmail, normalize_email
from syncd.records import ConsentStatus
from syncd.webhooks.events import EventKind, WebhookEvent, digest, malformed

VENDOR = "brevo"
#: Brevo's event names that withdraw consent, and what they mean here
CONSENT_EVENTS: Mapping[str, tuple[ConsentStatus, str]] = {
    "unsubscribed": (ConsentStatus.UNSUBSCRIBED, "emailBlacklisted=true;unsubscribed"),
    "hard_bounce": (ConsentStatus.BOUNCED, "emailBlacklisted=true;hardBounce"),
    "spam": (ConsentStatus.COMPLAINED, "emailBlacklisted=true;spam"),
}
CHANGED_EVENTS = frozenset({"list_addition", "contact_updated"})
IGNORED_EVENTS = frozenset(
    {"delivered", "opened", "unique_opened", "click", "soft_bounce", "proxy_open", "request"}
    | {"contact_deleted", "deferred", "blocked", "invalid_email", "sent"}
)


def _when(event: Mapping[str, Any]) -> datetime:
    for field in ("ts_event", "ts"):
        value = event.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    raise malformed("ts_event (seconds since the epoch) is missing")


def events(body: bytes) -> tuple[datetime, list[WebhookEvent]]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise malformed("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise malformed("expected one JSON object")
    name = payload.get("event")
    known = set(CONSENT_EVENTS) | CHANGED_EVENTS | IGNORED_EVENTS
    if not isinstance(name, str) or name not in known:
        raise malformed(f"unknown event {name!r}")
    when = _when(payload)
    key = digest(VENDOR, name, payload.get("email"), when.timestamp(), payload.get("camp_id"))
    if name in IGNORED_EVENTS:
        return when, [WebhookEvent(VENDOR, EventKind.IGNORED, key, occurred_at=when, name=name)]
    raw = payload.get("email")
    if not isinstance(raw, str):
        raise malformed("email is missing")
    try:
        email = normalize_email(raw)
    except InvalidEmail:
        raise malformed("email is not an email address") from None
    if name in CHANGED_EVENTS:
        return when, [
            WebhookEvent(VENDOR, EventKind.CHANGED, key, email=email, occurred_at=when, name=name)
        ]
    status, raw_status = CONSENT_EVENTS[name]
    return when, [
        WebhookEvent(
            VENDOR,
            EventKind.CONSENT,
            key,
            email=email,
            status=status,
            raw_status=raw_status,
            occurred_at=when,
            name=name,
        )
    ]
