"""Brevo connector pulls against the sandbox: exactly the seeded people, with or without faults."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from connectors.brevo import BrevoConnector, BrevoSettings
from connectors.brevo.pull import WalkCursor
from syncd.clock import VirtualClock
from syncd.errors import MalformedResponse
from syncd.records import ActivityType, ConsentStatus, InvalidRecord, Page
from syncd.sandbox.brevo import BrevoSandbox
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.population import Population
from tests.support.people import PERSON_ATTRIBUTES
from tests.support.rig import drain_pages
from tests.support.rig_brevo import NOW, make_rig, small_population

pytestmark = pytest.mark.anyio
R = TypeVar("R")

ACTIVITY = {
    "send": ActivityType.SEND,
    "open": ActivityType.OPEN,
    "click": ActivityType.CLICK,
    "purchase": ActivityType.PURCHASE,
    "bounce": ActivityType.BOUNCE,
    "unsubscribe": ActivityType.UNSUBSCRIBE,
    "complaint": ActivityType.COMPLAINT,
}
REASON_EVENT = {"bounced": "bounce", "complained": "complaint", "unsubscribed": "unsubscribe"}


async def drain(stream: AsyncIterator[Page[R]]) -> tuple[list[R], list[InvalidRecord], str | None]:
    """One pull's records and the cursor it ended on."""
    records, invalid, cursors = await drain_pages(stream)
    return records, invalid, cursors[-1] if cursors else None


def clock_after(population: Population) -> VirtualClock:
    return VirtualClock(start=population.now + timedelta(hours=1))


def list_ids(sandbox: BrevoSandbox, names: list[str]) -> frozenset[str]:
    out = set()
    for name in names:
        found = sandbox.state.list_by_name(name)
        assert found is not None
        out.add(str(found.id))
    return frozenset(out)


def expected_contacts(population: Population, sandbox: BrevoSandbox) -> dict[str, Any]:
    out = {}
    for person in population.in_tool("brevo"):
        if person.email is None:
            continue
        presence = person.tools["brevo"]
        attributes = {
            name: getattr(person, name) for name in PERSON_ATTRIBUTES if getattr(person, name)
        }
        kept = [n for n in presence.lists if n not in presence.unsubscribed_lists]
        out[person.email] = (attributes, list_ids(sandbox, kept))
    return out


def expected_consent(population: Population, sandbox: BrevoSandbox) -> set[tuple[Any, ...]]:
    out = set()
    for person in population.in_tool("brevo"):
        if person.email is None:
            continue
        presence = person.tools["brevo"]
        status = {"subscribed": "subscribed", "pending": "pending"}.get(presence.status)
        if status is None:  # blacklisted: the reason shows only through the person's events
            kinds = {e.type for e in person.events if e.tool == "brevo"}
            status = presence.status if REASON_EVENT[presence.status] in kinds else "unsubscribed"
        out.add((person.email, ConsentStatus(status), None))
        for list_id in list_ids(sandbox, presence.unsubscribed_lists):
            out.add((person.email, ConsentStatus.UNSUBSCRIBED, list_id))
    return out


def expected_activity(population: Population) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for person in population.in_tool("brevo"):
        if person.email is None:
            continue
        for event in person.events:
            if event.tool != "brevo":
                continue
            at = event.at.astimezone(UTC)
            if event.type == "purchase":  # Brevo keeps the order date only
                at = datetime(at.year, at.month, at.day, tzinfo=UTC)
            out[(person.email, ACTIVITY[event.type], at)] += 1
    return out


async def test_full_pull_contacts_match_population() -> None:
    population = small_population()
    rig = make_rig(population, clock=clock_after(population))
    records, invalid, cursor = await drain(rig.connector.pull_contacts(None))
    expected = expected_contacts(population, rig.sandbox)  # type: ignore[arg-type]
    got = {r.email: ({k: v for k, v in r.attributes.items() if v}, r.memberships) for r in records}
    assert got == expected
    assert [(i.raw_email, i.reason.startswith("invalid email")) for i in invalid] == [
        ("not-an-email@", True)
    ]
    ada = next(r for r in records if r.email == "ada@example.com")
    assert ada.raw_email == "  Ada@Example.com " and ada.updated_at.tzinfo is not None
    assert cursor is not None
    again, _, _ = await drain(rig.connector.pull_contacts(cursor))
    assert again == []


