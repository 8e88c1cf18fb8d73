"""Mailchimp JSON <-> syncd records.

Decisions (documented here, relied on by the sandbox and the tests):
- status -> ConsentStatus: subscribed -> SUBSCRIBED, pending -> PENDING, cleaned (hard bounce)
  -> BOUNCED, unsubscribed -> UNSUBSCRIBED, or COMPLAINED when ``unsubscribe_reason`` names an
  abuse complaint (Mailchimp unsubscribes whoever reports spam); transactional (never opted in
  to marketing) and archived (put aside by an admin, not by the person) -> UNKNOWN, which is not
  a consent to market nor a suppression. ``raw_status`` keeps the vendor word.
- merge fields -> attributes: FNAME, LNAME, PHONE, COMPANY, INDUSTRY, CO_SIZE, JOB_TITLE, the
  ADDRESS parts city and country, and the member's ``language``; any other merge field under
  its name when that is a plain identifier (e.g. ``syncd_score``), else its lower-cased tag.
- tags -> memberships (tag names).
- activity feed -> ActivityRecord: sent, open, click, bounce, unsub, abuse (complaint) and
  order (purchase: ``order_id``, ``order_total``, ``currency_code``); other feed items (signup,
  note, ...) are not activity syncd scores. Event ids are stable: the order id for orders,
  else a digest of member, type, time, campaign and link.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

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

from .settings import VENDOR

#: merge tag -> syncd attribute
ATTRIBUTE_OF_TAG = {
    "FNAME": "first_name",
    "LNAME": "last_name",
    "PHONE": "phone",
    "COMPANY": "company",
    "INDUSTRY": "industry",
    "CO_SIZE": "company_size",
    "JOB_TITLE": "job_title",
}
TAG_OF_ATTRIBUTE = {v: k for k, v in ATTRIBUTE_OF_TAG.items()}
#: syncd attributes kept outside merge fields
ADDRESS_PARTS = ("city", "country")

STATUS = {
    "subscribed": ConsentStatus.SUBSCRIBED,
    "pending": ConsentStatus.PENDING,
    "cleaned": ConsentStatus.BOUNCED,
    "unsubscribed": ConsentStatus.UNSUBSCRIBED,
    "transactional": ConsentStatus.UNKNOWN,
    "archived": ConsentStatus.UNKNOWN,
}

ACTIVITY = {
    "sent": ActivityType.SEND,
    "open": ActivityType.OPEN,
    "click": ActivityType.CLICK,
    "bounce": ActivityType.BOUNCE,
    "unsub": ActivityType.UNSUBSCRIBE,
    "abuse": ActivityType.COMPLAINT,
    "order": ActivityType.PURCHASE,
}

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def attribute_name(tag: str, field_names: Mapping[str, str]) -> str:
    """The syncd name of a merge field that is not one of the standard attributes."""
    name = field_names.get(tag, "")
    return name if _IDENTIFIER.match(name) else tag.lower()


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _member_email(member: Any, operation: str) -> tuple[str, str, str | InvalidRecord]:
    remote_id = str(require(member, "id", vendor=VENDOR, operation=operation))
    raw = require(member, "email_address", vendor=VENDOR, operation=operation, record=remote_id)
    if not isinstance(raw, str):
        raise MalformedResponse(
            VENDOR, operation, "email_address is not a string", record=remote_id
        )
    try:
        return remote_id, raw, normalize_email(raw)
    except InvalidEmail as exc:
        return remote_id, raw, InvalidRecord(VENDOR, remote_id, raw, f"invalid email: {exc}")


def _when(member: Any, key: str, operation: str, record: str) -> datetime:
    value = require(member, key, vendor=VENDOR, operation=operation, record=record)
    try:
        parsed = parse_timestamp(value)
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(VENDOR, operation, f"bad {key}: {value!r}", record=record) from exc
    if parsed is None:
        raise MalformedResponse(VENDOR, operation, f"empty {key}", record=record)
    return parsed


def last_changed(member: Any, operation: str) -> datetime:
    return _when(member, "last_changed", operation, str(member.get("id", "?")))


def contact_of(
    member: Any, field_names: Mapping[str, str], operation: str = "pull_contacts"
) -> ContactRecord | InvalidRecord:
    remote_id, raw, email = _member_email(member, operation)
    if isinstance(email, InvalidRecord):
        return email
    updated = _when(member, "last_changed", operation, remote_id)
    merge = member.get("merge_fields") or {}
    attributes: dict[str, str | None] = {name: None for name in TAG_OF_ATTRIBUTE}
    attributes.update({part: None for part in ADDRESS_PARTS})
    for tag, value in merge.items():
        if tag == "ADDRESS":
            address = value if isinstance(value, dict) else {}
            for part in ADDRESS_PARTS:
                attributes[part] = _text(address.get(part))
        elif tag in ATTRIBUTE_OF_TAG:
            attributes[ATTRIBUTE_OF_TAG[tag]] = _text(value)
        else:
            attributes[attribute_name(tag, field_names)] = _text(value)
    attributes["language"] = _text(member.get("language"))
    tags = member.get("tags") or []
    names = frozenset(str(t["name"]) for t in tags if isinstance(t, dict) and "name" in t)
    return ContactRecord(
        tool=VENDOR,
        remote_id=remote_id,
        email=email,
        updated_at=updated,
        attributes=attributes,
        memberships=names,
        raw_email=raw,
    )


def consent_status(status: str, unsubscribe_reason: str | None) -> ConsentStatus:
    if status == "unsubscribed" and unsubscribe_reason and "abuse" in unsubscribe_reason.lower():
        return ConsentStatus.COMPLAINED
    return STATUS.get(status, ConsentStatus.UNKNOWN)


def consent_of(member: Any, operation: str = "pull_consent") -> ConsentRecord | InvalidRecord:
    remote_id, _, email = _member_email(member, operation)
    if isinstance(email, InvalidRecord):
        return email
    raw_status = str(
        require(member, "status", vendor=VENDOR, operation=operation, record=remote_id)
    )
    status = consent_status(raw_status, member.get("unsubscribe_reason"))
    changed = _when(member, "last_changed", operation, remote_id)
    if status in (ConsentStatus.SUBSCRIBED, ConsentStatus.PENDING):
        opted = parse_timestamp(member.get("timestamp_opt") or None)
        changed = opted or changed
    return ConsentRecord(
        tool=VENDOR,
        email=email,
        status=status,
        raw_status=raw_status,
        changed_at=changed,
        source=_text(member.get("source")),
    )


def event_id(member_id: str, item: Mapping[str, Any]) -> str:
    if item.get("activity_type") == "order" and item.get("order_id"):
        return f"mc:{member_id}:order:{item['order_id']}"
    key = "|".join(
        str(item.get(k) or "")
        for k in ("activity_type", "created_at_timestamp", "campaign_id", "link_clicked")
    )
    digest = hashlib.sha1(f"{member_id}|{key}".encode(), usedforsecurity=False).hexdigest()
    return f"mc:{member_id}:{digest[:20]}"


def activity_of(
    member_id: str, email: str, item: Any, operation: str = "pull_activity"
) -> ActivityRecord | None:
    """One feed item as an ActivityRecord, or None for feed items that are not activity."""
    kind = require(item, "activity_type", vendor=VENDOR, operation=operation, record=member_id)
    activity = ACTIVITY.get(str(kind))
    if activity is None:
        return None
    occurred = _when(item, "created_at_timestamp", operation, member_id)
    value = currency = None
    if activity is ActivityType.PURCHASE:
        try:
            value, currency = parse_money(item.get("order_total"), item.get("currency_code"))
        except ValueError as exc:
            raise MalformedResponse(VENDOR, operation, str(exc), record=member_id) from exc
    return ActivityRecord(
        tool=VENDOR,
        email=email,
        type=activity,
        occurred_at=occurred,
        event_id=event_id(member_id, item),
        campaign=_text(item.get("campaign_id")),
        value=value,
        currency=currency,
    )


def feed_time(item: Any, member_id: str, operation: str = "pull_activity") -> datetime:
    return _when(item, "created_at_timestamp", operation, member_id)
