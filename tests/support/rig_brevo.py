"""Brevo rig: the sandbox seeded with a population and the connector wired to it in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.brevo import BrevoConnector, BrevoSettings
from syncd.clock import VirtualClock
from syncd.sandbox.brevo import DEFAULT_API_KEY, BrevoLimits, BrevoSandbox
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.population import Campaign, Event, Person, Population
from tests.support.people import one_tool_person
from tests.support.rig import Rig

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def make_rig(
    population: Population,
    *,
    clock: VirtualClock,
    faults: FaultPlan | None = None,
    limits: BrevoLimits | None = None,
    settings: BrevoSettings | None = None,
    **http_options: Any,
) -> Rig:
    sandbox = BrevoSandbox(clock=clock, faults=faults, limits=limits)
    sandbox.seed(population)
    connector = BrevoConnector.build(
        settings or BrevoSettings(),
        DEFAULT_API_KEY,
        transport=sandbox.transport(),
        clock=clock,
        **http_options,
    )
    return Rig(name="brevo", sandbox=sandbox, connector=connector, clock=clock)


def _person(key: int, email: str | None, stored: str, status: str, **extra: Any) -> Person:
    created = NOW - timedelta(days=400 - key)
    lists, left = extra.pop("lists", ["Newsletter"]), extra.pop("left", [])
    events = extra.pop("events", [])
    attributes: dict[str, Any] = {
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "phone": None,
        "country": "FR",
        "city": "Lyon",
        "company": None,
        "industry": None,
        "company_size": None,
        "job_title": None,
        "language": "fr",
    }
    attributes.update(extra)  # what is left are attribute overrides
    return one_tool_person(
        "brevo",
        key,
        email,
        stored,
        status,
        created=created,
        updated=created + timedelta(days=30),
        changed=created + timedelta(days=20),
        attributes=attributes,
        lists=lists,
        left=left,
        events=events,
    )


def small_population(extra_people: int = 0) -> Population:
    """Hand-built people covering every Brevo state the sandbox and connector must handle."""
    sent = NOW - timedelta(days=40)
    people = [
        _person(
            1,
            "ada@example.com",
            "  Ada@Example.com ",
            "subscribed",
            phone="+33612345678",
            company="Acme",
            events=[
                Event("brevo", "send", sent, "spring"),
                Event("brevo", "open", sent + timedelta(hours=2), "spring"),
                Event("brevo", "click", sent + timedelta(hours=3), "spring"),
                Event("brevo", "purchase", sent + timedelta(days=1), "spring", Decimal("19.90")),
                Event("hubspot", "open", sent, "other-tool"),
            ],
        ),
        _person(
            2,
            "bob@example.com",
            "bob@example.com",
            "unsubscribed",
            events=[
                Event("brevo", "send", sent, "spring"),
                Event("brevo", "unsubscribe", sent + timedelta(hours=5), "spring"),
            ],
        ),
        _person(
            3,
            "cy@example.com",
            "cy@example.com",
            "bounced",
            events=[
                Event("brevo", "send", sent, "spring"),
                Event("brevo", "bounce", sent + timedelta(minutes=1), "spring"),
            ],
        ),
        _person(
            4,
            "di@example.com",
            "DI@example.com",
            "complained",
            events=[
                Event("brevo", "send", sent, "spring"),
                Event("brevo", "complaint", sent + timedelta(hours=1), "spring"),
            ],
        ),
        _person(5, "eve@example.com", "eve@example.com", "pending", lists=[]),
        _person(
            6,
            "fay@example.com",
            "fay@example.com",
            "subscribed",
            lists=["Newsletter", "VIP"],
            left=["Promotions"],
        ),
        _person(7, None, "not-an-email@", "subscribed"),
        _person(8, "gus@example.com", "gus@example.com", "unsubscribed", lists=[]),
    ]
    for offset in range(extra_people):
        key = 100 + offset
        people.append(
            _person(key, f"user{key}@example.com", f"user{key}@example.com", "subscribed")
        )
    return Population(
        seed=7,
        now=NOW,
        people=people,
        campaigns=[Campaign("brevo", "spring", "Spring sale", sent)],
        lists={"brevo": ["Newsletter", "VIP", "Promotions", "Customers"]},
    )