@pytest.mark.parametrize("seed", [1, 2])
async def test_pulls_identical_under_faults(seed: int) -> None:
    population = small_population(extra_people=6)
    clean = make_rig(population, clock=clock_after(population))
    faults = FaultPlan(
        rates={"429": 0.05, "500": 0.04, "502": 0.03, "503": 0.03, "timeout": 0.03},
        seed=seed,
    )
    faults.rates.update({"drop": 0.03, "truncate": 0.03, "malformed": 0.03})
    for kind in ("429", "500", "502", "503", "timeout", "drop", "truncate", "malformed"):
        faults.add_script(kind, "ok")
    faulty = make_rig(
        population,
        clock=clock_after(population),
        faults=faults,
        settings=BrevoSettings(contacts_page_size=4, activity_page_size=4),
    )
    for stream in ("pull_contacts", "pull_consent", "pull_activity"):
        want, want_invalid, _ = await drain(getattr(clean.connector, stream)(None))
        got, got_invalid, _ = await drain(getattr(faulty.connector, stream)(None))
        key = repr
        assert sorted(map(key, got)) == sorted(map(key, want)), stream
        assert got_invalid == want_invalid
    assert set(faults.injected) >= {"429", "500", "timeout", "drop", "truncate", "malformed"}
    assert faulty.connector.http.stats.rate_limited > 0


async def test_incremental_pull_yields_exactly_the_changed() -> None:
    population = small_population()
    rig = make_rig(population, clock=clock_after(population))
    _, _, cursor = await drain(rig.connector.pull_contacts(None))
    sandbox: BrevoSandbox = rig.sandbox  # type: ignore[assignment]
    rig.clock.advance(60)
    for email in ("bob@example.com", "fay@example.com"):
        contact = sandbox.state.find_email(email)
        assert contact is not None
        contact.attributes["CITY"] = "Paris"
        sandbox.state.touch(contact)
    changed, invalid, next_cursor = await drain(rig.connector.pull_contacts(cursor))
    assert sorted(r.email for r in changed) == ["bob@example.com", "fay@example.com"]
    assert all(r.attributes["city"] == "Paris" for r in changed) and invalid == []
    nothing, _, _ = await drain(rig.connector.pull_contacts(next_cursor))
    assert nothing == []


async def test_cursor_resumes_after_its_page() -> None:
    population = small_population(extra_people=5)
    settings = BrevoSettings(contacts_page_size=3)
    rig = make_rig(population, clock=clock_after(population), settings=settings)
    everyone, _, _ = await drain(rig.connector.pull_contacts(None))
    stream = rig.connector.pull_contacts(None)
    first = await stream.__anext__()
    await stream.aclose()
    rest, _, _ = await drain(rig.connector.pull_contacts(first.cursor))
    assert [r.email for r in first.records + rest] == [r.email for r in everyone]
    assert len(everyone) == 12


async def test_consent_matches_population_with_reasons() -> None:
    population = small_population()
    rig = make_rig(population, clock=clock_after(population))
    records, invalid, _ = await drain(rig.connector.pull_consent(None))
    got = {(r.email, r.status, r.list_id) for r in records}
    assert got == expected_consent(population, rig.sandbox)  # type: ignore[arg-type]
    assert len(invalid) == 1
    by_email = {r.email: r for r in records if r.list_id is None}
    assert by_email["cy@example.com"].raw_status == "emailBlacklisted=true;hardBounce"
    assert by_email["bob@example.com"].changed_at is not None
    assert by_email["gus@example.com"].raw_status == "emailBlacklisted=true"
    assert by_email["eve@example.com"].status == ConsentStatus.PENDING
    # stats look-ups for blacklisted contacts only, walking back until a cause shows: one
    # span each for bob, cy and di; gus has none, and his createdAt is one span back
    assert rig.sandbox.log.count("GET", r"/campaignStats$") == 4


