"""Brevo JSON <-> syncd records.

Consent, as Brevo exposes it:

* ``emailBlacklisted`` true: suppressed from all email. Brevo does not say why on the contact;
  the reason shows in the contact's campaign statistics. Nothing is sent to a blacklisted
  contact, so the latest of ``hardBounces`` (-> bounced), ``complaints`` (-> complained) and
  ``unsubscriptions`` (-> unsubscribed) up to its ``modifiedAt`` decides, looked up in 90-day
  spans walking back to its ``createdAt`` at most; with none found it is ``unsubscribed`` (all three
  suppress, so the fallback never under-protects).
* not blacklisted with ``DOUBLE_OPT-IN`` = No: a double opt-in not confirmed -> pending.
* otherwise subscribed (Brevo has no other opt-in state on a contact).
* each id in ``listUnsubscribed``: unsubscribed from that list only (``list_id`` set).
"""

from __future__ import annotations

import hashlib
import re
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

#: Brevo attribute -> syncd attribute name
ATTRIBUTES_IN = {
    "FIRSTNAME": "first_name",
    "LASTNAME": "last_name",
    "SMS": "phone",
    "COUNTRY": "country",
    "CITY": "city",
    "COMPANY": "company",
    "INDUSTRY": "industry",
    "COMPANY_SIZE": "company_size",
    "JOB_TITLE": "job_title",
    "LANGUAGE": "language",
}
ATTRIBUTES_OUT = {v: k for k, v in ATTRIBUTES_IN.items()}
DOI_ATTRIBUTE = "DOUBLE_OPT-IN"
_DOI_NOT_CONFIRMED = {"2", "no"}


def attribute_name(syncd_name: str) -> str:
    """The Brevo attribute for a syncd property: its own for known fields, else upper-case."""
    if syncd_name in ATTRIBUTES_OUT:
        return ATTRIBUTES_OUT[syncd_name]
    return re.sub(r"[^A-Za-z0-9_]", "_", syncd_name).upper()


def _timestamp(raw: dict[str, Any], key: str, operation: str, record: str) -> datetime:
    value = require(raw, key, vendor=VENDOR, operation=operation, record=record)
    try:
        parsed = parse_timestamp(value)
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(VENDOR, operation, f"bad {key} {value!r}", record=record) from exc
    if parsed is None:
        raise MalformedResponse(VENDOR, operation, f"empty {key}", record=record)
    return parsed


def contact_id(raw: Any, operation: str) -> str:
    return str(require(raw, "id", vendor=VENDOR, operation=operation))


def contact_email(raw: dict[str, Any], operation: str) -> tuple[str | None, InvalidRecord | None]:
    """The normalised email, or the InvalidRecord saying why there is none."""
    cid = contact_id(raw, operation)
    stored = raw.get("email")
    if not isinstance(stored, str) or not stored.strip():
        return None, InvalidRecord(VENDOR, cid, stored or "", "no email (SMS or ext_id contact)")
    try:
        return normalize_email(stored), None
    except InvalidEmail as exc:
        return None, InvalidRecord(VENDOR, cid, stored, f"invalid email: {exc}")


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def to_contact(raw: dict[str, Any], email: str, operation: str) -> ContactRecord:
    cid = contact_id(raw, operation)
    attributes_raw = raw.get("attributes") or {}
    if not isinstance(attributes_raw, dict):
        raise MalformedResponse(VENDOR, operation, "attributes is not an object", record=cid)
    attributes = {
        ATTRIBUTES_IN.get(str(name), str(name)): _text(value)
        for name, value in attributes_raw.items()
        if name != DOI_ATTRIBUTE  # a consent signal: pull_consent reports it
    }
    list_ids = require(raw, "listIds", vendor=VENDOR, operation=operation, record=cid)
    return ContactRecord(
        tool=VENDOR,
        remote_id=cid,
        email=email,
        updated_at=_timestamp(raw, "modifiedAt", operation, cid),
        attributes=attributes,
        memberships=frozenset(str(i) for i in list_ids),
        raw_email=raw.get("email"),
    )


def is_blacklisted(raw: dict[str, Any], operation: str) -> bool:
    record = contact_id(raw, operation)
    return bool(require(raw, "emailBlacklisted", vendor=VENDOR, operation=operation, record=record))


