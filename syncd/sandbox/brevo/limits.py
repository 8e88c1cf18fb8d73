"""Brevo's documented limits, as the sandbox enforces them (configurable for tests).

Figures: brevo-python 5.1.0 docstrings (page and batch maxima, 90-day stats window, 10 MB
import body) and the docs "Rate limits" page (General tier: every endpoint under /v3/contacts
10 per second and 36,000 per hour, both enforced; endpoints not listed 100 per hour).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_API_KEY = "xkeysib-sandbox0000000000000000000000000000000000000000000000000000-syncd"

#: the path family the "/v3/contacts" rate limits cover
CONTACTS_FAMILY_PREFIX = "/v3/contacts"


@dataclass(frozen=True)
class BrevoLimits:
    contacts_page_max: int = 1000  # GET /v3/contacts
    contacts_page_default: int = 50
    list_contacts_page_max: int = 500  # GET /v3/contacts/lists/{id}/contacts
    lists_page_max: int = 50  # GET /v3/contacts/lists
    lists_page_default: int = 10
    folders_page_max: int = 50
    list_membership_max: int = 150  # emails / ids / extIds per add or remove call
    batch_update_max: int = 100  # POST /v3/contacts/batch (deprecated 2026-10-30)
    import_body_max_bytes: int = 10 * 1024 * 1024  # POST /v3/contacts/import
    stats_window_days: int = 90  # campaignStats startDate..endDate
    filter_ids_max: int = 20  # GET /v3/contacts?ids=
    # rate windows (General tier)
    contacts_per_second: int = 10
    contacts_per_hour: int = 36_000
    other_per_hour: int = 100
