"""The Mailchimp rig: a seeded sandbox and the connector wired to it in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from syncd.clock import VirtualClock
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.mailchimp import DEFAULT_API_KEY, MailchimpLimits, MailchimpSandbox
from syncd.sandbox.population import Campaign, Event, Person, Population, ToolPresence
from tests.support.people import one_tool_person
from tests.support.rig import Rig


def sandbox_of(rig: Rig) -> MailchimpSandbox:
    assert isinstance(rig.sandbox, MailchimpSandbox)
    return rig.sandbox


def make_rig(
    population: Population,
    *,
    clock: VirtualClock,
    faults: FaultPlan | None = None,
    settings: MailchimpSettings | None = None,
    limits: MailchimpLimits | None = None,
    **http_options: Any,
) -> Rig:
    sandbox = MailchimpSandbox(clock=clock, faults=faults, limits=limits)
    sandbox.seed(population)
    connector = MailchimpConnector.build(
        settings or MailchimpSettings(),
        DEFAULT_API_KEY,
        transport=sandbox.transport(),
        clock=clock,
        **http_options,
    )
    return Rig(name="mailchimp", sandbox=sandbox, connector=connector, clock=clock)


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TAGS = ["newsletter", "vip", "webinar", "customer"]


def _person(key: int, email: str | None, stored: str, status: str, **extra: Any) -> Person:
    created = NOW - timedelta(days=300 - key)
    attributes: dict[str, Any] = {
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "phone": f"+33 6 00 00 00 {key:02d}",
        "country": "FR",
        "city": "Lyon",
        "company": f"Company {key}",
        "industry": "Retail",
        "company_size": "11-50",
        "job_title": "Buyer",
        "language": "fr",
    }
    attributes.update(extra.pop("fields", {}))
    also: dict[str, ToolPresence] = {}
    if extra.pop("also_hubspot", False):
        also["hubspot"] = ToolPresence(stored, "subscribed", created, created, created)
    built = one_tool_person(
        "mailchimp",
        key,
        email,
        stored,
        status,
        created=created,
        updated=created + timedelta(days=10, seconds=key),
        changed=created + timedelta(days=5),
        attributes=attributes,
        lists=extra.pop("tags", ["newsletter"]),
        events=extra.pop("events", []),
        other_tools=also,
    )
    assert not extra, extra
    return built


def small_population(n_plain: int = 0) -> Population:
    """A dozen hand-built people covering every Mailchimp case, plus ``n_plain`` plain ones."""
    day = timedelta(days=1)
    ev = [
        Event("mailchimp", "send", NOW - 9 * day, "c1"),
        Event("mailchimp", "open", NOW - 8 * day, "c1"),
        Event("mailchimp", "click", NOW - 8 * day + timedelta(hours=1), "c1"),
        Event("mailchimp", "purchase", NOW - 7 * day, "c1", Decimal("42.50"), "EUR"),
    ]
    people = [
        _person(
            1, "alice@example.com", " Alice@Example.COM ", "subscribed", tags=TAGS[:2], events=ev
        ),
        _person(
            2,
            "bruno@example.org",
            "bruno@example.org",
            "unsubscribed",
            events=[Event("mailchimp", "unsubscribe", NOW - 3 * day, "c1")],
        ),
        _person(
            3,
            "chloe@example.net",
            "chloe@example.net",
            "bounced",
            events=[Event("mailchimp", "bounce", NOW - 4 * day, "c1")],
        ),
        _person(
            4,
            "dan@example.com",
            "DAN@example.com",
            "complained",
            tags=[],
            events=[Event("mailchimp", "complaint", NOW - 2 * day, "c1")],
        ),
        _person(5, "eve@example.com", "eve@example.com", "pending", fields={"phone": None}),
        _person(6, None, "frank@@example", "subscribed", tags=[]),
        _person(
            7,
            "gina@example.com",
            "gina@example.com",
            "subscribed",
            tags=["customer"],
            fields={"city": None, "country": None, "company": None},
            also_hubspot=True,
        ),
    ]
    people += [
        _person(100 + i, f"p{i}@example.com", f"p{i}@example.com", "subscribed", tags=["webinar"])
        for i in range(n_plain)
    ]
    people.append(
        Person(
            key=999,
            email="nothere@example.com",
            first_name="No",
            last_name="Where",
            phone=None,
            country=None,
            city=None,
            company=None,
            industry=None,
            company_size=None,
            job_title=None,
            language=None,
        )
    )
    campaigns = [Campaign("mailchimp", "c1", "November news", NOW - 9 * day)]
    return Population(
        seed=0, now=NOW, people=people, campaigns=campaigns, lists={"mailchimp": list(TAGS)}
    )
