"""Mailchimp calls through the shared HTTP layer (retries, connection limit, counters).

Member listings page by keyset, not by a growing offset: sorted by ``last_changed`` ascending,
each request asks for members changed since the last one seen (minus Mailchimp's one-second
resolution) and skips the ones already read at that second. A member edited mid-pull moves to
the end and is read again rather than shifting the pages under the reader.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.errors import MalformedResponse, VendorError
from syncd.http import VendorHttp, require
from syncd.normalize import iso_utc, parse_timestamp

from . import settings as s
from .mapping import last_changed, subscriber_hash


@dataclass(frozen=True)
class Keyset:
    """Where a member listing stands: the latest ``last_changed`` read, and how many members
    with exactly that timestamp were read."""

    last_changed: datetime
    seen_at_last: int

    def dump(self) -> dict[str, Any]:
        return {"lc": iso_utc(self.last_changed), "n": self.seen_at_last}

    @classmethod
    def load(cls, data: Any) -> Keyset | None:
        if not data:
            return None
        when = parse_timestamp(data["lc"])
        assert when is not None
        return cls(when, int(data["n"]))

    def after(self, members: list[Any], operation: str) -> Keyset:
        state = self
        for member in members:
            changed = last_changed(member, operation)
            if changed > state.last_changed:
                state = Keyset(changed, 1)
            else:
                state = Keyset(state.last_changed, state.seen_at_last + 1)
        return state


def dump_cursor(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def load_cursor(cursor: str | None, operation: str) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        raise VendorError(s.VENDOR, operation, f"not a Mailchimp cursor: {cursor!r}") from None
    if not isinstance(data, dict):
        raise VendorError(s.VENDOR, operation, f"not a Mailchimp cursor: {cursor!r}")
    return data


class MailchimpClient:
    def __init__(self, http: VendorHttp, list_id: str | None) -> None:
        self.http = http
        self._list_id = list_id

    async def list_id(self) -> str:
        if self._list_id is None:
            body = await self.http.call(
                "lists",
                "GET",
                s.LISTS,
                params={"count": s.PAGE_MAX, "fields": "lists.id,lists.name,total_items"},
            )
            found = [
                str(a["id"]) for a in require(body, "lists", vendor=s.VENDOR, operation="lists")
            ]
            if len(found) != 1:
                raise VendorError(
                    s.VENDOR,
                    "lists",
                    f"set list_id: the account has {len(found)} audiences ({', '.join(found)})",
                )
            self._list_id = found[0]
        return self._list_id

    async def path(self, template: str, **parts: str) -> str:
        return template.format(list_id=await self.list_id(), **parts)

    # --- reads ------------------------------------------------------------------------------

    async def member_pages(
        self,
        operation: str,
        *,
        start: Keyset | None,
        since: datetime | None,
        count: int,
        fields: str,
    ) -> AsyncGenerator[tuple[list[Any], Keyset | None], None]:
        """Pages of members by ``last_changed`` ascending, each with the keyset after it.

        ``since`` bounds a fresh listing; ``start`` resumes one (and wins over ``since``).
        """
        path = await self.path(s.MEMBERS)
        state = start
        while True:
            params: dict[str, Any] = {
                "count": count,
                "sort_field": "last_changed",
                "sort_dir": "ASC",
                "fields": fields,
            }
            floor = state.last_changed if state else since
            if floor is not None:
                params["since_last_changed"] = (
                    floor - timedelta(seconds=s.CURSOR_OVERLAP_S)
                ).isoformat()
            params["offset"] = state.seen_at_last if state else 0
            body = await self.http.call(operation, "GET", path, params=params)
            members = require(body, "members", vendor=s.VENDOR, operation=operation)
            if not isinstance(members, list):
                raise MalformedResponse(s.VENDOR, operation, "members is not a list")
            if members:
                base = state or Keyset(last_changed(members[0], operation), 0)
                state = base.after(members, operation)
            yield members, state
            if len(members) < count:
                return

    async def activity_feed(
        self, member_id: str, *, since: datetime | None, page: int
    ) -> list[Any]:
        """A member's feed items, newest first, down to ``since`` (Mailchimp has no filter)."""
        path = await self.path(s.ACTIVITY_FEED, subscriber_hash=member_id)
        items: list[Any] = []
        offset = 0
        while True:
            body = await self.http.call(
                "activity_feed",
                "GET",
                path,
                params={"count": page, "offset": offset},
                record=member_id,
            )
            batch = require(
                body, "activity", vendor=s.VENDOR, operation="activity_feed", record=member_id
            )
            items.extend(batch)
            offset += len(batch)
            if len(batch) < page or (since is not None and _oldest(batch) < since):
                return items

    async def merge_fields(self) -> list[Any]:
        path = await self.path(s.MERGE_FIELDS)
        return await self._collect("merge_fields", path, "merge_fields")

    async def static_segments(self) -> list[Any]:
        path = await self.path(s.SEGMENTS)
        return await self._collect("segments", path, "segments", {"type": "static"})

    async def _collect(
        self, operation: str, path: str, key: str, extra: dict[str, Any] | None = None
    ) -> list[Any]:
        found: list[Any] = []
        while True:
            params = {"count": s.PAGE_MAX, "offset": len(found), **(extra or {})}
            body = await self.http.call(operation, "GET", path, params=params)
            batch = require(body, key, vendor=s.VENDOR, operation=operation)
            found.extend(batch)
            if len(batch) < s.PAGE_MAX:
                return found

    # --- writes -----------------------------------------------------------------------------

    async def create_segment(self, name: str) -> Any:
        path = await self.path(s.SEGMENTS)
        return await self.http.call(
            "create_segment",
            "POST",
            path,
            kind="write",
            json_body={"name": name, "static_segment": []},
        )

    async def create_merge_field(self, name: str, tag: str) -> Any:
        path = await self.path(s.MERGE_FIELDS)
        body = {"name": name, "tag": tag, "type": "text", "required": False, "public": False}
        return await self.http.call(
            "create_merge_field", "POST", path, kind="write", json_body=body
        )

    async def segment_batch(self, segment_id: str, add: list[str], remove: list[str]) -> Any:
        if len(add) > s.SEGMENT_BATCH_MAX or len(remove) > s.SEGMENT_BATCH_MAX:
            raise ValueError("segment batches take at most 500 adds and 500 removes")
        path = await self.path(s.SEGMENT, segment_id=segment_id)
        body = {"members_to_add": add, "members_to_remove": remove}
        return await self.http.call("segment_batch", "POST", path, kind="write", json_body=body)

    async def delete_permanent(self, email: str) -> None:
        member = await self.path(s.MEMBER, subscriber_hash=subscriber_hash(email))
        await self.http.call(
            "delete_permanent",
            "POST",
            member + "/actions/delete-permanent",
            kind="write",
            record=email,
        )

    async def update_members(self, members: list[dict[str, Any]]) -> Any:
        """Batch update of existing members' merge fields; never sends a status."""
        if len(members) > s.BATCH_MEMBERS_MAX:
            raise ValueError("member batches take at most 500 members")
        if any("status" in m or "status_if_new" in m for m in members):
            raise ValueError("syncd never sets a Mailchimp subscription status")
        path = await self.path(s.BATCH_MEMBERS)
        body = {"members": members, "update_existing": True}
        return await self.http.call("batch_members", "POST", path, kind="write", json_body=body)


def _oldest(batch: list[Any]) -> datetime:
    times = [parse_timestamp(i.get("created_at_timestamp")) for i in batch if isinstance(i, dict)]
    known = [t for t in times if t is not None]
    return min(known) if known else datetime.max.replace(tzinfo=UTC)
