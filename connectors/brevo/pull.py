"""Walking Brevo's contacts: offset pages in creation order, filtered on ``modifiedSince``.

A cursor is JSON: ``since`` (the ``modifiedSince`` this walk filters on), ``offset`` (where
the walk resumes; absent once it is complete) and ``hw`` (the latest ``modifiedAt`` seen, which
becomes the next walk's ``since``). Pages go in creation order (``sort=asc``), so contacts
created during a walk land after it and a modified contact keeps its place.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from syncd.errors import MalformedResponse
from syncd.normalize import iso_utc, parse_timestamp

from .client import BrevoClient
from .settings import STATS_SPAN_DAYS, VENDOR


@dataclass(frozen=True)
class WalkCursor:
    since: datetime | None = None
    offset: int | None = None
    high_water: datetime | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1}
        if self.since is not None:
            data["since"] = iso_utc(self.since)
        if self.offset is not None:
            data["offset"] = self.offset
        if self.high_water is not None:
            data["hw"] = iso_utc(self.high_water)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def decode(cls, raw: str | None) -> WalkCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                since=parse_timestamp(data.get("since")),
                offset=data.get("offset"),
                high_water=parse_timestamp(data.get("hw")),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a Brevo cursor: {raw!r}") from exc


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


async def walk_contacts(
    client: BrevoClient, cursor: str | None, page_size: int
) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    """Yield (contacts, cursor resuming after them) until the walk is complete."""
    start = WalkCursor.decode(cursor)
    since, offset = start.since, start.offset or 0
    high_water = _later(start.high_water, since)
    while True:
        params: dict[str, Any] = {"limit": page_size, "offset": offset, "sort": "asc"}
        if since is not None:
            params["modifiedSince"] = iso_utc(since)
        body = await client.contacts_page(params)
        contacts = body["contacts"]
        if not isinstance(contacts, list):
            raise MalformedResponse(VENDOR, "get_contacts", "contacts is not a list")
        for raw in contacts:
            modified = parse_timestamp(raw.get("modifiedAt")) if isinstance(raw, dict) else None
            high_water = _later(high_water, modified)
        offset += len(contacts)
        count = body.get("count")
        done = (
            len(contacts) < page_size
            if not isinstance(count, int)
            else (not contacts or offset >= count)
        )
        if done:
            yield contacts, WalkCursor(since=high_water).encode()
            return
        yield contacts, WalkCursor(since=since, offset=offset, high_water=high_water).encode()


def stats_windows(today: date, days: int) -> list[tuple[date, date]]:
    """``days`` of history back from ``today`` in campaignStats spans of at most 90 days."""
    earliest = today - timedelta(days=days)
    windows = []
    end = today
    while end >= earliest:
        start = max(end - timedelta(days=STATS_SPAN_DAYS), earliest)
        windows.append((start, end))
        end = start - timedelta(days=1)
    return windows
