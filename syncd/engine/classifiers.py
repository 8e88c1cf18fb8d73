"""Churn and propensity classifiers: the candidates, their comparison, the kept model.

Logistic regression (median imputation with missing-value indicators, log-compressed counts,
standardised) and histogram gradient boosting (native NaN handling, early stopping) are compared
by stratified k-fold cross-validated ROC AUC; the better one is refitted and kept, ties going to
the simpler logistic regression.

Speed at a million contacts (target: churn + propensity within 60 s on 2 cores):
- cross-validation runs on a fixed-seed stratified sample (``cv_max_rows``, 3 folds once it is
  large), the final fit on a larger one (``fit_max_rows``): AUC estimates and fitted models
  barely move beyond some tens of thousands of rows;
- only the sampled rows are copied out of the frame, column by column;
- small fits run native code on one thread (see ``clusters.native_threads``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

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

from syncd.engine.clusters import ClusterSettings, native_threads, single_blas
from syncd.engine.fields import FIELDS, FieldType
from syncd.engine.labels import LabelledSet, active_mask

LOGISTIC, BOOSTING = "logistic_regression", "gradient_boosting"
LARGE_CV_ROWS = 20_000
PREDICT_CHUNK = 131_072

#: scores computed from the features, and the models' own outputs: never inputs to a model
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
        # trees read one feature at a time over all rows: a column-major matrix is faster to
        # fill and to walk, and gives the same answers (comparisons, no arithmetic on X)
        trees = isinstance(self.estimator, HistGradientBoostingClassifier)
        order: Literal["C", "F"] = "F" if trees else "C"
        with single_blas():
            for start in range(0, len(positions), PREDICT_CHUNK):
                chunk = positions[start : start + PREDICT_CHUNK]
                matrix = _stack(columns, chunk, order)
                out[chunk] = self.estimator.predict_proba(matrix)[:, 1]
        return out


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


def _stack(
    columns: list[np.ndarray | None], rows: np.ndarray | int, order: Literal["C", "F"] = "C"
) -> np.ndarray:
    n = rows if isinstance(rows, int) else len(rows)
    matrix = np.full((n, len(columns)), np.nan, order=order)
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
