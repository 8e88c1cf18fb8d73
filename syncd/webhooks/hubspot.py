"""HubSpot webhooks v3: a JSON array of events, signed with ``X-HubSpot-Signature-v3``.

The signature is base64(HMAC-SHA256(app client secret, method + URI + body + timestamp)), the
timestamp (milliseconds) coming in ``X-HubSpot-Request-Timestamp``; a request older than five
minutes is refused, as HubSpot asks. Events name the contact by its HubSpot id (``objectId``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from syncd.records import ConsentStatus
from syncd.webhooks.events import (
    EventKind,
    WebhookEvent,
    WebhookRejected,
    digest,
    malformed,
    unauthorised,
)

VENDOR = "hubspot"
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
OPT_OUT = "hs_email_optout"
BOUNCE_PROPERTIES = frozenset({"hs_email_hard_bounce_reason_enum", "hs_email_bad_address"})
IGNORED_TYPES = frozenset({"contact.deletion", "contact.privacyDeletion"})


def signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + uri.encode() + body + timestamp.encode()
    mac = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    max_age_s: float,
) -> None:
    """Raises 401 for a missing, wrong or stale signature."""
    given = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER.lower()) or headers.get(TIMESTAMP_HEADER)
    if not given or not stamp:
        raise unauthorised("X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required")
    try:
        sent = int(stamp) / 1000
    except ValueError:
        raise unauthorised("X-HubSpot-Request-Timestamp is not milliseconds") from None
    if abs(now.timestamp() - sent) > max_age_s:
        raise unauthorised("the request timestamp is too old (a replay?)")
    expected = signature(secret, method, unquote(uri), body, stamp)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise unauthorised("the signature does not match")


def _event(raw: Any) -> WebhookEvent:
    if not isinstance(raw, dict):
        raise malformed("each event must be an object")
    kind, event_id, object_id = raw.get("subscriptionType"), raw.get("eventId"), raw.get("objectId")
    if not isinstance(kind, str) or event_id is None or object_id is None:
        raise malformed("each event needs subscriptionType, eventId and objectId")
    occurred = raw.get("occurredAt")
    when = (
        datetime.fromtimestamp(occurred / 1000, UTC)
        if isinstance(occurred, int | float) and not isinstance(occurred, bool)
        else None
    )
    key = digest(VENDOR, raw.get("portalId"), raw.get("subscriptionId"), event_id)
    common: dict[str, Any] = {"remote_id": str(object_id), "occurred_at": when, "name": kind}
    if kind in IGNORED_TYPES or not kind.startswith("contact."):
        return WebhookEvent(VENDOR, EventKind.IGNORED, key, **common)
    prop, value = raw.get("propertyName"), str(raw.get("propertyValue") or "").lower()
    if kind == "contact.propertyChange" and prop == OPT_OUT and value == "true":
        return WebhookEvent(
            VENDOR,
            EventKind.CONSENT,
            key,
            status=ConsentStatus.UNSUBSCRIBED,
            raw_status=f"{OPT_OUT}=true",
            **common,
        )
    if (
        kind == "contact.propertyChange"
        and prop in BOUNCE_PROPERTIES
        and value not in ("", "false")
    ):
        return WebhookEvent(
            VENDOR,
            EventKind.CONSENT,
            key,
            status=ConsentStatus.BOUNCED,
            raw_status=f"{prop}={value}",
            **common,
        )
    return WebhookEvent(VENDOR, EventKind.CHANGED, key, **common)


def events(body: bytes) -> list[WebhookEvent]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise malformed("the body is not JSON") from None
    if not isinstance(payload, list) or not payload:
        raise malformed("expected a non-empty JSON array of events")
    if len(payload) > 100:
        raise malformed("HubSpot sends at most 100 events per request")
    return [_event(raw) for raw in payload]


__all__ = ["WebhookRejected", "events", "signature", "verify"]
