"""The Mailchimp sandbox answers like Mailchimp: auth, paging, filters, batches, consent, limits."""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterator

import httpx
import pytest

from syncd.clock import VirtualClock
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.mailchimp import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    MailchimpLimits,
    MailchimpSandbox,
)
from tests.support.rig_mailchimp import small_population

pytestmark = pytest.mark.anyio
L = f"/lists/{DEFAULT_LIST_ID}"


def md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sandbox(clock: VirtualClock) -> MailchimpSandbox:
    sb = MailchimpSandbox(clock=clock)
    sb.seed(small_population(n_plain=25))
    return sb


@pytest.fixture
async def api(sandbox: MailchimpSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, auth=("anyone", DEFAULT_API_KEY)
    ) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["title"] == title and body["status"] == status
    return dict(body)


async def test_auth_basic_bearer_missing_wrong_and_wrong_datacentre(
    api: httpx.AsyncClient, sandbox: MailchimpSandbox
) -> None:
    assert (await api.get("/ping")).json() == {"health_status": "Everything's Chimpy!"}
    bearer = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.base_url) as bare:
        assert (await bare.get("/lists", headers=bearer)).status_code == 200
        assert_problem(await bare.get("/lists"), 401, "API Key Missing")
        assert_problem(await bare.get("/lists", auth=("x", "nope-us21")), 401, "API Key Invalid")
        wrong_dc = "https://us5.api.mailchimp.com/3.0/lists"
        assert_problem(await bare.get(wrong_dc, headers=bearer), 401, "API Key Invalid")


async def test_seed_and_summary(sandbox: MailchimpSandbox) -> None:
    summary = sandbox.summary()
    assert summary["contacts"] == 7 + 25
    assert summary["consent"] == {"subscribed": 28, "unsubscribed": 2, "cleaned": 1, "pending": 1}
    assert summary["tags"] == {"newsletter": 4, "vip": 1, "webinar": 25, "customer": 1}
    assert summary["activity"] == {
        "send": 1, "open": 1, "click": 1, "purchase": 1, "unsubscribe": 1, "bounce": 1,
        "complaint": 1,
    }  # fmt: skip
    stored = sandbox.audience.members[md5("frank@@example")]
    assert stored.email_address == "frank@@example"  # invalid, but stored as the tool holds it


