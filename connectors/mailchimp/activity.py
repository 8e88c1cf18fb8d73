"""Activity from members' feeds, read with every connection busy across page boundaries.

Member pages are listed in order and each page's feeds start as soon as its listing arrives,
while the pages before it are still being read: the shared HTTP layer keeps the feeds to the
10-connection limit, and its queue is never empty at a page boundary. Pages are yielded in
listing order, each only once every feed it covers is read (its cursor may not run ahead of
the data), and at most ``PAGES_OPEN`` pages are held at once, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.normalize import InvalidEmail, normalize_email
from syncd.records import ActivityRecord, InvalidRecord

from . import mapping
from . import settings as s
from .client import Keyset, MailchimpClient

#: member pages whose feeds may be in flight together (the oldest being finished, the next
#: ones queued behind it so that no connection idles while the oldest's last feeds return)
PAGES_OPEN = 2


@dataclass
class FeedPage:
    """The activity of one member page, and the keyset after that page."""

    records: list[ActivityRecord]
    invalid: list[InvalidRecord]
    latest: datetime | None
    keyset: Keyset | None = None


async def feed_pages(
    client: MailchimpClient,
    *,
    start: Keyset | None,
    floor: datetime | None,
    members_per_page: int,
    feed_page: int,
) -> AsyncIterator[FeedPage]:
    """Each member page's feed activity from ``floor`` on, in listing order."""
    listing = client.member_pages(
        "pull_activity", start=start, since=None, count=members_per_page, fields=s.SCAN_FIELDS
    )
    open_pages: deque[tuple[asyncio.Task[FeedPage], Keyset | None]] = deque()
    try:
        async for members, keyset in listing:
            task = asyncio.create_task(_page_activity(client, members, floor, feed_page))
            open_pages.append((task, keyset))
            while open_pages and (len(open_pages) > PAGES_OPEN or open_pages[0][0].done()):
                head, head_keyset = open_pages.popleft()
                page = await head
                page.keyset = head_keyset
                yield page
        while open_pages:
            head, head_keyset = open_pages.popleft()
            page = await head
            page.keyset = head_keyset
            yield page
    finally:
        # an abandoned or failed pull: stop the reads still in flight, and wait for them
        tasks = [task for task, _ in open_pages]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listing.aclose()


async def _page_activity(
    client: MailchimpClient, members: list[Any], floor: datetime | None, feed_page: int
) -> FeedPage:
    readable: list[tuple[str, str]] = []
    invalid: list[InvalidRecord] = []
    for member in members:
        member_id = str(member.get("id"))
        raw = str(member.get("email_address"))
        try:
            readable.append((member_id, normalize_email(raw)))
        except InvalidEmail as exc:
            invalid.append(
                InvalidRecord(s.VENDOR, member_id, raw, f"invalid email, activity not read: {exc}")
            )
    feeds: list[asyncio.Task[list[Any]]] = []
    async with asyncio.TaskGroup() as group:  # the HTTP layer keeps it to 10 at a time
        for member_id, _ in readable:
            feeds.append(
                group.create_task(client.activity_feed(member_id, since=floor, page=feed_page))
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
    return FeedPage(records, invalid, latest)
