"""What every vendor sandbox shares: fault injection, server-side rate windows, request
validation in the vendor's error shape, an exchange log, and an in-process transport that turns
injected timeouts and drops into real httpx errors.
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.clock import Clock, SystemClock

FAULT_HEADER = "x-sandbox-fault"
FAULT_KINDS = ("500", "502", "503", "429", "timeout", "drop", "truncate", "malformed")

M = TypeVar("M", bound=BaseModel)


class SandboxHTTPError(Exception):
    """Raised by a vendor route to answer with the vendor's own error shape."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        super().__init__(f"{status} {body}")

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


@dataclass
class FaultPlan:
    """Faults to inject: by rate (per kind, 0..1) and/or a script for the next requests.

    ``script`` entries are fault kinds or ``"ok"``; they are consumed first, one per request
    whose path matches ``path_pattern``.
    """

    rates: dict[str, float] = field(default_factory=dict)
    script: deque[str] = field(default_factory=deque)
    latency_s: float = 0.0
    path_pattern: str | None = None
    seed: int = 0
    #: in served mode (real sockets), how long a "timeout" stalls
    stall_s: float = 35.0
    injected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._rng = random.Random(self.seed)

    def add_script(self, *kinds: str) -> None:
        self.script.extend(kinds)

    def next_fault(self, path: str) -> str | None:
        if self.path_pattern and not re.search(self.path_pattern, path):
            return None
        if self.script:
            kind = self.script.popleft()
            chosen = None if kind == "ok" else kind
        else:
            chosen = None
            roll = self._rng.random()
            acc = 0.0
            for kind, rate in self.rates.items():
                acc += rate
                if roll < acc:
                    chosen = kind
                    break
        if chosen:
            self.injected.append(chosen)
        return chosen


class ServerWindow:
    """A vendor's rolling window as the server counts it (non-blocking)."""

    def __init__(self, requests: int, per_seconds: float, clock: Clock) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self.clock = clock
        self._hits: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._hits and now - self._hits[0] >= self.per_seconds:
            self._hits.popleft()

    def hit(self) -> bool:
        now = self.clock.monotonic()
        self._trim(now)
        if len(self._hits) >= self.requests:
            return False
        self._hits.append(now)
        return True

    def remaining(self) -> int:
        self._trim(self.clock.monotonic())
        return max(0, self.requests - len(self._hits))

    def reset_s(self) -> float:
        """Seconds until a slot frees up."""
        now = self.clock.monotonic()
        self._trim(now)
        if len(self._hits) < self.requests or not self._hits:
            return 0.0
        return self._hits[0] + self.per_seconds - now


RawHeaders = list[tuple[bytes, bytes]]


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    request_body: Any
    status: int
    response_body: Any
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)


class CapturedExchange(Exchange):
    """An exchange as the middleware logs it: bodies and headers kept as received and decoded
    on first read. A served sandbox answers tens of thousands of requests whose log is rarely
    read; decoding every body up front cost the server a share of its CPU and kept all those
    decoded bodies alive."""

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        status: int,
        raw: tuple[bytes, bytes, RawHeaders, RawHeaders],
    ) -> None:
        # the dataclass fields become properties below; only the raw parts are stored
        self.method, self.path, self.query, self.status = method, path, query, status
        self._raw: tuple[bytes, bytes, RawHeaders, RawHeaders] | None = raw
        self._decoded: dict[str, Any] = {}

    def _part(self, name: str) -> Any:
        if name not in self._decoded and self._raw is not None:
            request, response, request_headers, response_headers = self._raw
            self._decoded.update(
                request_body=_maybe_json(request),
                response_body=_maybe_json(response),
                request_headers={k.decode().lower(): v.decode() for k, v in request_headers},
                response_headers={k.decode().lower(): v.decode() for k, v in response_headers},
            )
            self._raw = None
        return self._decoded.get(name)


def _lazy(name: str) -> property:
    def get(self: CapturedExchange) -> Any:
        return self._part(name)

    def put(self: CapturedExchange, value: Any) -> None:
        self._part(name)
        self._decoded[name] = value

    return property(get, put)


for _name in ("request_body", "response_body", "request_headers", "response_headers"):
    setattr(CapturedExchange, _name, _lazy(_name))


