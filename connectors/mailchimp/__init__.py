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

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from syncd.connector import Capabilities, Connector, ConnectorSettings, erasure_change
from syncd.errors import RequestRejected
from syncd.http import HttpPolicy, RateLimit, VendorHttp
from syncd.normalize import InvalidEmail, iso_utc, normalize_email, parse_timestamp
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
        pages = self.client.member_pages(
            "pull_activity",
            start=Keyset.load(saved.get("scan")),
            since=None,
            count=self.mc_settings.activity_members_per_page,
            fields=s.SCAN_FIELDS,
        )
        async for members, state in pages:
            records, invalid, latest = await self._activity_of(members, floor)
            if latest is not None and (newest is None or latest > newest):
                newest = latest
            scan = {"scan": state.dump() if state else None}
            yield Page(records, dump_cursor(_activity_state(since, newest, scan)), invalid)
        yield Page([], dump_cursor(_activity_state(newest, None, {})))

    async def _activity_of(
        self, members: list[Any], floor: datetime | None
    ) -> tuple[list[ActivityRecord], list[InvalidRecord], datetime | None]:
        readable: list[tuple[str, str]] = []
        invalid: list[InvalidRecord] = []
        for member in members:
            member_id = str(member.get("id"))
            raw = str(member.get("email_address"))
            try:
                readable.append((member_id, normalize_email(raw)))
            except InvalidEmail as exc:
                invalid.append(
                    InvalidRecord(
                        s.VENDOR, member_id, raw, f"invalid email, activity not read: {exc}"
                    )
                )
        feeds: list[asyncio.Task[list[Any]]] = []
        async with asyncio.TaskGroup() as group:  # the HTTP layer keeps it to 10 at a time
            for member_id, _ in readable:
                feeds.append(
                    group.create_task(
                        self.client.activity_feed(
                            member_id, since=floor, page=self.mc_settings.activity_feed_page
                        )
                    )
                )
        records: list[ActivityRecord] = []
        latest: datetime | None = None
        for (member_id, email), task in zip(readable, feeds, strict=True):
            for item in task.result():
                when = mapping.feed_time(item, member_id)
                if floor is not None and when < floor:
                    continue
                record = mapping.activity_of(member_id, email, item)
                if record is None:
                    continue
                records.append(record)
                latest = when if latest is None or when > latest else latest
        records.sort(key=lambda r: (r.occurred_at, r.event_id))
        return records, invalid, latest

    # --- push -------------------------------------------------------------------------------

    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        return {target: await self.targets.resolve(target) for target in dict.fromkeys(targets)}

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        return await self.pusher.apply(changes)

    async def delete_contact(self, email: str) -> ChangeResult:
        """``POST .../members/{hash}/actions/delete-permanent``: the address is forgotten."""
        try:
            await self.client.delete_permanent(email)
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            return ChangeResult(erasure_change(email), ok=True, reason="not in Mailchimp")
        return ChangeResult(erasure_change(email), ok=True)


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
