"""Pushing to Brevo: targets (lists, attributes) and changes in the largest batches allowed.

* List add / remove: ``POST /contacts/lists/{id}/contacts/add|remove``, 150 emails a call.
  Brevo answers with bare ``success`` / ``failure`` arrays (or a 400 when every contact
  failed), never a reason; so each failed contact is looked up (one read) to record why:
  not in Brevo, blacklisted, unsubscribed from that list, or already in the wanted state
  (counted as done).
* Attributes: ``POST /contacts/import`` (``/contacts/batch`` was deprecated on 2026-10-30).
  An import creates contacts it does not know and requires a list, so: only contacts Brevo
  holds are sent (a change without ``remote_id`` is looked up first), every row goes to one
  housekeeping list (``settings.import_list_name``), rows carry only the attributes changed,
  and a clear is sent as "" with ``emptyContactsAttributes`` on. The import is asynchronous
  and reports no per-row result, so a row sent counts as applied.
* Nothing here ever un-blacklists a contact or sets anyone subscribed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from syncd.errors import VendorError
from syncd.normalize import InvalidEmail, normalize_email
from syncd.records import Change, ChangeOp, ChangeResult, Target, TargetKind

from .client import BrevoClient
from .mapping import attribute_name
from .settings import LIST_MEMBERSHIP_MAX, VENDOR, BrevoSettings


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class BrevoPusher:
    def __init__(self, client: BrevoClient, settings: BrevoSettings) -> None:
        self.client = client
        self.settings = settings
        self._ids: dict[Target, str] = {}

    # --- targets ---------------------------------------------------------------------------

    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        wanted = [t for t in dict.fromkeys(targets) if t not in self._ids]
        unsupported = [t for t in wanted if t.kind == TargetKind.TAG]
        if unsupported:
            raise VendorError(
                VENDOR, "ensure_targets", f"Brevo has no tags ({unsupported[0].name!r}): use a list"
            )
        holding = Target(TargetKind.LIST, self.settings.import_list_name)
        if holding not in self._ids and any(t.kind == TargetKind.PROPERTY for t in wanted):
            # attribute writes go through an import, which needs this list: made with them
            wanted.append(holding)
        lists = [t for t in wanted if t.kind == TargetKind.LIST]
        if lists:
            known = {item["name"]: str(item["id"]) async for item in self.client.all_lists()}
            for target in lists:
                if target.name not in known:
                    self._refuse_missing(target)
                    folder = await self._folder_id()
                    known[target.name] = str(await self.client.create_list(target.name, folder))
                self._ids[target] = known[target.name]
        properties = [t for t in wanted if t.kind == TargetKind.PROPERTY]
        if properties:
            existing = {str(a.get("name", "")).upper() for a in await self.client.attributes()}
            for target in properties:
                name = attribute_name(target.name)
                if name not in existing:
                    self._refuse_missing(target)
                    await self.client.create_attribute(name, self.settings.attribute_type)
                    existing.add(name)
                self._ids[target] = name
        return {t: self._ids[t] for t in targets}

    def _refuse_missing(self, target: Target) -> None:
        if not self.settings.create_missing:
            raise VendorError(
                VENDOR,
                "ensure_targets",
                f"{target.kind} {target.name!r} does not exist in Brevo and create_missing is off",
            )

    async def _folder_id(self) -> int:
        if self.settings.folder_id is not None:
            return self.settings.folder_id
        folders = await self.client.folders()
        if folders:
            return int(folders[0]["id"])
        return await self.client.create_folder(self.settings.folder_name)

    # --- changes ---------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        lists: dict[tuple[Target, ChangeOp], list[int]] = defaultdict(list)
        properties: list[int] = []
        for index, change in enumerate(changes):
            refusal = self._refusal(change)
            if refusal is not None:
                results[index] = ChangeResult(change, ok=False, reason=refusal)
            elif change.target.kind == TargetKind.LIST:
                lists[(change.target, change.op)].append(index)
            else:
                properties.append(index)
        if lists:
            ids = await self.ensure_targets([target for target, _ in lists])
            for (target, op), indexes in lists.items():
                for chunk in _chunks(indexes, LIST_MEMBERSHIP_MAX):
                    results.update(await self._membership(ids[target], op, changes, chunk))
        if properties:
            results.update(await self._attributes(changes, properties))
        return [results[i] for i in range(len(changes))]

    @staticmethod
    def _refusal(change: Change) -> str | None:
        try:
            normalize_email(change.email)
        except InvalidEmail as exc:
            return f"invalid email: {exc}"
        kind, op = change.target.kind, change.op
        if kind == TargetKind.TAG:
            return "Brevo has no tags: target a list"
        if kind == TargetKind.LIST and op not in (ChangeOp.ADD, ChangeOp.REMOVE):
            return f"lists take add or remove, not {op}"
        if kind == TargetKind.PROPERTY and op != ChangeOp.SET:
            return f"properties take set, not {op}"
        return None

    async def _membership(
        self, list_id: str, op: ChangeOp, changes: Sequence[Change], chunk: Sequence[int]
    ) -> dict[int, ChangeResult]:
        emails = [normalize_email(changes[i].email) for i in chunk]
        answer = await self.client.list_membership(list_id, str(op), list(dict.fromkeys(emails)))
        if isinstance(answer, str):
            success: set[str] = set()
            whole_call_refused: str | None = answer
        else:
            success, _failure = answer
            whole_call_refused = None
        out: dict[int, ChangeResult] = {}
        reasons: dict[str, tuple[bool, str | None]] = {}
        for index, email in zip(chunk, emails, strict=True):
            if email in success:
                out[index] = ChangeResult(changes[index], ok=True)
                continue
            if email not in reasons:
                reasons[email] = await self._why_refused(email, list_id, op, whole_call_refused)
            ok, reason = reasons[email]
            out[index] = ChangeResult(changes[index], ok=ok, reason=reason)
        return out

    async def _why_refused(
        self, email: str, list_id: str, op: ChangeOp, call_message: str | None
    ) -> tuple[bool, str | None]:
        contact = await self.client.contact(email)
        if contact is None:
            return False, "document_not_found: contact does not exist in Brevo"
        member = int(list_id) in {int(i) for i in contact.get("listIds") or []}
        if op == ChangeOp.REMOVE:
            return (True, None) if not member else (False, call_message or "Brevo refused removal")
        if member:
            return True, None
        if contact.get("emailBlacklisted"):
            return (
                False,
                "contact is blacklisted (emailBlacklisted): Brevo will not add it to lists",
            )
        if int(list_id) in {int(i) for i in contact.get("listUnsubscribed") or []}:
            return False, "contact unsubscribed from this list (listUnsubscribed)"
        return False, call_message or "Brevo refused the contact without a reason"

    async def _attributes(
        self, changes: Sequence[Change], indexes: list[int]
    ) -> dict[int, ChangeResult]:
        names = await self.ensure_targets([changes[i].target for i in indexes])
        holding = Target(TargetKind.LIST, self.settings.import_list_name)
        holding_id = int((await self.ensure_targets([holding]))[holding])
        out: dict[int, ChangeResult] = {}
        rows: dict[str, dict[str, str]] = {}
        row_changes: dict[str, list[int]] = defaultdict(list)
        known: dict[str, bool] = {}
        for index in indexes:
            change = changes[index]
            email = normalize_email(change.email)
            if change.remote_id is None and email not in known:
                known[email] = await self.client.contact(email) is not None
            if change.remote_id is None and not known[email]:
                out[index] = ChangeResult(
                    change, ok=False, reason="document_not_found: contact does not exist in Brevo"
                )
                continue
            rows.setdefault(email, {})[names[change.target]] = change.value or ""
            row_changes[email].append(index)
        for batch in self._import_batches(rows):
            erase = any(v == "" for _, attributes in batch for v in attributes.values())
            body = [{"email": email, "attributes": attributes} for email, attributes in batch]
            await self.client.import_rows(body, holding_id, erase_empty=erase)
            for email, _ in batch:
                for index in row_changes[email]:
                    out[index] = ChangeResult(changes[index], ok=True)
        return out

    def _import_batches(
        self, rows: dict[str, dict[str, str]]
    ) -> list[list[tuple[str, dict[str, str]]]]:
        """Rows in as few imports as the row cap and the body size allow."""
        batches: list[list[tuple[str, dict[str, str]]]] = []
        current: list[tuple[str, dict[str, str]]] = []
        size = 200  # the envelope around jsonBody
        for email, attributes in rows.items():
            row_size = len(json.dumps({"email": email, "attributes": attributes})) + 1
            full = len(current) >= self.settings.import_max_rows
            if current and (full or size + row_size > self.settings.import_max_bytes):
                batches.append(current)
                current, size = [], 200
            current.append((email, attributes))
            size += row_size
        if current:
            batches.append(current)
        return batches
