"""HubSpot connector: contacts, consent and activity in; lists, tags and properties out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from connectors.hubspot import settings as s
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import (
    activity_record,
    checked_email,
    consent_records,
    contact_parts,
    contact_record,
)
from connectors.hubspot.pulls import ContactPager, EventPager
from connectors.hubspot.push import Pusher
from connectors.hubspot.settings import HubSpotSettings
from syncd.connector import Capabilities, Connector, ConnectorSettings, erase_remotely
from syncd.http import HttpPolicy, RateLimit, VendorHttp, require
from syncd.records import (
    ActivityRecord,
    ActivityType,
    Change,
    ChangeResult,
    ConsentRecord,
    ContactRecord,
    InvalidRecord,
    Page,
    Target,
    TargetKind,
)

DEFAULT_CONNECTIONS = 10


class HubSpotConnector(Connector):
    name = "hubspot"
    settings_model = HubSpotSettings

    def __init__(self, settings: ConnectorSettings, http: VendorHttp) -> None:
        super().__init__(settings, http)
        self.hs = cast(HubSpotSettings, settings)
        self.client = HubSpotClient(http)
        self.pusher = Pusher(self.client, self.hs)
        self._marketing_id: str | None = self.hs.marketing_subscription_id
        self._emails: dict[str, str | InvalidRecord] = {}

    @classmethod
    def build(cls, settings: ConnectorSettings, api_key: str, **http_options: Any) -> Connector:
        hs = (
            settings
            if isinstance(settings, HubSpotSettings)
            else HubSpotSettings.model_validate(settings.model_dump())
        )
        policy = HttpPolicy(
            vendor=s.VENDOR,
            base_url=hs.base_url or s.BASE_URL,
            headers={"Authorization": f"Bearer {api_key}"},
            max_connections=hs.max_connections or DEFAULT_CONNECTIONS,
            windows=cls.windows(hs),
            default_windows=(s.WINDOW_BURST, s.WINDOW_DAILY),
            timeout_s=hs.timeout_s,
            retry_after=s.retry_after,
            is_rate_limited=s.is_rate_limited,
        )
        return cls(hs, VendorHttp(policy, **http_options))

    @staticmethod
    def windows(settings: HubSpotSettings) -> dict[str, RateLimit]:
        windows = s.rate_windows(settings.tier)
        for name, override in settings.rate_limits.items():
            windows[name] = RateLimit(override.requests, override.per_seconds)
        return windows

    def capabilities(self) -> Capabilities:
        membership = self.hs.membership_batch_max
        return Capabilities(
            targets=frozenset({TargetKind.TAG, TargetKind.LIST, TargetKind.PROPERTY}),
            batch_max={
                TargetKind.TAG: membership,
                TargetKind.LIST: membership,
                TargetKind.PROPERTY: self.hs.batch_max,
            },
            rate_limits=self.windows(self.hs),
            max_connections=self.hs.max_connections or DEFAULT_CONNECTIONS,
            reports_memberships=True,
            extra={"search_page_max": s.SEARCH_PAGE_MAX, "search_total_max": s.SEARCH_TOTAL_MAX},
        )

    # --- pulls -------------------------------------------------------------------------------

    def _pager(self, operation: str) -> ContactPager:
        return ContactPager(self.client, self.http.clock, self.hs.cursor_overlap_s, operation)

    async def pull_contacts(self, cursor: str | None) -> AsyncIterator[Page[ContactRecord]]:
        props = sorted({"email", *s.ATTRIBUTE_PROPERTIES.values(), *self.hs.extra_properties})
        async for results, next_cursor in self._pager("pull_contacts").pages(cursor, props):
            ids = [contact_parts(r, "pull_contacts")[0] for r in results]
            memberships: dict[str, list[str]] = {}
            for start in range(0, len(ids), s.BATCH_MAX):
                memberships.update(
                    await self.client.record_memberships(ids[start : start + s.BATCH_MAX])
                )
            records: list[ContactRecord] = []
            invalid: list[InvalidRecord] = []
            for raw, cid in zip(results, ids, strict=True):
                rec = contact_record(raw, memberships.get(cid, []), self.hs.extra_properties)
                (invalid if isinstance(rec, InvalidRecord) else records).append(rec)  # type: ignore[arg-type]
            yield Page(records, next_cursor, invalid)

    async def marketing_subscription_id(self) -> str | None:
        if self._marketing_id is None:
            defs = await self.client.subscription_definitions()
            default = next((d for d in defs if d.get("isDefault")), defs[0] if defs else None)
            self._marketing_id = str(default["id"]) if default else None
        return self._marketing_id

    async def pull_consent(self, cursor: str | None) -> AsyncIterator[Page[ConsentRecord]]:
        marketing = await self.marketing_subscription_id()
        props = ["email", *s.CONSENT_PROPERTIES]
        async for results, next_cursor in self._pager("pull_consent").pages(cursor, props):
            valid: list[tuple[str, dict[str, Any]]] = []
            invalid: list[InvalidRecord] = []
            for raw in results:
                cid, cprops, _ = contact_parts(raw, "pull_consent")
                email = checked_email(cid, cprops)
                if isinstance(email, InvalidRecord):
                    invalid.append(email)
                else:
                    valid.append((email, cprops))
            statuses: dict[str, list[dict[str, Any]]] = {}
            emails = list(dict.fromkeys(e for e, _ in valid))
            for start in range(0, len(emails), s.PREFERENCES_BATCH_MAX):
                chunk = emails[start : start + s.PREFERENCES_BATCH_MAX]
                statuses.update(await self.client.statuses(chunk))
            records = [
                rec
                for email, cprops in valid
                for rec in consent_records(email, cprops, statuses.get(email, []), marketing)
            ]
            yield Page(records, next_cursor, invalid)

    def _event_types(self) -> dict[str, ActivityType]:
        types = dict(self.hs.activity_event_types)
        if self.hs.purchase_event_type:
            types[self.hs.purchase_event_type] = ActivityType.PURCHASE
        return types

    async def _emails_for(self, contact_ids: list[str]) -> None:
        unknown = [c for c in dict.fromkeys(contact_ids) if c not in self._emails]
        for start in range(0, len(unknown), s.BATCH_MAX):
            chunk = unknown[start : start + s.BATCH_MAX]
            found, _ = await self.client.batch_read(chunk, ["email"])
            for raw in found:
                cid, cprops, _ = contact_parts(raw, "pull_activity")
                self._emails[cid] = checked_email(cid, cprops)
            for cid in chunk:
                self._emails.setdefault(
                    cid,
                    InvalidRecord(s.VENDOR, cid, "", "event of a contact HubSpot no longer has"),
                )

    async def pull_activity(self, cursor: str | None) -> AsyncIterator[Page[ActivityRecord]]:
        types = self._event_types()
        pager = EventPager(self.client, self.http.clock, self.hs.cursor_overlap_s)
        async for event_type, results, next_cursor in pager.pages(cursor, list(types)):
            owners = [
                str(require(r, "objectId", vendor=s.VENDOR, operation="pull_activity"))
                for r in results
            ]
            await self._emails_for(owners)
            records: list[ActivityRecord] = []
            invalid: list[InvalidRecord] = []
            for raw, owner in zip(results, owners, strict=True):
                who = self._emails[owner]
                if isinstance(who, InvalidRecord):
                    invalid.append(who)
                    continue
                rec = activity_record(raw, who, types[event_type])
                (invalid if isinstance(rec, InvalidRecord) else records).append(rec)  # type: ignore[arg-type]
            yield Page(records, next_cursor, invalid)

    # --- push --------------------------------------------------------------------------------

    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        return await self.pusher.ensure(targets)

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return await self.pusher.apply(changes)

    async def gdpr_delete(self, email: str) -> None:
        """Permanently erase one contact (HubSpot's GDPR delete)."""
        await self.client.gdpr_delete(email)

    async def delete_contact(self, email: str) -> ChangeResult:
        return await erase_remotely(email, "HubSpot", self.gdpr_delete(email))


__all__ = ["HubSpotConnector", "HubSpotSettings"]