class ExchangeLog:
    """Every request a sandbox answered, for call counting and contract replay."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def count(self, method: str | None = None, path_pattern: str | None = None) -> int:
        return sum(
            1
            for e in self.exchanges
            if (method is None or e.method == method)
            and (path_pattern is None or re.search(path_pattern, e.path))
        )

    def clear(self) -> None:
        self.exchanges.clear()


def _maybe_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class SandboxMiddleware:
    """Outermost layer of a vendor app: latency, faults, and the exchange log."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: FaultPlan,
        log: ExchangeLog,
        clock: Clock,
        rate_limited: Callable[[], Response],
        in_process: bool = True,
    ) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self.clock = clock
        self.rate_limited = rate_limited
        self.in_process = in_process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        if self.faults.latency_s:
            await self.clock.sleep(self.faults.latency_s)
        fault = self.faults.next_fault(scope["path"])
        status, headers, payload = await self._answer(scope, replay, fault)
        self.log.exchanges.append(
            CapturedExchange(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode(),
                status,
                (body, payload, list(scope.get("headers", [])), headers),
            )
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(
        self, scope: Scope, receive: Receive, fault: str | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if fault in ("timeout", "drop"):
            if fault == "timeout" and not self.in_process:
                await self.clock.sleep(self.faults.stall_s)
            return 599, [(FAULT_HEADER.encode(), fault.encode())], b""
        if fault in ("500", "502", "503"):
            body = json.dumps({"message": f"sandbox injected {fault}"}).encode()
            return int(fault), [(b"content-type", b"application/json")], body
        if fault == "429":
            return await _render(self.rate_limited())
        status, headers, payload = await _collect(self.app, scope, receive)
        if fault == "truncate" and payload:
            payload = payload[: max(1, len(payload) // 2)]
        elif fault == "malformed":
            payload = b"<html><body>502 Bad Gateway</body></html>{"
        if fault in ("truncate", "malformed"):
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(payload)).encode()))
        return status, headers, payload


async def _collect(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)


async def _render(response: Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return response.status_code, list(response.raw_headers), bytes(response.body)


class SandboxTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that raises real httpx errors for injected timeouts and drops."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        fault = response.headers.get(FAULT_HEADER)
        if fault == "timeout":
            await response.aclose()
            raise httpx.ReadTimeout("sandbox injected a timeout", request=request)
        if fault == "drop":
            await response.aclose()
            raise httpx.RemoteProtocolError("sandbox dropped the connection", request=request)
        return response


class MultiAppTransport(httpx.AsyncBaseTransport):
    """Routes by host to one of several in-process apps (Mailchimp's per-datacentre hosts)."""

    def __init__(self, apps: Mapping[str, ASGIApp]) -> None:
        self._by_host = {host: SandboxTransport(app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._by_host.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no sandbox at {request.url.host}", request=request)
        return await transport.handle_async_request(request)


async def parse_body(
    request: Request, model: type[M], on_error: Callable[[str], SandboxHTTPError]
) -> M:
    """Validate a JSON body against a vendor payload model; answer a bad one as the vendor would."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise on_error("request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise on_error(f"{where}: {first['msg']}") from None


Handler = Callable[[Request], Awaitable[Response]]


def default_clock(clock: Clock | None) -> Clock:
    return clock or SystemClock()


class VendorSandbox:
    """Base of the three vendor sandboxes: one ASGI app with its state, faults and log.

    Subclasses set ``vendor`` and ``base_url``, build ``self.app`` (wrapped in
    :class:`SandboxMiddleware` by :meth:`wrap`), and implement ``seed`` and ``summary``.
    """

    vendor: str = ""
    base_url: str = ""

    def __init__(self, *, clock: Clock | None = None, faults: FaultPlan | None = None) -> None:
        self.clock = default_clock(clock)
        self.faults = faults or FaultPlan()
        self.log = ExchangeLog()
        self.app: ASGIApp
        self.in_process = True

    def wrap(self, inner: ASGIApp, rate_limited: Callable[[], Response]) -> ASGIApp:
        return SandboxMiddleware(
            inner,
            faults=self.faults,
            log=self.log,
            clock=self.clock,
            rate_limited=rate_limited,
            in_process=self.in_process,
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return SandboxTransport(self.app)

    def seed(self, population: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
