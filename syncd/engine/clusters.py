"""Behavioural clusters: K-means on a few standardised engagement features, with personas.

Choices, and why:
- A compact feature set (opens, clicks, purchases, spend, recency of engagement): few enough that
  a centroid reads as a sentence, and the dimensions a marketer segments on anyway.
- Counts and spend go through ``log1p``: they are heavy-tailed, and K-means on raw counts spends
  its clusters on a handful of outliers. Recency is capped (never engaged = the cap).
- k is chosen by silhouette over a range, scored on a fixed-seed sample (silhouette is quadratic).
- Fits run on a fixed-seed sample when the account is large, with MiniBatchKMeans above a size;
  every contact is then assigned by the fitted model (a nearest-centroid lookup).
- Labels are canonical: clusters are ordered by centroid engagement (most engaged = 0), so the
  same data gives the same label and persona on every run, whatever order K-means found them in.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

#: (frame column, word when high, word when low); recency is "days since", so low = recent
_COUNT_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("opens_90d", "frequent openers", "rare openers"),
    ("clicks_90d", "frequent clickers", "rare clickers"),
    ("purchases_365d", "frequent buyers", "rare buyers"),
    ("revenue_365d", "high spend", "low spend"),
)
_RECENCY_SOURCES = ("days_since_last_open", "days_since_last_click", "days_since_last_purchase")
RECENCY_FEATURE = "days_since_last_engagement"
_RECENCY_WORDS = ("lapsed", "recent")  # (high days, low days)
CLUSTER_FEATURES = (*(name for name, _, _ in _COUNT_FEATURES), RECENCY_FEATURE)
#: the frame columns the cluster features are made of
CLUSTER_SOURCES = (*(name for name, _, _ in _COUNT_FEATURES), *_RECENCY_SOURCES)

#: (kept for callers; every fit now runs native code on one thread, see native_threads) below
#: this many rows, native code (OpenMP, BLAS) ran on one thread: on small problems the
#: threads' start-up and spin-waiting cost more than they save, ten times more on a busy machine
SINGLE_THREAD_BELOW = 20_000

#: a centroid this many standard deviations from the overall mean earns a word
_DISTINCT_Z = 0.5
#: ... and this many a "very"
_STRONG_Z = 1.5


@dataclass(frozen=True)
class ClusterSettings:
    k_min: int = 2
    k_max: int = 8
    min_rows: int = 200
    #: rows K-means is fitted on (fixed-seed sample above this)
    fit_max_rows: int = 50_000
    #: switch to MiniBatchKMeans above this many fitting rows
    minibatch_above: int = 20_000
    silhouette_sample: int = 3_000
    recency_cap_days: float = 365.0
    random_state: int = 7


@dataclass
class TrainedClusters:
    """What is pickled into the "clusters" artifact."""

    features: tuple[str, ...]
    recency_cap_days: float
    scaler: StandardScaler
    kmeans: KMeans | MiniBatchKMeans
    #: raw K-means label -> canonical label
    canonical: np.ndarray
    personas: list[str]  # by canonical label
    metrics: dict[str, Any] = field(default_factory=dict)

    def assign(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Canonical cluster (float64) and persona (object) for every row of ``frame``."""
        if frame.empty:
            return np.empty(0, dtype="float64"), np.empty(0, dtype=object)
        matrix = self.scaler.transform(cluster_matrix(frame, self.recency_cap_days))
        raw = self.kmeans.predict(matrix)
        labels = self.canonical[raw]
        personas = np.asarray(self.personas, dtype=object)[labels]
        return labels.astype("float64"), personas


@dataclass(frozen=True)
class ClusterOutcome:
    trained: TrainedClusters | None
    message: str


def cluster_matrix(frame: pd.DataFrame, recency_cap_days: float) -> np.ndarray:
    """The clustering features before scaling: log1p counts and capped engagement recency."""
    counts = frame.reindex(columns=[name for name, _, _ in _COUNT_FEATURES]).to_numpy("float64")
    counts = np.log1p(np.clip(np.nan_to_num(counts, nan=0.0), 0.0, None))
    recency = frame.reindex(columns=list(_RECENCY_SOURCES)).to_numpy("float64")
    with np.errstate(invalid="ignore"):
        nearest = np.fmin.reduce(recency, axis=1)
    nearest = np.clip(np.nan_to_num(nearest, nan=recency_cap_days), 0.0, recency_cap_days)
    return np.column_stack([counts, nearest])


def native_threads(n_rows: int) -> AbstractContextManager[object]:
    """Native code on one thread for model fits. Fits run on samples of at most some tens of
    thousands of rows; there a second thread's barriers cost more than it saves, many times
    more on a busy machine (measured: training at a million contacts on a loaded 2-core box
    took 141 s with OpenMP threads, the fits alone over 80 s). ``n_rows`` is kept for callers."""
    del n_rows
    limits: AbstractContextManager[object] = threadpool_limits(limits=1)
    return limits


def single_blas() -> AbstractContextManager[object]:
    """BLAS on one thread. The engine's matrices are tens of columns wide: a second BLAS thread
    only adds hand-offs (a logistic regression on 33 k x 60 fits 5 times faster on one thread
    than on two, more on a busy machine). OpenMP code (trees, K-means) keeps its threads."""
    limits: AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits


