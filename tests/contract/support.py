"""Shared pieces of the contract suite: populations, a rig per case, stream draining, and
what the population says each tool should hold."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from syncd.clock import VirtualClock
from syncd.records import CONTACT_ATTRIBUTES, ContactRecord, InvalidRecord, Page
from syncd.sandbox.generate import generate
from syncd.sandbox.harness import Exchange, ExchangeLog, FaultPlan
from syncd.sandbox.population import Campaign, Event, Person, Population, ToolPresence
from tests.support.rig import Rig, make_rig

#: VirtualClock's default start, and the generator's default "now"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
ATTRIBUTES = CONTACT_ATTRIBUTES
#: every fault kind at once, often enough that most pulls meet several of them
FAULT_RATES = {
    "429": 0.04,
    "500": 0.02,
    "502": 0.02,
    "503": 0.02,
    "timeout": 0.02,
    "drop": 0.02,
    "truncate": 0.02,
    "malformed": 0.02,
}
FAULT_SCRIPT = ("429", "500", "502", "503", "timeout", "drop", "truncate", "malformed")

R = TypeVar("R")


# --- populations -----------------------------------------------------------------------------


@functools.cache
def generated(n: int = 200, seed: int = 24, history_days: int = 730) -> Population:
    """A generated population (cached: sandboxes copy it, nothing mutates it). Seed 24 gives
    every tool an invalid address and all five consent states."""
    return generate(n, seed=seed, history_days=history_days)


def _person(key: int, tool: str, email: str | None, stored: str, status: str) -> Person:
    created = NOW - timedelta(days=200 - key % 100)
    presence = ToolPresence(
        email=stored,
        status=status,
        created_at=created,
        updated_at=created + timedelta(days=1),
        status_changed_at=NOW - timedelta(days=10),
    )
    return Person(
        key=key,
        email=email,
        first_name=f"First{key}",
        last_name=f"Last{key}",
        phone=None,
        country="DE",
        city="Berlin",
        company=f"Company {key}",
        industry=None,
        company_size=None,
        job_title=None,
        language="de",
        tools={tool: presence},
    )


#: the event that put a person in each non-subscribed state (vendors infer reasons from them)
_CAUSE = {"unsubscribed": "unsubscribe", "bounced": "bounce", "complained": "complaint"}


def status_population(tool: str) -> Population:
    """One person per consent state, each with the event that caused it, plus one invalid
    address; every person got one campaign send."""
    people: list[Person] = []
    statuses = ("subscribed", "unsubscribed", "bounced", "complained", "pending")
    for key, status in enumerate(statuses, start=1):
        email = f"{status}@example.com"
        person = _person(key, tool, email, f" {email.capitalize()} ", status)
        sent = NOW - timedelta(days=11)
        person.events.append(Event(tool, "send", sent, "c1"))
        if status in _CAUSE:
            person.events.append(Event(tool, _CAUSE[status], NOW - timedelta(days=10), "c1"))
        people.append(person)
    people.append(_person(9, tool, None, "broken@@example", "subscribed"))
    return Population(
        seed=0,
        now=NOW,
        people=people,
        campaigns=[Campaign(tool, "c1", "Contract campaign", NOW - timedelta(days=11))],
        lists={tool: []},
    )


def plain_population(tool: str, n: int) -> Population:
    """``n`` subscribed people with clean addresses, in no list: push cases start from here."""
    people = [
        _person(100 + i, tool, f"plain{i}@example.com", f"plain{i}@example.com", "subscribed")
        for i in range(n)
    ]
    return Population(seed=0, now=NOW, people=people, campaigns=[], lists={tool: []})


# --- what the population says ----------------------------------------------------------------


@dataclass
class Expected:
    people: dict[str, Person]  # normalised email -> person
    invalid_raw: set[str]  # stored addresses that are not valid, trimmed and lower-cased


def expected(population: Population, tool: str) -> Expected:
    present = population.in_tool(tool)
    return Expected(
        people={p.email: p for p in present if p.email is not None},
        invalid_raw={p.tools[tool].email.strip().lower() for p in present if p.email is None},
    )


def expected_activity(population: Population, tool: str) -> Counter[str]:
    """Events per type of the people with a valid address (the others are reported invalid)."""
    return Counter(
        e.type for p in population.in_tool(tool) if p.email for e in p.events if e.tool == tool
    )


# --- rigs and streams ------------------------------------------------------------------------


@asynccontextmanager
async def opened(
    name: str, population: Population, faults: FaultPlan | None = None
) -> AsyncIterator[Rig]:
    rig = make_rig(name, population, VirtualClock(), faults)
    try:
        yield rig
    finally:
        await rig.connector.aclose()


@dataclass
class Pulled(Generic[R]):
    records: list[R] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    cursor: str | None = None
    pages: int = 0


async def drain(stream: AsyncIterator[Page[R]]) -> Pulled[R]:
    out: Pulled[R] = Pulled()
    async for page in stream:
        out.records.extend(page.records)
        out.invalid.extend(page.invalid)
        out.cursor = page.cursor
        out.pages += 1
    return out


def contact_key(record: ContactRecord) -> tuple[Any, ...]:
    return (
        record.email,
        record.remote_id,
        record.updated_at,
        tuple(sorted(record.attributes.items())),
        tuple(sorted(record.memberships)),
    )


def invalid_key(record: InvalidRecord) -> tuple[str, str, str]:
    return (record.remote_id, record.raw_email.strip().lower(), record.reason)


# --- the exchange log ------------------------------------------------------------------------


def statuses(exchanges: Iterable[Exchange]) -> Counter[int]:
    return Counter(e.status for e in exchanges)


def refused(exchanges: Iterable[Exchange], allowed: frozenset[int] = frozenset()) -> list[str]:
    """Exchanges answered 4xx (the sandbox refused the request), except ``allowed`` statuses."""
    return [
        f"{e.status} {e.method} {e.path}?{e.query} {str(e.request_body)[:300]}"
        f" -> {str(e.response_body)[:200]}"
        for e in exchanges
        if 400 <= e.status < 500 and e.status not in allowed
    ]


_STATUS_KEYS = frozenset(
    {"status", "status_if_new", "statusState", "subscriptionStatus", "newStatus"}
)


def _subscribes(value: Any) -> bool:
    if isinstance(value, list):
        return any(_subscribes(v) for v in value)
    if not isinstance(value, dict):
        return False
    for key, inner in value.items():
        if key in _STATUS_KEYS and str(inner).lower() == "subscribed":
            return True
        if key == "emailBlacklisted" and inner is False:
            return True  # Brevo: lifting a blacklist is a resubscription
        if key == "hs_email_optout" and str(inner).lower() == "false":
            return True  # HubSpot: clearing "opted out of all email"
        if _subscribes(inner):
            return True
    return False


def subscribing(log: ExchangeLog) -> list[str]:
    """Requests that would set someone's subscription status to subscribed."""
    return [
        f"{e.method} {e.path} {str(e.request_body)[:200]}"
        for e in log.exchanges
        if e.path.rstrip("/").endswith("/subscribe") or _subscribes(e.request_body)
    ]


def string_leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from string_leaves(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from string_leaves(inner)


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.normalize()
