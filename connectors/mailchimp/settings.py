"""Mailchimp Marketing API v3: paths, batch maxima, documented limits and the HTTP hooks.

Limits (Mailchimp "Fundamentals" docs, see /work/shared/api-specs/README.md):
- no request quota, but at most 10 simultaneous connections per API key; the 11th gets a 429
  with a problem-details body and neither rate-limit headers nor ``Retry-After``;
- at very high volume the edge may throttle with a bare 403 whose body is not JSON;
- collections page with ``count`` <= 1000 and ``offset``;
- ``POST /lists/{id}`` takes <= 500 members; a static segment batch takes <= 500 emails in
  ``members_to_add`` and <= 500 in ``members_to_remove`` per call.
"""

from __future__ import annotations

import httpx
from pydantic import Field

from syncd.connector import ConnectorSettings

VENDOR = "mailchimp"
BASE_URL = "https://{dc}.api.mailchimp.com/3.0"

# --- paths ---------------------------------------------------------------------------------
LISTS = "/lists"
MEMBERS = "/lists/{list_id}/members"
MEMBER = "/lists/{list_id}/members/{subscriber_hash}"
ACTIVITY_FEED = "/lists/{list_id}/members/{subscriber_hash}/activity-feed"
BATCH_MEMBERS = "/lists/{list_id}"
MERGE_FIELDS = "/lists/{list_id}/merge-fields"
SEGMENTS = "/lists/{list_id}/segments"
SEGMENT = "/lists/{list_id}/segments/{segment_id}"

# --- limits --------------------------------------------------------------------------------
MAX_CONNECTIONS = 10
PAGE_MAX = 1000
BATCH_MEMBERS_MAX = 500
SEGMENT_BATCH_MAX = 500  # each of members_to_add / members_to_remove
#: Mailchimp timestamps have whole seconds; incremental reads overlap by one second
CURSOR_OVERLAP_S = 1

#: fields a contacts pull asks for (``fields`` keeps pages small)
CONTACT_FIELDS = (
    "members.id,members.email_address,members.status,members.merge_fields,members.language,"
    "members.tags,members.last_changed,total_items"
)
CONSENT_FIELDS = (
    "members.id,members.email_address,members.status,members.last_changed,"
    "members.timestamp_opt,members.unsubscribe_reason,members.source,total_items"
)
SCAN_FIELDS = "members.id,members.email_address,members.last_changed,total_items"


def data_centre(api_key: str) -> str:
    """The data centre is the key's suffix: ``...-us21`` -> ``us21``."""
    _, sep, dc = api_key.strip().rpartition("-")
    if not sep or not dc.isalnum():
        raise ValueError("a Mailchimp API key ends with its data centre, e.g. '-us21'")
    return dc


def retry_after(response: httpx.Response) -> float | None:
    """Mailchimp sends no Retry-After or reset header: let the shared backoff decide."""
    return None


def is_rate_limited(response: httpx.Response) -> bool:
    """A 429, or the edge's bare 403 (no JSON body) at very high volume.

    A 403 with Mailchimp's problem-details JSON is a real permission error and is not retried.
    """
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    if "json" in response.headers.get("content-type", ""):
        return False
    try:
        response.json()
    except ValueError:
        return True
    return False


class MailchimpSettings(ConnectorSettings):
    """``[accounts.connectors.mailchimp]``."""

    #: the audience id (Mailchimp's API calls it a list); unset: the account's only audience
    audience_id: str | None = None
    #: members per page on contacts / consent pulls
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)
    #: members per activity page; their feeds are read concurrently up to the connection limit
    activity_members_per_page: int = Field(default=100, ge=1, le=PAGE_MAX)
    #: feed items per activity-feed request
    activity_feed_page: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)
