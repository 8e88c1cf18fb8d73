"""Predictive scores (churn risk, purchase propensity) and clusters: training, storage, prediction.

``train(engine, account_id, now, settings)`` builds labels with a time split (``labels.py``),
fits and compares the classifiers (``classifiers.py``), fits clusters (``clusters.py``) and
stores the three artifacts, each with its metrics and a version number.
``predict(frame, artifacts)`` adds ``churn_risk``, ``purchase_propensity``, ``cluster`` and
``persona``; a model that is missing (or cannot be loaded) leaves NaN / None, never an error.

Artifacts are pickles of our own dataclasses holding scikit-learn objects, read back only from
our own store (a pickle is code: never load one from elsewhere).
"""

from __future__ import annotations

import logging
import math
import pickle
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from syncd.engine.classifiers import (
    BOOSTING,
    LOGISTIC,
    ModelSettings,
    TrainedClassifier,
    candidates,
    fit_classifier,
    model_features,
    model_matrix,
)
from syncd.engine.clusters import CLUSTER_SOURCES, TrainedClusters, fit_clusters
from syncd.engine.features import compute_frames
from syncd.engine.labels import Outcomes, churn_examples, outcome_columns, propensity_examples
from syncd.engine.settings import ScoringSettings
from syncd.store.models import ModelArtifact

__all__ = [
    "BOOSTING",
    "CHURN",
    "CLUSTERS",
    "KINDS",
    "LOGISTIC",
    "PROPENSITY",
    "ModelArtifacts",
    "ModelOutcome",
    "ModelSettings",
    "TrainReport",
    "TrainedClassifier",
    "add_predictions",
    "candidates",
    "fit_classifier",
    "latest_artifact_rows",
    "load_artifacts",
    "model_features",
    "model_matrix",
    "predict",
    "store_artifact",
    "train",
]

log = logging.getLogger(__name__)

CHURN, PROPENSITY, CLUSTERS = "churn", "propensity", "clusters"
KINDS = (CHURN, PROPENSITY, CLUSTERS)


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
    """A copy of ``frame`` with churn_risk, purchase_propensity (float64, NaN without a model),
    cluster (float64 label, NaN without one) and persona (object, None without one)."""
    out = frame.copy()
    add_predictions(out, artifacts)
    return out


def add_predictions(frame: pd.DataFrame, artifacts: ModelArtifacts | None) -> None:
    """``predict`` in place: the prediction columns are set on ``frame`` itself (a recompute's
    million-row frame is not copied; the models read only their own feature columns)."""
    artifacts = artifacts or ModelArtifacts()
    for column, model in (
        ("churn_risk", artifacts.churn),
        ("purchase_propensity", artifacts.propensity),
    ):
        frame[column] = _safely(model.score, frame) if model else np.full(len(frame), np.nan)
    cluster = np.full(len(frame), np.nan)
    persona = np.full(len(frame), None, dtype=object)
    if artifacts.clusters is not None:
        assigned = _safely(artifacts.clusters.assign, frame)
        if isinstance(assigned, tuple):
            cluster, persona = assigned
    frame["cluster"] = cluster
    frame["persona"] = pd.Series(persona, index=frame.index, dtype=object)


def _safely(method: Any, frame: pd.DataFrame) -> Any:
    # a stored model that no longer fits the frame (features renamed, library upgraded) must not
    # stop a recompute: its column stays empty and the log says why
    try:
        return method(frame)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        log.warning("stored model failed to predict; leaving its column empty", exc_info=True)
        return np.full(len(frame), np.nan)


# --- training -------------------------------------------------------------------------------


def _training_frames(
    engine: Engine,
    account_id: str,
    now: datetime,
    cutoff: datetime,
    settings: ModelSettings,
    scoring: ScoringSettings | None,
    current: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Outcomes, pd.DataFrame]:
    """The frame as of the cut-off, the outcomes after it and (unless given) the clustering
    columns as of now, all from one read of the events (features.compute_frames)."""
    moments = [cutoff]
    columns: list[Collection[str] | None] = [None]
    if current is None:
        moments.append(now)
        columns.append(set(CLUSTER_SOURCES))
    frames, extra = compute_frames(
        engine,
        account_id,
        moments,
        settings=scoring,
        columns=columns,
        extra=outcome_columns(cutoff, settings.horizon_days),
    )
    if extra is None:  # cannot happen: an extra was asked for
        raise RuntimeError("outcomes missing")
    outcomes = Outcomes(frame=extra, cutoff=cutoff, horizon_days=settings.horizon_days)
    return frames[0], outcomes, current if current is not None else frames[1]


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

    past, outcomes, current = _training_frames(
        engine, account_id, now, cutoff, settings, scoring, current
    )
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
