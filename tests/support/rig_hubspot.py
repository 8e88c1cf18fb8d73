"""The HubSpot rig: a seeded sandbox and the connector wired to it in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from syncd.clock import VirtualClock
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.hubspot import DEFAULT_TOKEN, HubSpotLimits, HubSpotSandbox
from syncd.sandbox.population import Campaign, Event, Person, Population
from tests.support.people import one_tool_person
from tests.support.rig import Rig


def sandbox_of(rig: Rig) -> HubSpotSandbox:
    assert isinstance(rig.sandbox, HubSpotSandbox)
    return rig.sandbox


def make_rig(
    population: Population,
    *,
    clock: VirtualClock,
    faults: FaultPlan | None = None,
    settings: HubSpotSettings | None = None,
    limits: HubSpotLimits | None = None,
    **http_options: Any,
) -> Rig:
    sandbox = HubSpotSandbox(clock=clock, faults=faults, limits=limits)
    sandbox.seed(population)
    chosen = settings or HubSpotSettings()
    if chosen.purchase_event_type is None:
        chosen = chosen.model_copy(update={"purchase_event_type": sandbox.purchase_event_type})
    connector = HubSpotConnector.build(
        chosen, DEFAULT_TOKEN, transport=sandbox.transport(), clock=clock, **http_options
    )
    return Rig(name="hubspot", sandbox=sandbox, connector=connector, clock=clock)


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LISTS = ["Newsletter", "Customers", "Product updates"]


def person(key: int, email: str | None, stored: str, status: str, **extra: Any) -> Person:
    created = NOW - timedelta(days=300) + timedelta(minutes=key)
    attributes: dict[str, Any] = {
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "phone": f"+49 30 0000 {key:04d}",
        "country": "DE",
        "city": "Berlin",
        "company": f"Company {key}",
        "industry": "Software",
        "company_size": "11-50",
        "job_title": "Engineer",
        "language": "de",
    }
    attributes.update(extra.pop("fields", {}))
    built = one_tool_person(
        "hubspot",
        key,
        email,
        stored,
        status,
        created=created,
        updated=created + timedelta(days=10, seconds=key),
        changed=created + timedelta(days=5),
        attributes=attributes,
        lists=extra.pop("lists", ["Newsletter"]),
        left=extra.pop("left", []),
        legal_basis=extra.pop("legal", "CONSENT_WITH_NOTICE"),
        events=extra.pop("events", []),
    )
    assert not extra, extra
    return built


def small_population(n_plain: int = 0) -> Population:
    """Hand-built people covering every HubSpot case, plus ``n_plain`` plain subscribers."""
    day = timedelta(days=1)
    ev = [
        Event("hubspot", "send", NOW - 9 * day, "c1"),
        Event("hubspot", "open", NOW - 8 * day, "c1"),
        Event("hubspot", "click", NOW - 8 * day + timedelta(hours=1), "c1"),
        Event("hubspot", "purchase", NOW - 7 * day, "", Decimal("42.50"), "eur"),
    ]
    people = [
        person(1, "alice@example.com", " Alice@Example.COM ", "subscribed", events=ev,
               lists=["Newsletter", "Customers"]),
        person(2, "bruno@example.org", "bruno@example.org", "unsubscribed",
               events=[Event("hubspot", "unsubscribe", NOW - 3 * day, "c1")]),
        person(3, "chloe@example.net", "chloe@example.net", "bounced",
               events=[Event("hubspot", "bounce", NOW - 4 * day, "c1")]),
        person(4, "dan@example.com", "DAN@example.com", "complained", lists=[],
               events=[Event("hubspot", "complaint", NOW - 2 * day, "c1")]),
        person(5, "eve@example.com", "eve@example.com", "pending", fields={"phone": None},
               legal=None),
        person(6, None, "frank@@example", "subscribed", lists=[]),
        person(7, "gina@example.com", "gina@example.com", "subscribed", lists=["Customers"],
               left=["Product updates"], fields={"city": None, "company": None}),
    ]  # fmt: skip
    people += [
        person(100 + i, f"p{i}@example.com", f"p{i}@example.com", "subscribed")
        for i in range(n_plain)
    ]
    campaigns = [Campaign("hubspot", "c1", "November news", NOW - 9 * day)]
    return Population(seed=0, now=NOW, people=people, campaigns=campaigns, lists={"hubspot": LISTS})
