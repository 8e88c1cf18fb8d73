"""Brevo's paths, batch maxima, documented rate limits and the hooks for syncd.http.

Sources: brevo-python 5.1.0 (paths, parameters, "maximum 150" per list add / remove, page
maxima, campaignStats 90-day span), the docs "Rate limits" page (General tier: /v3/contacts
10 per second and 36,000 per hour, both to respect; unlisted endpoints 100 per hour) and
"Rate limit headers" (x-sib-ratelimit-reset, seconds; no Retry-After). ``POST /contacts/batch``
was deprecated on 2026-10-30 (changelog 2026-05-12) in favour of ``POST /contacts/import``,
which is what this connector writes attributes with.
"""

from __future__ import annotations

import httpx
from pydantic import Field

from syncd.connector import ConnectorSettings
from syncd.http import RateLimit

VENDOR = "brevo"
BASE_URL = "https://api.brevo.com/v3"

# --- paths (relative to BASE_URL) ----------------------------------------------------------
CONTACTS = "/contacts"
CONTACT = "/contacts/{identifier}"
CONTACT_STATS = "/contacts/{identifier}/campaignStats"
LISTS = "/contacts/lists"
LIST_ADD = "/contacts/lists/{list_id}/contacts/add"
LIST_REMOVE = "/contacts/lists/{list_id}/contacts/remove"
FOLDERS = "/contacts/folders"
ATTRIBUTES = "/contacts/attributes"
ATTRIBUTE = "/contacts/attributes/{category}/{name}"
IMPORT = "/contacts/import"

# --- batch and page maxima -----------------------------------------------------------------
CONTACTS_PAGE_MAX = 1000
LISTS_PAGE_MAX = 50
LIST_MEMBERSHIP_MAX = 150
STATS_SPAN_DAYS = 90
#: import bodies may reach 10 MB; Brevo recommends staying near 8 MB
IMPORT_BODY_SAFE_BYTES = 8_000_000

# --- rate windows --------------------------------------------------------------------------
CONTACTS_SECOND = "contacts_second"
CONTACTS_HOUR = "contacts_hour"
OTHER_HOUR = "other_hour"
RATE_LIMITS = {
    CONTACTS_SECOND: RateLimit(10, 1.0),
    CONTACTS_HOUR: RateLimit(36_000, 3600.0),
    OTHER_HOUR: RateLimit(100, 3600.0),
}
#: every call this connector makes is under /v3/contacts
CONTACTS_WINDOWS = (CONTACTS_SECOND, CONTACTS_HOUR)
MAX_CONNECTIONS = 10


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from ``x-sib-ratelimit-reset`` (Brevo sends no Retry-After)."""
    value = response.headers.get("x-sib-ratelimit-reset")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def is_rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 429


class BrevoSettings(ConnectorSettings):
    """``[accounts.connectors.brevo]``."""

    #: folder new lists go to; None = the account's first folder (created if there is none)
    folder_id: int | None = Field(default=None, gt=0)
    folder_name: str = "syncd"
    #: history pulled per contact by pull_activity, in days (campaignStats: 90 days per call)
    activity_days: int = Field(default=365, gt=0, le=3650)
    #: contacts per page of the activity stream (each costs ceil(activity_days / 90) calls)
    activity_page_size: int = Field(default=100, gt=0, le=CONTACTS_PAGE_MAX)
    contacts_page_size: int = Field(default=CONTACTS_PAGE_MAX, gt=0, le=CONTACTS_PAGE_MAX)
    #: look up why a blacklisted contact is blacklisted (campaignStats, 90 days a call, walking
    #: back from its modifiedAt, to its createdAt at most, until a cause shows)
    consent_reason_lookup: bool = True
    #: list every attribute import goes to: Brevo's import requires one; not for sending
    import_list_name: str = "syncd attribute updates (do not send)"
    #: rows per import call; the body is also kept under the 8 MB Brevo recommends
    import_max_rows: int = Field(default=50_000, gt=0)
    import_max_bytes: int = Field(default=IMPORT_BODY_SAFE_BYTES, gt=1000, le=10 * 1024 * 1024)
    #: attribute category and type for attributes syncd creates
    attribute_type: str = "text"
