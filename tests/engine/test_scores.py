"""Scores and stages with known answers: decay, scaling, RFM, lifecycle, tiers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from syncd.engine.features import compute_features
from syncd.engine.scores import RF_MAP, ScoreReference, apply_scores, measure_reference, quintile
from syncd.engine.settings import ScoringSettings
from tests.support.store_loader import (
    load_population,
    make_test_engine,
    person,
    population,
    store_kinds,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        yield created
    finally:
        cleanup()


def _frame(engine: Engine, people: list, settings: ScoringSettings | None = None):  # type: ignore[no-untyped-def]
    keys = load_population(engine, "acct", population(NOW, people))
    return compute_features(engine, "acct", NOW, settings=settings), keys


def test_open_one_half_life_ago_is_worth_half(engine: Engine) -> None:
    settings = ScoringSettings(score_saturation=10.0)
    df, keys = _frame(
        engine,
        [
            person(1, created=ago(100), events=[("open", ago(30))]),
            person(2, created=ago(100), events=[("click", ago(0)), ("open", ago(60))]),
            person(3, created=ago(100), events=[("complaint", ago(1))]),
        ],
        settings,
    )
    assert df.loc[keys[1], "engagement_points"] == pytest.approx(5.0)
    assert df.loc[keys[1], "engagement_score"] == pytest.approx(50.0)
    assert df.loc[keys[2], "engagement_points"] == pytest.approx(20 + 2.5)
    assert df.loc[keys[2], "engagement_score"] == pytest.approx(100.0)  # saturated
    assert df.loc[keys[3], "engagement_points"] < 0
    assert df.loc[keys[3], "engagement_score"] == 0.0  # clipped at the floor


def test_scaling_by_percentile_is_stored_and_reused() -> None:
    frame = _synthetic(points=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    settings = ScoringSettings(saturation_percentile=50)
    reference = measure_reference(frame, settings)
    assert reference.saturation == pytest.approx(55.0)  # median of the positive ones
    scored = apply_scores(frame, settings, reference)
    assert scored["engagement_score"].iloc[0] == 0
    assert scored["engagement_score"].iloc[1] == pytest.approx(100 * 10 / 55, abs=0.005)
    assert scored["engagement_score"].max() == 100
    again = ScoreReference.from_json(reference.to_json())
    # an incremental run on one contact scales as the full run did
    one = apply_scores(frame.iloc[[3]], settings, again)
    assert one["engagement_score"].iloc[0] == pytest.approx(100 * 30 / 55, abs=0.005)


def _synthetic(points: list[float] | None = None, **columns: list[float]) -> pd.DataFrame:
    n = len(points) if points is not None else len(next(iter(columns.values())))
    base = {
        "engagement_points": points or [0.0] * n,
        "purchases_total": [0.0] * n,
        "revenue_total": [0.0] * n,
        "days_since_last_purchase": [np.nan] * n,
        "days_since_last_activity": [np.nan] * n,
        "days_since_reactivation": [np.nan] * n,
        "tenure_days": [400.0] * n,
        "open_rate": [np.nan] * n,
        "open_rate_90d": [np.nan] * n,
    }
    base.update(columns)
    return pd.DataFrame(base, index=pd.Index(np.arange(1, n + 1), dtype=np.int64))


def test_rfm_quintiles_and_groups() -> None:
    # buyer i bought i times, last i days ago, spent 10 * i; the sixth never bought
    frame = _synthetic(
        purchases_total=[1, 2, 3, 4, 5, 0],
        days_since_last_purchase=[1, 2, 3, 4, 5, np.nan],
        revenue_total=[10, 20, 30, 40, 50, 0],
    )
    scored = apply_scores(frame, ScoringSettings())
    assert scored["rfm_r"].tolist()[:5] == [5, 4, 3, 2, 1]
    assert scored["rfm_f"].tolist()[:5] == [1, 2, 3, 4, 5]
    assert scored["rfm_m"].tolist()[:5] == [1, 2, 3, 4, 5]
    assert scored["rfm_group"].tolist() == [
        "new_customers",
        "potential_loyalist",
        "need_attention",
        "at_risk",
        "cannot_lose",
        None,
    ]
    assert np.isnan(scored["rfm_r"].iloc[5])


def test_rf_map_corners() -> None:
    assert RF_MAP[5, 5] == RF_MAP[5, 4] == "champions"
    assert RF_MAP[3, 4] == RF_MAP[4, 5] == "loyal"
    assert RF_MAP[4, 1] == "promising"
    assert RF_MAP[3, 1] == RF_MAP[3, 2] == "about_to_sleep"
    assert RF_MAP[1, 1] == "lost"
    assert RF_MAP[1, 2] == RF_MAP[2, 1] == RF_MAP[2, 2] == "hibernating"
    assert {RF_MAP[r, f] for r in range(1, 6) for f in range(1, 6)} == {
        "champions", "loyal", "potential_loyalist", "new_customers", "promising",
        "need_attention", "about_to_sleep", "at_risk", "cannot_lose", "hibernating", "lost",
    }  # fmt: skip


def test_quintile_ties_go_down_and_stored_edges_apply() -> None:
    values = np.array([1.0, 1.0, 1.0, 2.0, 9.0, np.nan])
    edges = (1.0, 1.0, 1.5, 3.0)
    assert quintile(values, edges, low_is_good=False)[:5].tolist() == [1, 1, 1, 4, 5]
    assert np.isnan(quintile(values, edges, low_is_good=False)[5])


def test_lifecycle_stages(engine: Engine) -> None:
    settings = ScoringSettings(inactivity_days=180, new_days=30, reactivation_days=30)
    df, keys = _frame(
        engine,
        [
            person(1, created=ago(10), events=[("open", ago(1))]),  # new
            person(2, created=ago(400), events=[("open", ago(10))]),  # active
            person(3, created=ago(400), events=[("click", ago(100))]),  # at risk (> 90)
            person(4, created=ago(400), events=[("open", ago(200))]),  # inactive (> 180)
            person(
                5, created=ago(400), events=[("open", ago(390)), ("purchase", ago(5), 9, "EUR")]
            ),
            # a gap that ended long ago: active again, no longer "reactivated"
            person(
                6,
                created=ago(500),
                events=[
                    ("open", ago(450)),
                    ("open", ago(200)),
                    ("open", ago(100)),
                    ("open", ago(10)),
                ],
            ),
            person(7, created=ago(400), events=[("send", ago(1))]),  # never active, old
            person(8, created=ago(60), events=[("send", ago(1))]),  # never active, young
        ],
        settings,
    )
    stages = [df.loc[keys[k], "lifecycle"] for k in range(1, 9)]
    assert stages == [
        "new", "active", "at_risk", "inactive", "reactivated", "active", "inactive", "active",
    ]  # fmt: skip
    assert df.loc[keys[5], "days_since_reactivation"] == pytest.approx(5)
    assert df.loc[keys[6], "days_since_reactivation"] == pytest.approx(200)


def test_sector_defaults() -> None:
    assert ScoringSettings.for_sector("retail").inactivity_days == 90
    assert ScoringSettings.for_sector("media").inactivity_days == 180
    assert ScoringSettings.for_sector("B2B").inactivity_days == 365


def test_engagement_tiers() -> None:
    frame = _synthetic(open_rate=[0.5, 0.2, 0.1, 0.0, np.nan], open_rate_90d=[0, 0, 0, 0, 0.3])
    assert apply_scores(frame, ScoringSettings())["engagement_tier"].tolist() == [
        "high", "medium", "medium", "inactive", "unknown",
    ]  # fmt: skip
    recent = apply_scores(frame, ScoringSettings(tier_rate_field="open_rate_90d"))
    assert recent["engagement_tier"].tolist()[-1] == "high"
