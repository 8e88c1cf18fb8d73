"""Ingest against a real store (SQLite here; PostgreSQL too when SYNCD_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlmodel import SQLModel

from syncd.records import (
    ActivityRecord,
    ActivityType,
    ConsentRecord,
    ConsentStatus,
    ContactRecord,
    InvalidRecord,
    Page,
)
from syncd.store.models import (
    ActivityEvent,
    Consent,
    ConsentEvent,
    Contact,
    Identity,
    RejectedRecord,
)
from syncd.sync.ingest import Ingestor, read_cursor
from syncd.sync.merge import MergePolicy

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _engines() -> list[str]:
    urls = ["sqlite://"]
    if os.environ.get("SYNCD_TEST_DATABASE_URL"):
        urls.append(os.environ["SYNCD_TEST_DATABASE_URL"])
    return urls


@pytest.fixture(params=_engines(), ids=lambda u: u.split(":")[0])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url: str = request.param
    if url.startswith("sqlite"):
        eng = create_engine(url)
        SQLModel.metadata.create_all(eng)
        yield eng
        return
    schema = f"t_{uuid.uuid4().hex[:10]}"
    base = create_engine(url)
    with base.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()
    with base.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    base.dispose()


@pytest.fixture
def ingestor(engine: Engine) -> Ingestor:
    with engine.begin() as conn:
        conn.execute(
            SQLModel.metadata.tables["account"].insert(),
            [{"id": "acme", "name": "", "created_at": NOW}],
        )
    return Ingestor("acme", MergePolicy(), NOW)


def contact(tool: str, rid: str, email: str, minutes: int, **attrs: str | None) -> ContactRecord:
    return ContactRecord(
        tool, rid, email, NOW - timedelta(minutes=minutes), dict(attrs), frozenset({"L1"})
    )


def test_one_contact_per_email_across_tools_with_provenance(
    engine: Engine, ingestor: Ingestor
) -> None:
    with engine.begin() as conn:
        ingestor.contacts(
            conn, "hubspot", Page([contact("hubspot", "1", "a@x.io", 30, city="Lyon")], "c1")
        )
        ingestor.contacts(
            conn,
            "brevo",
            Page([contact("brevo", "9", "a@x.io", 10, city="Paris", company="Acme")], "c2"),
        )
    with engine.connect() as conn:
        rows = conn.execute(select(Contact.__table__)).all()  # type: ignore[attr-defined]
        assert len(rows) == 1
        assert rows[0].attributes == {"city": "Paris", "company": "Acme"}
        assert rows[0].provenance["city"]["tool"] == "brevo"
        tools = set(conn.scalars(select(Identity.__table__.c.tool)))  # type: ignore[attr-defined]
        assert tools == {"hubspot", "brevo"}
        assert read_cursor(conn, "acme", "hubspot", "contacts") == "c1"
        assert read_cursor(conn, "acme", "brevo", "contacts") == "c2"


def test_rereading_a_page_changes_nothing(engine: Engine, ingestor: Ingestor) -> None:
    page = Page([contact("hubspot", "1", "a@x.io", 30, city="Lyon")], "c1")
    events = Page(
        [
            ActivityRecord(
                "hubspot",
                "a@x.io",
                ActivityType.PURCHASE,
                NOW - timedelta(days=2),
                "e1",
                "camp",
                Decimal("19.90"),
                "EUR",
            ),
            ActivityRecord(
                "hubspot", "a@x.io", ActivityType.OPEN, NOW - timedelta(days=1), "e2", "camp"
            ),
        ],
        "a1",
    )
    for _ in range(2):
        with engine.begin() as conn:
            ingestor.contacts(conn, "hubspot", page)
            counts = ingestor.activity(conn, "hubspot", events)
    assert counts.events_new == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ActivityEvent.__table__)) == 2  # type: ignore[attr-defined]
        value = conn.scalar(
            select(ActivityEvent.__table__.c.value).where(
                ActivityEvent.__table__.c.event_id == "e1"
            )
        )  # type: ignore[attr-defined]
        assert Decimal(str(value)) == Decimal("19.90")


def test_consent_changes_are_kept_as_history(engine: Engine, ingestor: Ingestor) -> None:
    with engine.begin() as conn:
        ingestor.contacts(conn, "mailchimp", Page([contact("mailchimp", "h", "a@x.io", 5)], None))
        for status in (
            ConsentStatus.SUBSCRIBED,
            ConsentStatus.SUBSCRIBED,
            ConsentStatus.UNSUBSCRIBED,
        ):
            ingestor.consent(
                conn,
                "mailchimp",
                Page([ConsentRecord("mailchimp", "a@x.io", status, str(status), NOW)], "k"),
            )
    with engine.connect() as conn:
        assert conn.scalar(select(Consent.__table__.c.status)) == "unsubscribed"  # type: ignore[attr-defined]
        history = list(
            conn.scalars(
                select(ConsentEvent.__table__.c.status).order_by(ConsentEvent.__table__.c.id)
            )
        )  # type: ignore[attr-defined]
        assert history == ["subscribed", "unsubscribed"]


def test_invalid_records_are_reported_not_dropped(engine: Engine, ingestor: Ingestor) -> None:
    bad = InvalidRecord("brevo", "77", "john@@example", "The email address is not valid.")
    with engine.begin() as conn:
        counts = ingestor.contacts(conn, "brevo", Page([], "c", [bad]))
    assert counts.invalid == 1
    with engine.connect() as conn:
        row = conn.execute(select(RejectedRecord.__table__)).one()  # type: ignore[attr-defined]
        assert (row.tool, row.remote_id, row.raw_email) == ("brevo", "77", "john@@example")


def test_a_failed_page_leaves_no_cursor(engine: Engine, ingestor: Ingestor) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine.begin() as conn:
        ingestor.contacts(conn, "hubspot", Page([contact("hubspot", "1", "a@x.io", 1)], "c9"))
        raise Boom
    with engine.connect() as conn:
        assert read_cursor(conn, "acme", "hubspot", "contacts") is None
        assert conn.scalar(select(func.count()).select_from(Contact.__table__)) == 0  # type: ignore[attr-defined]
