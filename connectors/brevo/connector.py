"""The Brevo connector: contacts, consent and activity pulls; list and attribute pushes.

Activity costs: Brevo has no account-wide event feed for contacts, only per-contact
``campaignStats`` (at most 90 days per call). ``pull_activity`` therefore reads the stats of
the contacts changed since its cursor (every contact on a full pull) over the last
``activity_days`` (default 365: five calls a contact; on an incremental pull, only since that
pull for contacts that existed then: one call). Campaign events do not move a contact's
``modifiedAt``, so opens / clicks on a contact that has not otherwise changed are picked up at
the next full pull or the next change to that contact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, date, timedelta
from typing import Any, TypeVar

from syncd.connector import Capabilities, Connector, ConnectorSettings, erase_remotely
from syncd.http import HttpPolicy, RateLimit, VendorHttp
from syncd.normalize import parse_timestamp
from syncd.records import (
    ActivityRecord,
    Change,
    ChangeResult,
    ConsentRecord,
    ContactRecord,
    InvalidRecord,
    Page,
    Target,
    TargetKind,
)

from . import mapping
from . import settings as s
from .client import BrevoClient
from .pull import WalkCursor, stats_windows, walk_contacts
from .push import BrevoPusher

T = TypeVar("T")


class BrevoConnector(Connector):
    name = "brevo"
    settings_model = s.BrevoSettings

    def __init__(self, settings: ConnectorSettings, http: VendorHttp) -> None:
        super().__init__(settings, http)
        self.brevo = (
            settings
            if isinstance(settings, s.BrevoSettings)
            else s.BrevoSettings.model_validate(settings.model_dump())
        )
        self.client = BrevoClient(http)
        self.pusher = BrevoPusher(self.client, self.brevo)
        self._gate = asyncio.Semaphore(http.policy.max_connections)

    @classmethod
    def build(
        cls, settings: ConnectorSettings, api_key: str, **http_options: Any
    ) -> BrevoConnector:
        windows = dict(s.RATE_LIMITS)
        for name, override in settings.rate_limits.items():
            windows[name] = RateLimit(override.requests, override.per_seconds)
        policy = HttpPolicy(
            vendor=s.VENDOR,
            base_url=settings.base_url or s.BASE_URL,
            headers={"api-key": api_key, "accept": "application/json"},
            max_connections=settings.max_connections or s.MAX_CONNECTIONS,
            windows=windows,
            default_windows=s.CONTACTS_WINDOWS,
            timeout_s=settings.timeout_s,
            retry_after=s.retry_after,
            is_rate_limited=s.is_rate_limited,
        )
        return cls(settings, VendorHttp(policy, **http_options))

    def capabilities(self) -> Capabilities:
        return Capabilities(
            targets=frozenset({TargetKind.LIST, TargetKind.PROPERTY}),
            batch_max={
                TargetKind.LIST: s.LIST_MEMBERSHIP_MAX,
                TargetKind.PROPERTY: self.brevo.import_max_rows,
            },
            rate_limits=dict(self.http.policy.windows),
            max_connections=self.http.policy.max_connections,
            reports_memberships=True,
            extra={
                "attribute_writes": "POST /contacts/import (batch deprecated 2026-10-30)",
                "import_max_bytes": self.brevo.import_max_bytes,
                "activity_days": self.brevo.activity_days,
                "activity_calls_per_contact": len(
                    stats_windows(self.http.clock.now().date(), self.brevo.activity_days)
                ),
            },
        )

    async def _bounded(self, work: Awaitable[T]) -> T:
        async with self._gate:
            return await work

    # --- pulls -----------------------------------------------------------------------------

    async def pull_contacts(self, cursor: str | None) -> AsyncIterator[Page[ContactRecord]]:
        async for contacts, next_cursor in walk_contacts(
            self.client, cursor, self.brevo.contacts_page_size
        ):
            records: list[ContactRecord] = []
            invalid: list[InvalidRecord] = []
            for raw in contacts:
                email, refused = mapping.contact_email(raw, "get_contacts")
                if email is None:
                    invalid.extend([refused] if refused else [])
                    continue
                records.append(mapping.to_contact(raw, email, "get_contacts"))
            yield Page(records, next_cursor, invalid)

    async def pull_consent(self, cursor: str | None) -> AsyncIterator[Page[ConsentRecord]]:
        async for contacts, next_cursor in walk_contacts(
            self.client, cursor, self.brevo.contacts_page_size
        ):
            invalid: list[InvalidRecord] = []
            valid: list[tuple[dict[str, Any], str]] = []
            for raw in contacts:
                email, refused = mapping.contact_email(raw, "get_contacts")
                if email is None:
                    invalid.extend([refused] if refused else [])
                else:
                    valid.append((raw, email))
            per_contact = await asyncio.gather(
                *(self._bounded(self._consent_of(raw, email)) for raw, email in valid)
            )
            records = [record for group in per_contact for record in group]
            yield Page(records, next_cursor, invalid)

    async def _consent_of(self, raw: dict[str, Any], email: str) -> list[ConsentRecord]:
        reason = None
        if self.brevo.consent_reason_lookup and mapping.is_blacklisted(raw, "get_contacts"):
            cid = mapping.contact_id(raw, "get_contacts")
            record = mapping.to_contact(raw, email, "get_contacts")
            created = parse_timestamp(raw.get("createdAt")) or record.updated_at
            last = min(record.updated_at, self.http.clock.now()).astimezone(UTC).date()
            days = max(0, (last - created.astimezone(UTC).date()).days)
            # nothing is sent to a blacklisted contact, so the cause is the latest bounce /
            # complaint / unsubscription before modifiedAt: walk back (to the contact's
            # creation at most) until one shows
            for start, end in stats_windows(last, days):
                stats = await self.client.campaign_stats(cid, start, end)
                reason = mapping.blacklist_reason(stats, "get_contact_stats", cid)
                if reason is not None:
                    break
        return mapping.to_consent(raw, email, "get_contacts", reason)

    async def pull_activity(self, cursor: str | None) -> AsyncIterator[Page[ActivityRecord]]:
        # An incremental pull reads a changed contact's statistics only since the last pull
        # (a day's overlap): what came before was read then. A contact created since then, and
        # every contact on a full pull, gets the whole ``activity_days`` history.
        since = WalkCursor.decode(cursor).since if cursor else None
        async for contacts, next_cursor in walk_contacts(
            self.client, cursor, self.brevo.activity_page_size
        ):
            invalid: list[InvalidRecord] = []
            valid: list[tuple[str, str, date | None]] = []
            for raw in contacts:
                email, refused = mapping.contact_email(raw, "get_contacts")
                if email is None:
                    invalid.extend([refused] if refused else [])
                    continue
                created = parse_timestamp(raw.get("createdAt"))
                known_before = since is not None and created is not None and created < since
                start = (since - timedelta(days=1)).date() if known_before and since else None
                valid.append((mapping.contact_id(raw, "get_contacts"), email, start))
            per_contact = await asyncio.gather(
                *(self._activity_of(cid, email, start) for cid, email, start in valid)
            )
            records = [record for group in per_contact for record in group]
            yield Page(records, next_cursor, invalid)

    async def _activity_of(
        self, cid: str, email: str, earliest: date | None = None
    ) -> list[ActivityRecord]:
        today = self.http.clock.now().astimezone(UTC).date()
        days = self.brevo.activity_days
        if earliest is not None:
            days = min(days, max(0, (today - earliest).days))
        seen: dict[str, ActivityRecord] = {}
        for start, end in stats_windows(today, days):
            stats = await self._bounded(self.client.campaign_stats(cid, start, end))
            for record in mapping.to_activity(stats, cid, email, "get_contact_stats"):
                seen.setdefault(record.event_id, record)
        return sorted(seen.values(), key=lambda r: (r.occurred_at, r.event_id))

    # --- pushes ----------------------------------------------------------------------------

    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        return await self.pusher.ensure_targets(targets)

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return await self.pusher.apply(changes)

    async def delete_contact(self, email: str) -> ChangeResult:
        """``DELETE /v3/contacts/{email}``: Brevo's own deletion of a contact."""
        return await erase_remotely(email, "Brevo", self.client.delete_contact(email))