async def test_members_paging_fields_and_count_limit(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    for offset in range(0, 40, 10):
        r = await api.get(f"{L}/members", params={"count": 10, "offset": offset})
        body = r.json()
        assert body["total_items"] == 32
        seen += [m["id"] for m in body["members"]]
    assert len(seen) == len(set(seen)) == 32
    alice = (await api.get(f"{L}/members/{md5('alice@example.com')}")).json()
    assert alice["email_address"] == " Alice@Example.COM "
    assert alice["merge_fields"]["ADDRESS"]["city"] == "Lyon"
    assert {t["name"] for t in alice["tags"]} == {"newsletter", "vip"}
    slim = (await api.get(f"{L}/members", params={"fields": "members.id,total_items"})).json()
    assert set(slim) == {"members", "total_items"} and set(slim["members"][0]) == {"id"}
    assert_problem(await api.get(f"{L}/members", params={"count": 1001}), 400, "Invalid Resource")


async def test_since_last_changed_filter_and_sort(
    api: httpx.AsyncClient, clock: VirtualClock
) -> None:
    clock.advance(3600)
    cut = clock.now().isoformat()
    clock.advance(5)
    r = await api.patch(
        f"{L}/members/{md5('eve@example.com')}", json={"merge_fields": {"FNAME": "Eva"}}
    )
    assert r.status_code == 200
    changed = (await api.get(f"{L}/members", params={"since_last_changed": cut})).json()
    assert [m["email_address"] for m in changed["members"]] == ["eve@example.com"]
    ordered = (
        await api.get(
            f"{L}/members", params={"sort_field": "last_changed", "sort_dir": "ASC", "count": 1000}
        )
    ).json()["members"]
    stamps = [m["last_changed"] for m in ordered]
    assert stamps == sorted(stamps) and ordered[-1]["email_address"] == "eve@example.com"


async def test_batch_subscribe_limit_and_per_member_errors(api: httpx.AsyncClient) -> None:
    too_many = [{"email_address": f"x{i}@example.com", "status": "subscribed"} for i in range(501)]
    assert_problem(await api.post(L, json={"members": too_many}), 400, "Invalid Resource")
    body = {
        "members": [
            {"email_address": "new@example.com", "status": "transactional"},
            {"email_address": "bruno@example.org", "status": "subscribed"},
            {"email_address": "alice@example.com", "merge_fields": {"FNAME": "Al"}},
            {"email_address": "not-an-email", "status": "subscribed"},
        ],
        "update_existing": False,
    }
    r = (await api.post(L, json=body)).json()
    assert r["total_created"] == 1 and r["error_count"] == 3
    codes = {e["email_address"]: e["error_code"] for e in r["errors"]}
    assert codes["alice@example.com"] == "ERROR_CONTACT_EXISTS"
    body["update_existing"] = True
    r = (await api.post(L, json=body)).json()
    errors = {e["email_address"]: e["error"] for e in r["errors"]}
    assert "compliance state" in errors["bruno@example.org"]
    assert "looks fake or invalid" in errors["not-an-email"]
    updated = {m["email_address"].strip().lower(): m for m in r["updated_members"]}
    assert set(updated) == {"new@example.com", "alice@example.com"}  # new@ exists by now
    assert updated["alice@example.com"]["merge_fields"]["FNAME"] == "Al"


async def test_consent_rule_put_and_forgotten(api: httpx.AsyncClient) -> None:
    bruno = f"{L}/members/{md5('bruno@example.org')}"
    r = await api.put(bruno, json={"email_address": "bruno@example.org", "status": "subscribed"})
    assert_problem(r, 400, "Member In Compliance State")
    chloe = f"{L}/members/{md5('chloe@example.net')}"
    assert_problem(
        await api.patch(chloe, json={"status": "subscribed"}), 400, "Member In Compliance State"
    )
    new = f"{L}/members/{md5('zed@example.com')}"
    r = await api.put(new, json={"email_address": "zed@example.com", "status_if_new": "pending"})
    assert r.json()["status"] == "pending"
    assert (await api.post(f"{new}/actions/delete-permanent")).status_code == 204
    assert_problem(await api.get(new), 404, "Resource Not Found")
    r = await api.put(new, json={"email_address": "zed@example.com", "status_if_new": "subscribed"})
    assert_problem(r, 400, "Forgotten Email Not Subscribed")
    assert (await api.delete(f"{L}/members/{md5('eve@example.com')}")).status_code == 204
    assert (await api.get(f"{L}/members/{md5('eve@example.com')}")).json()["status"] == "archived"


async def test_segments_batch_limit_errors_and_tags(api: httpx.AsyncClient) -> None:
    created = (await api.post(f"{L}/segments", json={"name": "hot", "static_segment": []})).json()
    seg = f"{L}/segments/{created['id']}"
    assert_problem(
        await api.post(f"{L}/segments", json={"name": "hot", "static_segment": []}),
        400,
        "Bad Request",
    )
    r = await api.post(seg, json={"members_to_add": [f"p{i}@example.com" for i in range(501)]})
    body = assert_problem(r, 400, "Bad Request")
    assert body["detail"] == (
        "Maximum allowed member items exceeded, please provide at most 500 items in "
        "members_to_add field or members_to_remove field"
    )
    adds = ["ALICE@example.com", "p1@example.com", "ghost@example.com"]
    r = (
        await api.post(seg, json={"members_to_add": adds, "members_to_remove": ["p2@example.com"]})
    ).json()
    assert r["total_added"] == 2 and r["total_removed"] == 0
    assert r["errors"][0]["email_addresses"] == ["ghost@example.com"]
    r = (await api.post(seg, json={"members_to_remove": ["p1@example.com"]})).json()
    assert r["total_removed"] == 1
    assert (await api.get(seg)).json()["member_count"] == 1
    statics = (await api.get(f"{L}/segments", params={"type": "static"})).json()
    assert "hot" in {s["name"] for s in statics["segments"]}
    gina = f"{L}/members/{md5('gina@example.com')}"
    tags = {
        "tags": [{"name": "hot", "status": "active"}, {"name": "customer", "status": "inactive"}]
    }
    assert (await api.post(f"{gina}/tags", json=tags)).status_code == 204
    assert [t["name"] for t in (await api.get(f"{gina}/tags")).json()["tags"]] == ["hot"]


async def test_activity_feed_and_merge_fields(api: httpx.AsyncClient) -> None:
    alice = f"{L}/members/{md5('alice@example.com')}"
    feed = (await api.get(f"{alice}/activity-feed")).json()
    kinds = [a["activity_type"] for a in feed["activity"]]
    assert kinds == ["order", "click", "open", "sent"]  # newest first
    order = feed["activity"][0]
    assert order["order_total"] == "42.50" and order["currency_code"] == "EUR"
    only = (
        await api.get(f"{alice}/activity-feed", params={"activity_filters": "open,click"})
    ).json()
    assert only["total_items"] == 2
    fields = (await api.get(f"{L}/merge-fields")).json()
    assert {"FNAME", "LNAME", "ADDRESS", "PHONE"} <= {f["tag"] for f in fields["merge_fields"]}
    r = await api.post(f"{L}/merge-fields", json={"name": "syncd_score", "type": "text"})
    assert r.json()["tag"] == "SYNCD_SCOR"
    assert_problem(
        await api.post(f"{L}/merge-fields", json={"name": "x", "tag": "FNAME", "type": "text"}),
        400,
        "Invalid Resource",
    )


async def test_validation_and_not_found_shapes(api: httpx.AsyncClient) -> None:
    r = await api.post(L, content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(r, 400, "JSON Parse Error")
    body = assert_problem(
        await api.post(L, json={"members": [{"status": "x"}]}), 400, "Invalid Resource"
    )
    assert body["errors"]
    assert_problem(await api.get("/lists/nope/members"), 404, "Resource Not Found")
    assert_problem(await api.get(f"{L}/no-such-thing"), 404, "Resource Not Found")


async def test_eleventh_simultaneous_connection_gets_429(clock: VirtualClock) -> None:
    sandbox = MailchimpSandbox(clock=clock, faults=FaultPlan(latency_s=0.05))
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, auth=("x", DEFAULT_API_KEY)
    ) as api:
        responses = await asyncio.gather(*(api.get("/ping") for _ in range(14)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 4
    refused = next(r for r in responses if r.status_code == 429)
    assert_problem(refused, 429, "Too Many Requests")
    assert not any(h.startswith("x-ratelimit") or h == "retry-after" for h in refused.headers)
    assert sandbox.gate.peak == 10 and sandbox.log.count(path_pattern="/ping") == 14


async def test_faults_and_bare_403_throttle(clock: VirtualClock) -> None:
    limits = MailchimpLimits(burst_403=(3, 1.0))
    sandbox = MailchimpSandbox(
        clock=clock, faults=FaultPlan(script=deque(["500", "timeout"])), limits=limits
    )
    async with httpx.AsyncClient(
        transport=sandbox.transport(), base_url=sandbox.base_url, auth=("x", DEFAULT_API_KEY)
    ) as api:
        assert (await api.get("/ping")).status_code == 500
        with pytest.raises(httpx.ReadTimeout):
            await api.get("/ping")
        assert (await api.get("/ping")).status_code == 200
        throttled = await api.get("/ping")
        assert throttled.status_code == 403 and "json" not in throttled.headers["content-type"]
        clock.advance(1.0)
        assert (await api.get("/ping")).status_code == 200
