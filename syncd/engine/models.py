"""Predictive scores (churn risk, purchase propensity) and clusters: training, storage, prediction.

``train(engine, account_id, now, settings)`` builds labels with a time split (``labels.py``),
compares logistic regression with gradient boosting by stratified k-fold ROC AUC, keeps the
better one per target, fits clusters (``clusters.py``) and stores the three artifacts, each with
its metrics and a version number. ``predict(frame, artifacts)`` adds ``churn_risk``,
``purchase_propensity``, ``cluster`` and ``persona``; a model that is missing (or cannot be
loaded) leaves NaN / None, never an error.

Speed at a million contacts (target: churn + propensity within 60 s on 2 cores):
- cross-validation runs on a fixed-seed stratified sample (``cv_max_rows``), the final fit on a
  larger one (``fit_max_rows``): AUC estimates and fitted models barely move beyond ~100 k rows;
- gradient boosting is scikit-learn's histogram implementation with early stopping;
- logistic regression is lbfgs on standardised, log-compressed features (counts are heavy-tailed).

Artifacts are pickles of our own dataclasses holding scikit-learn objects, read back only from
our own store (a pickle is code: never load one from elsewhere).
"""

from __future__ import annotations

import logging
import math
import pickle
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy import Connection, Engine, func, select

from syncd.engine.clusters import ClusterSettings, TrainedClusters, fit_clusters, native_threads
from syncd.engine.features import compute_features
from syncd.engine.fields import FIELDS, FieldType
from syncd.engine.labels import (
    LabelledSet,
    active_mask,
    churn_examples,
    load_outcomes,
    propensity_examples,
)
from syncd.engine.settings import ScoringSettings
from syncd.store.models import ModelArtifact

log = logging.getLogger(__name__)

CHURN, PROPENSITY, CLUSTERS = "churn", "propensity", "clusters"
KINDS = (CHURN, PROPENSITY, CLUSTERS)
LOGISTIC, BOOSTING = "logistic_regression", "gradient_boosting"
LARGE_CV_ROWS = 20_000
PREDICT_CHUNK = 131_072

#: computed from features, or outputs of this module: never inputs to a model
_NOT_INPUTS = frozenset(
    {
        "engagement_score",
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "churn_risk",
        "purchase_propensity",
        "cluster",
    }
)


@dataclass(frozen=True)
class ModelSettings:
    horizon_days: int = 30
    #: an account's inactivity threshold: who counts as active at the cut-off (churn)
    inactivity_days: int = 180
    min_rows: int = 200
    min_positives: int = 20
    cv_folds: int = 5
    #: folds once the cross-validation sample is large: the AUC estimate is already tight
    cv_folds_large: int = 3
    cv_max_rows: int = 50_000
    fit_max_rows: int = 100_000
    random_state: int = 7
    clusters: ClusterSettings = field(default_factory=ClusterSettings)


@dataclass
class TrainedClassifier:
    """What is pickled into a "churn" / "propensity" artifact."""

    kind: str
    features: list[str]
    estimator: Any  # a fitted scikit-learn classifier or Pipeline
    #: churn only: risk is defined for contacts active within this many days
    active_within_days: float | None
    metrics: dict[str, Any] = field(default_factory=dict)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full(len(frame), np.nan)
        rows = np.ones(len(frame), dtype=bool)
        if self.active_within_days is not None:
            rows = active_mask(frame, self.active_within_days)
        positions = np.flatnonzero(rows)
        columns = _columns(frame, self.features)
        # in chunks: the pipeline copies its input a few times, and a million rows of fifty
        # float64 columns is 400 MB a copy
        for start in range(0, len(positions), PREDICT_CHUNK):
            chunk = positions[start : start + PREDICT_CHUNK]
            matrix = _stack(columns, chunk)
            out[chunk] = self.estimator.predict_proba(matrix)[:, 1]
        return out


@dataclass(frozen=True)
class ModelOutcome:
    kind: str
    trained: bool
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass(frozen=True)
class TrainReport:
    account_id: str
    cutoff: datetime
    outcomes: dict[str, ModelOutcome]
    #: seconds: "features" (both frames and the outcomes), "churn", "propensity", "clusters"
    timings: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            o.message + (f" [v{o.version}]" if o.version else "") for o in self.outcomes.values()
        ]


