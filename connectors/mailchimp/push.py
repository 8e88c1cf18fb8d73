"""Pushing to Mailchimp: tags through static-segment batches, properties through merge fields.

- A tag target is a static segment: ``POST /lists/{id}/segments/{segment_id}`` carries up to
  500 adds and 500 removes, so N adds and M removes take max(ceil(N/500), ceil(M/500)) calls.
- A property target is a text merge field; values go through the batch update
  ``POST /lists/{id}`` (500 members a call, ``update_existing``), one entry per member with all
  of that member's fields. No status is ever sent, so nobody is (re)subscribed, and an address
  that is not on the audience is refused by Mailchimp rather than created.
- Mailchimp's per-record errors become failed ChangeResults with its words; a call refused as a
  whole (4xx) fails the changes it carried; transient failures propagate (apply is idempotent).
- Batches are independent (each address sits in one batch per segment, each member in one
  merge-field batch), so they go concurrently, up to the 10 connections Mailchimp allows.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from syncd.errors import RequestRejected, VendorError
from syncd.records import Change, ChangeOp, ChangeResult, Target, TargetKind

from . import settings as s
from .client import MailchimpClient
from .mapping import ADDRESS_PARTS, TAG_OF_ATTRIBUTE


def _key(email: str) -> str:
    return email.strip().lower()


def merge_tag_for(name: str, taken: set[str]) -> str:
    """A free merge tag for a new field: upper-case alphanumerics, at most 10 characters."""
    base = "".join(c for c in name.upper() if c.isalnum() or c == "_")[:10] or "SYNCD"
    tag, n = base, 1
    while tag in taken:
        n += 1
        tag = f"{base[: 10 - len(str(n))]}{n}"
    return tag


Job = Callable[[], Awaitable[None]]


async def run_bounded(jobs: Sequence[Job], limit: int) -> None:
    """Run ``jobs`` concurrently, at most ``limit`` at once; once all are done, re-raise the
    first failure (in job order) so callers see the same exception as from a sequential loop."""
    gate = asyncio.Semaphore(max(1, limit))

    async def one(job: Job) -> None:
        async with gate:
            await job()

    outcomes = await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


class Targets:
    """Finds (and, if allowed, creates) the segments and merge fields behind syncd targets."""

    def __init__(self, client: MailchimpClient, create_missing: bool) -> None:
        self.client = client
        self.create_missing = create_missing
        self._segments: dict[str, str] | None = None
        self._fields: dict[str, str] | None = None  # name or tag -> tag

    async def resolve(self, target: Target) -> str:
        if target.kind is TargetKind.TAG:
            return await self._segment(target.name)
        if target.kind is TargetKind.PROPERTY:
            return await self._merge_field(target.name)
        raise VendorError(
            s.VENDOR,
            "ensure_targets",
            f"{target.kind} targets are not supported: a Mailchimp audience is one list; "
            "use tag targets",
        )

    def _missing(self, what: str, name: str) -> VendorError:
        return VendorError(
            s.VENDOR, "ensure_targets", f"{what} {name!r} does not exist and create_missing is off"
        )

    async def _segment(self, name: str) -> str:
        if self._segments is None:
            found = await self.client.static_segments()
            self._segments = {str(seg["name"]): str(seg["id"]) for seg in found}
        if name not in self._segments:
            if not self.create_missing:
                raise self._missing("tag", name)
            created = await self.client.create_segment(name)
            self._segments[name] = str(created["id"])
        return self._segments[name]

    async def _merge_field(self, name: str) -> str:
        if name in ADDRESS_PARTS:
            raise VendorError(
                s.VENDOR, "ensure_targets", f"{name!r} is part of the ADDRESS merge field"
            )
        if self._fields is None:
            self._fields = {}
            for field in await self.client.merge_fields():
                tag = str(field["tag"])
                self._fields[tag] = tag
                self._fields[str(field["name"])] = tag
        wanted = TAG_OF_ATTRIBUTE.get(name, name)
        for key in (wanted, wanted.upper()):
            if key in self._fields:
                return self._fields[key]
        if not self.create_missing:
            raise self._missing("merge field", name)
        tag = merge_tag_for(name, set(self._fields.values()))
        created = await self.client.create_merge_field(name, tag)
        self._fields[name] = self._fields[str(created["tag"])] = str(created["tag"])
        return self._fields[name]


class Pusher:
    def __init__(self, client: MailchimpClient, targets: Targets) -> None:
        self.client = client
        self.targets = targets

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        ids: dict[Target, str] = {}
        for target in dict.fromkeys(c.target for c in changes):
            try:
                ids[target] = await self.targets.resolve(target)
            except VendorError as exc:
                for i, c in enumerate(changes):
                    if c.target == target:
                        results[i] = ChangeResult(c, False, str(exc))
        tags: dict[str, list[int]] = {}
        props: list[int] = []
        for i, c in enumerate(changes):
            if i in results:
                continue
            if c.target.kind is TargetKind.TAG:
                if c.op is ChangeOp.SET:
                    results[i] = ChangeResult(c, False, "tags take add or remove, not set")
                    continue
                tags.setdefault(ids[c.target], []).append(i)
            else:
                props.append(i)
        jobs: list[Job] = []
        finish: list[Callable[[], None]] = []
        for segment_id, idxs in tags.items():
            finish.append(self._push_tag(segment_id, changes, idxs, results, jobs))
        if props:
            finish.append(self._push_properties(changes, props, ids, results, jobs))
        await run_bounded(jobs, self.client.http.policy.max_connections)
        for done in finish:
            done()
        return [results[i] for i in range(len(changes))]

    def _push_tag(
        self,
        segment_id: str,
        changes: Sequence[Change],
        idxs: list[int],
        results: dict[int, ChangeResult],
        jobs: list[Job],
    ) -> Callable[[], None]:
        """Queue this segment's batches on ``jobs``; return what records their results."""
        final: dict[str, tuple[ChangeOp, str, list[int]]] = {}  # the last op per address wins
        for i in idxs:
            c = changes[i]
            previous = final.get(_key(c.email), (c.op, c.email, []))
            final[_key(c.email)] = (c.op, c.email, [*previous[2], i])
        adds = [email for op, email, _ in final.values() if op is ChangeOp.ADD]
        removes = [email for op, email, _ in final.values() if op is ChangeOp.REMOVE]
        most = s.SEGMENT_BATCH_MAX
        calls = max(math.ceil(len(adds) / most), math.ceil(len(removes) / most))
        reasons: dict[str, str] = {}

        async def send(add: list[str], remove: list[str]) -> None:
            try:
                body = await self.client.segment_batch(segment_id, add, remove)
            except RequestRejected as exc:
                reasons.update({_key(e): str(exc) for e in add + remove})
                return
            for error in (body or {}).get("errors") or []:
                for email in error.get("email_addresses") or []:
                    reasons[_key(str(email))] = str(error.get("error") or "refused")

        for n in range(calls):
            add, remove = adds[n * most : (n + 1) * most], removes[n * most : (n + 1) * most]
            jobs.append(partial(send, add, remove))

        def record() -> None:
            for _, email, members in final.values():
                reason = reasons.get(_key(email))
                for i in members:
                    results[i] = ChangeResult(changes[i], reason is None, reason)

        return record

    def _push_properties(
        self,
        changes: Sequence[Change],
        idxs: list[int],
        ids: dict[Target, str],
        results: dict[int, ChangeResult],
        jobs: list[Job],
    ) -> Callable[[], None]:
        """Queue the merge-field batches on ``jobs``; return what records their results."""
        fields: dict[str, dict[str, Any]] = {}
        emails: dict[str, str] = {}
        members: dict[str, list[int]] = {}
        for i in idxs:
            c = changes[i]
            value = "" if c.op is ChangeOp.REMOVE or c.value is None else c.value
            fields.setdefault(_key(c.email), {})[ids[c.target]] = value
            emails.setdefault(_key(c.email), c.email)
            members.setdefault(_key(c.email), []).append(i)
        keys = list(fields)
        reasons: dict[str, str] = {}
        most = s.BATCH_MEMBERS_MAX

        async def send(chunk: list[str]) -> None:
            payload = [{"email_address": emails[k], "merge_fields": fields[k]} for k in chunk]
            try:
                body = await self.client.update_members(payload)
            except RequestRejected as exc:
                reasons.update({k: str(exc) for k in chunk})
                return
            for error in (body or {}).get("errors") or []:
                email = _key(str(error.get("email_address", "")))
                reasons[email] = str(error.get("error") or error.get("error_code") or "refused")

        for start in range(0, len(keys), most):
            chunk = keys[start : start + most]
            jobs.append(partial(send, chunk))

        def record() -> None:
            for k, positions in members.items():
                reason = reasons.get(k)
                for i in positions:
                    results[i] = ChangeResult(changes[i], reason is None, reason)

        return record