async def test_activity_matches_population_and_ids_are_stable() -> None:
    population = small_population()
    rig = make_rig(population, clock=clock_after(population))
    records, invalid, cursor = await drain(rig.connector.pull_activity(None))
    got = Counter((r.email, r.type, r.occurred_at) for r in records)
    assert got == expected_activity(population)
    purchase = next(r for r in records if r.type == ActivityType.PURCHASE)
    assert purchase.value is not None and float(purchase.value) == pytest.approx(19.9)
    assert len(invalid) == 1
    # 365 days in spans of at most 90: five calls per contact with an email
    assert rig.sandbox.log.count("GET", r"/campaignStats$") == 5 * 7
    again, _, _ = await drain(rig.connector.pull_activity(None))
    assert sorted(r.event_id for r in again) == sorted(r.event_id for r in records)
    assert len({r.event_id for r in records}) == len(records)
    rig.sandbox.log.clear()
    sandbox: BrevoSandbox = rig.sandbox  # type: ignore[assignment]
    ada = sandbox.state.find_email("ada@example.com")
    assert ada is not None
    sandbox.state.touch(ada)
    changed, _, _ = await drain(rig.connector.pull_activity(cursor))
    # ada existed at the last pull: her statistics are read only since then (the cursor's
    # high-water mark, less a day), in one call; what comes back was seen by the full pull
    assert {r.email for r in changed} == {"ada@example.com"}
    assert {r.event_id for r in changed} <= {r.event_id for r in records}
    since = WalkCursor.decode(cursor).since
    assert since is not None
    assert all(r.occurred_at >= since - timedelta(days=2) for r in changed)
    assert rig.sandbox.log.count("GET", r"/campaignStats$") == 1


async def test_activity_days_setting_sets_the_window() -> None:
    population = small_population()
    rig = make_rig(
        population, clock=clock_after(population), settings=BrevoSettings(activity_days=30)
    )
    records, _, _ = await drain(rig.connector.pull_activity(None))
    assert records == []  # every seeded event is 40 days old
    assert rig.sandbox.log.count("GET", r"/campaignStats$") == 7


async def test_rate_windows_respected_without_429() -> None:
    population = small_population(extra_people=20)
    rig = make_rig(population, clock=clock_after(population))
    start = rig.clock.monotonic()
    records, _, _ = await drain(rig.connector.pull_activity(None))
    assert records
    calls = rig.sandbox.log.count()
    assert calls > 100
    assert not [e for e in rig.sandbox.log.exchanges if e.status == 429]
    assert rig.clock.monotonic() - start >= (calls - 10) / 10 * 0.9


async def test_missing_field_is_malformed_response_naming_the_record() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"contacts": [{"id": 17, "email": "a@b.co"}], "count": 1})

    connector = BrevoConnector.build(
        BrevoSettings(), "key", transport=httpx.MockTransport(handler), clock=VirtualClock()
    )
    with pytest.raises(MalformedResponse) as caught:
        await drain(connector.pull_contacts(None))
    assert caught.value.vendor == "brevo"
    assert caught.value.operation == "get_contacts"
    assert caught.value.record == "17"


async def test_generated_population_round_trips() -> None:
    generate = pytest.importorskip("syncd.sandbox.generate").generate
    population = generate(60, seed=3, now=NOW)
    rig = make_rig(population, clock=clock_after(population))
    records, invalid, _ = await drain(rig.connector.pull_contacts(None))
    present = population.in_tool("brevo")
    assert sorted(r.email for r in records) == sorted(p.email for p in present if p.email)
    assert len(invalid) == sum(1 for p in present if p.email is None)
