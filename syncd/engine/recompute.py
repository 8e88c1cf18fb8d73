"""One recompute of an account: features -> scores -> predictions -> segments -> store.

A full run reads every contact, measures the account-wide references (engagement saturation,
RFM thresholds) and stores them in its ``Run`` row (kind "recompute", ``report["reference"]``).
An incremental run reads only the contacts whose ``Contact.changed_at`` is after the previous
run's ``as_of`` and scores them against the stored references, so its work is proportional to
what changed. Time alone moves some values (decay, windows, days since ...): those of unchanged
contacts are refreshed by the next full run, which the daemon schedules daily.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update

from syncd.engine import sql
from syncd.engine.features import compute_features
from syncd.engine.memory import release_freed_memory
from syncd.engine.scores import ScoreReference, apply_scores, empty_predictions, measure_reference
from syncd.engine.settings import ScoringSettings
from syncd.store.models import Contact, ContactScore, Run

log = logging.getLogger(__name__)

KIND = "recompute"
_RUN = Run.__table__  # type: ignore[attr-defined]
_CONTACT = Contact.__table__  # type: ignore[attr-defined]
_SCORE = ContactScore.__table__  # type: ignore[attr-defined]
SCORE_COLUMNS = (
    "engagement_score",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_group",
    "lifecycle",
    "engagement_tier",
    "churn_risk",
    "purchase_propensity",
    "cluster",
    "persona",
)
_NUMERIC = {"engagement_score", "rfm_r", "rfm_f", "rfm_m", "churn_risk", "purchase_propensity"}
_NUMERIC |= {"cluster"}
_WRITE_BATCH = 50_000


@dataclass
class RecomputeReport:
    run_id: int
    full: bool
    contacts: int
    timings: dict[str, float] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    drifted: list[str] = field(default_factory=list)
    #: score rows that differed from the stored ones (only those are written)
    scores_written: int = 0
    frame: pd.DataFrame | None = None


def _utc(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def last_run(
    conn: Connection, account_id: str, *, full_only: bool = False
) -> dict[str, Any] | None:
    """The report of the latest successful recompute (``full_only``: latest full one)."""
    query = (
        select(_RUN.c.report)
        .where(_RUN.c.account_id == account_id, _RUN.c.kind == KIND, _RUN.c.status == "ok")
        .order_by(_RUN.c.id.desc())
    )
    for (report,) in conn.execute(query):
        if report and (report.get("full") or not full_only):
            return dict(report)
    return None


def changed_since(conn: Connection, account_id: str, since: datetime) -> npt.NDArray[np.int64]:
    """Ids of the account's contacts changed after ``since`` (sorted)."""
    stmt = text(
        f"SELECT {sql.string_agg(conn, 'id')} FROM contact "
        "WHERE account_id = :a AND changed_at > :since"
    ).bindparams(bindparam("since", type_=_CONTACT.c.changed_at.type))
    row = conn.execute(stmt, {"a": account_id, "since": _utc(since)}).one()
    return np.sort(sql.parse_ints(row[0]))


