"""One read of the events for several moments (``compute_frames``) gives exactly the frames
``compute_features`` gives one moment at a time, and training's outcomes computed from that
read equal ``load_outcomes``. SQLite always; PostgreSQL too when SYNCD_TEST_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from syncd.engine.clusters import CLUSTER_SOURCES
from syncd.engine.features import compute_features, compute_frames
from syncd.engine.labels import load_outcomes, outcome_columns
from syncd.sandbox.generate import generate
from tests.support.store_loader import load_population, make_test_engine, store_kinds

POPULATION = generate(300, seed=5)
NOW = POPULATION.now
CUTOFF = NOW - timedelta(days=30)


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        load_population(created, "acct", POPULATION)
        yield created
    finally:
        cleanup()


def test_two_moments_from_one_read_equal_two_separate_frames(engine: Engine) -> None:
    (past, current), extra = compute_frames(engine, "acct", [CUTOFF, NOW], workers=2)
    assert extra is None
    for frame, moment in ((past, CUTOFF), (current, NOW)):
        alone = compute_features(engine, "acct", moment, with_scores=False)
        pd.testing.assert_frame_equal(frame, alone)
    # the moments really differ: later frames see more events
    assert (current["sends_total"] >= past["sends_total"]).all()
    assert (current["sends_total"] > past["sends_total"]).any()


def test_column_selection_keeps_only_those_columns(engine: Engine) -> None:
    (full, few), _ = compute_frames(
        engine, "acct", [NOW, NOW], columns=[None, set(CLUSTER_SOURCES)]
    )
    assert set(few.columns) == set(CLUSTER_SOURCES)
    pd.testing.assert_frame_equal(few, full[list(few.columns)])


def test_outcomes_from_the_feature_read_equal_load_outcomes(engine: Engine) -> None:
    (past,), extra = compute_frames(engine, "acct", [CUTOFF], extra=outcome_columns(CUTOFF, 30))
    assert extra is not None
    with engine.connect() as conn:
        expected = load_outcomes(conn, "acct", CUTOFF, 30).frame.sort_index()
    assert list(extra.index) == list(past.index) == list(expected.index)
    assert extra["known"].dtype == bool
    pd.testing.assert_frame_equal(extra, expected, check_names=False)
    # the population has outcomes of every kind, so the comparison means something
    assert extra["purchases_after"].sum() > 0
    assert extra["engaged_after"].sum() > extra["purchases_after"].sum()
    assert extra["known"].sum() > 0


def test_an_account_without_contacts_gives_empty_frames(engine: Engine) -> None:
    (a, b), extra = compute_frames(
        engine, "nobody", [CUTOFF, NOW], columns=[None, {"opens_90d"}],
        extra=outcome_columns(CUTOFF, 30),
    )  # fmt: skip
    assert len(a) == len(b) == 0
    assert list(b.columns) == ["opens_90d"]
    assert extra is not None and len(extra) == 0
