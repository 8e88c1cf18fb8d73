"""The shared HTTP layer against a small fake server (the harness's middleware and transport)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncd.clock import VirtualClock
from syncd.errors import MalformedResponse, RateLimited, RequestRejected, TransientVendorError
from syncd.http import HttpPolicy, RateLimit, VendorHttp
from syncd.sandbox.harness import ExchangeLog, FaultPlan, SandboxMiddleware, SandboxTransport

pytestmark = pytest.mark.anyio


class Server:
    """Counts arrivals on the shared clock; answers 429 past ``limit`` per ``period``."""

    def __init__(self, clock: VirtualClock, limit: int = 1000, period: float = 10.0) -> None:
        self.clock = clock
        self.limit = limit
        self.period = period
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.faults = FaultPlan()
        self.log = ExchangeLog()

    async def ok(self, request: Request) -> Response:
        now = self.clock.monotonic()
        recent = [t for t in self.arrivals if now - t < self.period]
        if len(recent) >= self.limit:
            return JSONResponse({"error": "slow down"}, 429, headers={"retry-after": "3"})
        self.arrivals.append(now)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.in_flight -= 1
        return JSONResponse({"ok": True, "n": len(self.arrivals)})

    async def bad_request(self, request: Request) -> Response:
        return JSONResponse({"message": "invalid"}, 400)

    def transport(self) -> httpx.AsyncBaseTransport:
        app = Starlette(
            routes=[Route("/ok", self.ok), Route("/bad", self.bad_request, methods=["POST"])]
        )
        wrapped = SandboxMiddleware(
            app,
            faults=self.faults,
            log=self.log,
            clock=self.clock,
            rate_limited=lambda: JSONResponse(
                {"error": "limit"}, 429, headers={"retry-after": "2"}
            ),
        )
        return SandboxTransport(wrapped)


def make_http(server: Server, **policy: Any) -> VendorHttp:
    options: dict[str, Any] = {
        "vendor": "fake",
        "base_url": "https://fake.test",
        "windows": {"default": RateLimit(10, 1.0)},
        "safety_margin": 0.0,
    }
    options.update(policy)
    return VendorHttp(HttpPolicy(**options), transport=server.transport(), clock=server.clock)


async def test_rolling_window_never_exceeds_the_limit() -> None:
    clock = VirtualClock()
    server = Server(clock, limit=10, period=1.0)
    http = make_http(server)
    for _ in range(95):
        await http.call("get", "GET", "/ok")
    assert http.stats.rate_limited == 0
    # every 1-second window holds at most 10 arrivals, and the limit is used: ~9.4 s for 95
    for i, t in enumerate(server.arrivals):
        assert sum(1 for u in server.arrivals[i:] if u - t < 1.0) <= 10
    assert 9.0 <= clock.monotonic() <= 9.6


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    clock = VirtualClock()
    server = Server(clock)
    server.faults.add_script("429", "429")
    http = make_http(server)
    body = await http.call("get", "GET", "/ok")
    assert body["ok"] is True
    assert http.stats.rate_limited == 2
    assert http.stats.retries["429"] == 2
    assert clock.monotonic() >= 4.0  # two Retry-After: 2 waits
    assert http.stats.as_dict()["by_status"] == {"get": {"200": 1, "429": 2}}


@pytest.mark.parametrize("fault", ["500", "502", "503", "timeout", "drop", "truncate", "malformed"])
async def test_transient_faults_are_retried(fault: str) -> None:
    clock = VirtualClock()
    server = Server(clock)
    server.faults.add_script(fault, fault)
    http = make_http(server)
    body = await http.call("get", "GET", "/ok")
    assert body == {"ok": True, "n": 1 if fault in ("500", "502", "503", "timeout", "drop") else 3}
    assert sum(http.stats.retries.values()) == 2
    statuses = http.stats.as_dict()["by_status"]["get"]
    expected = {"timeout": "timeout", "drop": "connection"}.get(fault, fault)
    if fault in ("truncate", "malformed"):
        expected = "200"  # a garbled body still came with its status
        assert statuses == {"200": 3}
    else:
        assert statuses == {expected: 2, "200": 1}


async def test_other_4xx_is_never_retried() -> None:
    clock = VirtualClock()
    server = Server(clock)
    http = make_http(server)
    with pytest.raises(RequestRejected) as info:
        await http.call("create", "POST", "/bad", kind="write", record="a@b.co")
    assert info.value.status == 400
    assert info.value.record == "a@b.co"
    assert server.log.count("POST", "/bad") == 1
    assert http.stats.write_calls == 1


async def test_retries_run_out_with_the_right_error() -> None:
    clock = VirtualClock()
    server = Server(clock)
    server.faults.rates = {"503": 1.0}
    http = make_http(server, max_attempts=3)
    with pytest.raises(TransientVendorError) as info:
        await http.call("get", "GET", "/ok")
    assert "fake get" in str(info.value)
    assert server.log.count() == 3

    server.faults.rates = {"malformed": 1.0}
    with pytest.raises(MalformedResponse) as malformed:
        await http.call("list", "GET", "/ok", record="page 3")
    assert malformed.value.vendor == "fake" and malformed.value.record == "page 3"

    server.faults.rates = {"429": 1.0}
    with pytest.raises(RateLimited):
        await http.call("get", "GET", "/ok")


async def test_backoff_is_exponential_and_capped() -> None:
    clock = VirtualClock()
    server = Server(clock)
    server.faults.add_script("500", "500", "500", "500")
    http = make_http(server, backoff_initial_s=1.0, backoff_max_s=3.0)
    await http.call("get", "GET", "/ok")
    # waits: [1,2) + [2,4) + min(.,3) + min(.,3) -> between 9 and 12 s
    assert 9.0 <= clock.monotonic() <= 12.0


async def test_connection_limit_bounds_concurrency() -> None:
    clock = VirtualClock()
    server = Server(clock)
    http = make_http(server, max_connections=3, windows={})
    await asyncio.gather(*(http.call("get", "GET", "/ok") for _ in range(20)))
    assert server.max_in_flight <= 3
    assert len(server.arrivals) == 20


async def test_the_safety_margin_stretches_time_not_the_request_count() -> None:
    clock = VirtualClock()
    server = Server(clock, limit=10, period=1.0)
    http = make_http(server, safety_margin=0.02)
    for _ in range(200):
        await http.call("get", "GET", "/ok")
    assert http.stats.rate_limited == 0
    for i, t in enumerate(server.arrivals):
        assert sum(1 for u in server.arrivals[i:] if u - t < 1.0) <= 10
    # 200 requests need 19 full windows; stretched by 2 % that is 19.38 s, not 21.1 s at 9/s
    assert 19.0 <= clock.monotonic() <= 19.0 * 1.03
