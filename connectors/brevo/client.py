"""The Brevo calls syncd makes, one method each, over the shared VendorHttp."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

from syncd.errors import RequestRejected
from syncd.http import VendorHttp, require

from . import settings as s


def _path(template: str, **parts: object) -> str:
    return template.format(**{k: quote(str(v), safe="") for k, v in parts.items()})


class BrevoClient:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def _call(self, operation: str, method: str, path: str, **kw: Any) -> Any:
        return await self.http.call(operation, method, path, windows=s.CONTACTS_WINDOWS, **kw)

    # --- reads -----------------------------------------------------------------------------

    async def contacts_page(self, params: dict[str, Any]) -> dict[str, Any]:
        body = await self._call("get_contacts", "GET", s.CONTACTS, params=params)
        require(body, "contacts", vendor=s.VENDOR, operation="get_contacts")
        result: dict[str, Any] = body
        return result

    async def contact(self, identifier: str) -> dict[str, Any] | None:
        """One contact by email or id; None when Brevo answers 404."""
        try:
            body = await self._call(
                "get_contact", "GET", _path(s.CONTACT, identifier=identifier), record=identifier
            )
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise
        require(body, "id", vendor=s.VENDOR, operation="get_contact", record=identifier)
        result: dict[str, Any] = body
        return result

    async def delete_contact(self, identifier: str) -> None:
        await self._call(
            "delete_contact",
            "DELETE",
            _path(s.CONTACT, identifier=identifier),
            kind="write",
            record=identifier,
        )

    async def campaign_stats(self, identifier: str, start: date, end: date) -> dict[str, Any]:
        body = await self._call(
            "get_contact_stats",
            "GET",
            _path(s.CONTACT_STATS, identifier=identifier),
            params={"startDate": start.isoformat(), "endDate": end.isoformat()},
            record=identifier,
        )
        return body if isinstance(body, dict) else {}

    async def all_lists(self) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            body = await self._call(
                "get_lists",
                "GET",
                s.LISTS,
                params={"limit": s.LISTS_PAGE_MAX, "offset": offset, "sort": "asc"},
            )
            lists = (body or {}).get("lists") or []
            for item in lists:
                require(item, "id", vendor=s.VENDOR, operation="get_lists")
                require(item, "name", vendor=s.VENDOR, operation="get_lists")
                yield item
            offset += len(lists)
            if not lists or offset >= int((body or {}).get("count") or 0):
                return

    async def folders(self) -> list[dict[str, Any]]:
        body = await self._call(
            "get_folders", "GET", s.FOLDERS, params={"limit": 50, "offset": 0, "sort": "asc"}
        )
        folders: list[dict[str, Any]] = (body or {}).get("folders") or []
        return folders

    async def attributes(self) -> list[dict[str, Any]]:
        body = await self._call("get_attributes", "GET", s.ATTRIBUTES)
        found: list[dict[str, Any]] = require(
            body, "attributes", vendor=s.VENDOR, operation="get_attributes"
        )
        return found

    # --- writes ----------------------------------------------------------------------------

    async def create_folder(self, name: str) -> int:
        body = await self._call(
            "create_folder", "POST", s.FOLDERS, kind="write", json_body={"name": name}
        )
        return int(require(body, "id", vendor=s.VENDOR, operation="create_folder"))

    async def create_list(self, name: str, folder_id: int) -> int:
        body = await self._call(
            "create_list",
            "POST",
            s.LISTS,
            kind="write",
            json_body={"name": name, "folderId": folder_id},
        )
        return int(require(body, "id", vendor=s.VENDOR, operation="create_list"))

    async def create_attribute(self, name: str, kind: str) -> None:
        await self._call(
            "create_attribute",
            "POST",
            _path(s.ATTRIBUTE, category="normal", name=name),
            kind="write",
            json_body={"type": kind},
        )

    async def list_membership(
        self, list_id: str, op: str, emails: Sequence[str]
    ) -> tuple[set[str], set[str]] | str:
        """Add or remove emails; (success, failure) as Brevo reports them, or, when Brevo
        refuses the whole call (every contact failed), its message."""
        template = s.LIST_ADD if op == "add" else s.LIST_REMOVE
        operation = f"list_{op}"
        try:
            body = await self._call(
                operation,
                "POST",
                _path(template, list_id=list_id),
                kind="write",
                json_body={"emails": list(emails)},
            )
        except RequestRejected as exc:
            if exc.status == 400:
                return str(exc)
            raise
        contacts = require(body, "contacts", vendor=s.VENDOR, operation=operation)
        success = {str(e).strip().lower() for e in contacts.get("success") or []}
        failure = {str(e).strip().lower() for e in contacts.get("failure") or []}
        return success, failure

    async def import_rows(
        self, rows: list[dict[str, Any]], list_id: int, *, erase_empty: bool
    ) -> int:
        body = await self._call(
            "import_contacts",
            "POST",
            s.IMPORT,
            kind="write",
            json_body={
                "jsonBody": rows,
                "listIds": [list_id],
                "updateExistingContacts": True,
                "emptyContactsAttributes": erase_empty,
                "disableNotification": True,
            },
        )
        return int(require(body, "processId", vendor=s.VENDOR, operation="import_contacts"))
