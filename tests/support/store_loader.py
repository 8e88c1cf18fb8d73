"""Load a sandbox Population straight into the store (for engine tests), in bulk inserts.

People without an email are skipped (the merge would reject them). Each person becomes a
Contact (attributes from the person's fields, created at its earliest tool presence), one
Identity and one channel-wide Consent row per tool, and one ActivityEvent per event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select

from syncd.records import CONTACT_ATTRIBUTES, ConsentStatus
from syncd.sandbox.population import Person, Population
from syncd.store.models import Account, ActivityEvent, Consent, Contact, Identity

_ATTRIBUTES = CONTACT_ATTRIBUTES
_STATUS = {status.value: status.value for status in ConsentStatus}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _naive(at: datetime) -> datetime:
    # the store's datetime columns take aware datetimes and keep UTC
    return _utc(at).astimezone(UTC)


def _created(person: Person, fallback: datetime) -> datetime:
    times = [_utc(p.created_at) for p in person.tools.values()]
    times += [_utc(e.at) for e in person.events]
    return min(times) if times else _utc(fallback)


def _batched(rows: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def ensure_account(engine: Engine, account_id: str, now: datetime) -> None:
    with engine.begin() as conn:
        table = Account.__table__  # type: ignore[attr-defined]
        if conn.execute(select(table.c.id).where(table.c.id == account_id)).first() is None:
            conn.execute(
                insert(table), [{"id": account_id, "name": account_id, "created_at": _naive(now)}]
            )


def load_population(engine: Engine, account_id: str, population: Population) -> dict[int, int]:
    """Insert the population; returns person.key -> contact_id."""
    now = population.now
    ensure_account(engine, account_id, now)
    people = [p for p in population.people if p.email]
    # two people with one normalised email are one contact (the first one's attributes)
    first_of: dict[str, Person] = {}
    for p in people:
        first_of.setdefault(str(p.email), p)
    contact_t = Contact.__table__  # type: ignore[attr-defined]
    contacts = [
        {
            "account_id": account_id,
            "email": p.email,
            "attributes": {a: getattr(p, a) for a in _ATTRIBUTES if getattr(p, a) is not None},
            "provenance": {},
            "created_at": _naive(_created(p, now)),
            "updated_at": _naive(now),
            "changed_at": _naive(now),
        }
        for p in first_of.values()
    ]
    with engine.begin() as conn:
        for batch in _batched(contacts):
            conn.execute(insert(contact_t), batch)
        ids = dict(
            conn.execute(
                select(contact_t.c.email, contact_t.c.id).where(
                    contact_t.c.account_id == account_id
                )
            ).all()
        )
        keys = {p.key: int(ids[p.email]) for p in people}
        identities, consents, events = [], [], []
        consented: set[tuple[int, str]] = set()
        for p in people:
            contact_id = keys[p.key]
            for tool, presence in p.tools.items():
                identities.append(
                    {
                        "account_id": account_id,
                        "contact_id": contact_id,
                        "tool": tool,
                        "remote_id": f"{tool}-{p.key}",
                        "email_in_tool": presence.email,
                        "memberships": list(presence.lists),
                        "updated_at": _naive(presence.updated_at),
                    }
                )
                if (contact_id, tool) in consented:
                    continue
                consented.add((contact_id, tool))
                consents.append(
                    {
                        "account_id": account_id,
                        "contact_id": contact_id,
                        "tool": tool,
                        "channel": "email",
                        "list_id": "",
                        "status": _STATUS.get(presence.status, ConsentStatus.UNKNOWN.value),
                        "raw_status": presence.status,
                        "legal_basis": presence.legal_basis,
                        "source": "population",
                        "changed_at": _naive(presence.status_changed_at),
                        "recorded_at": _naive(now),
                    }
                )
            for i, event in enumerate(p.events):
                at = _utc(event.at)
                events.append(
                    {
                        "account_id": account_id,
                        "contact_id": contact_id,
                        "tool": event.tool,
                        "event_id": f"{event.tool}-{p.key}-{i}",
                        "type": event.type,
                        "occurred_at": _naive(at),
                        "occurred_ts": int(at.timestamp()),
                        "campaign": event.campaign,
                        "value": event.value,
                        "currency": event.currency,
                    }
                )
        for table, rows in (
            (Identity.__table__, identities),  # type: ignore[attr-defined]
            (Consent.__table__, consents),  # type: ignore[attr-defined]
            (ActivityEvent.__table__, events),  # type: ignore[attr-defined]
        ):
            for batch in _batched(rows):
                conn.execute(insert(table), batch)
    return keys


# --- hand-built populations and stores for engine tests -----------------------------------


def person(
    key: int,
    *,
    created: datetime,
    events: list[tuple[str, datetime] | tuple[str, datetime, Decimal | float, str]] = (),  # type: ignore[assignment]
    email: str | None = "",
    tools: tuple[str, ...] = ("hubspot",),
    **attributes: Any,
) -> Person:
    """A person for tests: ``events`` as (type, at) or (type, at, value, currency)."""
    from syncd.sandbox.population import Event, ToolPresence

    address = f"p{key}@example.com" if email == "" else email
    presences = {
        tool: ToolPresence(
            email=address or "",
            status="subscribed",
            created_at=created,
            updated_at=created,
            status_changed_at=created,
        )
        for tool in tools
    }
    built = [
        Event(
            tool=tools[0] if tools else "hubspot",
            type=e[0],
            at=e[1],
            campaign="c1",
            value=Decimal(str(e[2])) if len(e) > 2 else None,  # type: ignore[misc]
            currency=e[3] if len(e) > 3 else None,  # type: ignore[misc]
        )
        for e in events
    ]
    fields = {a: attributes.get(a) for a in _ATTRIBUTES}
    fields["first_name"] = fields["first_name"] or f"P{key}"
    fields["last_name"] = fields["last_name"] or "Test"
    return Person(key=key, email=address, tools=presences, events=built, **fields)  # type: ignore[arg-type]


def population(now: datetime, people: list[Person]) -> Population:
    return Population(seed=0, now=now, people=people, campaigns=[], lists={})


def store_kinds() -> list[str]:
    """SQLite always; PostgreSQL too when SYNCD_TEST_DATABASE_URL is set."""
    import os

    urls = ["sqlite"]
    if os.environ.get("SYNCD_TEST_DATABASE_URL"):
        urls.append("postgresql")
    return urls


def make_test_engine(kind: str, tmp_dir: Any) -> tuple[Engine, Any]:
    """(engine with every table, cleanup) on a fresh SQLite file or a fresh PostgreSQL schema."""
    import os
    import uuid

    from sqlalchemy import make_url, text
    from sqlmodel import SQLModel

    from syncd.store.engine import make_engine

    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_dir}/store.db")
        SQLModel.metadata.create_all(engine)
        return engine, engine.dispose
    base = os.environ["SYNCD_TEST_DATABASE_URL"]
    schema = f"syncd_e1_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, cleanup
