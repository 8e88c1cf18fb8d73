"""HubSpot's documented limits as the sandbox enforces them (all overridable per sandbox).

Figures from /work/shared/api-specs/README.md (HubSpot usage guidelines and changelog); the
connector keeps its own copy in ``connectors/hubspot/settings.py`` because the core never
imports a connector.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``policyName`` values HubSpot puts in a 429 body
POLICY_BURST = "TEN_SECONDLY_ROLLING"
POLICY_SEARCH = "SECONDLY"
POLICY_DAILY = "DAILY"

#: CRM object type id of contacts (lists use it as ``objectTypeId``)
CONTACT_OBJECT_TYPE_ID = "0-1"


@dataclass(frozen=True)
class HubSpotLimits:
    #: burst window per account: 100 / 10 s (Free, Starter); 190 on Professional / Enterprise
    burst_requests: int = 100
    burst_seconds: float = 10.0
    #: CRM search: 4 requests / s per token
    search_requests: int = 4
    search_seconds: float = 1.0
    #: daily limit (Free / Starter 250k)
    daily_requests: int = 250_000
    daily_seconds: float = 86_400.0
    #: batch read / update / create / upsert inputs
    batch_max: int = 100
    #: batch read with ``propertiesWithHistory``
    batch_history_max: int = 50
    #: GET /crm/v3/objects/contacts page size
    page_max: int = 100
    #: CRM search page size and the deepest result a query can reach
    search_page_max: int = 200
    search_total_max: int = 10_000
    #: record ids per list membership add / remove call (docs, lists guide)
    membership_batch_max: int = 100_000
    #: GET /crm/v3/lists/{id}/memberships page size
    membership_page_max: int = 250
    #: lists/search ``count``
    list_search_max: int = 500
    #: communication preferences v4 batch read inputs
    preferences_batch_max: int = 100
    #: events v3 page size
    events_page_max: int = 100
