"""The HubSpot sandbox: routes, private-app auth, rate windows with HubSpot's 429 and headers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.clock import Clock
from syncd.sandbox.harness import FaultPlan, SandboxHTTPError, ServerWindow, VendorSandbox
from syncd.sandbox.hubspot.crm import CrmRoutes
from syncd.sandbox.hubspot.errors import error_body, hubspot_error
from syncd.sandbox.hubspot.limits import (
    POLICY_BURST,
    POLICY_DAILY,
    POLICY_SEARCH,
    HubSpotLimits,
)
from syncd.sandbox.hubspot.lists import ListRoutes
from syncd.sandbox.hubspot.preferences import PreferenceRoutes
from syncd.sandbox.hubspot.seed import purchase_event_type, seed_population
from syncd.sandbox.hubspot.state import HubSpotState, email_key
from syncd.sandbox.hubspot.webhooks import WebhookRoutes
from syncd.sandbox.population import Population

DEFAULT_TOKEN = "pat-na1-00000000-0000-4000-8000-5a4db0c5a4db"
DEFAULT_PORTAL_ID = 24681357

Endpoint = Callable[[Request], Awaitable[Response]]

_MISSING_AUTH = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_BAD_TOKEN = "Authentication credentials are invalid: the private app access token is not valid."


class HubSpotSandbox(VendorSandbox):
    vendor = "hubspot"
    base_url = "https://api.hubapi.com"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_TOKEN,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        limits: HubSpotLimits | None = None,
        portal_id: int = DEFAULT_PORTAL_ID,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.api_key = api_key
        self.limits = limits or HubSpotLimits()
        self.state = HubSpotState(self.clock, portal_id)
        lim = self.limits
        self.burst = ServerWindow(lim.burst_requests, lim.burst_seconds, self.clock)
        self.search_window = ServerWindow(lim.search_requests, lim.search_seconds, self.clock)
        self.daily = ServerWindow(lim.daily_requests, lim.daily_seconds, self.clock)
        routes: list[Route] = []
        self.webhooks = WebhookRoutes(self.clock)
        for group in (
            CrmRoutes(self.state, lim),
            ListRoutes(self.state, lim),
            PreferenceRoutes(self.state, lim),
            self.webhooks,
        ):
            routes.extend(group.routes())
        guarded = [
            Route(r.path, self._guard(r.endpoint), methods=sorted(r.methods or [])) for r in routes
        ]
        inner = Starlette(routes=guarded, exception_handlers={HTTPException: _http_exception})
        self.app = self.wrap(inner, rate_limited=lambda: self._rate_limited(POLICY_BURST))

    @property
    def portal_id(self) -> int:
        return self.state.portal_id

    @property
    def purchase_event_type(self) -> str:
        return purchase_event_type(self.state.portal_id)

    # --- auth and rate limits ----------------------------------------------------------------

    def _guard(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            if not auth:
                return _error(401, _MISSING_AUTH, "INVALID_AUTHENTICATION")
            if auth != f"Bearer {self.api_key}":
                return _error(401, _BAD_TOKEN, "INVALID_AUTHENTICATION")
            is_search = (
                request.method == "POST"
                and request.url.path.startswith("/crm/v3/objects/")
                and request.url.path.endswith("/search")
            )
            if self.daily.remaining() == 0:
                return self._rate_limited(POLICY_DAILY)
            if self.burst.remaining() == 0:
                return self._rate_limited(POLICY_BURST)
            if is_search and not self.search_window.hit():
                return self._rate_limited(POLICY_SEARCH)
            self.burst.hit()
            self.daily.hit()
            try:
                response = await endpoint(request)
            except SandboxHTTPError as exc:
                response = exc.response()
            response.headers.update(self._limit_headers())
            return response

        return guarded

    def _limit_headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.burst.requests),
            "X-HubSpot-RateLimit-Remaining": str(self.burst.remaining()),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.burst.per_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.daily.requests),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining()),
        }

    def _rate_limited(self, policy: str) -> Response:
        window = {
            POLICY_BURST: self.burst,
            POLICY_SEARCH: self.search_window,
            POLICY_DAILY: self.daily,
        }[policy]
        body = error_body(
            f"You have reached your {policy.lower()} limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName=policy,
            groupName="publicapi-private-app",
        )
        headers = {
            "X-HubSpot-RateLimit-Max": str(window.requests),
            "X-HubSpot-RateLimit-Remaining": str(window.remaining()),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window.per_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(self.daily.requests),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining()),
        }
        if policy == POLICY_BURST:
            # the fault plan answers 429 without a full window: say none are left
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
        return JSONResponse(body, status_code=429, headers=headers)

    # --- population and summary --------------------------------------------------------------

    def seed(self, population: Population) -> None:
        seed_population(self.state, population)

    def consent_state(self, email: str) -> str:
        """The person's consent in syncd words, as HubSpot's data says it."""
        key = email_key(email)
        contact = self.state.find(email, "email")
        if contact is not None and (
            contact.properties.get("hs_email_bad_address") == "true"
            or contact.properties.get("hs_email_hard_bounce_reason_enum")
        ):
            return "bounced"
        if key in self.state.opted_out_all:
            statuses = self.state.statuses.get(key, {}).values()
            spam = any(s.source == "SOURCE_SPAM_REPORT" for s in statuses)
            return "complained" if spam else "unsubscribed"
        marketing = self.state.statuses.get(key, {}).get(self.state.marketing.id)
        if marketing is None:
            return "pending"
        return "subscribed" if marketing.status == "SUBSCRIBED" else "unsubscribed"

    def summary(self) -> dict[str, Any]:
        consent: Counter[str] = Counter(
            self.consent_state(c.email or "") for c in self.state.contacts.values()
        )
        activity: Counter[str] = Counter(e.event_type for e in self.state.events)
        return {
            "contacts": len(self.state.contacts),
            "consent": dict(consent),
            "lists": {lst.name: len(lst.members) for lst in self.state.lists.values()},
            "subscription_types": [s.name for s in self.state.subscription_types.values()],
            "activity": dict(activity),
            "webhook_subscriptions": len(self.webhooks.subscriptions),
            "properties": sorted(
                p for p, d in self.state.properties.items() if not d.hubspot_defined
            ),
        }


def _error(status: int, message: str, category: str) -> Response:
    return JSONResponse(error_body(message, category), status_code=status)


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return _error(404, f"No route for {request.method} {request.url.path}", "OBJECT_NOT_FOUND")
    if status == 405:
        return _error(405, f"Method {request.method} not allowed", "VALIDATION_ERROR")
    return hubspot_error(status, str(exc), "INTERNAL_ERROR").response()
