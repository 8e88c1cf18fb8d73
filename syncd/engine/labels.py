"""Training labels for the predictive models, built from history with a time split.

The cut-off is ``now - horizon``: features are computed as of the cut-off (only events before it
count), outcomes are read from the ``horizon`` days after it. Nothing a model learns from can
see its own outcome, so the cross-validated AUC is an honest estimate of how the model does when
it predicts the next ``horizon`` days from the frame as of now.

- churn: among contacts *active* at the cut-off (an open, click or purchase within the account's
  inactivity threshold), those with no open, click or purchase in the horizon.
- purchase propensity: among contacts known at the cut-off, those with a purchase in the horizon.

One grouped SQL pass over the events gives every contact's outcome counts; everything after that
is column arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, case, func, select

from syncd.engine import sql
from syncd.records import ActivityType
from syncd.store.models import ActivityEvent, Contact

#: what counts as the contact doing something (a send is something done *to* them)
ENGAGEMENT_TYPES = (ActivityType.OPEN.value, ActivityType.CLICK.value, ActivityType.PURCHASE.value)
_RECENCY_COLUMNS = ("days_since_last_open", "days_since_last_click", "days_since_last_purchase")


@dataclass(frozen=True)
class Outcomes:
    """Per contact (index = contact_id): known before the cut-off, and what happened after."""

    frame: pd.DataFrame  # columns: known (bool), engaged_after (float), purchases_after (float)
    cutoff: datetime
    horizon_days: int


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _epoch(moment: datetime) -> int:
    return int(_utc(moment).timestamp())


def load_outcomes(
    conn: Connection, account_id: str, cutoff: datetime, horizon_days: int
) -> Outcomes:
    """Outcome counts in ``(cutoff, cutoff + horizon]`` and whether each contact existed by the
    cut-off."""
    cut_ts = _epoch(cutoff)
    end_ts = _epoch(cutoff + timedelta(days=horizon_days))
    ev = ActivityEvent.__table__.c  # type: ignore[attr-defined]
    # features count events up to and including their moment (features.py), so the outcome
    # window starts strictly after the cut-off: no event is both a feature and an outcome
    in_horizon = (ev.occurred_ts > cut_ts) & (ev.occurred_ts <= end_ts)
    engaged = case((in_horizon & ev.type.in_(ENGAGEMENT_TYPES), 1), else_=0)
    purchased = case((in_horizon & (ev.type == ActivityType.PURCHASE.value), 1), else_=0)
    events_query = (
        select(
            ev.contact_id,
            func.min(ev.occurred_ts).label("first_ts"),
            func.sum(engaged).label("engaged_after"),
            func.sum(purchased).label("purchases_after"),
        )
        .where(ev.account_id == account_id, ev.occurred_ts <= end_ts)
        .group_by(ev.contact_id)
    )
    events = pd.DataFrame(
        conn.execute(events_query).all(),
        columns=["contact_id", "first_ts", "engaged_after", "purchases_after"],
    )

    ct = Contact.__table__.c  # type: ignore[attr-defined]
    created_before = case((ct.created_at <= _utc(cutoff), 1), else_=0)
    contacts_query = select(
        ct.id.label("contact_id"), created_before.label("created_before")
    ).where(ct.account_id == account_id)
    contacts = pd.DataFrame(
        conn.execute(contacts_query).all(), columns=["contact_id", "created_before"]
    )

    frame = contacts.merge(events, on="contact_id", how="left").set_index("contact_id")
    frame.index = frame.index.astype("int64")
    first_ts = pd.to_numeric(frame["first_ts"], errors="coerce").to_numpy(dtype="float64")
    # a contact imported after the cut-off but with older history (a merge) is still "known"
    known = (frame["created_before"].to_numpy() == 1) | (first_ts <= cut_ts)
    out = pd.DataFrame(
        {
            "known": known,
            "engaged_after": pd.to_numeric(frame["engaged_after"]).fillna(0.0).astype("float64"),
            "purchases_after": pd.to_numeric(frame["purchases_after"])
            .fillna(0.0)
            .astype("float64"),
        },
        index=frame.index,
    )
    return Outcomes(frame=out, cutoff=cutoff, horizon_days=horizon_days)


def outcome_columns(
    cutoff: datetime, horizon_days: int
) -> Callable[[sql.RawEvents, sql.ChunkContacts, int], dict[str, np.ndarray]]:
    """``load_outcomes`` as an extra of ``features.compute_frames``: the same columns computed
    from the raw events the feature frames are read from, so training reads the events once."""
    cut_ts = _epoch(cutoff)
    end_ts = _epoch(cutoff + timedelta(days=horizon_days))
    engaged_codes = np.array([sql.TYPE_CODES[t] for t in ENGAGEMENT_TYPES])
    purchase = sql.TYPE_CODES[ActivityType.PURCHASE.value]

    def columns(raw: sql.RawEvents, contacts: sql.ChunkContacts, n: int) -> dict[str, np.ndarray]:
        seen = raw.occurred <= end_ts
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, raw.position[seen], raw.occurred[seen])
        after = seen & (raw.occurred > cut_ts)
        engaged = after & np.isin(raw.code, engaged_codes)
        bought = after & (raw.code == purchase)
        # a contact imported after the cut-off but with older history (a merge) is "known"
        known = (contacts.created_ts <= cut_ts) | (first <= cut_ts)
        return {
            "known": known,
            "engaged_after": np.bincount(raw.position[engaged], minlength=n).astype("float64"),
            "purchases_after": np.bincount(raw.position[bought], minlength=n).astype("float64"),
        }

    return columns


def active_mask(frame: pd.DataFrame, inactivity_days: float) -> np.ndarray:
    """True where the contact opened, clicked or bought within ``inactivity_days`` of the frame's
    moment. Missing recency columns count as never."""
    recency = frame.reindex(columns=list(_RECENCY_COLUMNS)).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        # all-NaN rows (never engaged) give NaN, and NaN <= x is False: not active
        nearest = np.fmin.reduce(recency, axis=1) if recency.size else np.full(len(frame), np.nan)
    result: np.ndarray = nearest <= inactivity_days
    return result


@dataclass(frozen=True)
class LabelledSet:
    """The examples for one model: feature rows as of the cut-off and a 0/1 outcome."""

    features: pd.DataFrame
    target: np.ndarray  # int8, one per example
    #: positions of the examples in ``features`` (None: every row). Positions, not a copy of
    #: the rows: the frame can be a million contacts wide with text columns
    rows: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        return np.arange(len(self.features)) if self.rows is None else self.rows


def churn_examples(past: pd.DataFrame, outcomes: Outcomes, inactivity_days: float) -> LabelledSet:
    """Contacts active at the cut-off; 1 = no open/click/purchase in the horizon."""
    joined = outcomes.frame.reindex(past.index)
    eligible = joined["known"].fillna(False).to_numpy(dtype=bool) & active_mask(
        past, inactivity_days
    )
    churned = joined["engaged_after"].fillna(0.0).to_numpy() == 0
    return LabelledSet(past, churned[eligible].astype("int8"), np.flatnonzero(eligible))


def propensity_examples(past: pd.DataFrame, outcomes: Outcomes) -> LabelledSet:
    """Contacts known at the cut-off; 1 = at least one purchase in the horizon."""
    joined = outcomes.frame.reindex(past.index)
    eligible = joined["known"].fillna(False).to_numpy(dtype=bool)
    bought = joined["purchases_after"].fillna(0.0).to_numpy() > 0
    return LabelledSet(past, bought[eligible].astype("int8"), np.flatnonzero(eligible))
