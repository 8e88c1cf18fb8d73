"""Mailchimp audience webhooks: a form-encoded POST (``type``, ``fired_at``, ``data[...]``).

Mailchimp signs nothing; it recommends a hard-to-guess secret in the URL, which is how this
receiver authenticates (``/webhooks/mailchimp/{account}/{secret}``). Mailchimp checks a new
webhook URL with a GET, answered 200 once the secret matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from syncd.normalize import InvalidEmail, normalize_email
from syncd.records import ConsentStatus
from syncd.webhooks.events import EventKind, WebhookEvent, digest, malformed

VENDOR = "mailchimp"
TYPES = frozenset({"subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"})
FIRED_AT = "%Y-%m-%d %H:%M:%S"
_KEY = re.compile(r"^([A-Za-z_]+)((?:\[[^\[\]]*\])*)$")


def parse_form(body: bytes) -> dict[str, Any]:
    """``data[merges][FNAME]=x`` -> ``{"data": {"merges": {"FNAME": "x"}}}``."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise malformed("the body is not form-encoded") from None
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise malformed(f"unexpected form key {key!r}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise malformed(f"form key {key!r} clashes with another")
            node = child
        node[path[-1]] = value
    return out


def fired_at(form: Mapping[str, Any]) -> datetime:
    raw = form.get("fired_at")
    if not isinstance(raw, str):
        raise malformed("fired_at is missing")
    try:
        return datetime.strptime(raw, FIRED_AT).replace(tzinfo=UTC)
    except ValueError:
        raise malformed(f"fired_at {raw!r} is not 'Y-m-d H:i:s'") from None


def _email(data: Mapping[str, Any], field: str) -> str:
    raw = data.get(field)
    if not isinstance(raw, str) or not raw.strip():
        raise malformed(f"data[{field}] is missing")
    try:
        return normalize_email(raw)
    except InvalidEmail:
        raise malformed(f"data[{field}] is not an email address") from None


def events(body: bytes) -> tuple[datetime, list[WebhookEvent]]:
    """The delivery's time and its event (Mailchimp sends one per request)."""
    form = parse_form(body)
    kind = form.get("type")
    if kind not in TYPES:
        raise malformed(f"type must be one of {', '.join(sorted(TYPES))}")
    when = fired_at(form)
    data = form.get("data")
    if not isinstance(data, dict):
        raise malformed("data[...] is missing")
    key = digest(VENDOR, kind, form["fired_at"], sorted(_flat(data)))
    if kind == "campaign":
        return when, [WebhookEvent(VENDOR, EventKind.IGNORED, key, occurred_at=when, name=kind)]
    if kind == "upemail":
        old, new = _email(data, "old_email"), _email(data, "new_email")
        return when, [
            WebhookEvent(VENDOR, EventKind.CHANGED, key, email=old, occurred_at=when, name=kind),
            WebhookEvent(VENDOR, EventKind.CHANGED, key + ":new", email=new, occurred_at=when),
        ]
    email = _email(data, "email")
    reason = str(data.get("reason") or "").lower()
    status: ConsentStatus | None = None
    if kind == "unsubscribe" and data.get("action", "unsub") != "delete":
        status = ConsentStatus.COMPLAINED if "abuse" in reason else ConsentStatus.UNSUBSCRIBED
        raw = "unsubscribed"
    elif kind == "cleaned":
        status = ConsentStatus.COMPLAINED if "abuse" in reason else ConsentStatus.BOUNCED
        raw = "cleaned"
    if status is None:
        return when, [
            WebhookEvent(VENDOR, EventKind.CHANGED, key, email=email, occurred_at=when, name=kind)
        ]
    return when, [
        WebhookEvent(
            VENDOR,
            EventKind.CONSENT,
            key,
            email=email,
            status=status,
            raw_status=raw,
            occurred_at=when,
            name=kind,
        )
    ]


def _flat(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in data.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((prefix + k, str(v)))
    return out