@dataclass
class ModelArtifacts:
    """The latest stored model of each kind for one account (None = not trained)."""

    churn: TrainedClassifier | None = None
    propensity: TrainedClassifier | None = None
    clusters: TrainedClusters | None = None
    versions: dict[str, int] = field(default_factory=dict)


# --- features -------------------------------------------------------------------------------


def model_features(frame: pd.DataFrame) -> list[str]:
    """Numeric and boolean catalogue fields present in ``frame``, in catalogue order."""
    usable = (FieldType.NUMBER, FieldType.BOOL)
    return [
        name
        for name, kind in FIELDS.items()
        if kind in usable and name not in _NOT_INPUTS and name in frame.columns
    ]


def model_matrix(
    frame: pd.DataFrame, features: list[str], rows: np.ndarray | None = None
) -> np.ndarray:
    """float64 matrix in ``features`` order (of ``rows``, positions, when given); a column the
    frame lacks is all NaN. Built column by column so only the rows asked for are copied."""
    return _stack(_columns(frame, features), len(frame) if rows is None else rows)


def _columns(frame: pd.DataFrame, features: list[str]) -> list[np.ndarray | None]:
    # float64 columns come back as views: nothing is copied here
    return [
        frame[name].to_numpy(dtype="float64", na_value=np.nan) if name in frame.columns else None
        for name in features
    ]


def _stack(columns: list[np.ndarray | None], rows: np.ndarray | int) -> np.ndarray:
    n = rows if isinstance(rows, int) else len(rows)
    matrix = np.full((n, len(columns)), np.nan)
    for j, column in enumerate(columns):
        if column is not None:
            matrix[:, j] = column if isinstance(rows, int) else column[rows]
    return matrix


def _log1p_nonnegative(x: np.ndarray) -> np.ndarray:
    # features are counts, sums, rates and day counts: never negative by construction
    result: np.ndarray = np.maximum(x, 0.0)
    np.log1p(result, out=result)
    return result


def candidates(n_rows: int, random_state: int) -> dict[str, ClassifierMixin | Pipeline]:
    logistic = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("compress", FunctionTransformer(_log1p_nonnegative)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=1000, C=1.0)),
        ]
    )
    boosting = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=150,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        # early stopping needs a validation share big enough to mean something
        early_stopping=n_rows >= 1_000,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=random_state,
    )
    return {LOGISTIC: logistic, BOOSTING: boosting}


# --- fitting --------------------------------------------------------------------------------


def _stratified_rows(target: np.ndarray, limit: int, seed: int) -> np.ndarray:
    if len(target) <= limit:
        return np.arange(len(target))
    rows, _ = train_test_split(
        np.arange(len(target)), train_size=limit, stratify=target, random_state=seed
    )
    return np.sort(np.asarray(rows))


def _not_enough(kind: str, n: int, positives: int, settings: ModelSettings) -> str | None:
    negatives = n - positives
    what = f"{kind} model not trained"
    if n < settings.min_rows:
        return f"{what}: only {n} examples (need {settings.min_rows})"
    if positives == 0 or negatives == 0:
        cls = "positive" if positives else "negative"
        return f"{what}: one class only (all {n} examples are {cls})"
    if positives < settings.min_positives:
        return f"{what}: only {positives} positive examples (need {settings.min_positives})"
    if negatives < settings.min_positives:
        return f"{what}: only {negatives} negative examples (need {settings.min_positives})"
    return None


