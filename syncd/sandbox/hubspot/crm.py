"""CRM v3 routes: contacts (page, search, batch read / update / upsert, GDPR delete) and
contact properties."""

from __future__ import annotations

from collections import Counter
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
    property_errors,
    query_int,
    query_list,
    standard_error,
    too_many_inputs,
    validation_error,
)
from syncd.sandbox.hubspot.limits import HubSpotLimits
from syncd.sandbox.hubspot.models import (
    BatchReadRequest,
    BatchUpdateInput,
    BatchUpdateRequest,
    BatchUpsertRequest,
    GdprDeleteRequest,
    PropertyCreate,
    SearchRequest,
)
from syncd.sandbox.hubspot.search import SearchError, run_search
from syncd.sandbox.hubspot.state import READ_ONLY, Contact, HubSpotState, PropertyDef

_NOT_FOUND_MESSAGE = (
    "Could not get some CONTACT objects, they may be deleted or not exist. "
    "Check that ids are valid."
)
_CONTACT_TYPES = ("contacts", "contact", "0-1")


class CrmRoutes:
    def __init__(self, state: HubSpotState, limits: HubSpotLimits) -> None:
        self.state = state
        self.limits = limits

    def routes(self) -> list[Route]:
        base = "/crm/v3/objects/contacts"
        return [
            Route(base, self.page, methods=["GET"]),
            Route(f"{base}/search", self.search, methods=["POST"]),
            Route(f"{base}/batch/read", self.batch_read, methods=["POST"]),
            Route(f"{base}/batch/update", self.batch_update, methods=["POST"]),
            Route(f"{base}/batch/upsert", self.batch_upsert, methods=["POST"]),
            Route(f"{base}/gdpr-delete", self.gdpr_delete, methods=["POST"]),
            Route(base + "/{contact_id}", self.get_one, methods=["GET"]),
            Route("/crm/v3/properties/{object_type}", self.properties, methods=["GET"]),
            Route("/crm/v3/properties/{object_type}", self.create_property, methods=["POST"]),
            Route("/crm/v3/properties/{object_type}/{name}", self.get_property, methods=["GET"]),
        ]

    # --- reads -------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        limit = max(1, min(query_int(request, "limit", 10), self.limits.page_max))
        after = query_int(request, "after", 0)
        wanted = query_list(request, "properties")
        ordered = sorted(
            (c for c in self.state.contacts.values() if int(c.id) >= after), key=lambda c: int(c.id)
        )
        body: dict[str, Any] = {"results": [c.as_json(wanted) for c in ordered[:limit]]}
        if len(ordered) > limit:
            nxt = ordered[limit].id
            body["paging"] = {
                "next": {"after": nxt, "link": f"{request.url.path}?after={nxt}&limit={limit}"}
            }
        return JSONResponse(body)

    async def get_one(self, request: Request) -> Response:
        ident = request.path_params["contact_id"]
        contact = self.state.find(ident, request.query_params.get("idProperty"))
        if contact is None:
            raise not_found(f"Object not found.  objectId are usually numeric. id={ident}")
        return JSONResponse(contact.as_json(query_list(request, "properties")))

    async def search(self, request: Request) -> Response:
        req = await parse_body(request, SearchRequest, bad_json)
        if req.limit > self.limits.search_page_max:
            raise validation_error(
                f"The limit {req.limit} exceeds the maximum of {self.limits.search_page_max}."
            )
        try:
            offset = int(req.after or 0)
        except ValueError:
            raise validation_error(f"Invalid after value: {req.after!r}") from None
        if offset + max(req.limit, 1) > self.limits.search_total_max:
            raise validation_error(
                f"Paging beyond {self.limits.search_total_max} results is not supported. "
                "Narrow the query with filters."
            )
        try:
            found = run_search(self.state, req)
        except SearchError as exc:
            raise validation_error(str(exc)) from None
        window = found[offset : offset + req.limit]
        body: dict[str, Any] = {
            "total": len(found),
            "results": [c.as_json(req.properties) for c in window],
        }
        nxt = offset + req.limit
        if nxt < len(found) and nxt < self.limits.search_total_max:
            body["paging"] = {"next": {"after": str(nxt), "link": ""}}
        return JSONResponse(body)

    async def batch_read(self, request: Request) -> Response:
        req = await parse_body(request, BatchReadRequest, bad_json)
        cap = self.limits.batch_history_max if req.propertiesWithHistory else self.limits.batch_max
        if len(req.inputs) > cap:
            if req.propertiesWithHistory:
                raise validation_error(
                    f"The maximum number of inputs supported in a batch request for property "
                    f"histories is {cap}. Please reduce the number of items and try again"
                )
            raise too_many_inputs(cap)
        started = self.state.clock.now()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in req.inputs:
            contact = self.state.find(item.id, req.idProperty)
            if contact is None:
                missing.append(item.id)
            elif all(r["id"] != contact.id for r in results):
                results.append(contact.as_json(req.properties))
        return self._batch_response(started, results, missing)

    # --- writes ------------------------------------------------------------------------------

    def _check_values(self, inputs: list[BatchUpdateInput], *, creating: bool) -> None:
        problems: list[tuple[str, str, str]] = []
        for item in inputs:
            for name, value in item.properties.items():
                definition = self.state.properties.get(name)
                if definition is None:
                    problems.append(
                        (name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                    )
                elif name in READ_ONLY:
                    problems.append(
                        (
                            name,
                            "READ_ONLY_VALUE",
                            f'"{name}" is a read only property; its value cannot be set.',
                        )
                    )
                elif (code := definition.invalid(value)) is not None:
                    problems.append((name, code, f"{value!r} is not a valid value for {name}"))
            if creating and item.idProperty == "email" and "@" not in item.id:
                problems.append(("email", "INVALID_EMAIL", f"Email address {item.id} is invalid"))
        if problems:
            raise property_errors(problems)
        seen = Counter((i.idProperty or "hs_object_id", i.id.lower()) for i in inputs)
        duplicates = sorted(ident for (_, ident), n in seen.items() if n > 1)
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )

    async def batch_update(self, request: Request) -> Response:
        req = await parse_body(request, BatchUpdateRequest, bad_json)
        if len(req.inputs) > self.limits.batch_max:
            raise too_many_inputs(self.limits.batch_max)
        self._check_values(req.inputs, creating=False)
        started = self.state.clock.now()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in req.inputs:
            contact = self.state.find(item.id, item.idProperty)
            if contact is None:
                missing.append(item.id)
                continue
            self.state.update_contact(contact, item.properties)
            results.append(contact.as_json(list(item.properties)))
        return self._batch_response(started, results, missing)

    async def batch_upsert(self, request: Request) -> Response:
        req = await parse_body(request, BatchUpsertRequest, bad_json)
        if len(req.inputs) > self.limits.batch_max:
            raise too_many_inputs(self.limits.batch_max)
        self._check_values(req.inputs, creating=True)
        started = self.state.clock.now()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        for item in req.inputs:
            contact = self.state.find(item.id, item.idProperty)
            created = contact is None
            if contact is None:
                if item.idProperty != "email":
                    missing.append(item.id)
                    continue
                contact = self.state.create_contact({**_clean(item.properties), "email": item.id})
            else:
                self.state.update_contact(contact, item.properties)
            results.append({**contact.as_json(list(item.properties)), "new": created})
        return self._batch_response(started, results, missing)

    async def gdpr_delete(self, request: Request) -> Response:
        req = await parse_body(request, GdprDeleteRequest, bad_json)
        contact = self.state.find(req.objectId, req.idProperty)
        if contact is None:
            raise not_found(f"Object not found.  objectId are usually numeric. id={req.objectId}")
        self.state.delete_contact(contact)
        return Response(status_code=204)

    def _batch_response(
        self, started: Any, results: list[dict[str, Any]], missing: list[str]
    ) -> Response:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_utc(started),
            "completedAt": iso_utc(self.state.clock.now()),
        }
        if not missing:
            return JSONResponse(body)
        body["numErrors"] = 1
        body["errors"] = [standard_error("OBJECT_NOT_FOUND", _NOT_FOUND_MESSAGE, missing)]
        return JSONResponse(body, status_code=207)

    # --- properties --------------------------------------------------------------------------

    def _object_type(self, request: Request) -> None:
        object_type = request.path_params["object_type"]
        if object_type not in _CONTACT_TYPES:
            raise hubspot_error(
                400, f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR"
            )

    async def properties(self, request: Request) -> Response:
        self._object_type(request)
        return JSONResponse({"results": [p.as_json() for p in self.state.properties.values()]})

    async def get_property(self, request: Request) -> Response:
        self._object_type(request)
        name = request.path_params["name"]
        definition = self.state.properties.get(name)
        if definition is None:
            raise not_found(f"Unable to find property with name {name}")
        return JSONResponse(definition.as_json())

    async def create_property(self, request: Request) -> Response:
        self._object_type(request)
        req = await parse_body(request, PropertyCreate, bad_json)
        if req.name in self.state.properties:
            raise hubspot_error(
                409, f"Property named '{req.name}' already exists.", "OBJECT_ALREADY_EXISTS"
            )
        now = self.state.clock.now()
        definition = PropertyDef(
            name=req.name,
            label=req.label,
            type=req.type,
            field_type=req.fieldType,
            group_name=req.groupName,
            description=req.description or "",
            options=[o.model_dump(exclude_none=True) for o in req.options],
            hubspot_defined=False,
            created_at=now,
            updated_at=now,
        )
        self.state.properties[req.name] = definition
        return JSONResponse(definition.as_json(), status_code=201)


def _clean(properties: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in properties.items() if v is not None}


__all__ = ["Contact", "CrmRoutes"]
