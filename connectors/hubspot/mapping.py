"""HubSpot JSON <-> syncd records.

Consent, as HubSpot exposes it, decided in this order (the first that applies wins):

1. hard bounce -> BOUNCED: ``hs_email_hard_bounce_reason_enum`` set or ``hs_email_bad_address``
   true (HubSpot stops sending to the address; the properties carry no date, so changed_at is
   None).
2. ``hs_email_optout`` true (opted out of all email) -> COMPLAINED when the opt-out's source
   is a spam report (``SOURCE_SPAM_REPORT`` on the v4 statuses), else UNSUBSCRIBED.
3. the marketing subscription type's v4 status: SUBSCRIBED / UNSUBSCRIBED; NOT_SPECIFIED (no
   opt-in recorded yet, e.g. double opt-in not confirmed) -> PENDING, never SUBSCRIBED.

Every other subscription type with a status becomes its own record with ``list_id`` = the
subscription type id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.hubspot import settings as s
from syncd.errors import MalformedResponse
from syncd.http import require
from syncd.normalize import InvalidEmail, normalize_email, parse_money, parse_timestamp
from syncd.records import (
    ActivityRecord,
    ActivityType,
    ConsentRecord,
    ConsentStatus,
    ContactRecord,
    InvalidRecord,
)


def _timestamp(value: Any, operation: str, record: str, field: str) -> datetime:
    try:
        parsed = parse_timestamp(value)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None:
        raise MalformedResponse(
            s.VENDOR, operation, f"bad or missing {field}: {value!r}", record=record
        )
    return parsed


def contact_parts(raw: Any, operation: str) -> tuple[str, dict[str, Any], datetime]:
    """(id, properties, last modified) of one contact, or MalformedResponse."""
    contact_id = str(require(raw, "id", vendor=s.VENDOR, operation=operation))
    props = require(raw, "properties", vendor=s.VENDOR, operation=operation, record=contact_id)
    if not isinstance(props, dict):
        raise MalformedResponse(
            s.VENDOR, operation, "properties is not an object", record=contact_id
        )
    modified = props.get("lastmodifieddate") or require(
        raw, "updatedAt", vendor=s.VENDOR, operation=operation, record=contact_id
    )
    return contact_id, props, _timestamp(modified, operation, contact_id, "lastmodifieddate")


def checked_email(contact_id: str, props: dict[str, Any]) -> str | InvalidRecord:
    raw = props.get("email")
    if not raw:
        return InvalidRecord(s.VENDOR, contact_id, "", "contact has no email")
    try:
        return normalize_email(str(raw))
    except InvalidEmail as exc:
        return InvalidRecord(s.VENDOR, contact_id, str(raw), str(exc))


def contact_record(
    raw: Any, memberships: list[str], extra: list[str], operation: str = "pull_contacts"
) -> ContactRecord | InvalidRecord:
    contact_id, props, modified = contact_parts(raw, operation)
    email = checked_email(contact_id, props)
    if isinstance(email, InvalidRecord):
        return email
    attributes: dict[str, str | None] = {
        attr: _text(props.get(prop)) for attr, prop in s.ATTRIBUTE_PROPERTIES.items()
    }
    for name in extra:
        attributes[name] = _text(props.get(name))
    return ContactRecord(
        tool=s.VENDOR,
        remote_id=contact_id,
        email=email,
        updated_at=modified,
        attributes=attributes,
        memberships=frozenset(memberships),
        raw_email=str(props.get("email")),
    )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def consent_records(
    email: str, props: dict[str, Any], statuses: list[dict[str, Any]], marketing_id: str | None
) -> list[ConsentRecord]:
    op = "pull_consent"
    by_id: dict[str, dict[str, Any]] = {}
    for st in statuses:
        sub_id = str(require(st, "subscriptionId", vendor=s.VENDOR, operation=op, record=email))
        require(st, "status", vendor=s.VENDOR, operation=op, record=email)
        by_id[sub_id] = st
    marketing = by_id.get(marketing_id) if marketing_id else None
    legal = marketing.get("legalBasis") if marketing else None
    changed = _status_time(marketing, email)
    bounce_reason = props.get("hs_email_hard_bounce_reason_enum")
    if bounce_reason or _true(props.get("hs_email_bad_address")):
        raw = (
            f"hs_email_hard_bounce_reason_enum={bounce_reason}"
            if bounce_reason
            else ("hs_email_bad_address=true")
        )
        main = ConsentRecord(s.VENDOR, email, ConsentStatus.BOUNCED, raw, None, legal_basis=legal)
    elif _true(props.get("hs_email_optout")):
        spam = [st for st in statuses if st.get("source") == s.SPAM_REPORT_SOURCE]
        status = ConsentStatus.COMPLAINED if spam else ConsentStatus.UNSUBSCRIBED
        raw = s.SPAM_REPORT_SOURCE if spam else "hs_email_optout=true"
        when = _status_time(spam[0], email) if spam else changed
        main = ConsentRecord(
            s.VENDOR, email, status, raw, when, legal_basis=legal, source=_source(marketing)
        )
    elif marketing is None:
        main = ConsentRecord(s.VENDOR, email, ConsentStatus.PENDING, "NOT_SPECIFIED", None)
    else:
        main = ConsentRecord(
            s.VENDOR,
            email,
            _status(str(marketing["status"])),
            str(marketing["status"]),
            changed,
            legal_basis=legal,
            source=_source(marketing),
        )
    out = [main]
    for sub_id, st in sorted(by_id.items()):
        if sub_id == marketing_id or st["status"] == "NOT_SPECIFIED":
            continue
        out.append(
            ConsentRecord(
                s.VENDOR,
                email,
                _status(str(st["status"])),
                str(st["status"]),
                _status_time(st, email),
                legal_basis=st.get("legalBasis"),
                source=_source(st),
                list_id=sub_id,
            )
        )
    return out


def _status(raw: str) -> ConsentStatus:
    return {
        "SUBSCRIBED": ConsentStatus.SUBSCRIBED,
        "UNSUBSCRIBED": ConsentStatus.UNSUBSCRIBED,
        "NOT_SPECIFIED": ConsentStatus.PENDING,
    }.get(raw, ConsentStatus.UNKNOWN)


def _source(status: dict[str, Any] | None) -> str | None:
    return (status.get("source") or None) if status else None


def _status_time(status: dict[str, Any] | None, email: str) -> datetime | None:
    if status is None or status.get("status") == "NOT_SPECIFIED":
        return None
    return _timestamp(status.get("timestamp"), "pull_consent", email, "timestamp")


def activity_record(raw: Any, email: str, kind: ActivityType) -> ActivityRecord | InvalidRecord:
    op = "pull_activity"
    event_id = str(require(raw, "id", vendor=s.VENDOR, operation=op))
    occurred = _timestamp(
        require(raw, "occurredAt", vendor=s.VENDOR, operation=op, record=event_id),
        op,
        event_id,
        "occurredAt",
    )
    props = raw.get("properties") or {}
    campaign = props.get("hs_email_campaign_id") or props.get("hs_campaign_id")
    value, currency = None, None
    if kind is ActivityType.PURCHASE:
        try:
            value, currency = parse_money(props.get("amount"), props.get("currency"))
        except ValueError as exc:
            return InvalidRecord(s.VENDOR, event_id, email, f"purchase {event_id}: {exc}")
    return ActivityRecord(
        tool=s.VENDOR,
        email=email,
        type=kind,
        occurred_at=occurred,
        event_id=event_id,
        campaign=str(campaign) if campaign else None,
        value=value,
        currency=currency,
    )


def property_name(target_name: str) -> str:
    """HubSpot internal names: lower-case letters, digits and underscores."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in target_name.strip().lower())
    return cleaned if cleaned[:1].isalpha() else f"syncd_{cleaned}"


def property_definition(name: str, kind: str) -> dict[str, Any]:
    field_type = {"number": "number", "datetime": "date", "bool": "booleancheckbox"}.get(
        kind, "text"
    )
    definition: dict[str, Any] = {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": kind,
        "fieldType": field_type,
        "groupName": "contactinformation",
        "description": "Written by syncd.",
    }
    if kind == "bool":
        definition["options"] = [
            {"label": "Yes", "value": "true", "hidden": False, "displayOrder": 0},
            {"label": "No", "value": "false", "hidden": False, "displayOrder": 1},
        ]
    return definition
