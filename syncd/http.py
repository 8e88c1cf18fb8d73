"""The shared HTTP layer: client factory, rolling-window rate limits, retries (tenacity).

Written once and used by every connector: a connector declares its vendor's limits and how its
vendor signals "wait" (``retry_after`` hook) and calls :meth:`VendorHttp.call`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from syncd.clock import Clock, SystemClock
from syncd.errors import (
    MalformedResponse,
    RateLimited,
    RequestRejected,
    TransientVendorError,
    VendorError,
)

log = logging.getLogger("syncd.http")

RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` in any rolling window of ``per_seconds``."""

    requests: int
    per_seconds: float


def default_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a standard ``Retry-After`` header (seconds form)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def default_is_rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 429


@dataclass
class HttpPolicy:
    vendor: str
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: httpx.Auth | tuple[str, str] | None = None
    max_connections: int = 10
    windows: Mapping[str, RateLimit] = field(default_factory=dict)
    #: windows a call consumes when it names none
    default_windows: Sequence[str] = ("default",)
    timeout_s: float = 30.0
    max_attempts: int = 8
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    #: a cap on any single wait, whatever the vendor asks (a daily limit is not waited out)
    max_wait_s: float = 120.0
    retry_after: Callable[[httpx.Response], float | None] = default_retry_after
    is_rate_limited: Callable[[httpx.Response], bool] = default_is_rate_limited
    #: each window is stretched by this fraction of its length, absorbing the gap between
    #: send and arrival times (stretching time, not cutting requests, costs a 10/s window 2 %
    #: rather than the 10 % of dropping to 9)
    safety_margin: float = 0.02


@dataclass
class HttpStats:
    requests: int = 0
    read_calls: int = 0
    write_calls: int = 0
    rate_limited: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    #: answers per (operation, HTTP status or "timeout" / "connection")
    by_status: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "read_calls": self.read_calls,
            "write_calls": self.write_calls,
            "rate_limited": self.rate_limited,
            "retries": dict(self.retries),
            "by_operation": dict(self.by_operation),
            "by_status": _nest(self.by_status),
        }


def _nest(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (operation, status), n in sorted(counts.items()):
        nested.setdefault(operation, {})[status] = n
    return nested


class RollingWindow:
    """Rolling-window limiter (a token bucket would overshoot a vendor's rolling window)."""

    def __init__(self, limit: RateLimit, clock: Clock, margin: float = 0.0) -> None:
        self.capacity = max(1, limit.requests)
        self.period = limit.per_seconds * (1.0 + margin)
        self.clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock.monotonic()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.capacity:
                    self._sent.append(now)
                    return
                # floor: float rounding can leave the head "not yet expired" while the wait
                # computes to <= 0, which would spin forever on a virtual clock
                await self.clock.sleep(max(self._sent[0] + self.period - now, 1e-6))

    def penalise(self, seconds: float) -> None:
        """After a 429, treat the window as full for ``seconds`` (the vendor knows best)."""
        until = self.clock.monotonic() + seconds - self.period
        self._sent = deque([until] * self.capacity)


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None, error: VendorError) -> None:
        self.reason = reason
        self.wait = wait
        self.error = error


