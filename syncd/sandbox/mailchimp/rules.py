"""Mailchimp's write rules: member upserts with the consent rule, batch subscribe / update,
tag (static segment) changes and permanent deletion.

The consent rule: a member who unsubscribed or was cleaned (hard bounce) cannot be set back to
subscribed through the API ("Member In Compliance State"); a permanently deleted address cannot
be re-added at all ("Forgotten Email Not Subscribed"). Only the person can resubscribe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.sandbox.mailchimp.models import BatchMemberIn, BatchMembersIn, MemberIn
from syncd.sandbox.mailchimp.state import (
    Audience,
    Member,
    Problem,
    Segment,
    invalid_resource,
    looks_like_email,
    subscriber_hash,
)

ADMIN_UNSUBSCRIBE = "N/A (Unsubscribed by an admin)"
LOCKED_STATUSES = frozenset({"unsubscribed", "cleaned"})
NOT_ON_LIST = "Email address is not a member of this audience"


@dataclass
class Upsert:
    email_address: str
    status: str | None = None
    status_if_new: str | None = None
    merge_fields: dict[str, Any] | None = None
    language: str | None = None
    vip: bool | None = None
    email_type: str | None = None

    @classmethod
    def of(cls, body: MemberIn | BatchMemberIn, email: str) -> Upsert:
        return cls(
            email_address=email,
            status=body.status,
            status_if_new=body.status_if_new,
            merge_fields=body.merge_fields,
            language=body.language,
            vip=body.vip,
            email_type=body.email_type,
        )


def fake_email(email: str) -> Problem:
    return Problem(
        400,
        "Invalid Resource",
        f"{email} looks fake or invalid, please enter a real email address.",
    )


def compliance(email: str) -> Problem:
    return Problem(
        400,
        "Member In Compliance State",
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed.",
    )


def forgotten(email: str) -> Problem:
    return Problem(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. "
        "The contact must re-subscribe to get back on the list.",
    )


def _check_merge_fields(audience: Audience, values: dict[str, Any]) -> None:
    unknown = [tag for tag in values if tag.upper() not in audience.merge_fields]
    if unknown:
        raise Problem(
            400,
            "Invalid Resource",
            "Your merge fields were invalid.",
            [{"field": tag, "message": "Merge field does not exist"} for tag in unknown],
        )
    for tag, value in values.items():
        kind = audience.merge_fields[tag.upper()].type
        if kind == "address" and value != "" and not isinstance(value, dict):
            raise invalid_resource([{"field": tag, "message": "Please enter a complete address"}])
        if kind != "address" and isinstance(value, dict | list):
            raise invalid_resource([{"field": tag, "message": "Value must be a string"}])


def _set_status(member: Member, status: str, now: datetime) -> bool:
    if status == member.status:
        return False
    if status == "subscribed":
        if member.status in LOCKED_STATUSES:
            raise compliance(member.email_address)
        member.timestamp_opt = now
        member.unsubscribe_reason = None
    elif status == "pending" and member.status == "cleaned":
        raise compliance(member.email_address)
    elif status == "unsubscribed":
        member.unsubscribe_reason = ADMIN_UNSUBSCRIBE
    member.status = status
    return True


def upsert_member(
    audience: Audience,
    change: Upsert,
    now: datetime,
    *,
    allow_update: bool = True,
    allow_create: bool = True,
) -> tuple[Member, bool]:
    """Create or update one member; return it and whether it was created. Raises Problem."""
    email = change.email_address
    if not looks_like_email(email):
        raise fake_email(email)
    key = subscriber_hash(email)
    if change.merge_fields:
        _check_merge_fields(audience, change.merge_fields)
    member = audience.members.get(key)
    created = member is None
    if member is None:
        status = change.status or change.status_if_new
        if not allow_create:
            raise Problem(404, "Resource Not Found", "The requested resource could not be found.")
        if key in audience.forgotten:
            raise forgotten(email)
        if status is None:
            raise invalid_resource(
                [{"field": "status", "message": "This value should not be blank."}]
            )
        member = audience.add_member(email.strip(), status, now)
        if status == "unsubscribed":
            member.unsubscribe_reason = ADMIN_UNSUBSCRIBE
        changed = True
    else:
        if not allow_update:
            raise Problem(
                400,
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        changed = _set_status(member, change.status, now) if change.status else False
    for tag, value in (change.merge_fields or {}).items():
        if member.merge_fields.get(tag.upper()) != value:
            member.merge_fields[tag.upper()] = value
            changed = True
    for attr in ("language", "vip", "email_type"):
        value = getattr(change, attr)
        if value is not None and getattr(member, attr) != value:
            setattr(member, attr, value)
            changed = True
    if changed:
        member.last_changed = now
    return member, created


def batch_members(audience: Audience, body: BatchMembersIn, now: datetime) -> dict[str, Any]:
    """``POST /lists/{id}``: every member on its own; failures go to ``errors``."""
    new: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in body.members:
        key = subscriber_hash(item.email_address)
        if key in seen:
            errors.append(
                _member_error(item.email_address, "Duplicate member in request", "ERROR_GENERIC")
            )
            continue
        seen.add(key)
        try:
            member, created = upsert_member(
                audience,
                Upsert.of(item, item.email_address),
                now,
                allow_update=body.update_existing,
            )
        except Problem as exc:
            code = "ERROR_CONTACT_EXISTS" if exc.title == "Member Exists" else "ERROR_GENERIC"
            # a per-member error names the field, as the problem's ``errors`` array would
            field = exc.errors[0]["field"] if exc.errors else ""
            text = (
                "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors or []) or exc.detail
            )
            errors.append(_member_error(item.email_address, text, code, field))
            continue
        (new if created else updated).append(audience.member_json(member))
    return {
        "new_members": new,
        "updated_members": updated,
        "errors": errors,
        "total_created": len(new),
        "total_updated": len(updated),
        "error_count": len(errors),
    }


def _member_error(email: str, error: str, code: str, field: str = "") -> dict[str, Any]:
    return {
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": field,
        "field_message": "",
    }


def segment_batch(
    audience: Audience, segment: Segment, adds: list[str], removes: list[str], now: datetime
) -> dict[str, Any]:
    """Bulk tag / untag by email. Addresses not on the audience are reported, not added."""
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    failed: dict[str, list[str]] = {}
    for email, adding in [(e, True) for e in adds] + [(e, False) for e in removes]:
        member = audience.members.get(subscriber_hash(email))
        if member is None:
            reason = NOT_ON_LIST if looks_like_email(email) else fake_email(email).detail
            failed.setdefault(reason, []).append(email)
            continue
        if adding == (member.id in segment.members):
            continue  # already as asked: Mailchimp reports nothing for it
        if adding:
            segment.members.add(member.id)
            added.append(audience.member_json(member))
        else:
            segment.members.discard(member.id)
            removed.append(audience.member_json(member))
        member.last_changed = now
        segment.updated_at = now
    errors = [
        {"email_addresses": emails, "error": reason, "error_code": "ERROR_GENERIC"}
        for reason, emails in failed.items()
    ]
    return {
        "members_added": added,
        "members_removed": removed,
        "errors": errors,
        "total_added": len(added),
        "total_removed": len(removed),
        "error_count": sum(len(e) for e in failed.values()),
    }


def set_member_tags(
    audience: Audience, member: Member, tags: list[tuple[str, bool]], now: datetime
) -> None:
    """``POST .../members/{hash}/tags``: active tags added (created if new), inactive removed."""
    changed = False
    for name, active in tags:
        segment = audience.segment_named(name)
        if segment is None:
            if not active:
                continue
            segment = audience.add_segment(name, now)
        if active and member.id not in segment.members:
            segment.members.add(member.id)
        elif not active and member.id in segment.members:
            segment.members.discard(member.id)
        else:
            continue
        segment.updated_at = now
        changed = True
    if changed:
        member.last_changed = now


def delete_permanent(audience: Audience, member: Member) -> None:
    """GDPR erasure: the member and its history go; the address can never be re-added."""
    del audience.members[member.id]
    for segment in audience.segments.values():
        segment.members.discard(member.id)
    audience.forgotten.add(member.id)


def archive(member: Member, now: datetime) -> None:
    if member.status != "archived":
        member.status = "archived"
        member.last_changed = now
