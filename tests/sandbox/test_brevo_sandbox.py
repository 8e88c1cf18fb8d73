"""The Brevo sandbox answers as Brevo does: shapes, limits, errors, consent rule, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syncd.clock import VirtualClock
from syncd.normalize import parse_timestamp
from syncd.sandbox.brevo import DEFAULT_API_KEY, BrevoLimits, BrevoSandbox
from syncd.sandbox.harness import FaultPlan
from tests.support.rig_brevo import NOW, small_population

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=NOW + timedelta(hours=1))


@pytest.fixture
def sandbox(clock: VirtualClock) -> BrevoSandbox:
    box = BrevoSandbox(clock=clock)
    box.seed(small_population())
    return box


@pytest.fixture
async def api(sandbox: BrevoSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        headers={"api-key": DEFAULT_API_KEY},
    ) as client:
        yield client


def list_id(sandbox: BrevoSandbox, name: str) -> int:
    found = sandbox.state.list_by_name(name)
    assert found is not None
    return found.id


async def test_seed_summary(sandbox: BrevoSandbox) -> None:
    summary = sandbox.summary()
    assert summary["contacts"] == 8
    assert summary["consent"] == {"not_blacklisted": 3, "blacklisted": 4, "doi_pending": 1}
    assert summary["lists"]["Newsletter"] == 6
    assert summary["lists"]["VIP"] == 1
    assert summary["list_unsubscribed"] == {"Promotions": 1}
    assert summary["activity"]["messagesSent"] == 4
    assert summary["activity"]["hardBounces"] == 1


async def test_auth_401_in_brevo_shape(api: httpx.AsyncClient) -> None:
    for headers in ({"api-key": "wrong"}, {}):
        client = httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url))
        response = await client.get("/contacts", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"code": "unauthorized", "message": "Key not found"}


async def test_contacts_shape_and_messy_email_kept(api: httpx.AsyncClient) -> None:
    body = (await api.get("/contacts", params={"sort": "asc", "limit": 1})).json()
    assert body["count"] == 8
    ada = body["contacts"][0]
    assert ada["email"] == "  Ada@Example.com "
    assert ada["attributes"]["FIRSTNAME"] == "First1"
    assert ada["attributes"]["SMS"] == "+33612345678"
    assert ada["emailBlacklisted"] is False
    assert ada["createdAt"].endswith("+01:00")  # the account's offset, milliseconds
    assert parse_timestamp(ada["createdAt"]) == NOW - timedelta(days=399)


async def test_pagination_and_limits(api: httpx.AsyncClient) -> None:
    seen = []
    for offset in range(0, 8, 3):
        page = await api.get("/contacts", params={"limit": 3, "offset": offset, "sort": "asc"})
        seen += [c["id"] for c in page.json()["contacts"]]
    assert seen == sorted(seen) and len(set(seen)) == 8
    over = await api.get("/contacts", params={"limit": 1001})
    assert over.status_code == 400 and over.json()["code"] == "invalid_parameter"
    lists_over = await api.get("/contacts/lists", params={"limit": 51})
    assert lists_over.status_code == 400


async def test_modified_since_is_strictly_after(api: httpx.AsyncClient) -> None:
    everyone = (await api.get("/contacts", params={"limit": 1000})).json()["contacts"]
    latest = max(everyone, key=lambda c: parse_timestamp(c["modifiedAt"]))
    after = await api.get("/contacts", params={"modifiedSince": latest["modifiedAt"]})
    assert after.json() == {"contacts": [], "count": 0}
    # a change moves modifiedAt, so the contact comes back
    await api.put("/contacts/bob@example.com", json={"attributes": {"FIRSTNAME": "Robert"}})
    changed = (await api.get("/contacts", params={"modifiedSince": latest["modifiedAt"]})).json()
    assert [c["email"] for c in changed["contacts"]] == ["bob@example.com"]


async def test_contact_and_404(api: httpx.AsyncClient) -> None:
    found = await api.get("/contacts/BOB@example.com")
    assert found.status_code == 200 and found.json()["emailBlacklisted"] is True
    by_id = await api.get(f"/contacts/{found.json()['id']}")
    assert by_id.json()["email"] == "bob@example.com"
    missing = await api.get("/contacts/nobody@example.com")
    assert missing.status_code == 404
    assert missing.json() == {"code": "document_not_found", "message": "Contact does not exist"}


async def test_campaign_stats_shapes_and_window(api: httpx.AsyncClient) -> None:
    today = (NOW + timedelta(hours=1)).date()
    params = {"startDate": (today - timedelta(days=90)).isoformat(), "endDate": today.isoformat()}
    ada = (await api.get("/contacts/ada@example.com/campaignStats", params=params)).json()
    assert ada["messagesSent"][0]["campaignId"] == ada["opened"][0]["campaignId"]
    assert ada["clicked"][0]["links"][0]["url"].startswith("https://")
    assert ada["transacAttributes"][0]["orderPrice"] == pytest.approx(19.9)
    bob = (await api.get("/contacts/bob@example.com/campaignStats", params=params)).json()
    assert len(bob["unsubscriptions"]["userUnsubscription"]) == 1
    too_wide = {"startDate": (today - timedelta(days=91)).isoformat(), "endDate": today.isoformat()}
    refused = await api.get("/contacts/ada@example.com/campaignStats", params=too_wide)
    assert refused.status_code == 400 and "90 days" in refused.json()["message"]
    future = {"startDate": today.isoformat(), "endDate": (today + timedelta(days=1)).isoformat()}
    assert (
        await api.get("/contacts/ada@example.com/campaignStats", params=future)
    ).status_code == 400
    old = {"startDate": "2020-01-01", "endDate": "2020-02-01"}
    assert (await api.get("/contacts/ada@example.com/campaignStats", params=old)).json() == {}


async def test_list_add_consent_rule_and_batch_limit(
    api: httpx.AsyncClient, sandbox: BrevoSandbox
) -> None:
    vip = list_id(sandbox, "VIP")
    promotions = list_id(sandbox, "Promotions")
    added = await api.post(
        f"/contacts/lists/{vip}/contacts/add",
        json={"emails": ["ada@example.com", "bob@example.com", "ghost@example.com"]},
    )
    assert added.status_code == 201
    assert added.json() == {
        "contacts": {
            "success": ["ada@example.com"],
            "failure": ["bob@example.com", "ghost@example.com"],
        }
    }
    ada = sandbox.state.find_email("ada@example.com")
    assert ada is not None and vip in ada.list_ids
    # fay left Promotions: she is not re-added; a call where all fail is refused whole
    refused = await api.post(
        f"/contacts/lists/{promotions}/contacts/add", json={"emails": ["fay@example.com"]}
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == "Contact already in list and/or does not exist"
    too_many = [f"u{i}@example.com" for i in range(151)]
    over = await api.post(f"/contacts/lists/{vip}/contacts/add", json={"emails": too_many})
    assert over.status_code == 400 and "150" in over.json()["message"]
    unknown = await api.post("/contacts/lists/999/contacts/add", json={"emails": ["a@b.co"]})
    assert unknown.status_code == 404


async def test_list_remove_and_list_contacts(api: httpx.AsyncClient, sandbox: BrevoSandbox) -> None:
    newsletter = list_id(sandbox, "Newsletter")
    removed = await api.post(
        f"/contacts/lists/{newsletter}/contacts/remove",
        json={"emails": ["ada@example.com", "eve@example.com", "ghost@example.com"]},
    )
    # removal is idempotent like add: eve is not a member, ghost does not exist
    assert removed.json()["contacts"] == {
        "success": ["ada@example.com", "eve@example.com"],
        "failure": ["ghost@example.com"],
    }
    members = await api.get(f"/contacts/lists/{newsletter}/contacts", params={"limit": 500})
    assert "ada@example.com" not in {c["email"] for c in members.json()["contacts"]}
    over = await api.get(f"/contacts/lists/{newsletter}/contacts", params={"limit": 501})
    assert over.status_code == 400


async def test_lists_folders_attributes(api: httpx.AsyncClient) -> None:
    created = await api.post("/contacts/lists", json={"name": "Segment A", "folderId": 1})
    assert created.status_code == 201
    lists = (await api.get("/contacts/lists", params={"limit": 50})).json()
    assert "Segment A" in {item["name"] for item in lists["lists"]}
    no_folder = await api.post("/contacts/lists", json={"name": "X", "folderId": 42})
    assert no_folder.status_code == 404
    bad = await api.post("/contacts/lists", json={"name": "X"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"
    folder = await api.post("/contacts/folders", json={"name": "syncd"})
    assert folder.status_code == 201
    assert (
        await api.post("/contacts/attributes/normal/SYNCD_SCORE", json={"type": "text"})
    ).status_code == 201
    dup = await api.post("/contacts/attributes/normal/SYNCD_SCORE", json={"type": "text"})
    assert dup.status_code == 400 and dup.json()["code"] == "duplicate_parameter"
    names = {a["name"] for a in (await api.get("/contacts/attributes")).json()["attributes"]}
    assert {"SYNCD_SCORE", "FIRSTNAME", "DOUBLE_OPT-IN"} <= names


async def test_import_updates_attributes_and_respects_consent(
    api: httpx.AsyncClient, sandbox: BrevoSandbox
) -> None:
    vip = list_id(sandbox, "VIP")
    await api.post("/contacts/attributes/normal/SYNCD_SCORE", json={"type": "text"})
    response = await api.post(
        "/contacts/import",
        json={
            "jsonBody": [
                {"email": "ADA@example.com", "attributes": {"SYNCD_SCORE": "42", "NOPE": "x"}},
                {"email": "bob@example.com", "attributes": {"SYNCD_SCORE": "7"}},
                {"email": "not an email", "attributes": {"SYNCD_SCORE": "1"}},
            ],
            "listIds": [vip],
        },
    )
    assert response.status_code == 202 and "processId" in response.json()
    ada = sandbox.state.find_email("ada@example.com")
    bob = sandbox.state.find_email("bob@example.com")
    assert ada is not None and bob is not None
    assert ada.attributes["SYNCD_SCORE"] == "42" and "NOPE" not in ada.attributes
    assert bob.attributes["SYNCD_SCORE"] == "7" and vip not in bob.list_ids  # blacklisted
    assert bob.email_blacklisted  # import never un-blacklists
    assert sandbox.summary()["contacts"] == 8
    no_list = await api.post("/contacts/import", json={"jsonBody": []})
    assert no_list.status_code == 400 and no_list.json()["code"] == "missing_parameter"
    clear = await api.post(
        "/contacts/import",
        json={
            "jsonBody": [{"email": "ada@example.com", "attributes": {"SYNCD_SCORE": ""}}],
            "listIds": [vip],
            "emptyContactsAttributes": True,
        },
    )
    assert clear.status_code == 202 and "SYNCD_SCORE" not in ada.attributes


async def test_import_body_limit(clock: VirtualClock) -> None:
    box = BrevoSandbox(clock=clock, limits=BrevoLimits(import_body_max_bytes=500))
    box.seed(small_population())
    async with httpx.AsyncClient(
        transport=box.transport(), base_url=box.base_url, headers={"api-key": DEFAULT_API_KEY}
    ) as api:
        rows = [{"email": f"user{i}@example.com"} for i in range(40)]
        response = await api.post("/contacts/import", json={"jsonBody": rows, "listIds": [1]})
        assert response.status_code == 400 and "10MB" in response.json()["message"]


async def test_batch_update_limit_and_unknown(
    api: httpx.AsyncClient, sandbox: BrevoSandbox
) -> None:
    ok = await api.post(
        "/contacts/batch",
        json={"contacts": [{"email": "ada@example.com", "attributes": {"CITY": "Nice"}}]},
    )
    assert ok.status_code == 204
    ada = sandbox.state.find_email("ada@example.com")
    assert ada is not None and ada.attributes["CITY"] == "Nice"
    over = await api.post("/contacts/batch", json={"contacts": [{"id": 1}] * 101})
    assert over.status_code == 400 and "100" in over.json()["message"]
    unknown = await api.post("/contacts/batch", json={"contacts": [{"email": "ghost@example.com"}]})
    assert unknown.status_code == 404


async def test_delete_contact(api: httpx.AsyncClient, sandbox: BrevoSandbox) -> None:
    assert (await api.delete("/contacts/gus@example.com")).status_code == 204
    assert (await api.get("/contacts/gus@example.com")).status_code == 404
    assert (await api.delete("/contacts/gus@example.com")).status_code == 404
    assert sandbox.summary()["contacts"] == 7


async def test_rate_limit_per_second_then_recovers(
    api: httpx.AsyncClient, clock: VirtualClock
) -> None:
    statuses = [(await api.get("/contacts", params={"limit": 1})).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    limited = await api.get("/contacts", params={"limit": 1})
    assert limited.json()["code"] == "too_many_requests"
    assert limited.headers["x-sib-ratelimit-limit"] == "10"
    assert limited.headers["x-sib-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-sib-ratelimit-reset"]) >= 1
    assert "retry-after" not in limited.headers
    clock.advance(1.0)
    assert (await api.get("/contacts", params={"limit": 1})).status_code == 200


async def test_hourly_window_for_unlisted_endpoints(clock: VirtualClock) -> None:
    box = BrevoSandbox(clock=clock, limits=BrevoLimits(other_per_hour=2, contacts_per_hour=3))
    async with httpx.AsyncClient(
        transport=box.transport(), base_url=box.base_url, headers={"api-key": DEFAULT_API_KEY}
    ) as api:
        others = [(await api.get("/processes/1")).status_code for _ in range(3)]
        assert others == [404, 404, 429]
        contacts = []
        for _ in range(4):
            contacts.append((await api.get("/contacts")).status_code)
            clock.advance(1.0)
        assert contacts == [200, 200, 200, 429]
        clock.advance(3600)
        assert (await api.get("/contacts")).status_code == 200


async def test_injected_faults(clock: VirtualClock) -> None:
    faults = FaultPlan()
    faults.add_script("429", "500", "truncate")
    box = BrevoSandbox(clock=clock, faults=faults)
    box.seed(small_population())
    async with httpx.AsyncClient(
        transport=box.transport(), base_url=box.base_url, headers={"api-key": DEFAULT_API_KEY}
    ) as api:
        limited = await api.get("/contacts")
        assert limited.status_code == 429 and "x-sib-ratelimit-reset" in limited.headers
        assert (await api.get("/contacts")).status_code == 500
        truncated = await api.get("/contacts")
        with pytest.raises(ValueError):
            truncated.json()
        assert (await api.get("/contacts")).status_code == 200
    assert box.log.count("GET", r"^/v3/contacts$") == 4


async def test_unknown_route_and_bad_query(api: httpx.AsyncClient) -> None:
    assert (await api.get("/nothing-here")).status_code == 404
    bad = await api.get("/contacts", params={"modifiedSince": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_parameter"


def test_timestamps_written_in_utc_when_configured() -> None:
    box = BrevoSandbox(clock=VirtualClock(start=datetime(2026, 12, 1, tzinfo=UTC)), timezone="UTC")
    assert (
        box.state.fmt(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
        == "2026-01-02T03:04:05.006+00:00"
    )
