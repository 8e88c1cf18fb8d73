"""Targets and changes: lists / tags as MANUAL lists, properties through batch update.

Each target's changes go out in the largest batches HubSpot takes (list memberships: one call
per ``membership_batch_max`` record ids, properties: 100 inputs per batch update). A batch
update that HubSpot refuses whole (400: a bad value in one input) is split in halves until the
bad input stands alone, so the rest still lands and the bad one keeps HubSpot's reason.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from connectors.hubspot import settings as s
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import property_definition, property_name
from connectors.hubspot.settings import HubSpotSettings
from syncd.errors import RequestRejected, VendorError
from syncd.normalize import InvalidEmail, normalize_email
from syncd.records import Change, ChangeOp, ChangeResult, Target, TargetKind

NOT_FOUND = "no HubSpot contact with this email"


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


_INNER_MESSAGE = re.compile(r'\\"message\\": ?\\"(.*?)\\", ?\\"')


def vendor_reason(exc: RequestRejected) -> str:
    """HubSpot's own words for a refused batch: the first property error's message if any."""
    found = _INNER_MESSAGE.search(str(exc))
    return found.group(1).replace('\\\\\\"', '"') if found else str(exc)


def protected(name: str) -> bool:
    return name in s.PROTECTED_PROPERTIES or name.startswith(s.PROTECTED_PREFIXES)


class Pusher:
    def __init__(self, client: HubSpotClient, settings: HubSpotSettings) -> None:
        self.client = client
        self.settings = settings
        self._targets: dict[Target, str] = {}
        self._properties: dict[str, dict[str, Any]] | None = None

    # --- targets -----------------------------------------------------------------------------

    def list_name(self, target: Target) -> str:
        prefix = self.settings.tag_list_prefix if target.kind is TargetKind.TAG else ""
        return f"{prefix}{target.name}"

    async def ensure(self, targets: Sequence[Target]) -> dict[Target, str]:
        out: dict[Target, str] = {}
        for target in dict.fromkeys(targets):
            if target not in self._targets:
                if target.kind is TargetKind.PROPERTY:
                    self._targets[target] = await self._ensure_property(property_name(target.name))
                else:
                    self._targets[target] = await self._ensure_list(self.list_name(target))
            out[target] = self._targets[target]
        if self.settings.tag_property and any(t.kind is TargetKind.TAG for t in out):
            await self._ensure_property(self.settings.tag_property)
        return out

    async def _find_list(self, name: str) -> dict[str, Any] | None:
        offset = 0
        while True:
            page = await self.client.search_lists(name, offset)
            for found in page["lists"]:
                if str(found.get("name", "")).lower() == name.lower():
                    return dict(found)
            if not page.get("hasMore"):
                return None
            offset = int(page.get("offset", offset + len(page["lists"])))

    async def _ensure_list(self, name: str) -> str:
        found = await self._find_list(name)
        if found is None:
            if not self.settings.create_missing:
                raise VendorError(
                    s.VENDOR,
                    "ensure_targets",
                    f"list {name!r} does not exist and create_missing is off",
                )
            try:
                found = await self.client.create_list(name)
            except RequestRejected as exc:
                # a create whose answer was lost and retried meets its own list: use it
                found = await self._find_list(name) if exc.status == 409 else None
                if found is None:
                    raise
        if found.get("processingType") not in ("MANUAL", "SNAPSHOT"):
            raise VendorError(
                s.VENDOR,
                "ensure_targets",
                f"list {name!r} is {found.get('processingType')}: only MANUAL or SNAPSHOT lists "
                "take membership changes",
            )
        return str(found["listId"])

    async def _ensure_property(self, name: str) -> str:
        if self._properties is None:
            self._properties = {p["name"]: p for p in await self.client.contact_properties()}
        if name in self._properties:
            return name
        if not self.settings.create_missing:
            raise VendorError(
                s.VENDOR,
                "ensure_targets",
                f"property {name!r} does not exist and create_missing is off",
            )
        kind = self.settings.property_types.get(name, "string")
        try:
            created = await self.client.create_property(property_definition(name, kind))
        except RequestRejected as exc:
            if exc.status != 409:  # 409: a retried create that had landed already
                raise
            created = {"name": name}
        self._properties[name] = created
        return name

    # --- changes -----------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        ids: dict[int, str] = {}
        by_target: dict[Target, list[int]] = defaultdict(list)
        for i, change in enumerate(changes):
            by_target[change.target].append(i)
        for target, idxs in by_target.items():
            try:
                await self.ensure([target])
            except VendorError as exc:
                for i in idxs:
                    results[i] = ChangeResult(changes[i], False, str(exc))
        memberships = [
            i
            for i, c in enumerate(changes)
            if i not in results and c.target.kind in (TargetKind.LIST, TargetKind.TAG)
        ]
        properties = [
            i
            for i, c in enumerate(changes)
            if i not in results and c.target.kind is TargetKind.PROPERTY
        ]
        await self._resolve_ids(changes, memberships, ids, results)
        await self._apply_memberships(changes, memberships, ids, results)
        if self.settings.tag_property:
            await self._apply_tag_property(changes, memberships, ids, results)
        await self._apply_properties(changes, properties, results)
        return [results[i] for i in range(len(changes))]

    async def _resolve_ids(
        self,
        changes: Sequence[Change],
        idxs: list[int],
        ids: dict[int, str],
        results: dict[int, ChangeResult],
    ) -> None:
        """List memberships take record ids: look up the changes that only name an email."""
        wanted: dict[str, list[int]] = defaultdict(list)
        for i in idxs:
            change = changes[i]
            if change.op is ChangeOp.SET:
                results[i] = ChangeResult(change, False, "lists and tags take add / remove only")
            elif change.remote_id:
                ids[i] = change.remote_id
            else:
                try:
                    wanted[normalize_email(change.email)].append(i)
                except InvalidEmail as exc:
                    results[i] = ChangeResult(change, False, f"invalid email: {exc}")
        emails = list(wanted)
        said: dict[str, str] = {}  # HubSpot's words for each address it could not find
        for chunk in _chunks(emails, self.settings.batch_max):
            found, errors = await self.client.batch_read(chunk, ["email"], id_property="email")
            for raw in found:
                email = str((raw.get("properties") or {}).get("email") or "").strip().lower()
                for i in wanted.get(email, []):
                    ids[i] = str(raw["id"])
            for err in errors:
                for ident in (err.get("context") or {}).get("ids") or []:
                    said[str(ident).strip().lower()] = str(err.get("message") or NOT_FOUND)
        for email, owners in wanted.items():
            for i in owners:
                if i not in ids:
                    results[i] = ChangeResult(changes[i], False, said.get(email, NOT_FOUND))

    async def _apply_memberships(
        self,
        changes: Sequence[Change],
        idxs: list[int],
        ids: dict[int, str],
        results: dict[int, ChangeResult],
    ) -> None:
        by_list: dict[str, list[int]] = defaultdict(list)
        for i in idxs:
            if i not in results:
                by_list[self._targets[changes[i].target]].append(i)
        for list_id, members in by_list.items():
            for chunk in _chunks(members, self.settings.membership_batch_max):
                add = [ids[i] for i in chunk if changes[i].op is ChangeOp.ADD]
                remove = [ids[i] for i in chunk if changes[i].op is ChangeOp.REMOVE]
                try:
                    answer = await self.client.change_memberships(list_id, add, remove)
                except RequestRejected as exc:
                    for i in chunk:
                        results[i] = ChangeResult(changes[i], False, str(exc))
                    continue
                missing = {str(r) for r in answer.get("recordIdsMissing") or []}
                for i in chunk:
                    ok = ids[i] not in missing
                    reason = None if ok else f"HubSpot reports record {ids[i]} missing"
                    results[i] = ChangeResult(changes[i], ok, reason)

    async def _apply_tag_property(
        self,
        changes: Sequence[Change],
        idxs: list[int],
        ids: dict[int, str],
        results: dict[int, ChangeResult],
    ) -> None:
        """Mirror tag changes into ``tag_property`` (read the current tags, write the new)."""
        prop = self.settings.tag_property or ""
        tagged = [i for i in idxs if changes[i].target.kind is TargetKind.TAG and results[i].ok]
        if not tagged:
            return
        record_ids = sorted({ids[i] for i in tagged})
        current: dict[str, set[str]] = {}
        for chunk in _chunks(record_ids, self.settings.batch_max):
            found, _ = await self.client.batch_read(chunk, [prop])
            for raw in found:
                value = (raw.get("properties") or {}).get(prop) or ""
                current[str(raw["id"])] = {t for t in str(value).split(";") if t}
        wanted = {rid: set(tags) for rid, tags in current.items()}
        for i in tagged:
            tags = wanted.setdefault(ids[i], set())
            (tags.add if changes[i].op is ChangeOp.ADD else tags.discard)(changes[i].target.name)
        inputs = [
            {"id": rid, "properties": {prop: ";".join(sorted(tags))}}
            for rid, tags in wanted.items()
            if tags != current.get(rid)
        ]
        for chunk in _chunks(inputs, self.settings.batch_max):
            await self.client.batch_update(list(chunk))

    async def _apply_properties(
        self, changes: Sequence[Change], idxs: list[int], results: dict[int, ChangeResult]
    ) -> None:
        # one input per contact carries all of its property changes (ids must be unique)
        per_contact: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i in idxs:
            change = changes[i]
            name = self._targets[change.target]
            if change.op is not ChangeOp.SET:
                results[i] = ChangeResult(change, False, "properties take set only")
            elif protected(name):
                results[i] = ChangeResult(change, False, f"syncd never writes {name} (consent)")
            elif change.remote_id:
                per_contact[("hs_object_id", change.remote_id)].append(i)
            else:
                per_contact[("email", change.email.strip().lower())].append(i)
        for id_property in ("hs_object_id", "email"):
            keys = [k for k in per_contact if k[0] == id_property]
            for chunk in _chunks(keys, self.settings.batch_max):
                await self._update_batch(
                    changes, [per_contact[k] for k in chunk], id_property, results
                )

    async def _update_batch(
        self,
        changes: Sequence[Change],
        groups: list[list[int]],
        id_property: str,
        results: dict[int, ChangeResult],
    ) -> None:
        inputs: list[dict[str, Any]] = []
        for group in groups:
            first = changes[group[0]]
            item: dict[str, Any] = {
                "id": first.remote_id
                if id_property == "hs_object_id"
                else first.email.strip().lower(),
                "properties": {
                    self._targets[changes[i].target]: changes[i].value or "" for i in group
                },
            }
            if id_property == "email":
                item["idProperty"] = "email"
            inputs.append(item)
        try:
            _done, errors = await self.client.batch_update(inputs)
        except RequestRejected as exc:
            if exc.status == 400 and len(groups) > 1:
                half = len(groups) // 2
                await self._update_batch(changes, groups[:half], id_property, results)
                await self._update_batch(changes, groups[half:], id_property, results)
                return
            for group in groups:
                for i in group:
                    results[i] = ChangeResult(changes[i], False, vendor_reason(exc))
            return
        failed: dict[str, str] = {}
        for err in errors:
            for ident in (err.get("context") or {}).get("ids") or []:
                failed[str(ident).strip().lower()] = str(err.get("message") or err.get("category"))
        for group, item in zip(groups, inputs, strict=True):
            reason = failed.get(str(item["id"]).lower())
            for i in group:
                results[i] = ChangeResult(changes[i], reason is None, reason)
