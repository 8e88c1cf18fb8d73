"""Pulling from the HubSpot sandbox: exactly the seeded people, incrementally, under faults."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from syncd.clock import VirtualClock
from syncd.connector import get_connector
from syncd.errors import MalformedResponse
from syncd.normalize import normalize_email
from syncd.records import ActivityType, ConsentStatus, InvalidRecord
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.hubspot import DEFAULT_TOKEN, HubSpotLimits, HubSpotSandbox
from syncd.sandbox.population import Population
from tests.support.rig import Rig, drain_pages
from tests.support.rig_hubspot import NOW, make_rig, sandbox_of, small_population

pytestmark = pytest.mark.anyio
ALL_FAULTS = ("429", "500", "502", "503", "timeout", "drop", "truncate", "malformed")


def expected_contacts(population: Population, sandbox: HubSpotSandbox) -> dict[str, Any]:
    """email -> (last modified, attributes, list ids) as the population says."""
    ids = {lst.name: lst.id for lst in sandbox.state.lists.values()}
    out = {}
    for p in population.in_tool("hubspot"):
        if p.email is None:
            continue
        presence = p.tools["hubspot"]
        attrs = {
            "first_name": p.first_name or None,
            "last_name": p.last_name or None,
            "phone": p.phone,
            "country": p.country,
            "city": p.city,
            "company": p.company,
            "industry": p.industry,
            "company_size": p.company_size,
            "job_title": p.job_title,
            "language": p.language,
        }
        modified = max(presence.updated_at, presence.status_changed_at)
        out[p.email] = (modified, attrs, frozenset(ids[n] for n in presence.lists))
    return out


@pytest.fixture
def population() -> Population:
    return small_population(n_plain=150)


def test_registered_under_the_entry_point() -> None:
    assert get_connector("hubspot") is HubSpotConnector


async def test_full_pull_is_exactly_the_population(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(NOW))
    contacts, invalid, cursors = await drain_pages(rig.connector.pull_contacts(None))
    want = expected_contacts(population, sandbox_of(rig))
    got = {c.email: (c.updated_at, c.attributes, c.memberships) for c in contacts}
    assert got == want
    assert len(contacts) == len(want)  # nobody twice
    assert [(i.raw_email, i.remote_id) for i in invalid] == [("frank@@example", "1006")]
    assert "@" in invalid[0].reason or invalid[0].reason
    alice = next(c for c in contacts if c.email == "alice@example.com")
    assert alice.raw_email == " Alice@Example.COM " and alice.updated_at.tzinfo is not None
    assert len(cursors) == 2 and json.loads(cursors[-1] or "")["since"]


async def test_resuming_from_a_page_cursor_reads_the_rest(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(NOW))
    pages = [p async for p in rig.connector.pull_contacts(None)]
    rest, _, _ = await drain_pages(rig.connector.pull_contacts(pages[0].cursor))
    assert [c.email for c in rest] == [c.email for c in pages[1].records]


async def test_incremental_pull_sees_exactly_the_changes(population: Population) -> None:
    clock = VirtualClock(NOW)
    rig = make_rig(population, clock=clock)
    sandbox = sandbox_of(rig)
    _, _, cursors = await drain_pages(rig.connector.pull_contacts(None))
    _, _, consent_cursors = await drain_pages(rig.connector.pull_consent(None))
    clock.advance(3600)
    nothing, _, _ = await drain_pages(rig.connector.pull_contacts(cursors[-1]))
    assert nothing == []
    state = sandbox.state
    state.update_contact(state.contacts["1001"], {"city": "Hamburg"})
    state.opt_out_of_all("p3@example.com", clock.now(), "SOURCE_RECIPIENT")
    state.create_contact({"email": "Zoe@Example.com", "firstname": "Zoe"})
    clock.advance(1)  # a pull covers up to the moment it starts, exclusive
    changed, _, last = await drain_pages(rig.connector.pull_contacts(cursors[-1]))
    assert sorted(c.email for c in changed) == [
        "alice@example.com",
        "p3@example.com",
        "zoe@example.com",
    ]
    assert (
        next(c for c in changed if c.email == "alice@example.com").attributes["city"] == "Hamburg"
    )
    consent, _, _ = await drain_pages(rig.connector.pull_consent(consent_cursors[-1]))
    p3 = [c for c in consent if c.email == "p3@example.com" and c.list_id is None]
    assert [c.status for c in p3] == [ConsentStatus.UNSUBSCRIBED]
    clock.advance(3600)
    # the overlap (clock skew guard) re-reads what changed in the minute before the cursor
    again, _, _ = await drain_pages(rig.connector.pull_contacts(last[-1]))
    assert sorted(c.email for c in again) == sorted(c.email for c in changed)
    clock.advance(3600)
    _, _, latest = await drain_pages(rig.connector.pull_contacts(last[-1]))
    assert (await drain_pages(rig.connector.pull_contacts(latest[-1])))[0] == []


async def test_incremental_keyset_handles_ties_and_the_search_depth_cap() -> None:
    """Hundreds of contacts changed at the same instant, and a search that cannot page past
    a few hundred results (HubSpot's 10,000, scaled down): every one arrives exactly once."""
    population = small_population(n_plain=640)
    same = NOW - timedelta(days=2)
    for p in population.people[7:257]:  # more ties than a page, fewer than the cap
        p.tools["hubspot"] = replace(p.tools["hubspot"], updated_at=same, status_changed_at=same)
    clock = VirtualClock(NOW)
    rig = make_rig(population, clock=clock, limits=HubSpotLimits(search_total_max=450))
    cursor = json.dumps({"v": 1, "since": (NOW - timedelta(days=400)).isoformat()})
    contacts, invalid, cursors = await drain_pages(rig.connector.pull_contacts(cursor))
    emails = [c.email for c in contacts]
    assert len(emails) == len(set(emails)) == len(expected_contacts(population, sandbox_of(rig)))
    assert len(invalid) == 1 and len(cursors) >= 4


async def test_consent_maps_every_hubspot_state(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(NOW))
    sandbox = sandbox_of(rig)
    records, invalid, _ = await drain_pages(rig.connector.pull_consent(None))
    main = {r.email: r for r in records if r.list_id is None}
    assert main["alice@example.com"].status is ConsentStatus.SUBSCRIBED
    assert main["alice@example.com"].legal_basis == "CONSENT_WITH_NOTICE"
    assert main["bruno@example.org"].status is ConsentStatus.UNSUBSCRIBED
    assert main["chloe@example.net"].status is ConsentStatus.BOUNCED
    assert main["dan@example.com"].status is ConsentStatus.COMPLAINED
    assert main["dan@example.com"].raw_status == "SOURCE_SPAM_REPORT"
    assert main["eve@example.com"].status is ConsentStatus.PENDING
    want = {p.email: p.tools["hubspot"].status for p in population.in_tool("hubspot") if p.email}
    assert {e: str(r.status) for e, r in main.items()} == want
    product = sandbox.state.subscription_by_name("Product updates")
    assert product is not None
    gina = [r for r in records if r.email == "gina@example.com" and r.list_id == product.id]
    assert [r.status for r in gina] == [ConsentStatus.UNSUBSCRIBED]
    assert [i.raw_email for i in invalid] == ["frank@@example"]


async def test_activity_is_the_seeded_events_with_stable_ids(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(NOW))
    events, invalid, cursors = await drain_pages(rig.connector.pull_activity(None))
    want = sorted(
        (normalize_email(p.tools["hubspot"].email), e.type, e.at)
        for p in population.in_tool("hubspot")
        for e in p.events
    )
    assert sorted((a.email, str(a.type), a.occurred_at) for a in events) == want
    purchase = next(a for a in events if a.type is ActivityType.PURCHASE)
    assert (str(purchase.value), purchase.currency, purchase.campaign) == ("42.50", "EUR", None)
    assert invalid == []
    again, _, _ = await drain_pages(rig.connector.pull_activity(None))
    assert sorted(a.event_id for a in again) == sorted(a.event_id for a in events)
    later, _, _ = await drain_pages(rig.connector.pull_activity(cursors[-1]))
    assert later == []


@pytest.mark.parametrize("kind", ["contacts", "consent", "activity"])
async def test_faults_change_nothing(population: Population, kind: str) -> None:
    clean = make_rig(population, clock=VirtualClock(NOW))
    faults = FaultPlan(rates={k: 0.03 for k in ALL_FAULTS}, seed=11)
    # every kind once, at most three in a row on one request (retries outlast them)
    faults.add_script("429", "500", "502", "ok", "503", "timeout", "drop", "ok")
    faults.add_script("truncate", "malformed", "ok")
    noisy = make_rig(population, clock=VirtualClock(NOW), faults=faults)

    async def pull(rig: Rig) -> tuple[list[Any], list[InvalidRecord]]:
        stream = getattr(rig.connector, f"pull_{kind}")(None)
        records, invalid, _ = await drain_pages(stream)
        return sorted(records, key=repr), invalid

    assert await pull(noisy) == await pull(clean)
    assert set(faults.injected) == set(ALL_FAULTS)
    assert noisy.connector.http.stats.retries


class _DropField(httpx.AsyncBaseTransport):
    """The sandbox, except one contact comes back without its ``properties``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = json.loads(await response.aread())
        if request.url.path == "/crm/v3/objects/contacts" and body.get("results"):
            del body["results"][0]["properties"]
        return httpx.Response(response.status_code, json=body, headers={"x-test": "1"})


async def test_missing_required_field_is_a_malformed_response() -> None:
    sandbox = HubSpotSandbox(clock=VirtualClock(NOW))
    sandbox.seed(small_population())
    connector = HubSpotConnector.build(
        HubSpotSettings(),
        DEFAULT_TOKEN,
        transport=_DropField(sandbox.transport()),
        clock=sandbox.clock,
    )
    with pytest.raises(MalformedResponse) as err:
        await drain_pages(connector.pull_contacts(None))
    assert err.value.vendor == "hubspot" and err.value.record == "1001"
    assert "properties" in str(err.value)


async def test_generated_population_round_trips() -> None:
    generate = pytest.importorskip("syncd.sandbox.generate").generate
    population = generate(80, seed=7, now=NOW, history_days=60)
    rig = make_rig(population, clock=VirtualClock(NOW))
    contacts, invalid, _ = await drain_pages(rig.connector.pull_contacts(None))
    people = population.in_tool("hubspot")
    assert sorted(c.email for c in contacts) == sorted(p.email for p in people if p.email)
    assert len(invalid) == sum(1 for p in people if p.email is None)
    consent, _, _ = await drain_pages(rig.connector.pull_consent(None))
    main = {c.email: str(c.status) for c in consent if c.list_id is None}
    assert main == {p.email: p.tools["hubspot"].status for p in people if p.email}
    events, _, _ = await drain_pages(rig.connector.pull_activity(None))
    assert len(events) == sum(1 for p in people if p.email for e in p.events if e.tool == "hubspot")
