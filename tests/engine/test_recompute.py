"""Recompute orchestration: full and incremental runs, score rows, segments, references."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select, update

from syncd.engine.features import compute_features
from syncd.engine.recompute import SCORE_COLUMNS, last_run, recompute
from syncd.engine.scores import ScoreReference
from syncd.engine.segments import SegmentDef
from syncd.engine.settings import ScoringSettings
from syncd.store.models import ActivityEvent, Contact, ContactScore, SegmentMembership
from tests.support.store_loader import (
    load_population,
    make_test_engine,
    person,
    population,
    store_kinds,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=6)
SEGMENTS = [SegmentDef("engaged", "opens_total >= 2"), SegmentDef("buyers", "purchases_total >= 1")]


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        yield created
    finally:
        cleanup()


def _people() -> list:
    people = []
    for k in range(1, 21):
        events = [("send", ago(d)) for d in range(1, 60, 7)]
        events += [("open", ago(d)) for d in range(k, 120, 9 + k)]
        if k % 3 == 0:
            events.append(("purchase", ago(k * 4), 10 * k, "EUR"))
        people.append(person(k, created=ago(300), events=events))
    return people


def _scores(engine: Engine) -> pd.DataFrame:
    table = ContactScore.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows]).set_index("contact_id").sort_index()


def _members(engine: Engine, segment: str) -> set[int]:
    table = SegmentMembership.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.contact_id).where(table.c.segment == segment)).all()
    return {int(r[0]) for r in rows}


def _add_opens(engine: Engine, contact_id: int, count: int, at: datetime) -> None:
    events = ActivityEvent.__table__  # type: ignore[attr-defined]
    contacts = Contact.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            insert(events),
            [
                {
                    "account_id": "acct",
                    "contact_id": contact_id,
                    "tool": "hubspot",
                    "event_id": f"new-{contact_id}-{i}",
                    "type": "open",
                    "occurred_at": at,
                    "occurred_ts": int(at.timestamp()),
                }
                for i in range(count)
            ],
        )
        conn.execute(update(contacts).where(contacts.c.id == contact_id).values(changed_at=at))


def test_full_recompute_writes_scores_segments_and_reference(engine: Engine) -> None:
    keys = load_population(engine, "acct", population(NOW, _people()))
    report = recompute(engine, "acct", ScoringSettings(), SEGMENTS, NOW, full=True)
    assert report.full and report.contacts == 20
    stored = _scores(engine)
    assert sorted(stored.index) == sorted(keys.values())
    frame = report.frame
    assert frame is not None
    np.testing.assert_allclose(
        stored["engagement_score"].to_numpy(), frame.loc[stored.index, "engagement_score"]
    )
    assert stored["lifecycle"].tolist() == frame.loc[stored.index, "lifecycle"].tolist()
    buyers = {keys[k] for k in range(3, 21, 3)}
    assert set(stored.index[stored["rfm_group"].notna()]) == buyers
    assert stored.loc[sorted(buyers), "rfm_r"].notna().all()
    assert _members(engine, "buyers") == buyers
    assert report.segments["buyers"] == len(buyers)
    with engine.connect() as conn:
        run = last_run(conn, "acct")
    assert run is not None and run["full"]
    reference = ScoreReference.from_json(run["reference"])
    assert len(reference.recency_edges) == 4 and reference.saturation > 0


def test_incremental_touches_only_changed_contacts_and_agrees_with_full(engine: Engine) -> None:
    keys = load_population(engine, "acct", population(NOW, _people()))
    settings = ScoringSettings()
    recompute(engine, "acct", settings, SEGMENTS, NOW, full=True)
    before = _scores(engine)
    changed = keys[1]
    _add_opens(engine, changed, 5, NOW + timedelta(hours=1))
    report = recompute(engine, "acct", settings, SEGMENTS, LATER, full=False)
    assert not report.full and report.contacts == 1
    after = _scores(engine)
    untouched = [i for i in after.index if i != changed]
    pd.testing.assert_frame_equal(after.loc[untouched], before.loc[untouched])
    assert after.loc[changed, "computed_at"] != before.loc[changed, "computed_at"]
    # the same answer a full frame gives that contact, against the stored references
    with engine.connect() as conn:
        run = last_run(conn, "acct", full_only=True)
    assert run is not None
    reference = ScoreReference.from_json(run["reference"])
    full = compute_features(engine, "acct", LATER, settings=settings, reference=reference)
    for column in SCORE_COLUMNS:
        mine, theirs = after.loc[changed, column], full.loc[changed, column]
        if pd.isna(theirs):
            assert pd.isna(mine), column
        elif isinstance(theirs, float):
            assert mine == pytest.approx(theirs), column
        else:
            assert mine == theirs, column
    assert changed in _members(engine, "engaged")
    assert report.frame is not None and report.frame.loc[changed, "opens_total"] >= 5


def test_incremental_without_a_previous_run_is_full(engine: Engine) -> None:
    load_population(engine, "acct", population(NOW, _people()))
    report = recompute(engine, "acct", ScoringSettings(), [], NOW, full=False)
    assert report.full and report.contacts == 20


def test_incremental_with_nothing_changed_writes_nothing(engine: Engine) -> None:
    load_population(engine, "acct", population(NOW, _people()))
    recompute(engine, "acct", ScoringSettings(), SEGMENTS, NOW, full=True)
    before = _scores(engine)
    report = recompute(engine, "acct", ScoringSettings(), SEGMENTS, LATER, full=False)
    assert report.contacts == 0
    pd.testing.assert_frame_equal(_scores(engine), before)


def test_scores_are_written_only_when_they_change(engine: Engine) -> None:
    keys = load_population(engine, "acct", population(NOW, _people()))
    first = recompute(engine, "acct", ScoringSettings(), SEGMENTS, NOW, full=True)
    assert first.scores_written == 20
    again = recompute(engine, "acct", ScoringSettings(), SEGMENTS, NOW, full=True)
    assert again.scores_written == 0
    _add_opens(engine, keys[2], 3, NOW)
    third = recompute(engine, "acct", ScoringSettings(), SEGMENTS, NOW, full=True)
    assert third.scores_written >= 1
    stored = _scores(engine)
    assert len(stored) == 20
    assert stored.loc[keys[2], "engagement_score"] == pytest.approx(
        third.frame.loc[keys[2], "engagement_score"]  # type: ignore[union-attr]
    )