def recompute(
    engine: Engine,
    account_id: str,
    settings: ScoringSettings,
    segments: Sequence[Any],
    now: datetime,
    *,
    full: bool,
) -> RecomputeReport:
    """Recompute the account's scores and segments and store them (see the module docstring)."""
    now = _utc(now)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        # a stage's freed temporaries go back to the OS instead of under the next one's peak
        release_freed_memory()
        timings[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    with engine.begin() as conn:
        previous = last_run(conn, account_id)
        reference_run = last_run(conn, account_id, full_only=True)
        if not full and (previous is None or reference_run is None):
            full = True  # nothing to be incremental against
        run_id = _start_run(conn, account_id, now, full)
    contact_ids = None
    reference: ScoreReference | None = None
    if not full and previous is not None and reference_run is not None:
        reference = ScoreReference.from_json(reference_run["reference"])
        with engine.connect() as conn:
            contact_ids = changed_since(conn, account_id, datetime.fromisoformat(previous["as_of"]))
    frame = compute_features(
        engine, account_id, now, contact_ids, settings=settings, with_scores=False
    )
    lap("features")
    if reference is None:
        reference = measure_reference(frame, settings)
    frame = empty_predictions(apply_scores(frame, settings, reference))
    lap("scores")
    frame = _predict(engine, account_id, frame)
    lap("predictions")
    results = _evaluate(frame, segments, account_id)
    lap("segments")
    with engine.begin() as conn:
        written = write_scores(conn, account_id, frame, now, replace_all=full)
        lap("write_scores")
        snapshots = _write_segments(conn, account_id, results, now, settings, contact_ids, run_id)
        lap("write_segments")
        report = RecomputeReport(run_id, full, len(frame), timings, frame=frame)
        report.scores_written = written
        report.segments = {s.segment: s.size for s in snapshots}
        report.drifted = [s.segment for s in snapshots if s.drift]
        conn.execute(
            update(_RUN)
            .where(_RUN.c.id == run_id)
            .values(
                status="ok",
                phase="done",
                finished_at=datetime.now(UTC),
                counts={
                    "contacts": len(frame),
                    "scores_written": written,
                    "segments": len(snapshots),
                },
                timings=timings,
                report={
                    "full": full,
                    "as_of": now.isoformat(),
                    "reference": reference.to_json(),
                    "drifted": report.drifted,
                },
            )
        )
    return report


def _start_run(conn: Connection, account_id: str, now: datetime, full: bool) -> int:
    result = conn.execute(
        insert(_RUN).values(
            account_id=account_id,
            kind=KIND,
            status="running",
            phase="features",
            started_at=now,
            counts={},
            errors=[],
            timings={},
            report={"full": full},
        )
    )
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("run row has no id")
    return int(key[0])


def _predict(engine: Engine, account_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    try:
        from syncd.engine import models
    except ImportError:  # the models module is optional until it lands
        return frame
    # in place: a copy of a million-row frame costs more memory than anything else in the run
    models.add_predictions(frame, models.load_artifacts(engine, account_id))
    return frame


def _evaluate(frame: pd.DataFrame, segments: Sequence[Any], account_id: str) -> dict[str, Any]:
    if not segments:
        return {}
    from syncd.engine.segments import evaluate_segments

    return dict(evaluate_segments(frame, segments, account_id))


def _write_segments(
    conn: Connection,
    account_id: str,
    results: dict[str, Any],
    now: datetime,
    settings: ScoringSettings,
    scope: npt.NDArray[np.int64] | None,
    run_id: int,
) -> list[Any]:
    if not results:
        return []
    from syncd.engine.segment_store import write_segment_results

    return list(
        write_segment_results(
            conn,
            account_id,
            results,
            now,
            drift_threshold=settings.drift_threshold,
            scope=scope,
            run_id=run_id,
        )
    )


#: stored precision of the float scores: a change below it is not worth a write
_DECIMALS = {"engagement_score": 2, "churn_risk": 4, "purchase_propensity": 4}
_NULL_NUMBER = -1.0  # every stored number is >= 0: a safe stand-in for NULL when comparing


def _encoded(frame: pd.DataFrame) -> dict[str, npt.NDArray[Any]]:
    """Score columns as stored: numbers rounded (NULL -> -1), texts with NULL -> ''."""
    out: dict[str, npt.NDArray[Any]] = {}
    for column in SCORE_COLUMNS:
        series = frame[column]
        if column in _NUMERIC:
            values = np.round(series.to_numpy(dtype=np.float64), _DECIMALS.get(column, 0))
            out[column] = np.where(np.isnan(values), _NULL_NUMBER, values)
        else:
            out[column] = series.astype(object).where(series.notna(), "").to_numpy(dtype=object)
    return out


def _stored(
    conn: Connection, account_id: str, ids: npt.NDArray[np.int64] | None
) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[Any]]]:
    """(contact ids, encoded columns) of the stored score rows (``ids``: only those)."""
    aggregates = [sql.string_agg(conn, "contact_id")]
    for column in SCORE_COLUMNS:
        if column in _NUMERIC:
            # as scaled integers: SQLite prints an integer several times faster than a double
            scale = 10 ** _DECIMALS.get(column, 0)
            expr = f"CAST(round(COALESCE({column}, {_NULL_NUMBER}) * {scale}) AS BIGINT)"
            aggregates.append(sql.string_agg(conn, expr))
        else:
            aggregates.append(sql.string_agg(conn, f"COALESCE({column}, '')", sql.SEP))
    if ids is None:
        chunks: list[tuple[str, dict[str, Any]]] = [("", {})]
    else:
        chunks = [
            (f" AND contact_id IN ({','.join(map(str, part.tolist()))})", {})
            for part in sql.split_ids(np.unique(ids), sql.LIST_CHUNK)
        ]
    # a plain scan in storage order, sorted here: walking the primary key index would cost a
    # table lookup per row (ten times the scan on SQLite at a million rows)
    not_indexed = " NOT INDEXED" if conn.dialect.name == "sqlite" else ""
    found_ids: list[npt.NDArray[np.int64]] = []
    found: dict[str, list[npt.NDArray[Any]]] = {c: [] for c in SCORE_COLUMNS}
    for where, params in chunks:
        row = conn.execute(
            text(
                f"SELECT {', '.join(aggregates)} FROM contact_score{not_indexed} "
                f"WHERE account_id = :a{where}"
            ),
            {"a": account_id, **params},
        ).one()
        found_ids.append(sql.parse_ints(row[0]))
        for column, joined in zip(SCORE_COLUMNS, row[1:], strict=True):
            if column in _NUMERIC:
                scale = 10 ** _DECIMALS.get(column, 0)
                found[column].append(np.round(sql.parse_ints(joined) / scale, 6))
            else:
                parts = joined.split(sql.SEP) if joined is not None else []
                found[column].append(np.array(parts, dtype=object))
    if not found_ids:
        empty = {c: np.zeros(0, dtype=np.float64 if c in _NUMERIC else object) for c in found}
        return np.zeros(0, dtype=np.int64), empty
    stored_ids = np.concatenate(found_ids)
    order = np.argsort(stored_ids, kind="stable")
    return stored_ids[order], {c: np.concatenate(v)[order] for c, v in found.items()}


