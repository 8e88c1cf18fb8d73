"""Training end to end on the store: the generator's population, and accounts too small to learn."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from syncd.engine.features import compute_features
from syncd.engine.models import (
    BOOSTING,
    CHURN,
    CLUSTERS,
    LOGISTIC,
    PROPENSITY,
    ModelSettings,
    load_artifacts,
    predict,
    train,
)
from syncd.sandbox.generate import generate
from syncd.store.models import ModelArtifact
from tests.support.store_loader import (
    load_population,
    make_test_engine,
    person,
    population,
    store_kinds,
)

#: big enough for a stable AUC, small enough for a test of a few seconds
N_PEOPLE = 3000
ACCOUNT = "acme"


@pytest.fixture(scope="module", params=store_kinds())
def trained_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, datetime, object]]:
    engine, cleanup = make_test_engine(request.param, tmp_path_factory.mktemp("models"))
    people = generate(N_PEOPLE, seed=7)
    load_population(engine, ACCOUNT, people)
    report = train(engine, ACCOUNT, people.now)
    try:
        yield engine, people.now, report
    finally:
        cleanup()


def test_both_models_learn_the_generators_signal(
    trained_store: tuple[Engine, datetime, object],
) -> None:
    _, now, report = trained_store
    for kind in (CHURN, PROPENSITY):
        outcome = report.outcomes[kind]  # type: ignore[attr-defined]
        assert outcome.trained, outcome.message
        metrics = outcome.metrics
        assert set(metrics["auc"]) == {LOGISTIC, BOOSTING}
        assert metrics["auc"][metrics["chosen"]] >= 0.7, (kind, metrics["auc"])
        assert metrics["positives"] >= 20 and metrics["n"] > metrics["positives"]
        assert metrics["cutoff"] == (now - timedelta(days=30)).isoformat()
        assert outcome.version == 1
    assert report.outcomes[CLUSTERS].trained  # type: ignore[attr-defined]
    assert set(report.timings) == {"features", CHURN, PROPENSITY, CLUSTERS}  # type: ignore[attr-defined]


def test_predictions_from_stored_models_are_fields_rules_can_use(
    trained_store: tuple[Engine, datetime, object],
) -> None:
    engine, now, _ = trained_store
    artifacts = load_artifacts(engine, ACCOUNT)
    assert artifacts.versions == {CHURN: 1, PROPENSITY: 1, CLUSTERS: 1}
    frame = predict(compute_features(engine, ACCOUNT, now), artifacts)
    risk, propensity = frame["churn_risk"], frame["purchase_propensity"]
    active = frame["days_since_last_activity"] <= ModelSettings().inactivity_days
    assert risk[active].between(0, 1).all() and risk[~active].isna().all()
    assert propensity.notna().all() and propensity.between(0, 1).all()
    # the models rank as the generator's behaviour says: buyers of late are likelier to buy
    recent_buyers = propensity[frame["purchases_90d"] > 0].mean()
    assert recent_buyers > propensity[frame["purchases_total"] == 0].mean()
    # every contact has a cluster and its persona
    assert frame["cluster"].notna().all()
    assert frame["persona"].map(lambda p: isinstance(p, str) and p != "").all()


def test_retraining_the_same_data_bumps_versions_and_keeps_cluster_labels(
    trained_store: tuple[Engine, datetime, object],
) -> None:
    engine, now, first = trained_store
    frame = compute_features(engine, ACCOUNT, now)
    before = predict(frame, load_artifacts(engine, ACCOUNT))
    again = train(engine, ACCOUNT, now, current=frame)
    assert again.outcomes[CLUSTERS].version == 2
    after = predict(frame, load_artifacts(engine, ACCOUNT))
    assert np.array_equal(before["cluster"].to_numpy(), after["cluster"].to_numpy())
    assert before["persona"].equals(after["persona"])
    assert again.outcomes[CHURN].metrics["auc"] == first.outcomes[CHURN].metrics["auc"]  # type: ignore[attr-defined]


NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        yield created
    finally:
        cleanup()


def test_a_small_account_gets_clear_messages_and_no_models(engine: Engine) -> None:
    day = timedelta(days=1)
    people = [
        # opened before the cut-off, and again after it: not churned, no purchase
        person(
            k, created=NOW - 400 * day, events=[("open", NOW - 60 * day), ("open", NOW - 5 * day)]
        )
        for k in range(1, 31)
    ]
    load_population(engine, ACCOUNT, population(NOW, people))
    report = train(engine, ACCOUNT, NOW)
    assert report.outcomes[CHURN].message == "churn model not trained: only 30 examples (need 200)"
    assert not report.outcomes[PROPENSITY].trained
    assert report.outcomes[CLUSTERS].message == "clusters not trained: only 30 contacts (need 200)"
    small = ModelSettings(min_rows=10)
    report = train(engine, ACCOUNT, NOW, small)
    assert report.outcomes[CHURN].message == (
        "churn model not trained: one class only (all 30 examples are negative)"
    )
    assert report.outcomes[PROPENSITY].message == (
        "propensity model not trained: one class only (all 30 examples are negative)"
    )
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(ModelArtifact)).scalar()
    assert stored == 0
    frame = predict(compute_features(engine, ACCOUNT, NOW), load_artifacts(engine, ACCOUNT))
    assert frame["churn_risk"].isna().all() and frame["purchase_propensity"].isna().all()
    assert frame["cluster"].isna().all() and frame["persona"].isna().all()
