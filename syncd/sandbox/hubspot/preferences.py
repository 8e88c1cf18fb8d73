"""Communication preferences (v3 per-email status, subscribe / unsubscribe; v4 batch reads)
and the events v3 occurrences API."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.normalize import iso_utc, parse_timestamp
from syncd.sandbox.harness import parse_body
from syncd.sandbox.hubspot.errors import bad_json, query_int, too_many_inputs, validation_error
from syncd.sandbox.hubspot.events import EventIndex
from syncd.sandbox.hubspot.limits import HubSpotLimits
from syncd.sandbox.hubspot.models import BatchInputString, SubscriptionChange
from syncd.sandbox.hubspot.seed import EMAIL_EVENT_TYPES, purchase_event_type
from syncd.sandbox.hubspot.state import (
    HubSpotState,
    SubscriptionStatus,
    SubscriptionType,
    email_key,
)


class PreferenceRoutes:
    def __init__(self, state: HubSpotState, limits: HubSpotLimits) -> None:
        self.state = state
        self.limits = limits
        self._events = EventIndex()

    def routes(self) -> list[Route]:
        v3 = "/communication-preferences/v3"
        v4 = "/communication-preferences/v4/statuses/batch"
        return [
            Route(f"{v3}/definitions", self.definitions, methods=["GET"]),
            Route(v3 + "/status/email/{email}", self.email_status, methods=["GET"]),
            Route(f"{v3}/subscribe", self.subscribe, methods=["POST"]),
            Route(f"{v3}/unsubscribe", self.unsubscribe, methods=["POST"]),
            Route(f"{v4}/read", self.batch_read, methods=["POST"]),
            Route(f"{v4}/unsubscribe-all/read", self.batch_read_wide, methods=["POST"]),
            Route("/events/v3/events", self.events, methods=["GET"]),
            Route("/events/v3/events/event-types", self.event_types, methods=["GET"]),
        ]

    # --- v3 ----------------------------------------------------------------------------------

    async def definitions(self, request: Request) -> Response:
        defs = [
            {
                "id": s.id,
                "name": s.name,
                "description": s.description,
                "purpose": "Marketing",
                "communicationMethod": "Email",
                "isActive": True,
                "isDefault": s.is_default,
                "isInternal": False,
                "createdAt": iso_utc(s.created_at),
                "updatedAt": iso_utc(s.created_at),
            }
            for s in self.state.subscription_types.values()
        ]
        return JSONResponse({"subscriptionDefinitions": defs})

    def _v3_status(self, email: str, sub: SubscriptionType) -> dict[str, Any]:
        key = email_key(email)
        current = self.state.statuses.get(key, {}).get(sub.id)
        body: dict[str, Any] = {
            "id": sub.id,
            "name": sub.name,
            "description": sub.description,
            "status": "SUBSCRIBED"
            if current and current.status == "SUBSCRIBED"
            else "NOT_SUBSCRIBED",
            "sourceOfStatus": "PORTAL_WIDE_STATUS"
            if key in self.state.opted_out_all
            else "SUBSCRIPTION_STATUS",
        }
        if current and current.legal_basis:
            body["legalBasis"] = current.legal_basis
            body["legalBasisExplanation"] = current.legal_basis_explanation or ""
        return body

    async def email_status(self, request: Request) -> Response:
        email = request.path_params["email"]
        statuses = [self._v3_status(email, s) for s in self.state.subscription_types.values()]
        return JSONResponse({"recipient": email, "subscriptionStatuses": statuses})

    def _subscription(self, sub_id: str) -> SubscriptionType:
        sub = self.state.subscription_types.get(sub_id)
        if sub is None:
            raise validation_error(f"Subscription {sub_id} does not exist in this portal")
        return sub

    async def subscribe(self, request: Request) -> Response:
        req = await parse_body(request, SubscriptionChange, bad_json)
        sub = self._subscription(req.subscriptionId)
        key = email_key(req.emailAddress)
        current = self.state.statuses.get(key, {}).get(sub.id)
        # HubSpot's rule: this API never resubscribes someone who opted out; only they can.
        if key in self.state.opted_out_all or (current and current.status == "UNSUBSCRIBED"):
            raise validation_error(
                f"{req.emailAddress} has opted out and cannot be resubscribed through the API; "
                "the contact must resubscribe themselves."
            )
        self.state.set_status(
            req.emailAddress,
            sub.id,
            SubscriptionStatus(
                "SUBSCRIBED",
                "API",
                self.state.clock.now(),
                req.legalBasis,
                req.legalBasisExplanation,
            ),
        )
        return JSONResponse(self._v3_status(req.emailAddress, sub))

    async def unsubscribe(self, request: Request) -> Response:
        req = await parse_body(request, SubscriptionChange, bad_json)
        sub = self._subscription(req.subscriptionId)
        current = self.state.statuses.get(email_key(req.emailAddress), {}).get(sub.id)
        self.state.set_status(
            req.emailAddress,
            sub.id,
            SubscriptionStatus(
                "UNSUBSCRIBED",
                "API",
                self.state.clock.now(),
                req.legalBasis or (current.legal_basis if current else None),
                req.legalBasisExplanation,
            ),
        )
        return JSONResponse(self._v3_status(req.emailAddress, sub))

    # --- v4 ----------------------------------------------------------------------------------

    async def _batch_inputs(self, request: Request) -> list[str]:
        if request.query_params.get("channel") != "EMAIL":
            raise validation_error("Query parameter channel is required and must be EMAIL")
        req = await parse_body(request, BatchInputString, bad_json)
        if len(req.inputs) > self.limits.preferences_batch_max:
            raise too_many_inputs(self.limits.preferences_batch_max)
        return req.inputs

    def _created(self, email: str) -> datetime:
        contact = self.state.find(email, "email")
        return contact.created_at if contact else self.state.clock.now()

    def _v4_status(self, email: str, sub: SubscriptionType) -> dict[str, Any]:
        current = self.state.statuses.get(email_key(email), {}).get(sub.id)
        body: dict[str, Any] = {
            "subscriberIdString": email,
            "subscriptionId": int(sub.id),
            "subscriptionName": sub.name,
            "channel": "EMAIL",
            "status": current.status if current else "NOT_SPECIFIED",
            "source": current.source if current else "",
            "timestamp": iso_utc(current.timestamp if current else self._created(email)),
        }
        if current and current.legal_basis:
            body["legalBasis"] = current.legal_basis
            body["legalBasisExplanation"] = current.legal_basis_explanation or ""
        return body

    async def batch_read(self, request: Request) -> Response:
        inputs = await self._batch_inputs(request)
        started = self.state.clock.now()
        results = [
            {
                "subscriberIdString": email,
                "statuses": [
                    self._v4_status(email, s) for s in self.state.subscription_types.values()
                ],
            }
            for email in inputs
        ]
        return JSONResponse(self._batch(started, results))

    async def batch_read_wide(self, request: Request) -> Response:
        inputs = await self._batch_inputs(request)
        started = self.state.clock.now()
        results = []
        for email in inputs:
            at = self.state.opted_out_all.get(email_key(email))
            wide = {
                "subscriberIdString": email,
                "channel": "EMAIL",
                "wideStatusType": "PORTAL_WIDE",
                "status": "UNSUBSCRIBED" if at else "NOT_SPECIFIED",
                "timestamp": iso_utc(at or self._created(email)),
            }
            results.append({"subscriberIdString": email, "wideStatuses": [wide]})
        return JSONResponse(self._batch(started, results))

    def _batch(self, started: datetime, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso_utc(started),
            "completedAt": iso_utc(self.state.clock.now()),
        }

    # --- events ------------------------------------------------------------------------------

    def _when(self, request: Request, name: str) -> datetime | None:
        raw = request.query_params.get(name)
        if not raw:
            return None
        try:
            return parse_timestamp(raw)
        except ValueError:
            raise validation_error(f"Unable to parse {name}: {raw!r}") from None

    async def events(self, request: Request) -> Response:
        object_type = request.query_params.get("objectType")
        if object_type is not None and object_type.lower() not in ("contact", "contacts", "0-1"):
            return JSONResponse({"results": []})
        event_type = request.query_params.get("eventType")
        object_id = request.query_params.get("objectId")
        after_at, before_at = (
            self._when(request, "occurredAfter"),
            self._when(request, "occurredBefore"),
        )
        limit = max(1, min(query_int(request, "limit", 100), self.limits.events_page_max))
        descending = request.query_params.get("sort", "-occurredAt").startswith("-")
        offset = _decode_after(request.query_params.get("after"))
        window, total = self._events.page(
            self.state.events,
            event_type=event_type,
            object_id=object_id,
            after=after_at,
            before=before_at,
            descending=descending,
            offset=offset,
            limit=limit,
        )
        body: dict[str, Any] = {"results": [e.as_json() for e in window]}
        if offset + limit < total:
            token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
            body["paging"] = {"next": {"after": token, "link": ""}}
        return JSONResponse(body)

    async def event_types(self, request: Request) -> Response:
        known = {*EMAIL_EVENT_TYPES.values(), purchase_event_type(self.state.portal_id)}
        names = sorted(known | {e.event_type for e in self.state.events})
        return JSONResponse({"eventTypes": names})


def _decode_after(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise validation_error(f"Invalid paging token: {token!r}") from None
