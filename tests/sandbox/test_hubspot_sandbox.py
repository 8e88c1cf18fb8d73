"""The HubSpot sandbox answers as HubSpot does: auth, paging, search, batches, lists,
properties, preferences, events, rate limits and faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from syncd.clock import VirtualClock
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.hubspot import DEFAULT_TOKEN, HubSpotLimits, HubSpotSandbox
from tests.support.rig_hubspot import NOW, small_population

pytestmark = pytest.mark.anyio

C = "/crm/v3/objects/contacts"


def make(
    limits: HubSpotLimits | None = None, faults: FaultPlan | None = None, n: int = 3
) -> HubSpotSandbox:
    sandbox = HubSpotSandbox(clock=VirtualClock(NOW), limits=limits, faults=faults)
    sandbox.seed(small_population(n))
    return sandbox


@pytest.fixture
async def api() -> AsyncIterator[tuple[HubSpotSandbox, httpx.AsyncClient]]:
    sandbox = make()
    async with _client(sandbox) as client:
        yield sandbox, client


def _client(sandbox: HubSpotSandbox, token: str | None = DEFAULT_TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, headers=headers
    )


def _search(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [],
        "sorts": [],
        "properties": [],
        "limit": 10,
        "after": "0",
    }
    body.update(extra)
    return body


async def test_auth_missing_and_wrong_token_get_hubspot_401() -> None:
    sandbox = make()
    for token in (None, "pat-na1-wrong"):
        async with _client(sandbox, token) as client:
            r = await client.get(C)
        assert r.status_code == 401
        body = r.json()
        assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
        assert body["correlationId"] and body["message"]


async def test_contacts_page_with_after_and_properties(api: Any) -> None:
    sandbox, client = api
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"limit": 4, "properties": "city,phone"} | ({"after": after} if after else {})
        r = await client.get(C, params=params)
        assert r.status_code == 200
        body = r.json()
        for item in body["results"]:
            assert set(item["properties"]) >= {"email", "city", "phone", "lastmodifieddate"}
        seen += [c["id"] for c in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert seen == sorted(sandbox.state.contacts, key=int)
    assert r.headers["x-hubspot-ratelimit-max"] == "100"
    stored = {c.properties["email"] for c in sandbox.state.contacts.values()}
    assert " Alice@Example.COM " in stored and "frank@@example" in stored  # kept as given


async def test_search_filters_on_lastmodifieddate_and_sorts(api: Any) -> None:
    sandbox, client = api
    cutoff = NOW - timedelta(days=290) + timedelta(minutes=50)
    flt = {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": str(int(cutoff.timestamp() * 1000)),
    }
    body = _search(
        filterGroups=[{"filters": [flt]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        properties=["email"],
    )
    r = await client.post(f"{C}/search", json=body)
    assert r.status_code == 200
    found = r.json()
    expected = [c for c in sandbox.state.contacts.values() if c.updated_at >= cutoff]
    assert found["total"] == len(expected) > 0
    stamps = [x["properties"]["lastmodifieddate"] for x in found["results"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_search_limits_page_size_and_depth() -> None:
    sandbox = make(HubSpotLimits(search_total_max=6), n=10)
    async with _client(sandbox) as client:
        assert (await client.post(f"{C}/search", json=_search(limit=201))).status_code == 400
        first = (await client.post(f"{C}/search", json=_search(limit=4))).json()
        assert first["paging"]["next"]["after"] == "4" and first["total"] == 17
        deep = await client.post(f"{C}/search", json=_search(limit=4, after="4"))
        assert deep.status_code == 400 and "Paging beyond 6" in deep.json()["message"]
        bad = await client.post(f"{C}/search", json=_search(bogus=1))
        assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"


async def test_batch_update_over_limit_rejected_whole(api: Any) -> None:
    _, client = api
    inputs = [{"id": str(1001 + i), "properties": {"firstname": "x"}} for i in range(101)]
    r = await client.post(f"{C}/batch/update", json={"inputs": inputs})
    assert r.status_code == 400
    assert "maximum number of inputs supported in a batch request is 100" in r.json()["message"]


async def test_batch_update_207_for_missing_and_400_for_bad_values(api: Any) -> None:
    sandbox, client = api
    before = sandbox.state.contacts["1001"].updated_at
    sandbox.clock.advance(60)
    inputs = [
        {"id": "1001", "properties": {"firstname": "Alicia"}},
        {"id": "nobody@example.com", "idProperty": "email", "properties": {"firstname": "N"}},
    ]
    r = await client.post(f"{C}/batch/update", json={"inputs": inputs})
    assert r.status_code == 207
    body = r.json()
    assert [x["id"] for x in body["results"]] == ["1001"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["nobody@example.com"]
    assert sandbox.state.contacts["1001"].properties["firstname"] == "Alicia"
    assert sandbox.state.contacts["1001"].updated_at > before  # lastmodifieddate moved
    for props in ({"hs_email_optout": "false"}, {"no_such_prop": "1"}):
        r = await client.post(
            f"{C}/batch/update", json={"inputs": [{"id": "1002", "properties": props}]}
        )
        assert r.status_code == 400 and "Property values were not valid" in r.json()["message"]


async def test_batch_read_and_upsert_and_gdpr_delete(api: Any) -> None:
    sandbox, client = api
    r = await client.post(
        f"{C}/batch/read",
        json={
            "inputs": [{"id": "alice@example.com"}],
            "idProperty": "email",
            "properties": ["city"],
            "propertiesWithHistory": [],
        },
    )
    assert r.status_code == 200 and r.json()["results"][0]["id"] == "1001"
    up = await client.post(
        f"{C}/batch/upsert",
        json={"inputs": [
            {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "New"}},
            {"id": "bruno@example.org", "idProperty": "email", "properties": {"city": "Paris"}},
        ]},
    )  # fmt: skip
    assert up.status_code == 200
    assert [x["new"] for x in up.json()["results"]] == [True, False]
    assert sandbox.state.find("new@example.com", "email") is not None
    gone = await client.post(
        f"{C}/gdpr-delete", json={"objectId": "bruno@example.org", "idProperty": "email"}
    )
    assert gone.status_code == 204
    assert sandbox.state.find("bruno@example.org", "email") is None
    again = await client.post(
        f"{C}/gdpr-delete", json={"objectId": "bruno@example.org", "idProperty": "email"}
    )
    assert again.status_code == 404 and again.json()["category"] == "OBJECT_NOT_FOUND"


async def test_lists_create_search_and_memberships(api: Any) -> None:
    _, client = api
    r = await client.post(
        "/crm/v3/lists", json={"name": "VIP", "objectTypeId": "0-1", "processingType": "MANUAL"}
    )
    assert r.status_code == 200
    list_id = r.json()["list"]["listId"]
    dup = await client.post(
        "/crm/v3/lists", json={"name": "vip", "objectTypeId": "0-1", "processingType": "MANUAL"}
    )
    assert dup.status_code == 409
    found = (
        await client.post(
            "/crm/v3/lists/search", json={"query": "VIP", "offset": 0, "additionalProperties": []}
        )
    ).json()
    assert [x["listId"] for x in found["lists"]] == [list_id]
    add = (
        await client.put(
            f"/crm/v3/lists/{list_id}/memberships/add", json=["1001", "1002", "999999"]
        )
    ).json()
    assert add == {
        "recordsIdsAdded": ["1001", "1002"],
        "recordIdsRemoved": [],
        "recordIdsMissing": ["999999"],
    }
    again = (await client.put(f"/crm/v3/lists/{list_id}/memberships/add", json=["1001"])).json()
    assert again["recordsIdsAdded"] == []  # members already there are ignored
    both = await client.put(
        f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
        json={"recordIdsToAdd": ["1003"], "recordIdsToRemove": ["1001"]},
    )
    assert both.json()["recordIdsRemoved"] == ["1001"]
    await client.put(f"/crm/v3/lists/{list_id}/memberships/remove", json=["1002"])
    page = (await client.get(f"/crm/v3/lists/{list_id}/memberships", params={"limit": 1})).json()
    assert [m["recordId"] for m in page["results"]] == ["1003"] and page["total"] == 1
    per_record = await client.post(
        "/crm/v3/lists/records/memberships/batch/read",
        json={"inputs": [{"objectTypeId": "0-1", "recordId": "1003"}]},
    )
    ids = {m["listId"] for m in per_record.json()["results"][0]["recordListMemberships"]}
    assert list_id in ids
    missing = await client.get("/crm/v3/lists/424242")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


async def test_only_manual_or_snapshot_lists_take_memberships(api: Any) -> None:
    sandbox, client = api
    lst = sandbox.state.create_list("Engaged", "DYNAMIC")
    r = await client.put(f"/crm/v3/lists/{lst.id}/memberships/add", json=["1001"])
    assert r.status_code == 400 and "MANUAL" in r.json()["message"]
    assert not lst.members


async def test_membership_batch_limit() -> None:
    sandbox = make(HubSpotLimits(membership_batch_max=2))
    async with _client(sandbox) as client:
        lst = sandbox.state.list_by_name("Customers")
        assert lst is not None
        r = await client.put(
            f"/crm/v3/lists/{lst.id}/memberships/add", json=["1001", "1002", "1003"]
        )
        assert r.status_code == 400


async def test_properties_list_create_and_conflict(api: Any) -> None:
    _, client = api
    base = "/crm/v3/properties/contacts"
    names = {p["name"] for p in (await client.get(base)).json()["results"]}
    assert {"email", "hs_email_optout", "lastmodifieddate"} <= names
    definition = {
        "name": "syncd_score",
        "label": "Score",
        "type": "number",
        "fieldType": "number",
        "groupName": "contactinformation",
    }
    created = await client.post(base, json=definition)
    assert created.status_code == 201 and created.json()["name"] == "syncd_score"
    assert (await client.post(base, json=definition)).status_code == 409
    assert (await client.get(f"{base}/syncd_score")).status_code == 200
    assert (await client.get(f"{base}/nope")).status_code == 404


async def test_preferences_v3_v4_and_the_consent_rule(api: Any) -> None:
    sandbox, client = api
    marketing = sandbox.state.marketing.id
    v3 = (await client.get("/communication-preferences/v3/status/email/bruno@example.org")).json()
    assert {s["status"] for s in v3["subscriptionStatuses"]} == {"NOT_SUBSCRIBED"}
    assert v3["subscriptionStatuses"][0]["sourceOfStatus"] == "PORTAL_WIDE_STATUS"
    refused = await client.post(
        "/communication-preferences/v3/subscribe",
        json={"emailAddress": "bruno@example.org", "subscriptionId": marketing},
    )
    assert refused.status_code == 400  # an opted-out person is never resubscribed by the API
    assert sandbox.consent_state("bruno@example.org") == "unsubscribed"
    ok = await client.post(
        "/communication-preferences/v3/subscribe",
        json={
            "emailAddress": "eve@example.com",
            "subscriptionId": marketing,
            "legalBasis": "CONSENT_WITH_NOTICE",
        },
    )
    assert ok.status_code == 200 and ok.json()["status"] == "SUBSCRIBED"
    read = "/communication-preferences/v4/statuses/batch/read"
    assert (await client.post(read, json={"inputs": ["dan@example.com"]})).status_code == 400
    v4 = (
        await client.post(
            read,
            params={"channel": "EMAIL"},
            json={"inputs": ["dan@example.com", "alice@example.com"]},
        )
    ).json()
    dan, alice = v4["results"]
    assert dan["statuses"][0]["source"] == "SOURCE_SPAM_REPORT"
    assert alice["statuses"][0]["status"] == "SUBSCRIBED"
    assert alice["statuses"][0]["legalBasis"] == "CONSENT_WITH_NOTICE"
    wide = (
        await client.post(
            f"{read[:-5]}/unsubscribe-all/read",
            params={"channel": "EMAIL"},
            json={"inputs": ["dan@example.com"]},
        )
    ).json()
    assert wide["results"][0]["wideStatuses"][0]["status"] == "UNSUBSCRIBED"


async def test_events_filter_sort_and_page(api: Any) -> None:
    sandbox, client = api
    params = {"objectType": "contact", "sort": "occurredAt", "limit": 2}
    got: list[str] = []
    after = None
    while True:
        body = (
            await client.get(
                "/events/v3/events", params=params | ({"after": after} if after else {})
            )
        ).json()
        got += [e["occurredAt"] for e in body["results"]]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    assert len(got) == len(sandbox.state.events) == 7 and got == sorted(got)
    since = (NOW - timedelta(days=5)).isoformat()
    recent = (await client.get("/events/v3/events", params={"occurredAfter": since})).json()[
        "results"
    ]
    assert {e["eventType"] for e in recent} == {
        "e_marketing_email_bounced",
        "e_marketing_email_unsubscribed",
        "e_marketing_email_spam_reported",
    }
    purchase = (
        await client.get("/events/v3/events", params={"eventType": sandbox.purchase_event_type})
    ).json()
    assert purchase["results"][0]["properties"]["amount"] == "42.50"
    types = (await client.get("/events/v3/events/event-types")).json()["eventTypes"]
    assert sandbox.purchase_event_type in types


async def test_burst_window_answers_hubspot_429() -> None:
    sandbox = make(HubSpotLimits(burst_requests=3))
    async with _client(sandbox) as client:
        for _ in range(3):
            assert (await client.get(C)).status_code == 200
        r = await client.get(C)
        assert r.status_code == 429
        assert r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
        assert r.headers["x-hubspot-ratelimit-remaining"] == "0"
        assert r.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
        assert "x-hubspot-ratelimit-daily-remaining" in r.headers
        sandbox.clock.advance(10)
        assert (await client.get(C)).status_code == 200


async def test_search_secondly_and_daily_policies() -> None:
    sandbox = make(HubSpotLimits(search_requests=2, daily_requests=5))
    async with _client(sandbox) as client:
        codes = [(await client.post(f"{C}/search", json=_search())).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        sandbox.clock.advance(1)
        for _ in range(3):
            await client.get(C)
        r = await client.get(C)
        assert r.status_code == 429 and r.json()["policyName"] == "DAILY"
        assert r.headers["x-hubspot-ratelimit-daily-remaining"] == "0"


async def test_faults_are_injected_then_cleared() -> None:
    faults = FaultPlan()
    faults.add_script("503", "429", "truncate")
    sandbox = make(faults=faults)
    async with _client(sandbox) as client:
        assert (await client.get(C)).status_code == 503
        assert (await client.get(C)).status_code == 429
        truncated = await client.get(C)
        with pytest.raises(ValueError):
            truncated.json()
        assert (await client.get(C)).status_code == 200
    assert faults.injected == ["503", "429", "truncate"]
    assert sandbox.log.count("GET", "/crm/v3/objects/contacts$") == 4


def test_summary_counts_seeded_state() -> None:
    summary = make().summary()
    assert summary["contacts"] == 10
    assert summary["consent"] == {
        "subscribed": 6,
        "unsubscribed": 1,
        "bounced": 1,
        "complained": 1,
        "pending": 1,
    }
    assert summary["lists"]["Customers"] == 2
    assert summary["activity"]["e_marketing_email_opened"] == 1
    assert "Product updates" in summary["subscription_types"]


async def test_webhook_subscriptions_and_settings(api: Any) -> None:
    sandbox, client = api
    base = "/webhooks/v3/123456"
    assert (await client.get(f"{base}/settings")).status_code == 404
    put = await client.put(
        f"{base}/settings",
        json={
            "targetUrl": "https://syncd.example/hooks",
            "throttling": {"maxConcurrentRequests": 5},
        },
    )
    assert put.status_code == 200 and put.json()["targetUrl"] == "https://syncd.example/hooks"
    refused = await client.post(
        f"{base}/subscriptions", json={"eventType": "contact.propertyChange"}
    )
    assert refused.status_code == 400  # a property change names its property
    made = await client.post(
        f"{base}/subscriptions",
        json={"eventType": "contact.propertyChange", "propertyName": "hs_email_optout"},
    )
    assert made.status_code == 201 and made.json()["active"] is False
    sub_id = made.json()["id"]
    patched = await client.patch(f"{base}/subscriptions/{sub_id}", json={"active": True})
    assert patched.json()["active"] is True
    listed = (await client.get(f"{base}/subscriptions")).json()["results"]
    assert [s["propertyName"] for s in listed] == ["hs_email_optout"]
    assert (await client.delete(f"{base}/subscriptions/{sub_id}")).status_code == 204
    assert (await client.get(f"{base}/subscriptions/{sub_id}")).status_code == 404
    assert sandbox.summary()["webhook_subscriptions"] == 0
