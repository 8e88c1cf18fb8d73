"""The time split behind the models' labels, on a hand-built store with known answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from syncd.engine.features import compute_features
from syncd.engine.labels import churn_examples, load_outcomes, propensity_examples
from tests.support.store_loader import (
    load_population,
    make_test_engine,
    person,
    population,
    store_kinds,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)
DAY = timedelta(days=1)
INACTIVITY = 180


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        yield created
    finally:
        cleanup()


def test_features_before_the_cutoff_and_outcomes_after_it(engine: Engine) -> None:
    old = NOW - 500 * DAY
    people = [
        # 1: active before, silent after -> churned; no purchase
        person(1, created=old, events=[("open", CUTOFF - 10 * DAY)]),
        # 2: active before, clicks after -> stays
        person(2, created=old, events=[("open", CUTOFF - 3 * DAY), ("click", CUTOFF + 2 * DAY)]),
        # 3: last engaged long before the cut-off: not active, so not a churn example
        person(3, created=old, events=[("open", CUTOFF - 400 * DAY), ("open", CUTOFF + DAY)]),
        # 4: a purchase exactly at the cut-off is a feature, one a second later an outcome
        person(
            4,
            created=old,
            events=[
                ("purchase", CUTOFF, 20.0, "EUR"),
                ("purchase", CUTOFF + timedelta(seconds=1), 20.0, "EUR"),
            ],
        ),
        # 5: a purchase a second after the horizon is outside it
        person(
            5,
            created=old,
            events=[("click", CUTOFF - DAY), ("purchase", NOW + timedelta(seconds=1), 5.0, "EUR")],
        ),
        # 6: joined after the cut-off: unknown then, in no example set
        person(6, created=CUTOFF + 5 * DAY, events=[("purchase", CUTOFF + 6 * DAY, 9.0, "EUR")]),
        # 7: only sends before: known, never active
        person(7, created=old, events=[("send", CUTOFF - 5 * DAY)]),
    ]
    ids = load_population(engine, "acme", population(NOW, people))
    key_of = {contact: key for key, contact in ids.items()}
    with engine.connect() as conn:
        past = compute_features(conn, "acme", CUTOFF, with_scores=False)
        outcomes = load_outcomes(conn, "acme", CUTOFF, 30)
    # the past frame sees the purchase at the cut-off, not the one after it
    assert past.loc[ids[4], "purchases_total"] == 1
    assert outcomes.frame.loc[ids[4], "purchases_after"] == 1
    churn = churn_examples(past, outcomes, INACTIVITY)
    churn_keys = [key_of[c] for c in churn.features.index[churn.positions()]]
    # 5 bought only after the horizon: churned within it
    assert dict(zip(churn_keys, churn.target.tolist(), strict=True)) == {1: 1, 2: 0, 4: 0, 5: 1}
    propensity = propensity_examples(past, outcomes)
    keys = [key_of[c] for c in propensity.features.index[propensity.positions()]]
    labels = dict(zip(keys, propensity.target.tolist(), strict=True))
    assert labels == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0, 7: 0}
