"""Writing segment results: membership diffs keep ``since`` for stayers, the incremental scope
leaves others alone, snapshots carry the previous size and the drift flag (stored and logged).
SQLite always; PostgreSQL too when SYNCD_TEST_DATABASE_URL is set."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlmodel import SQLModel

from syncd.engine.segment_store import (
    drop_segments,
    latest_snapshots,
    write_memberships,
    write_segment_results,
)
from syncd.engine.segments import SegmentDef, SegmentResult, evaluate_segments
from syncd.store.models import SegmentMembership, SegmentSnapshot

T0 = datetime(2026, 11, 1, 6, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
CONTACTS = list(range(1, 41))


def _urls() -> list[str]:
    urls = ["sqlite://"]
    if os.environ.get("SYNCD_TEST_DATABASE_URL"):
        urls.append(os.environ["SYNCD_TEST_DATABASE_URL"])
    return urls


@pytest.fixture(params=_urls(), ids=lambda u: u.split(":")[0])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    url: str = request.param
    if url.startswith("sqlite"):
        eng = create_engine(url)
        SQLModel.metadata.create_all(eng)
        _seed(eng)
        yield eng
        eng.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:10]}"
    base = create_engine(url)
    with base.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    eng = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    SQLModel.metadata.create_all(eng)
    _seed(eng)
    yield eng
    eng.dispose()
    with base.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    base.dispose()


def _seed(eng: Engine) -> None:
    tables = SQLModel.metadata.tables
    with eng.begin() as conn:
        conn.execute(tables["account"].insert(), [{"id": "acme", "name": "", "created_at": T0}])
        conn.execute(
            tables["contact"].insert(),
            [
                {
                    "id": i,
                    "account_id": "acme",
                    "email": f"c{i}@x.io",
                    "attributes": {},
                    "provenance": {},
                    "created_at": T0,
                    "updated_at": T0,
                    "changed_at": T0,
                }
                for i in CONTACTS
            ],
        )


def result(name: str, members: list[int], holdout: list[int] = ()) -> SegmentResult:  # type: ignore[assignment]
    ids = np.array(sorted([*members, *holdout]), dtype=np.int64)
    return SegmentResult(
        name,
        np.ones(len(ids), dtype=bool),
        np.array(sorted(members), dtype=np.int64),
        np.array(sorted(holdout), dtype=np.int64),
    )


def stored(conn: Connection, segment: str) -> dict[int, tuple[bool, datetime]]:
    table = SegmentMembership.__table__  # type: ignore[attr-defined]
    rows = conn.execute(
        select(table.c.contact_id, table.c.holdout, table.c.since).where(
            table.c.account_id == "acme", table.c.segment == segment
        )
    ).all()
    return {cid: (bool(h), since.replace(tzinfo=UTC)) for cid, h, since in rows}


def test_membership_diff_keeps_since_for_stayers(engine: Engine) -> None:
    with engine.begin() as conn:
        diff = write_memberships(conn, "acme", result("vip", [1, 2, 3], [4]), T0)
        assert (diff.joined, diff.left, diff.moved) == (4, 0, 0)
    with engine.begin() as conn:
        diff = write_memberships(conn, "acme", result("vip", [2, 3, 5], [4]), T1)
        assert (diff.joined, diff.left, diff.moved) == (1, 1, 0)
        assert stored(conn, "vip") == {
            2: (False, T0),
            3: (False, T0),
            4: (True, T0),
            5: (False, T1),
        }


def test_holdout_side_change_updates_the_flag_and_keeps_since(engine: Engine) -> None:
    with engine.begin() as conn:
        write_memberships(conn, "acme", result("vip", [1, 2], [3]), T0)
        diff = write_memberships(conn, "acme", result("vip", [1, 3], [2]), T1)
        assert (diff.joined, diff.left, diff.moved) == (0, 0, 2)
        assert stored(conn, "vip") == {1: (False, T0), 2: (True, T0), 3: (False, T0)}


def test_scoped_write_leaves_other_contacts_alone(engine: Engine) -> None:
    with engine.begin() as conn:
        write_memberships(conn, "acme", result("vip", [1, 2, 3, 4]), T0)
        # incremental run over contacts 3, 4 and 9: 3 stays, 4 leaves, 9 joins; 1 and 2 untouched
        write_memberships(conn, "acme", result("vip", [3, 9]), T1, scope=[3, 4, 9])
        assert stored(conn, "vip") == {
            1: (False, T0),
            2: (False, T0),
            3: (False, T0),
            9: (False, T1),
        }


def test_snapshots_record_previous_size_and_drift(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with engine.begin() as conn:
        first = write_segment_results(
            conn,
            "acme",
            {"vip": result("vip", list(range(1, 11))), "new": result("new", [1])},
            T0,
            drift_threshold=0.2,
        )
    assert [(s.segment, s.size, s.previous_size, s.drift) for s in first] == [
        ("vip", 10, None, False),
        ("new", 1, None, False),
    ]
    with (
        caplog.at_level(logging.WARNING, logger="syncd.engine.segment_store"),
        engine.begin() as conn,
    ):
        second = write_segment_results(
            conn,
            "acme",
            {"vip": result("vip", list(range(1, 12)), [12]), "new": result("new", [1, 2, 3])},
            T1,
            drift_threshold=0.2,
            scope=None,
        )
    assert [(s.segment, s.size, s.holdout_size, s.previous_size, s.drift) for s in second] == [
        ("vip", 12, 1, 10, False),  # +20 %: not more than the threshold
        ("new", 3, 0, 1, True),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        "segment 'new' drifted: 1 -> 3 members (more than 20% change)"
    ]
    with engine.begin() as conn:
        latest = latest_snapshots(conn, "acme")
        assert {
            name: (s.size, s.drift, s.computed_at.replace(tzinfo=UTC)) for name, s in latest.items()
        } == {
            "vip": (12, False, T1),
            "new": (3, True, T1),
        }
        count = conn.execute(select(SegmentSnapshot.__table__)).all()  # type: ignore[attr-defined]
        assert len(count) == 4


def test_incremental_snapshot_counts_the_whole_segment(engine: Engine) -> None:
    with engine.begin() as conn:
        write_segment_results(
            conn, "acme", {"vip": result("vip", [1, 2, 3, 4])}, T0, drift_threshold=0.5
        )
        [snap] = write_segment_results(
            conn, "acme", {"vip": result("vip", [5])}, T1, drift_threshold=0.5, scope=[4, 5]
        )
    assert (snap.size, snap.previous_size, snap.drift) == (4, 4, False)


def test_evaluated_segments_round_trip_through_the_store(engine: Engine) -> None:
    frame = pd.DataFrame(
        {"opens_7d": [float(i % 4) for i in CONTACTS]},
        index=pd.Index(CONTACTS, dtype="int64", name="contact_id"),
    )
    defs = [SegmentDef("openers", "opens_7d >= 2", holdout=0.3)]
    results = evaluate_segments(frame, defs, "acme")
    with engine.begin() as conn:
        write_segment_results(conn, "acme", results, T0, drift_threshold=0.2)
    with engine.begin() as conn:
        # the same data again: nothing moves, nobody's since changes, no drift
        [snap] = write_segment_results(
            conn, "acme", evaluate_segments(frame, defs, "acme"), T2, drift_threshold=0.2
        )
        rows = stored(conn, "openers")
    assert snap.drift is False and snap.size == 20
    assert {cid for cid, (held, _) in rows.items() if held} == set(results["openers"].holdout)
    assert {since for _, since in rows.values()} == {T0}


def test_drop_segments(engine: Engine) -> None:
    with engine.begin() as conn:
        write_memberships(conn, "acme", result("old", [1, 2]), T0)
        write_memberships(conn, "acme", result("vip", [1]), T0)
        assert drop_segments(conn, "acme", ["vip"]) == 2
        assert stored(conn, "old") == {} and list(stored(conn, "vip")) == [1]


def test_large_scope_takes_the_whole_load_path(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncd.engine.segment_store as store

    monkeypatch.setattr(store, "SCOPED_LOOKUP_MAX", 1)
    with engine.begin() as conn:
        write_memberships(conn, "acme", result("vip", [1, 2, 3]), T0)
        write_memberships(conn, "acme", result("vip", [4]), T1, scope=[3, 4])
        assert sorted(stored(conn, "vip")) == [1, 2, 4]
