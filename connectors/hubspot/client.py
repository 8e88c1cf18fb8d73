"""HubSpot calls, one method per endpoint, over syncd's shared :class:`VendorHttp`.

Retries, rate windows and counters live in VendorHttp; this module knows paths, bodies, which
window a call consumes and where a response keeps what we need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from connectors.hubspot import settings as s
from syncd.errors import MalformedResponse
from syncd.http import VendorHttp, require

_DEFAULT = (s.WINDOW_BURST, s.WINDOW_DAILY)
_SEARCH = (s.WINDOW_BURST, s.WINDOW_DAILY, s.WINDOW_SEARCH)


class HubSpotClient:
    def __init__(self, http: VendorHttp) -> None:
        self.http = http

    async def _call(self, operation: str, method: str, path: str, **kw: Any) -> Any:
        kw.setdefault("windows", _DEFAULT)
        return await self.http.call(operation, method, path, **kw)

    def _results(self, body: Any, operation: str) -> list[dict[str, Any]]:
        results = require(body, "results", vendor=s.VENDOR, operation=operation)
        if not isinstance(results, list):
            raise _malformed(operation, "results is not a list")
        return results

    # --- contacts ----------------------------------------------------------------------------

    async def contacts_page(
        self, after: str | None, properties: Sequence[str]
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": s.PAGE_MAX, "properties": ",".join(properties)}
        if after:
            params["after"] = after
        body = await self._call("contacts.page", "GET", s.CONTACTS, params=params)
        return self._results(body, "contacts.page"), _next_after(body)

    async def search_contacts(
        self, body: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        answer = await self._call(
            "contacts.search", "POST", s.CONTACTS_SEARCH, json_body=body, windows=_SEARCH
        )
        return self._results(answer, "contacts.search"), _next_after(answer)

    async def batch_read(
        self, ids: Sequence[str], properties: Sequence[str], id_property: str | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        body: dict[str, Any] = {
            "inputs": [{"id": i} for i in ids],
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        if id_property:
            body["idProperty"] = id_property
        answer = await self._call(
            "contacts.batch_read", "POST", s.CONTACTS_BATCH_READ, json_body=body
        )
        return self._results(answer, "contacts.batch_read"), list(answer.get("errors") or [])

    async def batch_update(
        self, inputs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        answer = await self._call(
            "contacts.batch_update",
            "POST",
            s.CONTACTS_BATCH_UPDATE,
            json_body={"inputs": inputs},
            kind="write",
        )
        return self._results(answer, "contacts.batch_update"), list(answer.get("errors") or [])

    async def gdpr_delete(self, email: str) -> None:
        await self._call(
            "contacts.gdpr_delete",
            "POST",
            s.CONTACTS_GDPR_DELETE,
            json_body={"objectId": email, "idProperty": "email"},
            kind="write",
            record=email,
        )

    # --- lists -------------------------------------------------------------------------------

    async def search_lists(self, query: str, offset: int) -> dict[str, Any]:
        body = {
            "query": query,
            "offset": offset,
            "count": s.LIST_SEARCH_PAGE,
            "additionalProperties": [],
        }
        answer: dict[str, Any] = await self._call(
            "lists.search", "POST", s.LISTS_SEARCH, json_body=body
        )
        require(answer, "lists", vendor=s.VENDOR, operation="lists.search")
        return answer

    async def create_list(self, name: str) -> dict[str, Any]:
        body = {"name": name, "objectTypeId": s.CONTACT_OBJECT_TYPE_ID, "processingType": "MANUAL"}
        answer = await self._call("lists.create", "POST", s.LISTS, json_body=body, kind="write")
        created: dict[str, Any] = require(answer, "list", vendor=s.VENDOR, operation="lists.create")
        return created

    async def change_memberships(
        self, list_id: str, add: list[str], remove: list[str]
    ) -> dict[str, Any]:
        """One write call: /add, /remove or /add-and-remove, whichever fits."""
        if add and remove:
            tail, body = (
                "/memberships/add-and-remove",
                {"recordIdsToAdd": add, "recordIdsToRemove": remove},
            )
        elif add:
            tail, body = "/memberships/add", add  # type: ignore[assignment]
        else:
            tail, body = "/memberships/remove", remove  # type: ignore[assignment]
        answer: dict[str, Any] = await self._call(
            "lists.memberships", "PUT", s.list_path(list_id, tail), json_body=body, kind="write"
        )
        require(answer, "recordIdsMissing", vendor=s.VENDOR, operation="lists.memberships")
        return answer

    async def record_memberships(self, record_ids: Sequence[str]) -> dict[str, list[str]]:
        """List ids each record belongs to."""
        body = {
            "inputs": [
                {"objectTypeId": s.CONTACT_OBJECT_TYPE_ID, "recordId": r} for r in record_ids
            ]
        }
        answer = await self._call(
            "lists.record_memberships", "POST", s.RECORD_MEMBERSHIPS, json_body=body
        )
        out: dict[str, list[str]] = {}
        for item in self._results(answer, "lists.record_memberships"):
            rid = require(item, "recordId", vendor=s.VENDOR, operation="lists.record_memberships")
            memberships = item.get("recordListMemberships") or []
            out[str(rid)] = [str(m["listId"]) for m in memberships if "listId" in m]
        return out

    # --- properties --------------------------------------------------------------------------

    async def contact_properties(self) -> list[dict[str, Any]]:
        body = await self._call("properties.list", "GET", s.CONTACT_PROPERTIES)
        return self._results(body, "properties.list")

    async def create_property(self, definition: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call(
            "properties.create", "POST", s.CONTACT_PROPERTIES, json_body=definition, kind="write"
        )
        return answer

    # --- communication preferences and events ------------------------------------------------

    async def subscription_definitions(self) -> list[dict[str, Any]]:
        body = await self._call("preferences.definitions", "GET", s.SUBSCRIPTION_DEFINITIONS)
        defs = require(
            body, "subscriptionDefinitions", vendor=s.VENDOR, operation="preferences.definitions"
        )
        return list(defs)

    async def email_status(self, email: str) -> dict[str, Any]:
        path = s.EMAIL_STATUS_V3.format(email=quote(email, safe="@"))
        answer: dict[str, Any] = await self._call(
            "preferences.email_status", "GET", path, record=email
        )
        return answer

    async def statuses(self, emails: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Subscription statuses per email (v4 batch read)."""
        answer = await self._call(
            "preferences.batch_read",
            "POST",
            s.STATUSES_BATCH_READ,
            params={"channel": "EMAIL"},
            json_body={"inputs": list(emails)},
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for item in self._results(answer, "preferences.batch_read"):
            who = require(
                item, "subscriberIdString", vendor=s.VENDOR, operation="preferences.batch_read"
            )
            out[str(who).strip().lower()] = list(item.get("statuses") or [])
        return out

    async def events_page(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        body = await self._call("events.page", "GET", s.EVENTS, params=params)
        return self._results(body, "events.page"), _next_after(body)


def _next_after(body: Any) -> str | None:
    nxt = (body.get("paging") or {}).get("next") if isinstance(body, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    return str(after) if after not in (None, "") else None


def _malformed(operation: str, message: str) -> Exception:
    return MalformedResponse(s.VENDOR, operation, message)
