"""Clusters: k by silhouette, canonical (stable) labels, readable personas."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from syncd.engine.clusters import ClusterSettings, describe, fit_clusters
from syncd.engine.models import ModelArtifacts, predict

SETTINGS = ClusterSettings(k_max=6)
VOCABULARY = {
    "frequent openers",
    "rare openers",
    "frequent clickers",
    "rare clickers",
    "frequent buyers",
    "rare buyers",
    "high spend",
    "low spend",
    "recent",
    "lapsed",
}


def three_groups(seed: int = 3, shuffle: bool = False) -> pd.DataFrame:
    """Champions (buy, click, recent), readers (open, don't buy) and sleepers (lapsed)."""
    rng = np.random.default_rng(seed)
    parts = []
    for size, opens, clicks, buys, spend, recency in (
        (300, 12, 6, 4, 400, 3),
        (500, 8, 0.0, 0.0, 0, 10),
        (400, 0.0, 0.0, 0.0, 0, 300),
    ):
        parts.append(
            pd.DataFrame(
                {
                    "opens_90d": rng.poisson(opens, size).astype("float64"),
                    "clicks_90d": rng.poisson(clicks, size).astype("float64"),
                    "purchases_365d": rng.poisson(buys, size).astype("float64"),
                    "revenue_365d": rng.gamma(2, spend / 2 + 1e-9, size),
                    "days_since_last_open": recency * rng.uniform(0.5, 1.5, size),
                    "days_since_last_click": np.nan,
                    "days_since_last_purchase": np.nan,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.index = pd.Index(np.arange(1, len(frame) + 1, dtype="int64"), name="contact_id")
    return frame.sample(frac=1.0, random_state=seed) if shuffle else frame


def test_k_is_chosen_by_silhouette_and_recorded() -> None:
    outcome = fit_clusters(three_groups(), SETTINGS)
    assert outcome.trained is not None, outcome.message
    metrics = outcome.trained.metrics
    scores = metrics["silhouette"]
    assert set(scores) == {str(k) for k in range(2, 7)}
    assert metrics["k"] == int(max(scores, key=scores.get))
    assert metrics["k"] == 3  # the three groups the data was built from


def test_labels_and_personas_are_stable_across_runs_and_row_order() -> None:
    frame = three_groups()
    first = fit_clusters(frame, SETTINGS).trained
    again = fit_clusters(frame, SETTINGS).trained
    shuffled = fit_clusters(three_groups(shuffle=True), SETTINGS).trained
    assert first is not None and again is not None and shuffled is not None
    assert first.personas == again.personas == shuffled.personas
    labels, _ = first.assign(frame)
    assert np.array_equal(labels, again.assign(frame)[0])
    assert np.array_equal(labels, shuffled.assign(frame)[0])


def test_cluster_zero_is_the_most_engaged_and_personas_read_from_centroids() -> None:
    frame = three_groups()
    trained = fit_clusters(frame, SETTINGS).trained
    assert trained is not None
    labels, personas = trained.assign(frame)
    # rows 1-300 were built as champions, 801-1200 as sleepers
    assert set(labels[:300]) == {0.0}
    assert set(labels[800:]) == {2.0}
    assert "high spend" in trained.personas[0] and "frequent clickers" in trained.personas[0]
    assert "lapsed" in trained.personas[2]
    for persona in trained.personas:
        words = [word.removeprefix("very ") for word in persona.split(", ")]
        words = ["lapsed" if word == "long lapsed" else word for word in words]
        assert 1 <= len(words) <= 5 and set(words) <= VOCABULARY
    assert len(set(trained.personas)) == len(trained.personas)
    assert personas[0] == trained.personas[int(labels[0])]


def test_predict_adds_cluster_and_persona_and_the_model_pickles() -> None:
    frame = three_groups()
    trained = fit_clusters(frame, SETTINGS).trained
    assert trained is not None
    restored = pickle.loads(pickle.dumps(trained))
    out = predict(frame, ModelArtifacts(clusters=restored))
    assert out["cluster"].notna().all() and out["persona"].notna().all()
    assert set(out["cluster"].unique()) == {0.0, 1.0, 2.0}
    assert out["churn_risk"].isna().all()


def test_too_few_contacts_or_no_variety_gives_a_message_and_no_model() -> None:
    small = fit_clusters(three_groups().head(50), SETTINGS)
    assert small.trained is None
    assert small.message == "clusters not trained: only 50 contacts (need 200)"
    flat = three_groups()
    flat[:] = 0.0
    same = fit_clusters(flat, SETTINGS)
    assert same.trained is None
    assert same.message == "clusters not trained: only 1 distinct behaviours among 1200 contacts"


def test_large_accounts_fit_minibatch_on_a_sample() -> None:
    frame = pd.concat([three_groups(seed) for seed in range(4)], ignore_index=True)
    big = ClusterSettings(k_max=4, fit_max_rows=3000, minibatch_above=2000)
    trained = fit_clusters(frame, big).trained
    assert trained is not None
    assert trained.metrics["algorithm"] == "MiniBatchKMeans"
    assert trained.metrics["n_fit"] == 3000 and trained.metrics["n"] == 4800
    assert trained.assign(frame)[0].shape == (4800,)


def test_describe_uses_the_most_distinctive_features_first() -> None:
    # opens, clicks, purchases, spend, days since engagement (z-scores)
    assert describe(np.array([0.1, 1.2, 0.2, 1.0, -0.8])) == "frequent clickers, high spend, recent"
    assert describe(np.array([0.1, -0.1, 0.2, 0.0, 0.3])) == "average engagement"
    assert describe(np.array([-1.6, 0.0, 0.0, 0.0, 2.0])) == "long lapsed, very rare openers"
