"""HubSpot's rate limits: the connector keeps inside them, and waits as HubSpot's 429 says."""

from __future__ import annotations

import json

import httpx
import pytest

from connectors.hubspot import HubSpotSettings
from connectors.hubspot import settings as hs
from syncd.clock import VirtualClock
from syncd.connector import RateLimitOverride
from syncd.errors import RequestRejected
from syncd.sandbox.hubspot import HubSpotLimits
from tests.support.rig_hubspot import NOW, make_rig, sandbox_of, small_population

pytestmark = pytest.mark.anyio


def _429(
    policy: str, remaining: str = "0", interval: str = "10000", **extra: str
) -> httpx.Response:
    headers = {
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": remaining,
        "X-HubSpot-RateLimit-Interval-Milliseconds": interval,
        **extra,
    }
    body = {"status": "error", "message": "limit", "policyName": policy, "category": "RATE_LIMITS"}
    return httpx.Response(429, headers=headers, content=json.dumps(body).encode())


def test_retry_after_reads_hubspot_headers() -> None:
    assert hs.retry_after(_429("TEN_SECONDLY_ROLLING")) == 10.0
    assert hs.retry_after(_429("TEN_SECONDLY_ROLLING", interval="1000")) == 1.0
    assert hs.retry_after(_429("TEN_SECONDLY_ROLLING", remaining="5")) == 1.0
    assert hs.retry_after(_429("SECONDLY")) == 1.0
    assert hs.retry_after(_429("TEN_SECONDLY_ROLLING", **{"Retry-After": "3"})) == 3.0
    assert hs.retry_after(httpx.Response(429, content=b"<html>")) == 10.0


def test_daily_policy_is_not_waited_out() -> None:
    assert hs.is_rate_limited(_429("TEN_SECONDLY_ROLLING"))
    assert hs.is_rate_limited(_429("SECONDLY"))
    assert not hs.is_rate_limited(_429("DAILY"))
    assert not hs.is_rate_limited(httpx.Response(400))


async def test_client_windows_keep_the_sandbox_from_ever_answering_429() -> None:
    clock = VirtualClock(NOW)
    rig = make_rig(small_population(), clock=clock)
    client = rig.connector.client  # type: ignore[attr-defined]
    for _ in range(250):
        await client.contacts_page(None, ["email"])
    for _ in range(12):
        await client.search_contacts(
            {"filterGroups": [], "sorts": [], "properties": [], "limit": 1, "after": "0"}
        )
    sandbox = sandbox_of(rig)
    assert sandbox.log.count() == 262
    assert all(e.status == 200 for e in sandbox.log.exchanges)
    assert clock.monotonic() >= 20  # 250 calls at 98 per rolling 10 s need two more windows
    assert rig.connector.http.stats.rate_limited == 0


async def test_a_stricter_account_429s_and_the_connector_waits_it_out() -> None:
    clock = VirtualClock(NOW)
    population = small_population(n_plain=300)
    rig = make_rig(population, clock=clock, limits=HubSpotLimits(burst_requests=4))
    pages = [p async for p in rig.connector.pull_contacts(None)]
    assert sum(len(p.records) for p in pages) == 306
    stats = rig.connector.http.stats
    assert stats.rate_limited > 0 and stats.retries["429"] == stats.rate_limited
    limited = [e for e in sandbox_of(rig).log.exchanges if e.status == 429]
    assert limited[0].response_body["policyName"] == "TEN_SECONDLY_ROLLING"


async def test_overridden_windows_fit_a_stricter_account() -> None:
    clock = VirtualClock(NOW)
    settings = HubSpotSettings(rate_limits={"burst": RateLimitOverride(requests=4, per_seconds=10)})
    rig = make_rig(
        small_population(n_plain=300),
        clock=clock,
        settings=settings,
        limits=HubSpotLimits(burst_requests=4),
    )
    pages = [p async for p in rig.connector.pull_contacts(None)]
    assert sum(len(p.records) for p in pages) == 306
    assert rig.connector.http.stats.rate_limited == 0


async def test_daily_limit_fails_at_once() -> None:
    rig = make_rig(
        small_population(), clock=VirtualClock(NOW), limits=HubSpotLimits(daily_requests=2)
    )
    client = rig.connector.client  # type: ignore[attr-defined]
    await client.contacts_page(None, ["email"])
    await client.contacts_page(None, ["email"])
    with pytest.raises(RequestRejected) as err:
        await client.contacts_page(None, ["email"])
    assert err.value.status == 429 and "DAILY" in str(err.value)
    assert not rig.connector.http.stats.retries