def fit_classifier(
    kind: str, examples: LabelledSet, settings: ModelSettings, active_within: float | None
) -> tuple[TrainedClassifier | None, str]:
    """Compare the candidates by cross-validated ROC AUC and refit the better one."""
    target = examples.target
    n, positives = len(target), int(target.sum())
    reason = _not_enough(kind, n, positives, settings)
    if reason:
        return None, reason
    seed = settings.random_state
    # sample first, then copy only the sampled rows out of the (possibly million-row) frame
    positions = examples.positions()
    cv_rows = _stratified_rows(target, settings.cv_max_rows, seed)
    fit_rows = _stratified_rows(target, settings.fit_max_rows, seed)
    features = model_features(examples.features)
    columns = _columns(examples.features, features)
    fit_matrix = _stack(columns, positions[fit_rows])
    # a column that never varies (or is never known) teaches nothing and trips the binning of
    # gradient boosting: leave it out, and remember which columns were kept
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        varies = np.nan_to_num(np.nanstd(fit_matrix, axis=0), nan=0.0) > 0
    features = [name for name, keep in zip(features, varies, strict=True) if keep]
    if not features:
        return None, f"{kind} model not trained: no feature varies across the {n} examples"
    fit_matrix = fit_matrix[:, varies]
    cv_matrix = _stack(columns, positions[cv_rows])[:, varies]
    cv_target = target[cv_rows]
    minority = int(min(cv_target.sum(), len(cv_rows) - cv_target.sum()))
    n_folds = settings.cv_folds if len(cv_rows) < LARGE_CV_ROWS else settings.cv_folds_large
    folds = StratifiedKFold(n_splits=min(n_folds, minority), shuffle=True, random_state=seed)
    auc: dict[str, float] = {}
    auc_std: dict[str, float] = {}
    with native_threads(len(cv_rows)):
        for name, estimator in candidates(len(cv_rows), seed).items():
            scores = cross_val_score(estimator, cv_matrix, cv_target, cv=folds, scoring="roc_auc")
            auc[name], auc_std[name] = float(np.mean(scores)), float(np.std(scores))
    # ties go to the simpler, more explainable model
    chosen = max(auc, key=lambda name: (auc[name], name == LOGISTIC))
    with native_threads(len(fit_rows)):
        estimator = candidates(len(fit_rows), seed)[chosen]
        estimator.fit(fit_matrix, target[fit_rows])
    metrics = {
        "auc": {name: round(value, 4) for name, value in auc.items()},
        "auc_std": {name: round(value, 4) for name, value in auc_std.items()},
        "chosen": chosen,
        "n": n,
        "positives": positives,
        "n_cv": len(cv_rows),
        "n_fit": len(fit_rows),
        "cv_folds": folds.get_n_splits(),
        "features": features,
        "sklearn": sklearn.__version__,
    }
    trained = TrainedClassifier(kind, features, estimator, active_within, metrics)
    message = (
        f"{kind} model: {chosen} (AUC {auc[chosen]:.3f}; "
        + ", ".join(f"{name} {value:.3f}" for name, value in auc.items())
        + f"; {n} examples, {positives} positive)"
    )
    return trained, message


# --- storage --------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Metrics as plain JSON: numpy scalars unwrapped, NaN/inf as null (PostgreSQL refuses NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def store_artifact(
    conn: Connection,
    account_id: str,
    kind: str,
    trained_at: datetime,
    metrics: dict[str, Any],
    payload: object,
) -> int:
    """Insert the next version of ``kind`` for the account; returns its version number."""
    table = ModelArtifact.__table__  # type: ignore[attr-defined]
    latest = conn.execute(
        select(func.max(table.c.version)).where(
            table.c.account_id == account_id, table.c.kind == kind
        )
    ).scalar()
    version = int(latest or 0) + 1
    conn.execute(
        table.insert().values(
            account_id=account_id,
            kind=kind,
            version=version,
            trained_at=trained_at,
            metrics=_json_safe(metrics),
            blob=pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL),
        )
    )
    return version


def latest_artifact_rows(conn: Connection, account_id: str) -> dict[str, Any]:
    """The newest stored row of each kind (id, kind, version, trained_at, metrics, blob)."""
    table = ModelArtifact.__table__  # type: ignore[attr-defined]
    newest = (
        select(table.c.kind, func.max(table.c.version).label("version"))
        .where(table.c.account_id == account_id)
        .group_by(table.c.kind)
        .subquery()
    )
    query = (
        select(table)
        .join(newest, (table.c.kind == newest.c.kind) & (table.c.version == newest.c.version))
        .where(table.c.account_id == account_id)
    )
    return {row.kind: row for row in conn.execute(query)}


def _unpickle(kind: str, blob: bytes) -> object | None:
    try:
        payload: object = pickle.loads(blob)
        return payload
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError):
        log.warning("stored %s model cannot be loaded (retrain it)", kind, exc_info=True)
        return None


