"""Mailchimp's documented limits, as the sandbox enforces them (all configurable per test).

Mailchimp limits concurrency, not request rate: at most 10 simultaneous connections per API
key, the 11th gets a 429 with no rate-limit headers. At very high volume the edge may throttle
with a bare 403 (no JSON body); that throttle is off unless ``burst_403`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailchimpLimits:
    #: simultaneous in-flight requests per API key; ``None`` disables the check
    max_connections: int | None = 10
    #: ``count`` maximum on collection reads (members, segments, merge fields, activity)
    page_max: int = 1000
    #: members per ``POST /lists/{list_id}`` batch subscribe / update
    batch_members_max: int = 500
    #: emails in ``members_to_add`` and, separately, in ``members_to_remove``
    segment_batch_max: int = 500
    #: collection ``count`` when a request names none
    page_default: int = 10
    #: (requests, per_seconds) beyond which the edge answers a bare 403; ``None`` = never
    burst_403: tuple[int, float] | None = None


DEFAULT_LIMITS = MailchimpLimits()
