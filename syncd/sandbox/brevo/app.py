"""Brevo v3 as a Starlette app: the auth and rate-limit gate, and the contact routes.

Lists, folders, attributes and processes live in ``routes_lists``; batch update and import in
``routes_bulk``. Every route runs behind :meth:`BrevoApp.endpoint`: ``api-key`` checked first
(401 ``unauthorized``), then the rate windows (429 with ``x-sib-ratelimit-*`` headers and no
``Retry-After``), then the handler; Brevo's rate headers ride on every answer.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.clock import Clock
from syncd.sandbox.brevo.common import (
    bad_request,
    brevo_error,
    contact_out,
    empty,
    json,
    not_found,
    on_body_error,
    parse_query,
)
from syncd.sandbox.brevo.limits import CONTACTS_FAMILY_PREFIX, BrevoLimits
from syncd.sandbox.brevo.models import (
    ContactsPage,
    ContactsQuery,
    CreateContactBody,
    CreatedOut,
    IdentifierQuery,
    StatsQuery,
    UpdateContactBody,
)
from syncd.sandbox.brevo.routes_bulk import BulkRoutes
from syncd.sandbox.brevo.routes_lists import ListRoutes
from syncd.sandbox.brevo.state import BrevoState, Contact
from syncd.sandbox.harness import SandboxHTTPError, ServerWindow, parse_body

Handler = Callable[[Request], Awaitable[Response]]

RATE_LIMIT_MESSAGE = "The expected rate limit is exceeded."


def too_many_requests(window: ServerWindow | None) -> Response:
    limit = window.requests if window else 10
    reset = math.ceil(window.reset_s()) if window else 1
    return JSONResponse(
        {"code": "too_many_requests", "message": RATE_LIMIT_MESSAGE},
        status_code=429,
        headers={
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": str(max(1, reset)),
        },
    )


class BrevoApp:
    def __init__(self, state: BrevoState, limits: BrevoLimits, api_key: str, clock: Clock) -> None:
        self.state = state
        self.limits = limits
        self.api_key = api_key
        self.contacts_second = ServerWindow(limits.contacts_per_second, 1.0, clock)
        self.contacts_hour = ServerWindow(limits.contacts_per_hour, 3600.0, clock)
        self.other_hour = ServerWindow(limits.other_per_hour, 3600.0, clock)

    # --- gate ------------------------------------------------------------------------------

    def windows_for(self, path: str) -> list[ServerWindow]:
        if path == CONTACTS_FAMILY_PREFIX or path.startswith(CONTACTS_FAMILY_PREFIX + "/"):
            return [self.contacts_second, self.contacts_hour]
        return [self.other_hour]

    def endpoint(self, handler: Handler) -> Handler:
        async def gated(request: Request) -> Response:
            if request.headers.get("api-key") != self.api_key:
                return brevo_error(401, "unauthorized", "Key not found").response()
            windows = self.windows_for(request.url.path)
            full = next((w for w in windows if w.remaining() == 0), None)
            if full is not None:
                return too_many_requests(full)
            for window in windows:
                window.hit()
            try:
                response = await handler(request)
            except SandboxHTTPError as exc:
                response = exc.response()
            tightest = windows[0]
            response.headers["x-sib-ratelimit-limit"] = str(tightest.requests)
            response.headers["x-sib-ratelimit-remaining"] = str(tightest.remaining())
            response.headers["x-sib-ratelimit-reset"] = str(math.ceil(tightest.reset_s()))
            return response

        return gated

    def build(self) -> Starlette:
        lists = ListRoutes(self.state, self.limits)
        bulk = BulkRoutes(self.state, self.limits)
        table: list[tuple[str, Handler, list[str]]] = [
            ("/v3/contacts", self.get_contacts, ["GET"]),
            ("/v3/contacts", self.create_contact, ["POST"]),
            *lists.table(),
            *bulk.table(),
            ("/v3/contacts/{identifier}/campaignStats", self.campaign_stats, ["GET"]),
            ("/v3/contacts/{identifier}", self.get_contact, ["GET"]),
            ("/v3/contacts/{identifier}", self.update_contact, ["PUT"]),
            ("/v3/contacts/{identifier}", self.delete_contact, ["DELETE"]),
        ]
        routes = [Route(path, self.endpoint(fn), methods=methods) for path, fn, methods in table]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            if status == 405:
                return brevo_error(405, "method_not_allowed", "Method not allowed").response()
            return brevo_error(404, "document_not_found", "Not found").response()

        return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})

    # --- contacts --------------------------------------------------------------------------

    def _find(self, request: Request) -> Contact:
        query = parse_query(request, IdentifierQuery)
        identifier = str(request.path_params["identifier"])
        contact = self.state.find(identifier, query.identifier_type)
        if contact is None:
            raise not_found("Contact does not exist")
        return contact

    async def get_contacts(self, request: Request) -> Response:
        query = parse_query(request, ContactsQuery)
        if query.limit > self.limits.contacts_page_max:
            raise bad_request("Limit exceeds max value")
        if query.ids and len(query.ids) > self.limits.filter_ids_max:
            raise bad_request(f"You can pass a maximum of {self.limits.filter_ids_max} ids")
        chosen = list(self.state.contacts.values())
        if query.modified_since is not None:
            since = query.modified_since
            chosen = [c for c in chosen if c.modified_at > since]
        if query.created_since is not None:
            created = query.created_since
            chosen = [c for c in chosen if c.created_at > created]
        if query.list_ids:
            wanted = set(query.list_ids)
            chosen = [c for c in chosen if c.list_ids & wanted]
        if query.ids:
            ids = set(query.ids)
            chosen = [c for c in chosen if c.id in ids]
        chosen.sort(key=lambda c: (c.created_at, c.id), reverse=query.sort == "desc")
        window = chosen[query.offset : query.offset + query.limit]
        page = ContactsPage(
            contacts=[contact_out(self.state, c) for c in window], count=len(chosen)
        )
        return json(page.dump())

    async def get_contact(self, request: Request) -> Response:
        contact = self._find(request)
        today = self.state.today()
        stats = self.state.stats(
            contact, today - timedelta(days=self.limits.stats_window_days), today
        )
        return json(contact_out(self.state, contact, statistics=stats).dump())

    async def campaign_stats(self, request: Request) -> Response:
        contact = self._find(request)
        query = parse_query(request, StatsQuery)
        today = self.state.today()
        span = self.limits.stats_window_days
        if (query.start_date is None) != (query.end_date is None):
            raise bad_request("startDate and endDate must be passed together")
        start = query.start_date or today - timedelta(days=span)
        end = query.end_date or today
        if start > end:
            raise bad_request("startDate must be lower than equal to endDate")
        if end > today:
            raise bad_request("endDate must not be greater than the current date")
        if (end - start).days > span:
            raise bad_request(
                f"Maximum difference between startDate and endDate should not be greater "
                f"than {span} days"
            )
        return json(self.state.stats(contact, start, end))

    async def delete_contact(self, request: Request) -> Response:
        self.state.delete(self._find(request))
        return empty()

    async def create_contact(self, request: Request) -> Response:
        body = await parse_body(request, CreateContactBody, on_body_error)
        if not body.email and not body.ext_id and not (body.attributes or {}).get("SMS"):
            raise bad_request("email, ext_id or SMS attribute is required", "missing_parameter")
        existing = self.state.find_email(body.email) if body.email else None
        if existing is not None:
            if not body.update_enabled:
                raise bad_request(
                    "Unable to create contact, email is already associated with another Contact",
                    "duplicate_parameter",
                )
            update = UpdateContactBody(
                attributes=body.attributes,
                email_blacklisted=body.email_blacklisted,
                sms_blacklisted=body.sms_blacklisted,
                list_ids=body.list_ids,
                ext_id=body.ext_id,
            )
            self._update(existing, update)
            return empty()
        contact = self.state.add_contact(body.email, blacklisted=bool(body.email_blacklisted))
        contact.ext_id = body.ext_id
        contact.sms_blacklisted = bool(body.sms_blacklisted)
        self.state.set_attributes(contact, body.attributes or {})
        self._join_lists(contact, body.list_ids or [])
        return json(CreatedOut(id=contact.id).dump(), status=201)

    async def update_contact(self, request: Request) -> Response:
        contact = self._find(request)
        body = await parse_body(request, UpdateContactBody, on_body_error)
        self._update(contact, body)
        return empty()

    def _join_lists(self, contact: Contact, list_ids: list[int]) -> bool:
        unknown = [i for i in list_ids if i not in self.state.lists]
        if unknown:
            raise not_found(f"List ID(s) {unknown} do not exist")
        joined = False
        for list_id in list_ids:
            joined |= self.state.join(contact, list_id)
        return joined

    def _update(self, contact: Contact, body: UpdateContactBody) -> None:
        changed = self.state.set_attributes(contact, body.attributes or {})
        if (
            body.email_blacklisted is not None
            and body.email_blacklisted != contact.email_blacklisted
        ):
            contact.email_blacklisted = body.email_blacklisted
            changed = True
        if body.sms_blacklisted is not None:
            changed |= body.sms_blacklisted != contact.sms_blacklisted
            contact.sms_blacklisted = body.sms_blacklisted
        if body.ext_id is not None:
            changed |= body.ext_id != contact.ext_id
            contact.ext_id = body.ext_id
        changed |= self._join_lists(contact, body.list_ids or [])
        for list_id in body.unlink_list_ids or []:
            if list_id in contact.list_ids:
                contact.list_ids.discard(list_id)
                changed = True
        if changed:
            self.state.touch(contact)