def load_artifacts(bind: Engine | Connection, account_id: str) -> ModelArtifacts:
    """The latest model of each kind for the account; unloadable ones are left out (logged)."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return load_artifacts(conn, account_id)
    artifacts = ModelArtifacts()
    for kind, row in latest_artifact_rows(bind, account_id).items():
        payload = _unpickle(kind, row.blob)
        if kind in (CHURN, PROPENSITY) and isinstance(payload, TrainedClassifier):
            setattr(artifacts, kind, payload)
        elif kind == CLUSTERS and isinstance(payload, TrainedClusters):
            artifacts.clusters = payload
        else:
            continue
        artifacts.versions[kind] = int(row.version)
    return artifacts


# --- prediction -----------------------------------------------------------------------------


def predict(frame: pd.DataFrame, artifacts: ModelArtifacts | None) -> pd.DataFrame:
    """``frame`` with churn_risk, purchase_propensity (float64, NaN without a model), cluster
    (float64 label, NaN without one) and persona (object, None without one)."""
    artifacts = artifacts or ModelArtifacts()
    out = frame.copy()
    for column, model in (
        ("churn_risk", artifacts.churn),
        ("purchase_propensity", artifacts.propensity),
    ):
        out[column] = _safely(model.score, frame) if model else np.full(len(frame), np.nan)
    cluster = np.full(len(frame), np.nan)
    persona = np.full(len(frame), None, dtype=object)
    if artifacts.clusters is not None:
        assigned = _safely(artifacts.clusters.assign, frame)
        if isinstance(assigned, tuple):
            cluster, persona = assigned
    out["cluster"] = cluster
    out["persona"] = pd.Series(persona, index=frame.index, dtype=object)
    return out


def _safely(method: Any, frame: pd.DataFrame) -> Any:
    # a stored model that no longer fits the frame (features renamed, library upgraded) must not
    # stop a recompute: its column stays empty and the log says why
    try:
        return method(frame)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        log.warning("stored model failed to predict; leaving its column empty", exc_info=True)
        return np.full(len(frame), np.nan)


# --- training -------------------------------------------------------------------------------


def _compute_features(
    conn: Connection, account_id: str, now: datetime, scoring: ScoringSettings | None
) -> pd.DataFrame:
    # features only: scores would be measured on a past frame and are not model inputs
    return compute_features(conn, account_id, now=now, settings=scoring, with_scores=False)


def train(
    engine: Engine,
    account_id: str,
    now: datetime,
    settings: ModelSettings | None = None,
    *,
    scoring: ScoringSettings | None = None,
    current: pd.DataFrame | None = None,
) -> TrainReport:
    """Train churn, propensity and clusters for one account and store those that could be.

    ``scoring`` is the account's scoring settings (currency rates for revenue features; its
    inactivity threshold is the churn one when ``settings`` is not given). ``current`` (the frame
    as of ``now``) can be passed by a caller that already has it; the clusters are fitted on it.
    The classifiers learn from the frame as of ``now - horizon`` and the outcomes after it.
    """
    if settings is None:
        settings = ModelSettings(inactivity_days=(scoring or ScoringSettings()).inactivity_days)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    cutoff = now - timedelta(days=settings.horizon_days)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        timings[name] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()

    with engine.connect() as conn:
        past = _compute_features(conn, account_id, cutoff, scoring)
        outcomes = load_outcomes(conn, account_id, cutoff, settings.horizon_days)
        if current is None:
            current = _compute_features(conn, account_id, now, scoring)
    lap("features")
    churn, churn_msg = fit_classifier(
        CHURN,
        churn_examples(past, outcomes, settings.inactivity_days),
        settings,
        active_within=float(settings.inactivity_days),
    )
    lap(CHURN)
    propensity, propensity_msg = fit_classifier(
        PROPENSITY, propensity_examples(past, outcomes), settings, active_within=None
    )
    lap(PROPENSITY)
    clustered = fit_clusters(current, settings.clusters)
    lap(CLUSTERS)
    split = {"cutoff": cutoff.isoformat(), "horizon_days": settings.horizon_days}
    fitted: dict[str, tuple[object | None, str, dict[str, Any]]] = {
        CHURN: (churn, churn_msg, {**churn.metrics, **split} if churn else {}),
        PROPENSITY: (
            propensity,
            propensity_msg,
            {**propensity.metrics, **split} if propensity else {},
        ),
        CLUSTERS: (
            clustered.trained,
            clustered.message,
            clustered.trained.metrics if clustered.trained else {},
        ),
    }
    report: dict[str, ModelOutcome] = {}
    with engine.begin() as conn:
        for kind, (payload, message, metrics) in fitted.items():
            version = None
            if payload is not None:
                version = store_artifact(conn, account_id, kind, now, metrics, payload)
            else:
                log.info(message)
            report[kind] = ModelOutcome(kind, payload is not None, message, metrics, version)
    return TrainReport(account_id=account_id, cutoff=cutoff, outcomes=report, timings=timings)