def _sample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.RandomState(seed).choice(n, size=limit, replace=False))


def _kmeans(k: int, n_rows: int, settings: ClusterSettings) -> KMeans | MiniBatchKMeans:
    if n_rows > settings.minibatch_above:
        return MiniBatchKMeans(
            n_clusters=k, random_state=settings.random_state, n_init=3, batch_size=4096
        )
    return KMeans(n_clusters=k, random_state=settings.random_state, n_init=4)


def _engagement(centroid_z: np.ndarray) -> float:
    # more opens/clicks/purchases/spend and fewer days since engagement = more engaged
    return float(centroid_z[:-1].sum() - centroid_z[-1])


def _word(z: float, high: str, low: str) -> str:
    word = high if z > 0 else low
    if abs(z) < _STRONG_Z:
        return word
    return "long lapsed" if word == "lapsed" else f"very {word}"


def describe(centroid_z: np.ndarray, max_words: int = 3) -> str:
    """A persona from a centroid in standard deviations from the overall mean ("frequent
    clickers, high spend, recent"): the most distinctive features first."""
    words: list[tuple[float, str]] = [
        (abs(z), _word(z, high, low))
        for (_, high, low), z in zip(_COUNT_FEATURES, centroid_z[:-1], strict=True)
    ]
    recency_z = float(centroid_z[-1])
    words.append((abs(recency_z), _word(recency_z, *_RECENCY_WORDS)))
    words.sort(key=lambda item: -item[0])
    distinct = [word for strength, word in words if strength >= _DISTINCT_Z][:max_words]
    return ", ".join(distinct) if distinct else "average engagement"


def _personas(centroids_z: np.ndarray) -> list[str]:
    names: list[str] = []
    seen: list[frozenset[str]] = []  # word sets: "a, b" and "b, a" read the same
    for index, centroid in enumerate(centroids_z):
        # two clusters that read alike get more words; if they still do, a number
        for max_words in range(3, len(CLUSTER_FEATURES) + 1):
            name = describe(centroid, max_words)
            if frozenset(name.split(", ")) not in seen:
                break
        words = frozenset(name.split(", "))
        if words in seen:
            name = f"{name} ({index})"
        names.append(name)
        seen.append(words)
    return names


def fit_clusters(frame: pd.DataFrame, settings: ClusterSettings) -> ClusterOutcome:
    """Fit scaler + K-means on the current frame; ``trained`` is None (with a reason) when the
    data cannot support clusters."""
    n = len(frame)
    if n < settings.min_rows:
        return ClusterOutcome(
            None, f"clusters not trained: only {n} contacts (need {settings.min_rows})"
        )
    rows = _sample(n, settings.fit_max_rows, settings.random_state)
    raw = cluster_matrix(frame.iloc[rows], settings.recency_cap_days)
    scaler = StandardScaler().fit(raw)
    matrix = scaler.transform(raw)
    distinct = len(np.unique(matrix, axis=0))
    k_max = min(settings.k_max, distinct - 1)
    if k_max < settings.k_min:
        return ClusterOutcome(
            None, f"clusters not trained: only {distinct} distinct behaviours among {n} contacts"
        )
    scores: dict[int, float] = {}
    fitted: dict[int, KMeans | MiniBatchKMeans] = {}
    for k in range(settings.k_min, k_max + 1):
        with native_threads(len(matrix)):
            model = _kmeans(k, len(matrix), settings).fit(matrix)
        labels = model.labels_
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(
            silhouette_score(
                matrix,
                labels,
                sample_size=min(settings.silhouette_sample, len(matrix)),
                random_state=settings.random_state,
            )
        )
        fitted[k] = model
    if not scores:
        return ClusterOutcome(None, "clusters not trained: K-means found a single cluster")
    best_k = max(scores, key=lambda k: (scores[k], -k))  # ties: the simpler model
    model = fitted[best_k]
    centroids = model.cluster_centers_  # in standardised units: overall mean is 0
    order = sorted(
        range(best_k), key=lambda i: (-_engagement(centroids[i]), tuple(centroids[i].round(6)))
    )
    canonical = np.empty(best_k, dtype="int64")
    canonical[order] = np.arange(best_k)
    ordered = centroids[order]
    personas = _personas(ordered)
    sizes = np.bincount(canonical[model.labels_], minlength=best_k)
    metrics: dict[str, Any] = {
        "k": best_k,
        "silhouette": {str(k): round(s, 4) for k, s in scores.items()},
        "n": n,
        "n_fit": len(matrix),
        "algorithm": type(model).__name__,
        "sklearn": sklearn.__version__,
        "features": list(CLUSTER_FEATURES),
        "clusters": [
            {
                "label": i,
                "persona": personas[i],
                "share": round(float(sizes[i]) / len(matrix), 4),
                "centroid_z": [round(float(v), 3) for v in ordered[i]],
            }
            for i in range(best_k)
        ],
    }
    trained = TrainedClusters(
        features=CLUSTER_FEATURES,
        recency_cap_days=settings.recency_cap_days,
        scaler=scaler,
        kmeans=model,
        canonical=canonical,
        personas=personas,
        metrics=metrics,
    )
    return ClusterOutcome(trained, f"clusters: k={best_k} (silhouette {scores[best_k]:.3f})")