class VendorHttp:
    """One ``httpx.AsyncClient`` per connector instance, with limits, retries and counters."""

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock or SystemClock()
        self.stats = HttpStats()
        self._rng = rng or random.Random()
        self._connections = asyncio.Semaphore(policy.max_connections)
        self._windows = {
            name: RollingWindow(limit, self.clock, policy.safety_margin)
            for name, limit in policy.windows.items()
        }
        self.client = httpx.AsyncClient(
            base_url=policy.base_url,
            headers=dict(policy.headers),
            auth=policy.auth,
            timeout=httpx.Timeout(policy.timeout_s),
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        kind: Literal["read", "write"] = "read",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        windows: Sequence[str] | None = None,
        record: str | None = None,
    ) -> Any:
        """Send one logical request (retrying as needed); return its parsed JSON (None if empty).

        Raises :class:`RequestRejected` for a 4xx other than 429 (never retried),
        :class:`RateLimited` / :class:`TransientVendorError` / :class:`MalformedResponse` when
        retries run out.
        """
        names = tuple(windows if windows is not None else self.policy.default_windows)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            sleep=self.clock.sleep,
            before_sleep=lambda state: self._note_retry(operation, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(
                        operation, method, path, kind, params, json_body, content, names, record
                    )
        except _Retryable as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.wait is not None:
            return min(exc.wait + self._rng.uniform(0, 0.1), self.policy.max_wait_s)
        attempt = int(state.attempt_number)
        base: float = self.policy.backoff_initial_s * 2.0 ** (attempt - 1)
        return min(base + self._rng.uniform(0, base), self.policy.backoff_max_s)

    def _note_retry(self, operation: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, _Retryable) else "error"
        self.stats.retries[reason] += 1
        log.warning(
            "retrying %s %s after %s (attempt %d)",
            self.policy.vendor,
            operation,
            reason,
            state.attempt_number,
            extra={"vendor": self.policy.vendor, "operation": operation, "reason": reason},
        )

    async def _send_once(
        self,
        operation: str,
        method: str,
        path: str,
        kind: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        content: bytes | None,
        names: tuple[str, ...],
        record: str | None,
    ) -> Any:
        vendor = self.policy.vendor
        async with self._connections:
            for name in names:
                window = self._windows.get(name)
                if window is not None:
                    await window.acquire()
            self.stats.requests += 1
            self.stats.by_operation[operation] += 1
            if kind == "write":
                self.stats.write_calls += 1
            else:
                self.stats.read_calls += 1
            try:
                response = await self.client.request(
                    method, path, params=params, json=json_body, content=content
                )
            except httpx.TimeoutException as exc:
                self.stats.by_status[(operation, "timeout")] += 1
                raise _Retryable(
                    "timeout", None, TransientVendorError(vendor, operation, f"timeout: {exc!r}")
                ) from exc
            except httpx.TransportError as exc:
                self.stats.by_status[(operation, "connection")] += 1
                raise _Retryable(
                    "connection",
                    None,
                    TransientVendorError(vendor, operation, f"connection failed: {exc!r}"),
                ) from exc
        return self._interpret(operation, response, names, record)

    def _interpret(
        self, operation: str, response: httpx.Response, names: tuple[str, ...], record: str | None
    ) -> Any:
        vendor = self.policy.vendor
        status = response.status_code
        self.stats.by_status[(operation, str(status))] += 1
        if self.policy.is_rate_limited(response):
            self.stats.rate_limited += 1
            wait = self.policy.retry_after(response)
            if wait is not None:
                for name in names:
                    if name in self._windows:
                        self._windows[name].penalise(min(wait, self.policy.max_wait_s))
            raise _Retryable(
                "429",
                wait,
                RateLimited(vendor, operation, _snippet(response), retry_after=wait),
            )
        if status in RETRY_STATUSES:
            raise _Retryable(
                str(status),
                None,
                TransientVendorError(vendor, operation, _snippet(response), status=status),
            )
        if status >= 400:
            raise RequestRejected(
                vendor, operation, _snippet(response), status=status, record=record
            )
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            # A truncated or garbled body is usually a transport fault: retry, then report.
            raise _Retryable(
                "malformed",
                None,
                MalformedResponse(
                    vendor, operation, f"body is not JSON ({exc})", record=record, status=status
                ),
            ) from exc


def _snippet(response: httpx.Response) -> str:
    text = response.text[:300] if response.content else ""
    return f"HTTP {response.status_code} {text}".strip()


def require(data: Any, key: str, *, vendor: str, operation: str, record: str | None = None) -> Any:
    """``data[key]`` or a :class:`MalformedResponse` naming what was missing."""
    if not isinstance(data, dict) or key not in data:
        raise MalformedResponse(vendor, operation, f"missing field {key!r}", record=record)
    return data[key]
