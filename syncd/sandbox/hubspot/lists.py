"""Lists v3 routes: create, search, fetch, memberships (add / remove / add-and-remove / page)
and per-record memberships."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.normalize import iso_utc
from syncd.sandbox.harness import parse_body
from syncd.sandbox.hubspot.errors import (
    bad_json,
    hubspot_error,
    not_found,
    query_int,
    too_many_inputs,
    validation_error,
)
from syncd.sandbox.hubspot.limits import CONTACT_OBJECT_TYPE_ID, HubSpotLimits
from syncd.sandbox.hubspot.models import (
    ListCreateRequest,
    ListSearchRequest,
    MembershipChangeRequest,
    RecordMembershipsBatchRead,
)
from syncd.sandbox.hubspot.state import ContactList, HubSpotState


class ListRoutes:
    def __init__(self, state: HubSpotState, limits: HubSpotLimits) -> None:
        self.state = state
        self.limits = limits

    def routes(self) -> list[Route]:
        one = "/crm/v3/lists/{list_id}"
        return [
            Route("/crm/v3/lists", self.create, methods=["POST"]),
            Route("/crm/v3/lists/search", self.search, methods=["POST"]),
            Route(
                "/crm/v3/lists/records/memberships/batch/read",
                self.record_memberships,
                methods=["POST"],
            ),
            Route(one, self.fetch, methods=["GET"]),
            Route(one + "/memberships", self.memberships, methods=["GET"]),
            Route(one + "/memberships/add", self.add, methods=["PUT"]),
            Route(one + "/memberships/remove", self.remove, methods=["PUT"]),
            Route(one + "/memberships/add-and-remove", self.add_and_remove, methods=["PUT"]),
        ]

    def _list(self, request: Request) -> ContactList:
        list_id = request.path_params["list_id"]
        lst = self.state.lists.get(list_id)
        if lst is None:
            raise not_found(f"List does not exist with ID {list_id}.")
        return lst

    async def create(self, request: Request) -> Response:
        req = await parse_body(request, ListCreateRequest, bad_json)
        if req.objectTypeId != CONTACT_OBJECT_TYPE_ID:
            raise validation_error(f"Unsupported objectTypeId {req.objectTypeId} in this portal")
        if req.processingType == "DYNAMIC" and req.filterBranch is None:
            raise validation_error("A DYNAMIC list needs a filterBranch")
        if self.state.list_by_name(req.name) is not None:
            raise hubspot_error(409, f"A list named '{req.name}' already exists.", "CONFLICT")
        lst = self.state.create_list(req.name, req.processingType)
        return JSONResponse({"list": lst.as_json()})

    async def fetch(self, request: Request) -> Response:
        return JSONResponse({"list": self._list(request).as_json()})

    async def search(self, request: Request) -> Response:
        req = await parse_body(request, ListSearchRequest, bad_json)
        count = req.count if req.count is not None else 20
        if count > self.limits.list_search_max:
            raise validation_error(f"count must be at most {self.limits.list_search_max}")
        found = [
            lst
            for lst in sorted(self.state.lists.values(), key=lambda x: int(x.id))
            if (not req.query or req.query.lower() in lst.name.lower())
            and (not req.processingTypes or lst.processing_type in req.processingTypes)
            and (not req.listIds or lst.id in req.listIds)
        ]
        window = found[req.offset : req.offset + count]
        return JSONResponse(
            {
                "lists": [lst.as_search_result() for lst in window],
                "offset": req.offset + len(window),
                "hasMore": req.offset + len(window) < len(found),
                "total": len(found),
            }
        )

    async def memberships(self, request: Request) -> Response:
        lst = self._list(request)
        limit = max(1, min(query_int(request, "limit", 100), self.limits.membership_page_max))
        after = query_int(request, "after", 0)
        ids = sorted(int(r) for r in lst.members if int(r) > after)
        window = ids[:limit]
        body: dict[str, Any] = {
            "results": [
                {"recordId": str(r), "membershipTimestamp": iso_utc(lst.members[str(r)])}
                for r in window
            ],
            "total": len(lst.members),
        }
        if len(ids) > limit:
            body["paging"] = {"next": {"after": str(window[-1]), "link": ""}}
        return JSONResponse(body)

    async def _change(self, request: Request, add: list[str], remove: list[str]) -> Response:
        lst = self._list(request)
        if not lst.accepts_memberships:
            raise validation_error(
                f"List {lst.id} has processingType {lst.processing_type}: only MANUAL and "
                "SNAPSHOT lists accept membership changes."
            )
        if len(add) + len(remove) > self.limits.membership_batch_max:
            raise validation_error(
                f"Too many records in one request: {len(add) + len(remove)}. "
                f"The maximum is {self.limits.membership_batch_max}."
            )
        added, removed, missing = self.state.change_memberships(lst, add, remove)
        return JSONResponse(
            {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}
        )

    async def _ids(self, request: Request) -> list[str]:
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError:
            raise bad_json("request body is not valid JSON") from None
        if not isinstance(data, list) or not all(isinstance(x, str | int) for x in data):
            raise bad_json("expected an array of record ids")
        return [str(x) for x in data]

    async def add(self, request: Request) -> Response:
        return await self._change(request, await self._ids(request), [])

    async def remove(self, request: Request) -> Response:
        return await self._change(request, [], await self._ids(request))

    async def add_and_remove(self, request: Request) -> Response:
        req = await parse_body(request, MembershipChangeRequest, bad_json)
        return await self._change(request, req.recordIdsToAdd, req.recordIdsToRemove)

    async def record_memberships(self, request: Request) -> Response:
        req = await parse_body(request, RecordMembershipsBatchRead, bad_json)
        if len(req.inputs) > self.limits.batch_max:
            raise too_many_inputs(self.limits.batch_max)
        started = self.state.clock.now()
        results = []
        for item in req.inputs:
            memberships = [
                {
                    "listId": lst.id,
                    "listVersion": lst.version,
                    "firstAddedTimestamp": iso_utc(lst.members[item.recordId]),
                    "lastAddedTimestamp": iso_utc(lst.members[item.recordId]),
                    "isPublicList": True,
                }
                for lst in self.state.lists.values()
                if item.recordId in lst.members
            ]
            results.append(
                {
                    "objectTypeId": item.objectTypeId,
                    "recordId": item.recordId,
                    "recordListMemberships": memberships,
                }
            )
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": iso_utc(started),
                "completedAt": iso_utc(self.state.clock.now()),
            }
        )