def blacklist_reason(
    stats: dict[str, Any], operation: str, record: str
) -> tuple[ConsentStatus, str, datetime] | None:
    """The latest bounce / complaint / unsubscription in a campaignStats body."""
    found: list[tuple[datetime, ConsentStatus, str]] = []
    unsubscriptions = stats.get("unsubscriptions") or {}
    sources = (
        (stats.get("hardBounces"), ConsentStatus.BOUNCED, "hardBounce"),
        (stats.get("complaints"), ConsentStatus.COMPLAINED, "complaint"),
        (
            unsubscriptions.get("userUnsubscription"),
            ConsentStatus.UNSUBSCRIBED,
            "userUnsubscription",
        ),
        (
            unsubscriptions.get("adminUnsubscription"),
            ConsentStatus.UNSUBSCRIBED,
            "adminUnsubscription",
        ),
    )
    for items, status, label in sources:
        for item in items or []:
            found.append((_timestamp(item, "eventTime", operation, record), status, label))
    if not found:
        return None
    at, status, label = max(found, key=lambda f: f[0])
    return status, label, at


def to_consent(
    raw: dict[str, Any],
    email: str,
    operation: str,
    reason: tuple[ConsentStatus, str, datetime] | None = None,
) -> list[ConsentRecord]:
    blacklisted = is_blacklisted(raw, operation)
    doi = _text((raw.get("attributes") or {}).get(DOI_ATTRIBUTE))
    changed_at: datetime | None = None
    if blacklisted:
        status, raw_status = ConsentStatus.UNSUBSCRIBED, "emailBlacklisted=true"
        if reason is not None:
            status, label, changed_at = reason
            raw_status = f"emailBlacklisted=true;{label}"
    elif doi is not None and doi.lower() in _DOI_NOT_CONFIRMED:
        status, raw_status = ConsentStatus.PENDING, f"emailBlacklisted=false;{DOI_ATTRIBUTE}={doi}"
    else:
        status, raw_status = ConsentStatus.SUBSCRIBED, "emailBlacklisted=false"
    records = [ConsentRecord(VENDOR, email, status, raw_status, changed_at, source="brevo")]
    for list_id in raw.get("listUnsubscribed") or []:
        records.append(
            ConsentRecord(
                VENDOR,
                email,
                ConsentStatus.UNSUBSCRIBED,
                "listUnsubscribed",
                None,
                source="brevo",
                list_id=str(list_id),
            )
        )
    return records


# --- activity ------------------------------------------------------------------------------

_SIMPLE = (
    ("messagesSent", ActivityType.SEND),
    ("opened", ActivityType.OPEN),
    ("hardBounces", ActivityType.BOUNCE),
    ("softBounces", ActivityType.BOUNCE),
    ("complaints", ActivityType.COMPLAINT),
)


def _event_id(cid: str, kind: str, *parts: object) -> str:
    digest = hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:16]
    return f"brevo:{cid}:{kind}:{digest}"


def to_activity(
    stats: dict[str, Any], cid: str, email: str, operation: str
) -> list[ActivityRecord]:
    """One record per campaignStats event; ids built from stable fields only."""
    out: list[ActivityRecord] = []

    def add(kind: str, type_: ActivityType, item: dict[str, Any], *extra: object) -> None:
        at = _timestamp(item, "eventTime", operation, cid)
        campaign = item.get("campaignId")
        out.append(
            ActivityRecord(
                tool=VENDOR,
                email=email,
                type=type_,
                occurred_at=at,
                event_id=_event_id(cid, kind, campaign, at.isoformat(), *extra),
                campaign=str(campaign) if campaign is not None else None,
            )
        )

    for key, type_ in _SIMPLE:
        for item in stats.get(key) or []:
            add(key, type_, item)
    for item in stats.get("clicked") or []:
        for link in require(item, "links", vendor=VENDOR, operation=operation, record=cid):
            merged = {"campaignId": item.get("campaignId"), **link}
            add("clicked", ActivityType.CLICK, merged, link.get("url"))
    unsubscriptions = stats.get("unsubscriptions") or {}
    for key in ("userUnsubscription", "adminUnsubscription"):
        for item in unsubscriptions.get(key) or []:
            add(key, ActivityType.UNSUBSCRIBE, item)
    for order in stats.get("transacAttributes") or []:
        order_id = require(order, "orderId", vendor=VENDOR, operation=operation, record=cid)
        day = require(order, "orderDate", vendor=VENDOR, operation=operation, record=cid)
        at = parse_timestamp(f"{day}T00:00:00Z" if len(str(day)) == 10 else day)
        if at is None:
            raise MalformedResponse(VENDOR, operation, "empty orderDate", record=cid)
        try:
            value, _ = parse_money(order.get("orderPrice"), None)
        except ValueError as exc:
            raise MalformedResponse(VENDOR, operation, str(exc), record=cid) from exc
        out.append(
            ActivityRecord(
                tool=VENDOR,
                email=email,
                type=ActivityType.PURCHASE,
                occurred_at=at,
                event_id=f"brevo:{cid}:order:{order_id}",
                value=value,
            )
        )
    return out
