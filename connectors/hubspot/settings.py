"""HubSpot in one place: paths, batch maxima, documented rate limits, the 429 hooks, and the
connector's own config keys.

Figures: /work/shared/api-specs/README.md (HubSpot usage guidelines, changelog "Increasing our
API limits", "CRM Search API Rate Limit Increase") and the official OpenAPI files.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import Field

from syncd.connector import ConnectorSettings
from syncd.http import RateLimit, default_retry_after
from syncd.records import ActivityType

VENDOR = "hubspot"
BASE_URL = "https://api.hubapi.com"
CONTACT_OBJECT_TYPE_ID = "0-1"

# --- paths -----------------------------------------------------------------------------------
CONTACTS = "/crm/v3/objects/contacts"
CONTACTS_SEARCH = f"{CONTACTS}/search"
CONTACTS_BATCH_READ = f"{CONTACTS}/batch/read"
CONTACTS_BATCH_UPDATE = f"{CONTACTS}/batch/update"
CONTACTS_BATCH_UPSERT = f"{CONTACTS}/batch/upsert"
CONTACTS_GDPR_DELETE = f"{CONTACTS}/gdpr-delete"
LISTS = "/crm/v3/lists"
LISTS_SEARCH = f"{LISTS}/search"
RECORD_MEMBERSHIPS = f"{LISTS}/records/memberships/batch/read"
CONTACT_PROPERTIES = "/crm/v3/properties/contacts"
SUBSCRIPTION_DEFINITIONS = "/communication-preferences/v3/definitions"
EMAIL_STATUS_V3 = "/communication-preferences/v3/status/email/{email}"
STATUSES_BATCH_READ = "/communication-preferences/v4/statuses/batch/read"
EVENTS = "/events/v3/events"


def list_path(list_id: str, tail: str = "") -> str:
    return f"{LISTS}/{list_id}{tail}"


# --- batch maxima and page sizes --------------------------------------------------------------
#: batch read / update / create / upsert (docs); more is refused with 400 VALIDATION_ERROR
BATCH_MAX = 100
#: GET /crm/v3/objects/contacts
PAGE_MAX = 100
#: CRM search: 200 per page, and no query reaches past its 10,000th result (docs)
SEARCH_PAGE_MAX = 200
SEARCH_TOTAL_MAX = 10_000
#: record ids per list membership call (docs, lists guide)
MEMBERSHIP_BATCH_MAX = 100_000
#: communication preferences v4 batch read
PREFERENCES_BATCH_MAX = 100
#: events v3 page size
EVENTS_PAGE_MAX = 100
LIST_SEARCH_PAGE = 500

# --- rate limits -----------------------------------------------------------------------------
WINDOW_BURST = "burst"
WINDOW_SEARCH = "search"
WINDOW_DAILY = "daily"

Tier = Literal["free", "starter", "professional", "enterprise", "capacity_pack"]

#: requests per rolling 10 s, per account (private apps)
BURST_BY_TIER: dict[str, int] = {
    "free": 100,
    "starter": 100,
    "professional": 190,
    "enterprise": 190,
    "capacity_pack": 250,
}
DAILY_BY_TIER: dict[str, int] = {
    "free": 250_000,
    "starter": 250_000,
    "professional": 650_000,
    "enterprise": 1_000_000,
    "capacity_pack": 1_000_000,
}
#: CRM search: 4 requests / s per token (newer docs say 5; 4 is the safe figure)
SEARCH_LIMIT = RateLimit(4, 1.0)


def rate_windows(tier: str) -> dict[str, RateLimit]:
    return {
        WINDOW_BURST: RateLimit(BURST_BY_TIER[tier], 10.0),
        WINDOW_SEARCH: SEARCH_LIMIT,
        WINDOW_DAILY: RateLimit(DAILY_BY_TIER[tier], 86_400.0),
    }


def _policy(response: httpx.Response) -> str | None:
    try:
        body: Any = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    policy = body.get("policyName") if isinstance(body, dict) else None
    return policy if isinstance(policy, str) else None


def is_rate_limited(response: httpx.Response) -> bool:
    """A 429 to wait out. The DAILY policy is not: it resets at midnight in the account's
    time zone, so waiting minutes helps nothing; it surfaces as a rejected request at once."""
    return response.status_code == 429 and _policy(response) != "DAILY"


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from HubSpot's own signals.

    HubSpot sends no ``Retry-After``; its headers give the window (``-Interval-Milliseconds``)
    and what is left in it (``-Remaining``). With nothing left, the whole interval is the safe
    wait for a rolling window; the SECONDLY search policy frees up within a second.
    """
    standard = default_retry_after(response)
    if standard is not None:
        return standard
    headers = response.headers
    policy = _policy(response)
    if policy == "SECONDLY":
        return 1.0
    try:
        interval = float(headers.get("x-hubspot-ratelimit-interval-milliseconds", "10000")) / 1000
        remaining = int(headers.get("x-hubspot-ratelimit-remaining", "0"))
    except ValueError:
        return 10.0
    return interval if remaining <= 0 else 1.0


