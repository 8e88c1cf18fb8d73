"""The Mailchimp connector: one audience, pulled by ``last_changed`` and pushed to by tags
(static segments) and merge fields. See ``mapping.py`` for how vendor shapes become records
and ``push.py`` for how changes are batched.

Cursors are compact JSON, opaque to callers:
- contacts / consent: ``{"lc": <last_changed>, "n": <members read at that second>}``;
- activity: ``{"since": <newest event seen>}`` between runs, plus ``scan`` (the member keyset)
  while a run is part-way through the audience. Mailchimp has no account-wide activity filter,
  so every run reads each member's feed (newest first, stopping at ``since``), concurrently up
  to the 10-connection limit, ``activity_members_per_page`` members per page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from syncd.connector import Capabilities, Connector, ConnectorSettings, erase_remotely
from syncd.http import HttpPolicy, RateLimit, VendorHttp
from syncd.normalize import iso_utc, parse_timestamp
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
from .activity import feed_pages
from .client import Keyset, MailchimpClient, dump_cursor, load_cursor
from .push import Pusher, Targets
from .settings import MailchimpSettings

__all__ = ["MailchimpConnector", "MailchimpSettings"]


class MailchimpConnector(Connector):
    name = "mailchimp"
    settings_model = MailchimpSettings

    def __init__(self, settings: ConnectorSettings, http: VendorHttp) -> None:
        super().__init__(settings, http)
        self.mc_settings = (
            settings
            if isinstance(settings, MailchimpSettings)
            else MailchimpSettings.model_validate(settings.model_dump())
        )
        self.client = MailchimpClient(http, self.mc_settings.audience_id)
        self.targets = Targets(self.client, self.mc_settings.create_missing)
        self.pusher = Pusher(self.client, self.targets)

    @classmethod
    def build(
        cls, settings: ConnectorSettings, api_key: str, **http_options: Any
    ) -> MailchimpConnector:
        windows = {
            name: RateLimit(o.requests, o.per_seconds) for name, o in settings.rate_limits.items()
        }
        policy = HttpPolicy(
            vendor=s.VENDOR,
            base_url=settings.base_url or s.BASE_URL.format(dc=s.data_centre(api_key)),
            auth=httpx.BasicAuth("syncd", api_key),
            max_connections=settings.max_connections or s.MAX_CONNECTIONS,
            windows=windows,
            default_windows=tuple(windows),
            timeout_s=settings.timeout_s,
            retry_after=s.retry_after,
            is_rate_limited=s.is_rate_limited,
        )
        return cls(settings, VendorHttp(policy, **http_options))

    def capabilities(self) -> Capabilities:
        return Capabilities(
            targets=frozenset({TargetKind.TAG, TargetKind.PROPERTY}),
            batch_max={
                TargetKind.TAG: s.SEGMENT_BATCH_MAX,
                TargetKind.PROPERTY: s.BATCH_MEMBERS_MAX,
            },
            rate_limits=dict(self.http.policy.windows),
            max_connections=self.http.policy.max_connections,
            reports_memberships=True,
            extra={"page_max": s.PAGE_MAX, "limit": "10 simultaneous connections per API key"},
        )

    # --- pulls ------------------------------------------------------------------------------

    async def _field_names(self) -> dict[str, str]:
        return {str(f["tag"]): str(f["name"]) for f in await self.client.merge_fields()}

    async def pull_contacts(self, cursor: str | None) -> AsyncIterator[Page[ContactRecord]]:
        names = await self._field_names()
        start = Keyset.load(load_cursor(cursor, "pull_contacts"))
        pages = self.client.member_pages(
            "pull_contacts",
            start=start,
            since=None,
            count=self.mc_settings.page_size,
            fields=s.CONTACT_FIELDS,
        )
        async for members, state in pages:
            records: list[ContactRecord] = []
            invalid: list[InvalidRecord] = []
            for member in members:
                record = mapping.contact_of(member, names)
                if isinstance(record, InvalidRecord):
                    invalid.append(record)
                else:
                    records.append(record)
            yield Page(records, _keyset_cursor(state, cursor), invalid)

    async def pull_consent(self, cursor: str | None) -> AsyncIterator[Page[ConsentRecord]]:
        start = Keyset.load(load_cursor(cursor, "pull_consent"))
        pages = self.client.member_pages(
            "pull_consent",
            start=start,
            since=None,
            count=self.mc_settings.page_size,
            fields=s.CONSENT_FIELDS,
        )
        async for members, state in pages:
            records: list[ConsentRecord] = []
            invalid: list[InvalidRecord] = []
            for member in members:
                record = mapping.consent_of(member)
                if isinstance(record, InvalidRecord):
                    invalid.append(record)
                else:
                    records.append(record)
            yield Page(records, _keyset_cursor(state, cursor), invalid)

    async def pull_activity(self, cursor: str | None) -> AsyncIterator[Page[ActivityRecord]]:
        saved = load_cursor(cursor, "pull_activity")
        since = parse_timestamp(saved.get("since"))
        newest = parse_timestamp(saved.get("max")) or since
        floor = since - timedelta(seconds=s.CURSOR_OVERLAP_S) if since else None
        pages = feed_pages(
            self.client,
            start=Keyset.load(saved.get("scan")),
            floor=floor,
            members_per_page=self.mc_settings.activity_members_per_page,
            feed_page=self.mc_settings.activity_feed_page,
        )
        async for page in pages:
            if page.latest is not None and (newest is None or page.latest > newest):
                newest = page.latest
            scan = {"scan": page.keyset.dump() if page.keyset else None}
            yield Page(
                page.records, dump_cursor(_activity_state(since, newest, scan)), page.invalid
            )
        yield Page([], dump_cursor(_activity_state(newest, None, {})))

    # --- push -------------------------------------------------------------------------------

    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        return {target: await self.targets.resolve(target) for target in dict.fromkeys(targets)}

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return await self.pusher.apply(changes)

    async def delete_contact(self, email: str) -> ChangeResult:
        """``POST .../members/{hash}/actions/delete-permanent``: the address is forgotten."""
        return await erase_remotely(email, "Mailchimp", self.client.delete_permanent(email))


def _keyset_cursor(state: Keyset | None, previous: str | None) -> str | None:
    return dump_cursor(state.dump()) if state is not None else previous


def _activity_state(
    since: datetime | None, newest: datetime | None, extra: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {"since": iso_utc(since) if since else None}
    if newest is not None and extra:
        data["max"] = iso_utc(newest)
    data.update({k: v for k, v in extra.items() if v is not None})
    return data
