"""Churn / propensity classifiers on hand-built frames: selection, refusals, storage, predict."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert
from sqlmodel import SQLModel, create_engine

from syncd.engine.labels import LabelledSet
from syncd.engine.models import (
    BOOSTING,
    CHURN,
    LOGISTIC,
    ModelArtifacts,
    ModelSettings,
    TrainedClassifier,
    add_predictions,
    fit_classifier,
    latest_artifact_rows,
    load_artifacts,
    model_features,
    predict,
    store_artifact,
)
from syncd.store.models import Account, ModelArtifact

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FAST = ModelSettings(cv_folds=3)


def engagement_frame(n: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """A frame whose outcome depends on a latent engagement level, as real churn does."""
    rng = np.random.default_rng(seed)
    level = rng.beta(0.6, 2.0, n)
    opened = rng.random(n) < 0.2 + level
    frame = pd.DataFrame(
        {
            "opens_30d": rng.poisson(level * 8).astype("float64"),
            "clicks_30d": rng.poisson(level * 2).astype("float64"),
            "purchases_365d": rng.poisson(level).astype("float64"),
            "days_since_last_open": np.where(opened, rng.exponential(20 / (level + 0.05)), np.nan),
            "days_since_last_click": np.nan,
            "tenure_days": rng.uniform(10, 900, n),
            "in_brevo": rng.random(n) < 0.5,
            "country": rng.choice(["DE", "FR"], n),
        },
        index=pd.Index(np.arange(1, n + 1, dtype="int64"), name="contact_id"),
    )
    churned = rng.random(n) < 1 / (1 + np.exp(8 * level - 2))
    return frame, churned.astype("int8")


def test_model_features_are_numeric_catalogue_fields_in_catalogue_order() -> None:
    frame, _ = engagement_frame(10)
    frame["churn_risk"] = 0.5  # an output, never an input
    assert model_features(frame) == [
        "opens_30d",
        "clicks_30d",
        "purchases_365d",
        "days_since_last_open",
        "days_since_last_click",
        "tenure_days",
        "in_brevo",
    ]


def test_the_better_model_by_cross_validated_auc_is_kept_with_its_metrics() -> None:
    frame, target = engagement_frame(3000)
    trained, message = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=180)
    assert trained is not None, message
    metrics = trained.metrics
    assert set(metrics["auc"]) == {LOGISTIC, BOOSTING}
    assert metrics["chosen"] == max(metrics["auc"], key=metrics["auc"].get)
    assert metrics["auc"][metrics["chosen"]] >= 0.7
    assert metrics["n"] == 3000 and metrics["positives"] == int(target.sum())
    # the never-known click recency teaches nothing and is left out
    assert "days_since_last_click" not in metrics["features"]
    assert "opens_30d" in metrics["features"] and metrics["sklearn"]
    assert message.startswith(f"churn model: {metrics['chosen']} (AUC ")


def test_subsampling_keeps_both_classes_and_caps_the_rows() -> None:
    frame, target = engagement_frame(2000)
    capped = ModelSettings(cv_folds=3, cv_max_rows=600, fit_max_rows=900)
    trained, _ = fit_classifier(CHURN, LabelledSet(frame, target), capped, active_within=None)
    assert trained is not None
    assert trained.metrics["n_cv"] == 600 and trained.metrics["n_fit"] == 900


@pytest.mark.parametrize(
    ("n", "positives", "expected"),
    [
        (150, 50, "churn model not trained: only 150 examples (need 200)"),
        (500, 0, "churn model not trained: one class only (all 500 examples are negative)"),
        (500, 500, "churn model not trained: one class only (all 500 examples are positive)"),
        (500, 3, "churn model not trained: only 3 positive examples (need 20)"),
        (500, 495, "churn model not trained: only 5 negative examples (need 20)"),
    ],
)
def test_too_little_data_or_one_class_gives_a_clear_message_and_no_model(
    n: int, positives: int, expected: str
) -> None:
    frame, _ = engagement_frame(n)
    target = np.zeros(n, dtype="int8")
    target[:positives] = 1
    trained, message = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=None)
    assert trained is None
    assert message == expected


def test_predict_without_artifacts_leaves_nan_and_none() -> None:
    frame, _ = engagement_frame(20)
    for artifacts in (None, ModelArtifacts()):
        out = predict(frame, artifacts)
        assert out["churn_risk"].isna().all() and out["purchase_propensity"].isna().all()
        assert out["cluster"].isna().all() and out["persona"].isna().all()
        assert out["churn_risk"].dtype == "float64" and out["cluster"].dtype == "float64"
        assert list(out.index) == list(frame.index)
    assert "churn_risk" not in frame.columns  # the input frame is not modified


def test_churn_risk_is_scored_for_active_contacts_only() -> None:
    frame, target = engagement_frame(1500)
    trained, _ = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=60)
    assert trained is not None
    out = predict(frame, ModelArtifacts(churn=trained))
    active = frame["days_since_last_open"] <= 60
    assert out.loc[active, "churn_risk"].between(0, 1).all()
    assert out.loc[~active, "churn_risk"].isna().all()
    # more engaged contacts are at lower risk
    engaged = out.loc[active & (frame["opens_30d"] >= 4), "churn_risk"].mean()
    quiet = out.loc[active & (frame["opens_30d"] == 0), "churn_risk"].mean()
    assert engaged < quiet


def test_a_model_whose_features_are_missing_still_predicts() -> None:
    frame, target = engagement_frame(1500)
    trained, _ = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=None)
    assert trained is not None
    out = predict(frame.drop(columns=["opens_30d"]), ModelArtifacts(churn=trained))
    assert out["churn_risk"].notna().all()


@pytest.fixture
def store() -> Engine:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Account.__table__).values(id="acme", name="Acme", created_at=NOW))  # type: ignore[attr-defined]
    return engine


def test_artifacts_are_versioned_per_account_and_kind_and_load_back(store: Engine) -> None:
    frame, target = engagement_frame(1200)
    trained, _ = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=None)
    assert trained is not None
    with store.begin() as conn:
        first = store_artifact(conn, "acme", CHURN, NOW, trained.metrics, trained)
        second = store_artifact(conn, "acme", CHURN, NOW, {"auc": float("nan")}, trained)
    assert (first, second) == (1, 2)
    with store.connect() as conn:
        rows = latest_artifact_rows(conn, "acme")
    assert rows[CHURN].version == 2 and rows[CHURN].metrics == {"auc": None}
    artifacts = load_artifacts(store, "acme")
    assert artifacts.versions == {CHURN: 2} and artifacts.propensity is None
    assert isinstance(artifacts.churn, TrainedClassifier)
    expected = predict(frame, ModelArtifacts(churn=trained))["churn_risk"]
    assert np.allclose(predict(frame, artifacts)["churn_risk"], expected)
    assert load_artifacts(store, "other").versions == {}


def test_an_unloadable_artifact_is_skipped_not_fatal(store: Engine) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(ModelArtifact.__table__).values(  # type: ignore[attr-defined]
                account_id="acme", kind=CHURN, version=1, trained_at=NOW, metrics={}, blob=b"junk"
            )
        )
    artifacts = load_artifacts(store, "acme")
    assert artifacts.churn is None
    frame, _ = engagement_frame(5)
    assert predict(frame, artifacts)["churn_risk"].isna().all()


def test_add_predictions_sets_the_columns_in_place_as_predict_does() -> None:
    frame, target = engagement_frame(1500)
    trained, _ = fit_classifier(CHURN, LabelledSet(frame, target), FAST, active_within=60)
    assert trained is not None
    artifacts = ModelArtifacts(churn=trained)
    expected = predict(frame, artifacts)
    assert "churn_risk" not in frame.columns
    add_predictions(frame, artifacts)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["churn_risk"].notna().any()
