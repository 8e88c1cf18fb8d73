"""Plumbing shared by the sandbox's routes: auth, query and body validation, replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncd.clock import Clock
from syncd.sandbox.harness import SandboxHTTPError, parse_body
from syncd.sandbox.mailchimp.limits import MailchimpLimits
from syncd.sandbox.mailchimp.state import (
    Audience,
    MailchimpState,
    Member,
    Problem,
    Segment,
    invalid_resource,
    not_found,
)
from syncd.sandbox.mailchimp.wire import (
    body_error,
    check_auth,
    json_response,
    problem_response,
    select_fields,
)

Q = TypeVar("Q", bound=BaseModel)
B = TypeVar("B", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


class ApiBase:
    """State, clock and limits, and the helpers every route handler uses."""

    def __init__(
        self,
        state: MailchimpState,
        *,
        api_key: str,
        host: str,
        clock: Clock,
        limits: MailchimpLimits,
    ) -> None:
        self.state = state
        self.api_key = api_key
        self.host = host
        self.clock = clock
        self.limits = limits

    # --- plumbing --------------------------------------------------------------------------

    def _route(self, path: str, handler: Handler, method: str) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                check_auth(request, self.api_key, self.host)
                return await handler(request)
            except Problem as exc:
                return problem_response(exc)
            except SandboxHTTPError as exc:
                return exc.response()

        return Route("/3.0" + path, endpoint, methods=[method])

    def query(self, request: Request, model: type[Q]) -> Q:
        try:
            return model.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise invalid_resource(
                [
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in exc.errors()
                ]
            ) from None

    async def body(self, request: Request, model: type[B]) -> B:
        return await parse_body(request, model, body_error)

    def reply(self, request: Request, body: Any, status: int = 200) -> Response:
        q = request.query_params
        return json_response(select_fields(body, q.get("fields"), q.get("exclude_fields")), status)

    def audience(self, request: Request) -> Audience:
        return self.state.audience(request.path_params["list_id"])

    def member(self, request: Request) -> tuple[Audience, Member]:
        audience = self.audience(request)
        return audience, self.state.member(audience.id, request.path_params["subscriber_hash"])

    def segment(self, request: Request) -> tuple[Audience, Segment]:
        audience = self.audience(request)
        try:
            return audience, audience.segments[int(request.path_params["segment_id"])]
        except (KeyError, ValueError):
            raise not_found() from None

    def _page_max(self, count: int) -> None:
        if count > self.limits.page_max:
            raise invalid_resource([{"field": "count", "message": "Value must be at most 1000"}])