def write_scores(
    conn: Connection,
    account_id: str,
    frame: pd.DataFrame,
    now: datetime,
    *,
    replace_all: bool,
) -> int:
    """Bring the ContactScore rows of the frame's contacts in line with it; returns rows written.

    Only rows that differ from what is stored are written (``computed_at`` is when a row last
    changed); ``replace_all`` (a full run) also drops rows of contacts no longer in the account.
    Rows go through the driver's executemany in one transaction: at a million contacts the
    ORM's per-row objects would cost more than computing the scores.
    """
    ids = frame.index.to_numpy(dtype=np.int64)
    new = _encoded(frame)
    stored_ids, old = _stored(conn, account_id, None if replace_all else ids)
    position = np.searchsorted(stored_ids, ids)
    present = position < len(stored_ids)
    present[present] = stored_ids[position[present]] == ids[present]
    differs = ~present
    for column in SCORE_COLUMNS:
        before = old[column][position[present]]
        differs[present] |= before != new[column][present]
    stale = np.setdiff1d(stored_ids, ids) if replace_all else np.zeros(0, dtype=np.int64)
    gone = np.concatenate([stale, ids[differs & present]])
    for part in sql.split_ids(np.sort(gone), sql.LIST_CHUNK):
        conn.execute(
            delete(_SCORE).where(
                _SCORE.c.account_id == account_id, _SCORE.c.contact_id.in_(part.tolist())
            )
        )
    _insert_scores(conn, account_id, ids[differs], {c: v[differs] for c, v in new.items()}, now)
    return int(differs.sum())


def _insert_scores(
    conn: Connection,
    account_id: str,
    ids: npt.NDArray[np.int64],
    encoded: dict[str, npt.NDArray[Any]],
    now: datetime,
) -> None:
    sqlite = conn.dialect.name == "sqlite"
    computed = now.astimezone(UTC)
    stamp: Any = computed.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else computed
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(("account_id", "contact_id", "computed_at", *SCORE_COLUMNS))
    marks = ", ".join([mark] * (3 + len(SCORE_COLUMNS)))
    statement = f"INSERT INTO contact_score ({names}) VALUES ({marks})"
    nulls = {c: encoded[c] == (_NULL_NUMBER if c in _NUMERIC else "") for c in SCORE_COLUMNS}
    # Python objects one batch at a time: a million rows of eleven boxed values each would
    # cost more memory than the frame
    for start in range(0, len(ids), _WRITE_BATCH):
        stop = min(start + _WRITE_BATCH, len(ids))
        columns: list[list[Any]] = []
        for column in SCORE_COLUMNS:
            listed: list[Any] = encoded[column][start:stop].tolist()
            for i in np.flatnonzero(nulls[column][start:stop]).tolist():
                listed[i] = None
            columns.append(listed)
        rows = list(
            zip(
                repeat(account_id, stop - start),
                ids[start:stop].tolist(),
                repeat(stamp, stop - start),
                *columns,
                strict=True,
            )
        )
        conn.exec_driver_sql(statement, rows)
