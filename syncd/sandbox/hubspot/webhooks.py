"""Webhooks v3: an app's target URL and its event subscriptions (e.g. contact.propertyChange
on ``hs_email_optout``). The sandbox records them; it sends nothing out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.clock import Clock
from syncd.normalize import iso_utc
from syncd.sandbox.harness import parse_body
from syncd.sandbox.hubspot.errors import bad_json, not_found, validation_error

ContactEvent = Literal[
    "contact.creation",
    "contact.deletion",
    "contact.merge",
    "contact.privacyDeletion",
    "contact.propertyChange",
    "contact.restore",
    "contact.associationChange",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionCreate(_Body):
    eventType: ContactEvent
    propertyName: str | None = None
    active: bool = False
    objectTypeId: str | None = None
    eventTypeName: str | None = None


class SubscriptionPatch(_Body):
    active: bool


class Throttling(_Body):
    maxConcurrentRequests: int = Field(ge=1)


class SettingsChange(_Body):
    targetUrl: str = Field(min_length=1)
    throttling: Throttling


@dataclass
class Subscription:
    id: int
    event_type: str
    property_name: str | None
    active: bool
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "eventType": self.event_type,
            "active": self.active,
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
        }
        if self.property_name:
            body["propertyName"] = self.property_name
        return body


class WebhookRoutes:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.subscriptions: dict[int, Subscription] = {}
        self.settings: dict[str, Any] | None = None
        self._next = 1

    def routes(self) -> list[Route]:
        base = "/webhooks/v3/{app_id:int}"
        one = base + "/subscriptions/{sub_id:int}"
        return [
            Route(base + "/subscriptions", self.list_subscriptions, methods=["GET"]),
            Route(base + "/subscriptions", self.create, methods=["POST"]),
            Route(one, self.get_one, methods=["GET"]),
            Route(one, self.patch, methods=["PATCH"]),
            Route(one, self.delete, methods=["DELETE"]),
            Route(base + "/settings", self.get_settings, methods=["GET"]),
            Route(base + "/settings", self.put_settings, methods=["PUT"]),
        ]

    def _one(self, request: Request) -> Subscription:
        sub = self.subscriptions.get(request.path_params["sub_id"])
        if sub is None:
            raise not_found(f"Subscription {request.path_params['sub_id']} not found")
        return sub

    async def list_subscriptions(self, request: Request) -> Response:
        return JSONResponse({"results": [s.as_json() for s in self.subscriptions.values()]})

    async def create(self, request: Request) -> Response:
        req = await parse_body(request, SubscriptionCreate, bad_json)
        if req.eventType == "contact.propertyChange" and not req.propertyName:
            raise validation_error("propertyName is required for contact.propertyChange")
        now = self.clock.now()
        sub = Subscription(self._next, req.eventType, req.propertyName, req.active, now, now)
        self._next += 1
        self.subscriptions[sub.id] = sub
        return JSONResponse(sub.as_json(), status_code=201)

    async def get_one(self, request: Request) -> Response:
        return JSONResponse(self._one(request).as_json())

    async def patch(self, request: Request) -> Response:
        sub = self._one(request)
        req = await parse_body(request, SubscriptionPatch, bad_json)
        sub.active, sub.updated_at = req.active, self.clock.now()
        return JSONResponse(sub.as_json())

    async def delete(self, request: Request) -> Response:
        del self.subscriptions[self._one(request).id]
        return Response(status_code=204)

    async def get_settings(self, request: Request) -> Response:
        if self.settings is None:
            raise not_found("No webhook settings for this app")
        return JSONResponse(self.settings)

    async def put_settings(self, request: Request) -> Response:
        req = await parse_body(request, SettingsChange, bad_json)
        now = iso_utc(self.clock.now())
        created = self.settings["createdAt"] if self.settings else now
        self.settings = {
            "targetUrl": req.targetUrl,
            "throttling": req.throttling.model_dump(),
            "createdAt": created,
            "updatedAt": now,
        }
        return JSONResponse(self.settings)
