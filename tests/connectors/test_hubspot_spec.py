"""A connector run against the sandbox, checked against HubSpot's official OpenAPI specs.

Skips cleanly on a fresh clone, where ``../shared/api-specs/hubspot`` does not exist.
"""

from __future__ import annotations

import copy
import warnings

import httpx
import pytest

from connectors.hubspot import HubSpotSettings
from syncd.clock import VirtualClock
from syncd.records import Change, ChangeOp, Target, TargetKind
from syncd.sandbox.harness import Exchange
from syncd.sandbox.hubspot import DEFAULT_TOKEN, HubSpotLimits, HubSpotSandbox
from tests.support.rig import Rig
from tests.support.rig_hubspot import NOW, make_rig, small_population
from tests.support.spec_check import Mismatch, check_exchange, check_log, spec_dir

SPECS = spec_dir()
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(SPECS is None, reason="HubSpot OpenAPI specs absent (../shared/api-specs)"),
]
if SPECS is not None:
    pytest.importorskip("openapi_core")


async def connector_run() -> Rig:
    """Every operation the connector uses, plus the error shapes the sandbox answers with."""
    clock = VirtualClock(NOW)
    rig = make_rig(
        small_population(5),
        clock=clock,
        settings=HubSpotSettings(tag_property="syncd_tags"),
        limits=HubSpotLimits(search_requests=1),
    )
    connector = rig.connector
    cursor = None
    async for page in connector.pull_contacts(None):
        cursor = page.cursor
    async for _ in connector.pull_consent(None):
        pass
    async for _ in connector.pull_activity(None):
        pass
    clock.advance(3600)
    for _ in range(2):  # the second search inside a second meets the SECONDLY window
        async for _ in connector.pull_contacts(cursor):
            pass
    vip, score = Target(TargetKind.LIST, "VIP"), Target(TargetKind.PROPERTY, "syncd_score")
    await connector.apply(
        [
            Change(vip, ChangeOp.ADD, "alice@example.com"),
            Change(vip, ChangeOp.ADD, "nobody@example.com"),
            Change(Target(TargetKind.TAG, "hot"), ChangeOp.ADD, "p1@example.com"),
            Change(vip, ChangeOp.REMOVE, "alice@example.com"),
            Change(score, ChangeOp.SET, "alice@example.com", value="12"),
            Change(score, ChangeOp.SET, "p0@example.com", value="not a number"),
            Change(score, ChangeOp.SET, "nobody@example.com", value="3"),
        ]
    )
    await connector.client.email_status("alice@example.com")  # type: ignore[attr-defined]
    await _direct_calls(rig)
    return rig


async def _direct_calls(rig: Rig) -> None:
    sandbox = rig.sandbox
    assert isinstance(sandbox, HubSpotSandbox)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, headers=headers
    ) as client:
        marketing = sandbox.state.marketing.id
        await client.post(
            "/communication-preferences/v3/subscribe",
            json={"emailAddress": "bruno@example.org", "subscriptionId": marketing},
        )
        await client.post(
            "/communication-preferences/v3/unsubscribe",
            json={"emailAddress": "p2@example.com", "subscriptionId": marketing},
        )
        await client.post(
            "/crm/v3/objects/contacts/batch/upsert",
            json={
                "inputs": [
                    {
                        "id": "new@example.com",
                        "idProperty": "email",
                        "properties": {"firstname": "N"},
                    }
                ]
            },
        )
        await client.post("/crm/v3/objects/contacts/gdpr-delete", json={"objectId": "1010"})
        await client.get("/crm/v3/lists/424242")
        hooks = "/webhooks/v3/123456"
        await client.put(
            f"{hooks}/settings",
            json={
                "targetUrl": "https://syncd.example/h",
                "throttling": {"maxConcurrentRequests": 5},
            },
        )
        await client.get(f"{hooks}/settings")
        made = await client.post(
            f"{hooks}/subscriptions",
            json={"eventType": "contact.propertyChange", "propertyName": "hs_email_optout"},
        )
        await client.get(f"{hooks}/subscriptions")
        await client.delete(f"{hooks}/subscriptions/{made.json()['id']}")
        await client.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer wrong"})


async def test_connector_run_matches_hubspot_specs() -> None:
    assert SPECS is not None
    rig = await connector_run()
    log = rig.sandbox.log.exchanges
    assert {e.status for e in log} >= {200, 204, 207, 400, 401, 404, 429}
    mismatches = check_log(log, SPECS)
    unknown = [m for m in mismatches if m.known is None]
    assert unknown == [], "\n".join(str(m) for m in unknown)
    for why in sorted({m.known.why for m in mismatches if m.known}):
        warnings.warn(f"HubSpot spec vs live API: {why}", stacklevel=1)


async def test_the_check_catches_a_broken_body() -> None:
    assert SPECS is not None
    rig = await connector_run()
    page = next(e for e in rig.sandbox.log.exchanges if e.path == "/crm/v3/objects/contacts")
    broken: Exchange = copy.deepcopy(page)
    del broken.response_body["results"][0]["createdAt"]
    found: list[Mismatch] = check_exchange(broken, SPECS)
    assert any("createdAt" in m.message and m.known is None for m in found)
