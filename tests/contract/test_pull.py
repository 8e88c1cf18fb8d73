"""Pulls: full and incremental contacts, consent vocabulary, activity, against the population."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from syncd.records import ActivityType, ConsentRecord, ConsentStatus
from syncd.sandbox.population import Event
from tests.contract.hooks import hooks_for
from tests.contract.support import (
    ATTRIBUTES,
    drain,
    expected,
    expected_activity,
    generated,
    opened,
    refused,
    status_population,
    statuses,
)

pytestmark = pytest.mark.anyio

#: longer than any connector's documented cursor overlap (HubSpot's is 60 s)
SETTLE_S = 120


async def test_full_pull_yields_exactly_the_people_in_the_tool(name: str) -> None:
    population = generated()
    want = expected(population, name)
    async with opened(name, population) as rig:
        pulled = await drain(rig.connector.pull_contacts(None))
    emails = [r.email for r in pulled.records]
    assert len(emails) == len(set(emails)), "a contact came twice"
    assert set(emails) == set(want.people)
    # invalid addresses are reported, with a reason, never dropped silently
    assert sorted(i.raw_email.strip().lower() for i in pulled.invalid) == sorted(want.invalid_raw)
    assert all(i.reason and i.tool == name for i in pulled.invalid)
    assert want.invalid_raw, "the population should hold an invalid address"
    remote_ids = [r.remote_id for r in pulled.records] + [i.remote_id for i in pulled.invalid]
    assert all(remote_ids) and len(set(remote_ids)) == len(remote_ids)
    for record in pulled.records:
        person = want.people[record.email]
        assert record.tool == name
        assert record.updated_at.utcoffset() == timedelta(0)
        wanted = {a: getattr(person, a) or None for a in ATTRIBUTES}
        assert {a: record.attributes.get(a) for a in ATTRIBUTES} == wanted, record.email
    assert refused(rig.sandbox.log.exchanges) == []
    assert statuses(rig.sandbox.log.exchanges)[429] == 0, "the client overran a vendor limit"


async def test_incremental_pull_yields_just_the_changed_contacts(name: str) -> None:
    population = generated()
    hooks = hooks_for(name)
    async with opened(name, population) as rig:
        rig.clock.advance(3600)  # nothing seeded sits inside a cursor's overlap
        contacts = await drain(rig.connector.pull_contacts(None))
        consent = await drain(rig.connector.pull_consent(None))
        assert contacts.cursor and consent.cursor
        rig.clock.advance(3600)
        emails = sorted(expected(population, name).people)
        renamed = {email: f"Renamed{i}" for i, email in enumerate(emails[3::37])}
        for email, first_name in renamed.items():
            hooks.rename(rig, email, first_name)
        # pulls re-read a short overlap before their cursor (clock skew): changes here are
        # older than any of them, as changes between two scheduled pulls are
        rig.clock.advance(SETTLE_S)

        changed = await drain(rig.connector.pull_contacts(contacts.cursor))
        assert sorted(r.email for r in changed.records) == sorted(renamed)
        assert {r.email: r.attributes.get("first_name") for r in changed.records} == renamed
        assert changed.invalid == []
        changed_consent = await drain(rig.connector.pull_consent(consent.cursor))
        assert {r.email for r in changed_consent.records} == set(renamed)

        # the vendor unsubscribes one person: the next incremental pulls show just that
        rig.clock.advance(3600)
        leaver = emails[1]
        hooks.unsubscribe(rig, leaver)
        rig.clock.advance(SETTLE_S)
        after = await drain(rig.connector.pull_consent(changed_consent.cursor))
        main = [(r.email, r.status) for r in after.records if r.list_id is None]
        assert main == [(leaver, ConsentStatus.UNSUBSCRIBED)]
        moved = await drain(rig.connector.pull_contacts(changed.cursor))
        assert [r.email for r in moved.records] == [leaver]

        # and with nothing changed since, the cursors yield nothing
        rig.clock.advance(3600)
        assert (await drain(rig.connector.pull_contacts(moved.cursor))).records == []
        assert (await drain(rig.connector.pull_consent(after.cursor))).records == []
    assert refused(rig.sandbox.log.exchanges) == []


async def test_each_seeded_consent_state_maps_to_the_syncd_vocabulary(name: str) -> None:
    population = status_population(name)
    async with opened(name, population) as rig:
        pulled = await drain(rig.connector.pull_consent(None))
    main: dict[str, ConsentRecord] = {}
    for record in pulled.records:
        if record.list_id is None:
            assert record.email not in main, f"two account-wide statuses for {record.email}"
            main[record.email] = record
    want = {p.email: ConsentStatus(p.tools[name].status) for p in population.people if p.email}
    assert {email: r.status for email, r in main.items()} == want
    assert all(r.raw_status and r.tool == name for r in main.values())
    assert [i.raw_email.strip() for i in pulled.invalid] == ["broken@@example"]
    assert refused(rig.sandbox.log.exchanges) == []


async def test_consent_of_a_generated_population(name: str) -> None:
    population = generated()
    want = expected(population, name)
    async with opened(name, population) as rig:
        pulled = await drain(rig.connector.pull_consent(None))
    main = {r.email: r.status.value for r in pulled.records if r.list_id is None}
    assert main == {email: p.tools[name].status for email, p in want.people.items()}
    assert len(pulled.invalid) == len(want.invalid_raw)


async def test_activity_matches_the_population_per_type(name: str) -> None:
    # history within a year: the shortest window any connector reads back by default
    population = generated(history_days=300)
    async with opened(name, population) as rig:
        first = await drain(rig.connector.pull_activity(None))
        second = await drain(rig.connector.pull_activity(None))
    want = expected_activity(population, name)
    assert sum(want.values()) > 100
    assert Counter(r.type.value for r in first.records) == want
    ids = [r.event_id for r in first.records]
    assert len(set(ids)) == len(ids), "two events share an id"
    assert sorted(ids) == sorted(r.event_id for r in second.records), "event ids are not stable"
    people = expected(population, name).people
    assert all(r.email in people and r.tool == name for r in first.records)
    assert all(r.occurred_at.utcoffset() == timedelta(0) for r in first.records)
    assert refused(rig.sandbox.log.exchanges) == []


async def test_purchases_keep_their_amount(name: str) -> None:
    population = status_population(name)
    buyer = population.people[0]
    bought = [(Decimal("19.90"), "EUR"), (Decimal("1250.00"), "USD")]
    for day, (value, currency) in enumerate(bought, start=2):
        at = population.now - timedelta(days=day)
        buyer.events.append(Event(name, "purchase", at, "c1", value, currency))
    async with opened(name, population) as rig:
        pulled = await drain(rig.connector.pull_activity(None))
    purchases = sorted(
        (r for r in pulled.records if r.type is ActivityType.PURCHASE), key=lambda r: r.occurred_at
    )
    oldest_first = list(reversed(bought))
    assert [(r.email, r.value) for r in purchases] == [(buyer.email, v) for v, _ in oldest_first]
    # a vendor that keeps no currency reports none; one that does must keep it
    assert all(r.currency in (None, c) for r, (_, c) in zip(purchases, oldest_first, strict=True))
