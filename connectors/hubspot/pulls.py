"""Pull streams: contacts (full by id, incremental by ``lastmodifieddate``), consent, activity.

Cursors are compact JSON, opaque to callers; each page's cursor resumes after that page.

Incremental contact pulls use CRM search, which never reaches past a query's 10,000th result
and whose offsets shift when a matching contact changes mid-pull. So every page is a fresh
query from the last ``lastmodifieddate`` seen (a keyset), skipping the contacts already read
at exactly that instant; the pull is bounded above by the moment it started, and contacts
changed after that are the next pull's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from connectors.hubspot import settings as s
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import contact_parts
from syncd.clock import Clock
from syncd.errors import VendorError
from syncd.normalize import iso_utc, parse_timestamp

RawPage = tuple[list[dict[str, Any]], str]


def encode(data: dict[str, Any]) -> str:
    return json.dumps({"v": 1, **data}, sort_keys=True, separators=(",", ":"))


def decode(cursor: str | None, operation: str) -> dict[str, Any]:
    if cursor is None:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("v") != 1:
        raise VendorError(s.VENDOR, operation, f"not a HubSpot cursor: {cursor!r}")
    return data


def _when(data: dict[str, Any], key: str, operation: str) -> datetime:
    try:
        parsed = parse_timestamp(data[key])
    except (KeyError, ValueError):
        parsed = None
    if parsed is None:
        raise VendorError(s.VENDOR, operation, f"cursor lacks a valid {key!r}")
    return parsed


def _ms(dt: datetime) -> str:
    return str(int(dt.timestamp() * 1000))


class ContactPager:
    """Raw contact pages with their cursors, shared by pull_contacts and pull_consent."""

    def __init__(
        self, client: HubSpotClient, clock: Clock, overlap_s: float, operation: str
    ) -> None:
        self.client = client
        self.clock = clock
        self.overlap = timedelta(seconds=overlap_s)
        self.operation = operation

    async def pages(self, cursor: str | None, properties: list[str]) -> AsyncIterator[RawPage]:
        data = decode(cursor, self.operation)
        if not data or data.get("mode") == "full":
            async for page in self._full(data, properties):
                yield page
        else:
            async for page in self._incremental(data, properties):
                yield page

    async def _full(self, data: dict[str, Any], properties: list[str]) -> AsyncIterator[RawPage]:
        # contacts changed while we page are caught by the next pull, which starts here
        started = data.get("started") or iso_utc(self.clock.now())
        after: str | None = data.get("after")
        while True:
            results, after = await self.client.contacts_page(after, properties)
            if after:
                yield results, encode({"mode": "full", "started": started, "after": after})
            else:
                yield results, encode({"since": started})
                return

    async def _incremental(
        self, data: dict[str, Any], properties: list[str]
    ) -> AsyncIterator[RawPage]:
        op = self.operation
        if "upper" in data:
            upper = _when(data, "upper", op)
            low = _when(data, "from", op)
            skip = int(data.get("skip", 0))
        else:
            upper = self.clock.now()
            low = _when(data, "since", op) - self.overlap
            skip = 0
        wanted = sorted({*properties, "lastmodifieddate"})
        while True:
            if skip + s.SEARCH_PAGE_MAX > s.SEARCH_TOTAL_MAX:
                raise VendorError(
                    s.VENDOR, op, f"over {s.SEARCH_TOTAL_MAX} contacts share {iso_utc(low)}"
                )
            body = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": _ms(low),
                            },
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "LT",
                                "value": _ms(upper),
                            },
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": wanted,
                "limit": s.SEARCH_PAGE_MAX,
                "after": str(skip),
            }
            results, more = await self.client.search_contacts(body)
            if not results or more is None:
                yield results, encode({"since": iso_utc(upper)})
                return
            last = max(contact_parts(r, op)[2] for r in results)
            at_last = sum(1 for r in results if contact_parts(r, op)[2] == last)
            skip = skip + at_last if last == low else at_last
            low = last
            yield results, encode({"upper": iso_utc(upper), "from": iso_utc(low), "skip": skip})


class EventPager:
    """Event occurrences per configured event type, bounded above by the pull's start."""

    def __init__(self, client: HubSpotClient, clock: Clock, overlap_s: float) -> None:
        self.client = client
        self.clock = clock
        self.overlap = timedelta(seconds=overlap_s)

    async def pages(
        self, cursor: str | None, event_types: list[str]
    ) -> AsyncIterator[tuple[str, list[dict[str, Any]], str]]:
        op = "pull_activity"
        data = decode(cursor, op)
        if "upper" in data:
            upper = _when(data, "upper", op)
            lower: datetime | None = _when(data, "lower", op) if data.get("lower") else None
            index, after = int(data.get("i", 0)), data.get("after")
        else:
            upper = self.clock.now()
            lower = _when(data, "since", op) - self.overlap if data else None
            index, after = 0, None
        final = encode({"since": iso_utc(upper)})
        if index >= len(event_types):
            yield "", [], final
            return
        while index < len(event_types):
            event_type = event_types[index]
            params: dict[str, Any] = {
                "objectType": "contact",
                "eventType": event_type,
                "occurredBefore": iso_utc(upper),
                "sort": "occurredAt",
                "limit": s.EVENTS_PAGE_MAX,
            }
            if lower is not None:
                params["occurredAfter"] = iso_utc(lower)
            if after:
                params["after"] = after
            results, after = await self.client.events_page(params)
            if not after:
                index += 1
            if index >= len(event_types):
                yield event_type, results, final
                return
            state: dict[str, Any] = {"upper": iso_utc(upper), "i": index, "after": after}
            if lower is not None:
                state["lower"] = iso_utc(lower)
            yield event_type, results, encode(state)