#: default event types read by pull_activity. HubSpot-defined types are named ``e_<label>``;
#: check them against GET /events/v3/events/event-types for your account and override.
DEFAULT_ACTIVITY_EVENT_TYPES: dict[str, ActivityType] = {
    "e_marketing_email_sent": ActivityType.SEND,
    "e_marketing_email_opened": ActivityType.OPEN,
    "e_marketing_email_clicked": ActivityType.CLICK,
    "e_marketing_email_bounced": ActivityType.BOUNCE,
    "e_marketing_email_unsubscribed": ActivityType.UNSUBSCRIBE,
    "e_marketing_email_spam_reported": ActivityType.COMPLAINT,
}

#: property names syncd never writes: they carry consent, and HubSpot computes them itself
PROTECTED_PROPERTIES = frozenset(
    {"hs_email_optout", "hs_email_bad_address", "hs_email_hard_bounce_reason_enum"}
)
PROTECTED_PREFIXES = ("hs_email_optout_",)

#: syncd attribute -> HubSpot contact property
ATTRIBUTE_PROPERTIES: dict[str, str] = {
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "country": "country",
    "city": "city",
    "company": "company",
    "industry": "industry",
    "company_size": "numemployees",
    "job_title": "jobtitle",
    "language": "hs_language",
}
CONSENT_PROPERTIES = ("hs_email_optout", "hs_email_bad_address", "hs_email_hard_bounce_reason_enum")
#: the source HubSpot gives an opt-out caused by a spam report
SPAM_REPORT_SOURCE = "SOURCE_SPAM_REPORT"


PropertyKind = Literal["string", "number", "datetime", "bool"]
DEFAULT_PROPERTY_TYPES: dict[str, PropertyKind] = {"syncd_score": "number"}


class HubSpotSettings(ConnectorSettings):
    """``[accounts.connectors.hubspot]``."""

    #: subscription tier: sets the burst and daily windows (override via ``rate_limits``)
    tier: Tier = "free"
    #: subscription type whose status is the contact's marketing consent; default: the
    #: portal's default subscription type (v3 definitions ``isDefault``)
    marketing_subscription_id: str | None = None
    #: event types pull_activity reads, and what each one means
    activity_event_types: dict[str, ActivityType] = Field(
        default_factory=lambda: dict(DEFAULT_ACTIVITY_EVENT_TYPES)
    )
    #: the custom purchase event's fully qualified name (``pe<portalId>_<name>``); its
    #: ``amount`` and ``currency`` properties carry the value
    purchase_event_type: str | None = None
    #: also record tags in this contact property (``;``-separated); None = lists only
    tag_property: str | None = None
    #: tag lists are named ``<prefix><tag>`` so they stay apart from other lists
    tag_list_prefix: str = ""
    #: HubSpot types for properties syncd creates (others are strings)
    property_types: dict[str, PropertyKind] = Field(
        default_factory=lambda: dict(DEFAULT_PROPERTY_TYPES)
    )
    #: extra contact properties pulled into ContactRecord.attributes under their own names
    extra_properties: list[str] = Field(default_factory=list)
    #: incremental pulls re-read this many seconds before the cursor (clock skew)
    cursor_overlap_s: float = Field(default=60.0, ge=0)
    membership_batch_max: int = Field(default=MEMBERSHIP_BATCH_MAX, gt=0, le=MEMBERSHIP_BATCH_MAX)
    batch_max: int = Field(default=BATCH_MAX, gt=0, le=BATCH_MAX)
