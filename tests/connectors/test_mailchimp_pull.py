"""Pulling from the Mailchimp sandbox: exactly the seeded people, incrementally, under faults."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from syncd.clock import VirtualClock
from syncd.errors import MalformedResponse
from syncd.records import ActivityType, ConsentStatus
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.mailchimp import DEFAULT_API_KEY, MailchimpLimits, MailchimpSandbox
from syncd.sandbox.mailchimp.state import ActivityItem, subscriber_hash
from syncd.sandbox.population import Population
from tests.support.rig import drain_pages
from tests.support.rig_mailchimp import make_rig, sandbox_of, small_population

pytestmark = pytest.mark.anyio


def expected_emails(population: Population) -> set[str]:
    return {p.email for p in population.in_tool("mailchimp") if p.email is not None}


@pytest.fixture
def population() -> Population:
    return small_population(n_plain=23)


async def test_full_pull_is_exactly_the_population(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(), settings=MailchimpSettings(page_size=7))
    contacts, invalid, cursors = await drain_pages(rig.connector.pull_contacts(None))
    assert sorted(c.email for c in contacts) == sorted(expected_emails(population))
    assert [i.raw_email for i in invalid] == ["frank@@example"]
    assert "invalid email" in invalid[0].reason
    assert len(cursors) == 5 and all(cursors)
    by_email = {c.email: c for c in contacts}
    for person in population.in_tool("mailchimp"):
        if person.email is None:
            continue
        record = by_email[person.email]
        presence = person.tools["mailchimp"]
        assert record.raw_email == presence.email
        assert record.memberships == frozenset(presence.lists)
        assert record.updated_at == max(presence.updated_at, presence.status_changed_at)
        for name in ("first_name", "last_name", "phone", "country", "city", "company",
                     "industry", "company_size", "job_title", "language"):  # fmt: skip
            assert record.attributes[name] == getattr(person, name), name


async def test_consent_maps_every_status(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock())
    consent, invalid, _ = await drain_pages(rig.connector.pull_consent(None))
    status = {c.email: (c.status, c.raw_status) for c in consent}
    assert status["alice@example.com"] == (ConsentStatus.SUBSCRIBED, "subscribed")
    assert status["bruno@example.org"] == (ConsentStatus.UNSUBSCRIBED, "unsubscribed")
    assert status["chloe@example.net"] == (ConsentStatus.BOUNCED, "cleaned")
    assert status["dan@example.com"] == (ConsentStatus.COMPLAINED, "unsubscribed")
    assert status["eve@example.com"] == (ConsentStatus.PENDING, "pending")
    assert len(consent) == len(expected_emails(population)) and len(invalid) == 1


async def test_activity_pull_types_money_and_stable_ids(population: Population) -> None:
    clock = VirtualClock()
    rig = make_rig(population, clock=clock, settings=MailchimpSettings(activity_members_per_page=4))
    first, _, cursors = await drain_pages(rig.connector.pull_activity(None))
    again, _, _ = await drain_pages(rig.connector.pull_activity(None))
    assert sorted(a.event_id for a in first) == sorted(a.event_id for a in again)
    expected = sorted(
        (p.email, e.type, e.at) for p in population.people if p.email for e in p.events
    )
    assert sorted((a.email, str(a.type), a.occurred_at) for a in first) == expected
    purchase = next(a for a in first if a.type is ActivityType.PURCHASE)
    assert (purchase.value, purchase.currency, purchase.campaign) == (Decimal("42.50"), "EUR", "c1")
    assert json.loads(cursors[-1] or "") == {"since": "2026-11-28T12:00:00.000Z"}

    # a new open after the cursor: the next run yields it alone
    member = sandbox_of(rig).audience.members[subscriber_hash("gina@example.com")]
    clock.advance(60)
    member.activity.append(ActivityItem("open", clock.now().replace(microsecond=0), "c1"))
    new, _, _ = await drain_pages(rig.connector.pull_activity(cursors[-1]))
    known = {a.event_id for a in first}
    fresh = [(a.email, a.type) for a in new if a.event_id not in known]
    assert fresh == [("gina@example.com", ActivityType.OPEN)]
    assert len(new) <= 2  # at most the one-second overlap re-reads the newest known event


async def test_incremental_pull_sees_only_changes(population: Population) -> None:
    clock = VirtualClock(population.now)
    rig = make_rig(population, clock=clock, settings=MailchimpSettings(page_size=5))
    _, _, cursors = await drain_pages(rig.connector.pull_contacts(None))
    clock.advance(3600)
    api = sandbox_of(rig)
    async with httpx.AsyncClient(
        transport=api.transport(), base_url=api.base_url, auth=("x", DEFAULT_API_KEY)
    ) as client:
        member = f"/lists/{api.list_id}/members/{subscriber_hash('p3@example.com')}"
        await client.patch(member, json={"merge_fields": {"FNAME": "Renamed"}})
        clock.advance(1)
        await client.patch(f"/lists/{api.list_id}/members/{subscriber_hash('eve@example.com')}",
                           json={"status": "unsubscribed"})  # fmt: skip
    changed, _, later = await drain_pages(rig.connector.pull_contacts(cursors[-1]))
    assert [c.email for c in changed] == ["p3@example.com", "eve@example.com"]
    assert changed[0].attributes["first_name"] == "Renamed"
    consent, _, _ = await drain_pages(rig.connector.pull_consent(cursors[-1]))
    assert {c.email: c.status for c in consent}["eve@example.com"] is ConsentStatus.UNSUBSCRIBED
    none, _, _ = await drain_pages(rig.connector.pull_contacts(later[-1]))
    assert none == []


async def test_keyset_paging_survives_ties_and_resumes_mid_pull(population: Population) -> None:
    clock = VirtualClock(population.now)
    rig = make_rig(population, clock=clock, settings=MailchimpSettings(page_size=3))
    same = population.now
    for member in sandbox_of(rig).audience.members.values():
        member.last_changed = same  # a bulk import: everyone changed in the same second
    pages = [p async for p in rig.connector.pull_contacts(None)]
    emails = [c.email for p in pages for c in p.records]
    assert len(emails) == len(set(emails)) == len(expected_emails(population))
    resumed, _, _ = await drain_pages(rig.connector.pull_contacts(pages[3].cursor))
    seen_first = {c.email for p in pages[:4] for c in p.records}
    assert seen_first | {c.email for c in resumed} == expected_emails(population)
    assert not seen_first & {c.email for c in resumed}


@pytest.mark.parametrize(
    "kinds", [("429", "500", "502", "503"), ("timeout", "drop", "truncate", "malformed")]
)
async def test_faults_leave_results_identical(
    population: Population, kinds: tuple[str, ...]
) -> None:
    clean = make_rig(population, clock=VirtualClock(), settings=MailchimpSettings(page_size=6))
    faults = FaultPlan(rates={k: 0.06 for k in kinds}, seed=11)
    noisy = make_rig(
        population, clock=VirtualClock(), faults=faults, settings=MailchimpSettings(page_size=6)
    )
    for stream in ("pull_contacts", "pull_consent", "pull_activity"):
        want = await drain_pages(getattr(clean.connector, stream)(None))
        got = await drain_pages(getattr(noisy.connector, stream)(None))
        assert got == want, stream
    assert faults.injected and noisy.connector.http.stats.retries


async def test_activity_reads_ten_feeds_at_once_never_eleven(population: Population) -> None:
    rig = make_rig(population, clock=VirtualClock(), faults=FaultPlan(latency_s=0.05))
    await drain_pages(rig.connector.pull_activity(None))
    gate = sandbox_of(rig).gate
    assert gate.peak == 10 and gate.refused == 0


async def test_too_many_connections_are_retried_after_429(population: Population) -> None:
    settings = MailchimpSettings(max_connections=16, activity_members_per_page=40)
    want, _, _ = await drain_pages(
        make_rig(population, clock=VirtualClock()).connector.pull_activity(None)
    )
    rig = make_rig(
        population, clock=VirtualClock(), faults=FaultPlan(latency_s=0.05), settings=settings
    )
    got, _, _ = await drain_pages(rig.connector.pull_activity(None))
    assert got == want
    assert sandbox_of(rig).gate.refused > 0 and rig.connector.http.stats.rate_limited > 0


async def test_bare_403_throttle_is_a_rate_limit(population: Population) -> None:
    limits = MailchimpLimits(burst_403=(4, 1.0))
    rig = make_rig(
        population, clock=VirtualClock(), limits=limits, settings=MailchimpSettings(page_size=5)
    )
    contacts, _, _ = await drain_pages(rig.connector.pull_contacts(None))
    assert len(contacts) == len(expected_emails(population))
    assert rig.connector.http.stats.rate_limited > 0


async def test_missing_field_is_malformed_naming_the_record(population: Population) -> None:
    sandbox = MailchimpSandbox(clock=VirtualClock())
    sandbox.seed(population)
    inner = sandbox.transport()

    class DropEmail(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            await response.aread()
            body: Any = response.json()
            if isinstance(body, dict) and body.get("members"):
                del body["members"][0]["email_address"]
            return httpx.Response(response.status_code, json=body)

    connector = MailchimpConnector.build(
        MailchimpSettings(), DEFAULT_API_KEY, transport=DropEmail()
    )
    with pytest.raises(MalformedResponse) as caught:
        await drain_pages(connector.pull_contacts(None))
    assert caught.value.vendor == "mailchimp" and caught.value.operation == "pull_contacts"
    assert caught.value.record and "email_address" in str(caught.value)


async def test_generated_population_round_trips() -> None:
    from syncd.sandbox.generate import generate

    population = generate(300, seed=3)
    rig = make_rig(population, clock=VirtualClock(population.now))
    contacts, invalid, _ = await drain_pages(rig.connector.pull_contacts(None))
    stored = {p.tools["mailchimp"].email.strip().lower() for p in population.in_tool("mailchimp")}
    assert len(contacts) + len(invalid) == len(stored) == sandbox_of(rig).summary()["contacts"]
    assert {c.email for c in contacts} <= expected_emails(population)
    assert len(invalid) == sum(1 for p in population.in_tool("mailchimp") if p.email is None)


def test_entry_point_and_capabilities() -> None:
    (ep,) = [e for e in entry_points(group="syncd.connectors") if e.name == "mailchimp"]
    assert ep.load() is MailchimpConnector
    connector = MailchimpConnector.build(MailchimpSettings(), "k-us7")
    assert str(connector.http.client.base_url) == "https://us7.api.mailchimp.com/3.0/"
    caps = connector.capabilities()
    assert caps.max_connections == 10 and caps.rate_limits == {}
    assert {str(k): v for k, v in caps.batch_max.items()} == {"tag": 500, "property": 500}
