"""Scores and stages added to the feature frame: engagement score, RFM, lifecycle, tiers.

- ``engagement_score``: the decayed points (each event's points halve every ``half_life_days``)
  scaled to 0-100: ``100 * clip(points / saturation, 0, 1)``. Net-negative contacts score 0. The
  saturation is ``settings.score_saturation`` when set, else the account's 99th percentile of
  positive points, measured at each full recompute and stored in the ``ScoreReference`` so an
  incremental run scales exactly like the full run before it (100 points when nobody scores).
- RFM describes customers: contacts with at least one purchase get R (days since the last
  purchase, recent = 5), F (purchases) and M (revenue) quintile scores 1-5 against thresholds
  measured over the account's buyers at a full recompute (stored; ties go to the lower score);
  contacts who never bought have no RFM scores and no group (``purchases_total = 0`` selects
  them). Groups come from the usual R/F map; "lost" is R=1 and F=1, the rest of the
  low-R/low-F corner is "hibernating".
- ``lifecycle``: "new" (tenure < new_days), then from days since the last activity (or, for a
  contact who never did anything, its tenure): "inactive" past the inactivity threshold,
  "at_risk" past half of it, "reactivated" when an activity in the last reactivation_days ended
  a gap longer than the threshold, else "active".
- ``engagement_tier`` from the open rate: > 20 % "high", above 0 "medium", 0 "inactive",
  no sends "unknown".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from syncd.engine.settings import ScoringSettings

QUANTILES = (0.2, 0.4, 0.6, 0.8)
FALLBACK_SATURATION = 100.0

RFM_GROUPS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose",
    "hibernating",
    "lost",
)


def _rf_map() -> npt.NDArray[np.object_]:
    """group name by [R, F] (indices 1..5)."""
    table = np.full((6, 6), None, dtype=object)
    for r in range(1, 6):
        for f in range(1, 6):
            if r <= 2:
                group = "hibernating" if f <= 2 else "at_risk" if f <= 4 else "cannot_lose"
            elif r == 3:
                group = "about_to_sleep" if f <= 2 else "need_attention" if f == 3 else "loyal"
            elif r == 4:
                group = "promising" if f == 1 else "potential_loyalist" if f <= 3 else "loyal"
            else:
                group = (
                    "new_customers" if f == 1 else "potential_loyalist" if f <= 3 else "champions"
                )
            table[r, f] = group
    table[1, 1] = "lost"
    return table


RF_MAP = _rf_map()
LIFECYCLE_STAGES = ("new", "active", "at_risk", "inactive", "reactivated")
TIERS = ("high", "medium", "inactive", "unknown")


@dataclass(frozen=True)
class ScoreReference:
    """What a full recompute measured over the whole account, reused by incremental runs."""

    saturation: float
    recency_edges: tuple[float, ...]
    frequency_edges: tuple[float, ...]
    monetary_edges: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreReference:
        return cls(
            saturation=float(data["saturation"]),
            recency_edges=tuple(float(x) for x in data["recency_edges"]),
            frequency_edges=tuple(float(x) for x in data["frequency_edges"]),
            monetary_edges=tuple(float(x) for x in data["monetary_edges"]),
        )

    @classmethod
    def loads(cls, text: str) -> ScoreReference:
        return cls.from_json(json.loads(text))


def _edges(values: npt.NDArray[np.float64]) -> tuple[float, ...]:
    if len(values) == 0:
        return ()
    return tuple(float(x) for x in np.quantile(values, QUANTILES))


def measure_reference(frame: pd.DataFrame, settings: ScoringSettings) -> ScoreReference:
    """The account-wide scale and RFM thresholds from a frame of every contact."""
    points = frame["engagement_points"].to_numpy(dtype=np.float64)
    if settings.score_saturation is not None:
        saturation = settings.score_saturation
    else:
        positive = points[points > 0]
        saturation = (
            float(np.percentile(positive, settings.saturation_percentile))
            if len(positive)
            else FALLBACK_SATURATION
        )
    buyers = frame["purchases_total"].to_numpy() > 0
    return ScoreReference(
        saturation=max(saturation, 1e-9),
        recency_edges=_edges(frame["days_since_last_purchase"].to_numpy()[buyers]),
        frequency_edges=_edges(frame["purchases_total"].to_numpy()[buyers]),
        monetary_edges=_edges(frame["revenue_total"].to_numpy()[buyers]),
    )


def engagement_score(points: npt.NDArray[np.float64], saturation: float) -> Any:
    # two decimals: what is stored, so rules and the store see the same number
    return np.round(100.0 * np.clip(points / saturation, 0.0, 1.0), 2)


def quintile(
    values: npt.NDArray[np.float64], edges: tuple[float, ...], *, low_is_good: bool
) -> Any:
    """1-5 against four stored edges (ties go to the lower score); NaN stays NaN."""
    if not edges:
        return np.full(len(values), np.nan)
    edge = np.asarray(edges, dtype=np.float64)
    if low_is_good:
        score = 1 + (edge[None, :] > values[:, None]).sum(axis=1)
    else:
        score = 1 + (edge[None, :] < values[:, None]).sum(axis=1)
    return np.where(np.isnan(values), np.nan, score.astype(np.float64))


def rfm(frame: pd.DataFrame, reference: ScoreReference) -> dict[str, Any]:
    buyers = frame["purchases_total"].to_numpy() > 0

    def only_buyers(column: str) -> npt.NDArray[np.float64]:
        return np.where(buyers, frame[column].to_numpy(dtype=np.float64), np.nan)

    r = quintile(only_buyers("days_since_last_purchase"), reference.recency_edges, low_is_good=True)
    f = quintile(only_buyers("purchases_total"), reference.frequency_edges, low_is_good=False)
    m = quintile(only_buyers("revenue_total"), reference.monetary_edges, low_is_good=False)
    scored = ~np.isnan(r) & ~np.isnan(f)
    group = np.full(len(frame), None, dtype=object)
    group[scored] = RF_MAP[r[scored].astype(int), f[scored].astype(int)]
    return {"rfm_r": r, "rfm_f": f, "rfm_m": m, "rfm_group": group}


def lifecycle(frame: pd.DataFrame, settings: ScoringSettings) -> npt.NDArray[np.object_]:
    tenure = frame["tenure_days"].to_numpy(dtype=np.float64)
    idle = frame["days_since_last_activity"].to_numpy(dtype=np.float64)
    idle = np.where(np.isnan(idle), tenure, idle)
    back = frame["days_since_reactivation"].to_numpy(dtype=np.float64)
    threshold = float(settings.inactivity_days)
    stage = np.select(
        [
            tenure < settings.new_days,
            idle > threshold,
            idle > threshold / 2,
            back <= settings.reactivation_days,  # NaN compares False
        ],
        [0, 3, 2, 4],
        default=1,
    )
    # one string object per stage, shared by every row
    names: npt.NDArray[np.object_] = np.asarray(LIFECYCLE_STAGES, dtype=object)[stage]
    return names


def tiers(frame: pd.DataFrame, settings: ScoringSettings) -> npt.NDArray[np.object_]:
    rate = frame[settings.tier_rate_field].to_numpy(dtype=np.float64)
    tier = np.select(
        [np.isnan(rate), rate > settings.tier_high_rate, rate > 0],
        [3, 0, 1],
        default=2,
    )
    names: npt.NDArray[np.object_] = np.asarray(TIERS, dtype=object)[tier]
    return names


def apply_scores(
    frame: pd.DataFrame, settings: ScoringSettings, reference: ScoreReference | None = None
) -> pd.DataFrame:
    """``frame`` with the score and stage columns (``reference=None``: measured on ``frame``).

    The columns are added to ``frame`` itself (at a million rows a copy costs real memory)."""
    reference = reference or measure_reference(frame, settings)
    out = frame
    points = frame["engagement_points"].to_numpy(dtype=np.float64)
    saturation = settings.score_saturation or reference.saturation
    out["engagement_score"] = engagement_score(points, saturation)
    for column, values in rfm(frame, reference).items():
        out[column] = pd.Series(values, index=frame.index, dtype=values.dtype)
    out["lifecycle"] = pd.Series(lifecycle(frame, settings), index=frame.index, dtype=object)
    out["engagement_tier"] = pd.Series(tiers(frame, settings), index=frame.index, dtype=object)
    return out


def empty_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """Prediction columns present and empty (until stored models fill them)."""
    out = frame
    for column in ("churn_risk", "purchase_propensity", "cluster"):
        if column not in out.columns:
            out[column] = np.nan
    if "persona" not in out.columns:
        out["persona"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    return out
