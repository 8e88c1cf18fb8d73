"""Mailchimp's wire conventions: problem-details errors, API-key auth with data-centre hosts,
``fields`` / ``exclude_fields`` filtering, and the simultaneous-connection limit.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.clock import Clock
from syncd.sandbox.harness import Exchange, ExchangeLog, SandboxHTTPError, ServerWindow
from syncd.sandbox.mailchimp.state import ERROR_DOCS, Problem

_instances = itertools.count(1)


def problem_body(status: int, title: str, detail: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": ERROR_DOCS,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.UUID(int=next(_instances))),
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(exc: Problem) -> Response:
    return JSONResponse(
        problem_body(exc.status, exc.title, exc.detail, exc.errors),
        status_code=exc.status,
        media_type="application/problem+json",
    )


def too_many_requests(limit: int) -> Response:
    """Mailchimp's 429: problem details, no rate-limit headers, no Retry-After."""
    return JSONResponse(
        problem_body(
            429,
            "Too Many Requests",
            f"You have exceeded the limit of {limit} simultaneous connections.",
        ),
        status_code=429,
        media_type="application/problem+json",
    )


def body_error(message: str) -> SandboxHTTPError:
    """``harness.parse_body``'s error callback, in Mailchimp's shape."""
    if message == "request body is not valid JSON":
        body = problem_body(
            400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
        )
    else:
        where, _, what = message.partition(": ")
        body = problem_body(
            400,
            "Invalid Resource",
            "The resource submitted could not be validated. "
            "For field-specific details, see the 'errors' array.",
            [{"field": where, "message": what or message}],
        )
    return SandboxHTTPError(400, body)


def data_centre(api_key: str) -> str:
    """``...-us21`` -> ``us21`` (Mailchimp's data centre is the key's suffix)."""
    _, sep, dc = api_key.rpartition("-")
    if not sep or not dc:
        raise ValueError(f"a Mailchimp API key ends with its data centre, e.g. -us21: {api_key!r}")
    return dc


def key_of(request: Request) -> str | None:
    """The API key from HTTP basic (any user) or a Bearer token."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return None


def check_auth(request: Request, api_key: str, host: str) -> None:
    key = key_of(request)
    if key is None:
        raise Problem(401, "API Key Missing", "Your request did not include an API key.")
    if key != api_key or request.url.hostname not in (host, None):
        raise Problem(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )


def _field_tree(spec: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in filter(None, (p.strip() for p in spec.split(","))):
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is True:
                break
        else:
            node[parts[-1]] = True
    return tree


def _keep(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_keep(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for key, sub in tree.items():
        if key in value:
            kept[key] = value[key] if sub is True else _keep(value[key], sub)
    return kept


def _drop(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_drop(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in tree.items():
        if key in out:
            if sub is True:
                del out[key]
            else:
                out[key] = _drop(out[key], sub)
    return out


def select_fields(body: Any, fields: str | None, exclude_fields: str | None) -> Any:
    """Apply Mailchimp's ``fields`` / ``exclude_fields`` (dot notation into sub-objects)."""
    if fields:
        body = _keep(body, _field_tree(fields))
    if exclude_fields:
        body = _drop(body, _field_tree(exclude_fields))
    return body


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
    )


class ConnectionGate:
    """Counts in-flight requests per key; beyond the limit, the vendor's 429 at once.

    It sits outside the harness middleware so injected latency counts as time on the wire,
    which is how calls overlap in-process. Refusals are logged like any other exchange.
    Optionally, a bare 403 (no JSON) past ``burst_403`` requests per window, as Mailchimp's
    edge does at very high volume.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int | None,
        log: ExchangeLog,
        clock: Clock,
        burst_403: tuple[int, float] | None,
        refuse: Callable[[], Response],
    ) -> None:
        self.app = app
        self.limit = limit
        self.log = log
        self.refuse = refuse
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self.burst = ServerWindow(burst_403[0], burst_403[1], clock) if burst_403 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.burst is not None and not self.burst.hit():
            await self._answer(
                scope, send, 403, b"text/html", b"<html><body>Forbidden</body></html>"
            )
            return
        if self.limit is not None and self.in_flight >= self.limit:
            self.refused += 1
            response = self.refuse()
            await self._answer(scope, send, 429, b"application/problem+json", bytes(response.body))
            return
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, scope: Scope, send: Send, status: int, content_type: bytes, payload: bytes
    ) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
        self.log.exchanges.append(
            Exchange(
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode(),
                request_body=None,
                status=status,
                response_body=payload.decode(),
            )
        )
        start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": payload})
