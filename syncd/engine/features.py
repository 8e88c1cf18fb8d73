"""The feature frame: one row per contact, one column per field of the catalogue (fields.py).

Definitions (the names are what rules refer to, so they are stable):

- ``<metric>_<N>d``: events in the last N days, counted inclusively (an event exactly 7 days old
  is in ``opens_7d``); ``<metric>_total``: since the first event. ``revenue_*`` sums purchase
  values in the base currency (see settings.py). Events after ``now`` are ignored, so a frame
  "as of" a past instant only sees what was known then.
- ``open_rate`` = opens / sends and ``click_rate`` = clicks / sends (all time, and over 90 days
  for the ``_90d`` ones). Opens are events, not unique opens, so a rate is capped at 1. No sends:
  NaN.
- ``days_since_last_<open|click|purchase|activity>``: fractional days; activity is an open, a
  click or a purchase (a send is done *to* the contact). NaN when it never happened.
- ``tenure_days``: since the earliest of ``Contact.created_at`` and the first event (a contact
  imported today with two years of history has two years of tenure); never negative.
- ``engagement_points``: the raw decayed points behind ``engagement_score``;
  ``days_since_reactivation``: days since the latest activity that ended a gap of more than the
  inactivity threshold (NaN: no such activity).
- Attributes from ``Contact.attributes`` (custom ones as ``custom.<name>``, as strings),
  ``email``, ``email_domain``, and ``in_<tool>`` from the contact's identities.

All aggregation is NumPy over the packed arrays read by sql.py: one ``bincount`` for every
(type, window) count of a chunk, ``maximum.at`` for the last times, no loop over contacts.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from syncd.engine import sql
from syncd.engine.fields import ATTRIBUTES, COUNTED, CUSTOM_PREFIX, TOOLS, WINDOWS_DAYS
from syncd.engine.memory import release_freed_memory
from syncd.engine.settings import ScoringSettings

DAY_S = 86_400
#: window edges in seconds; bucket k holds events no older than WINDOWS_DAYS[k] days
_EDGES = np.array([d * DAY_S for d in WINDOWS_DAYS], dtype=np.int64)
_N_BUCKETS = len(WINDOWS_DAYS) + 1
_METRIC_CODES = {"sends": 0, "opens": 1, "clicks": 2, "purchases": 3}
_TOTAL_CODES = {"bounces_total": 4, "unsubscribes_total": 5, "complaints_total": 6}
_ACTIVITY_CODES = (1, 2, 3)
_LAST = {"open": (1,), "click": (2,), "purchase": (3,), "activity": _ACTIVITY_CODES}
_NEVER = -1
_PLAIN = {str, type(None)}

Bind = Engine | Connection | Session


def _utc(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def connection_of(bind: Bind) -> tuple[Connection, bool]:
    """(a connection, whether we opened it and must close it)."""
    if isinstance(bind, Connection):
        return bind, False
    if isinstance(bind, Session):
        return bind.connection(), False
    return bind.connect(), True


#: extra per-contact columns computed from a chunk's raw events (see ``compute_frames``):
#: (events, contacts, number of contacts) -> columns
ExtraColumns = Callable[[sql.RawEvents, sql.ChunkContacts, int], dict[str, npt.NDArray[Any]]]


def compute_features(
    bind: Bind,
    account_id: str,
    now: datetime,
    contact_ids: npt.ArrayLike | None = None,
    *,
    settings: ScoringSettings | None = None,
    reference: Any = None,
    with_scores: bool = True,
    workers: int | None = None,
) -> pd.DataFrame:
    """The frame for the account's contacts (``contact_ids``: only those, the incremental path).

    With ``with_scores`` the score and stage columns are added (scores.py) using ``reference``
    (a ``ScoreReference``; ``None``: measured on this frame), and prediction columns are present
    and empty, so every catalogue field is a column. Given an Engine on a file database,
    chunks are read by up to ``workers`` threads (default: 2, or the CPU count if lower), each
    on its own connection: the database works while NumPy decodes.
    """
    settings = settings or ScoringSettings()
    (frame,), _ = compute_frames(
        bind, account_id, [now], contact_ids, settings=settings, workers=workers
    )
    if with_scores:
        from syncd.engine.scores import apply_scores, empty_predictions

        frame = empty_predictions(apply_scores(frame, settings, reference))
    return frame


def compute_frames(
    bind: Bind,
    account_id: str,
    moments: Sequence[datetime],
    contact_ids: npt.ArrayLike | None = None,
    *,
    settings: ScoringSettings | None = None,
    columns: Sequence[Collection[str] | None] | None = None,
    extra: ExtraColumns | None = None,
    workers: int | None = None,
) -> tuple[list[pd.DataFrame], pd.DataFrame | None]:
    """Feature frames (no scores) as of each of ``moments`` from ONE read of the events.

    ``columns[i]`` keeps only those columns in frame ``i`` (None: all); ``extra`` computes more
    per-contact columns from the same raw events, returned as a second frame (None without
    it). Model training uses this: the frame as of the cut-off, the few columns the clusters
    need as of now, and the outcomes after the cut-off cost one pass instead of three.
    """
    settings = settings or ScoringSettings()
    now_tss = [int(_utc(now).timestamp()) for now in moments]
    keeps: list[Collection[str] | None] = (
        list(columns) if columns is not None else [None] * len(moments)
    )
    if len(keeps) != len(moments):
        raise ValueError("one column selection per moment")
    conn, owned = connection_of(bind)
    try:
        if contact_ids is None:
            ids = sql.account_contact_ids(conn, account_id)
            chunks = list(sql.plan_chunks(ids, by_range=True))
        else:
            wanted = np.asarray(contact_ids, dtype=np.int64)
            ids = sql.existing_contact_ids(conn, account_id, wanted)
            chunks = list(sql.plan_chunks(ids, by_range=False))

        def one(c: Connection, chunk: sql.Chunk) -> _ChunkParts:
            parts = _chunk_frames(c, account_id, chunk, now_tss, settings, keeps, extra)
            if contact_ids is None:
                # a chunk's temporaries are several times its columns: without this, their
                # freed pages stay in the heap and the whole read peaks ~200 MB higher at 1 M
                release_freed_memory()
            return parts

        threads = _threads(bind, len(chunks), workers)
        if threads > 1 and isinstance(bind, Engine):
            parts = _parallel(bind, threads, chunks, one)
        else:
            parts = [one(conn, chunk) for chunk in chunks]
    finally:
        if owned:
            conn.close()
    sizes = [len(chunk.ids) for chunk in chunks]
    frames = []
    for i in range(len(moments)):
        frames.append(_assemble([p.frames[i] for p in parts], sizes, ids, settings, keeps[i]))
        for p in parts:
            p.frames[i] = {}  # assembled: the chunk pieces can go
    extras = None
    if extra is not None:
        index = pd.Index(ids, dtype=np.int64, name="contact_id")
        names = list(parts[0].extra) if parts else []
        extras = pd.DataFrame(
            {n: np.concatenate([p.extra[n] for p in parts]) for n in names}, index=index
        )
    return frames, extras


@dataclass
class _ChunkParts:
    frames: list[dict[str, Any]]
    extra: dict[str, npt.NDArray[Any]]


def _threads(bind: Bind, n_chunks: int, workers: int | None) -> int:
    if not isinstance(bind, Engine) or n_chunks < 2:
        return 1
    database = bind.url.database or ""
    if bind.dialect.name == "sqlite" and database in ("", ":memory:"):
        return 1  # one shared in-memory connection: nothing to read beside it
    wanted = workers if workers is not None else min(2, os.cpu_count() or 1)
    return max(1, min(wanted, n_chunks))


def _parallel(
    engine: Engine,
    threads: int,
    chunks: list[sql.Chunk],
    one: Callable[[Connection, sql.Chunk], _ChunkParts],
) -> list[_ChunkParts]:
    local = threading.local()
    opened: list[Connection] = []
    lock = threading.Lock()

    def run(chunk: sql.Chunk) -> _ChunkParts:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = engine.connect()
            with lock:
                opened.append(conn)
        return one(conn, chunk)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(run, chunks))
    finally:
        for conn in opened:
            conn.close()


def _chunk_frames(
    conn: Connection,
    account_id: str,
    chunk: sql.Chunk,
    now_tss: list[int],
    settings: ScoringSettings,
    keeps: list[Collection[str] | None],
    extra: ExtraColumns | None,
) -> _ChunkParts:
    raw = sql.read_raw_events(conn, account_id, chunk, settings)
    contacts = sql.read_contacts(conn, account_id, chunk, TOOLS)
    static = _contact_columns(contacts, settings)
    frames: list[dict[str, Any]] = []
    for now_ts, keep in zip(now_tss, keeps, strict=True):
        columns = event_columns(sql.events_as_of(raw, now_ts), len(chunk.ids), settings)
        # the earliest evidence of the contact: its creation or its first event (-1: none)
        created_age = now_ts - contacts.created_ts
        tenure = np.maximum(np.maximum(created_age, columns.pop("_oldest_age_s")), 0)
        columns["tenure_days"] = tenure / DAY_S
        columns.update(static)
        if keep is not None:
            columns = {k: v for k, v in columns.items() if k in keep}
        frames.append(columns)
    more = extra(raw, contacts, len(chunk.ids)) if extra is not None else {}
    return _ChunkParts(frames, more)


def _contact_columns(contacts: sql.ChunkContacts, settings: ScoringSettings) -> dict[str, Any]:
    """The columns that do not depend on the moment: email, tools, attributes."""
    columns: dict[str, Any] = {}
    columns["email"] = np.asarray(contacts.emails, dtype=object)
    columns["email_domain"] = shared_strings([e.rpartition("@")[2] for e in contacts.emails])
    for tool, flags in contacts.tools.items():
        columns[f"in_{tool}"] = flags
    attributes: list[dict[str, Any]] = json.loads(contacts.attributes_json)
    customs = settings.custom_fields
    if customs is None:
        found: set[str] = set().union(*attributes) if attributes else set()
        customs = tuple(str(k) for k in found if k not in ATTRIBUTES)
    for column, key in [(a, a) for a in ATTRIBUTES] + [(CUSTOM_PREFIX + c, c) for c in customs]:
        values = [a.get(key) for a in attributes]
        # strings and nulls pass as they are; only other JSON values need turning into text
        if not set(map(type, values)) <= _PLAIN:
            values = [_as_text(v) for v in values]
        columns[column] = shared_strings(values)
    return columns


def shared_strings(values: list[Any]) -> npt.NDArray[np.object_]:
    """An object array in which equal strings are one object (a million "FR" cost one)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    out = np.full(len(values), None, dtype=object)
    known = codes >= 0
    out[known] = np.asarray(uniques, dtype=object)[codes[known]]
    return out


def event_columns(
    ev: sql.ChunkEvents, n: int, settings: ScoringSettings
) -> dict[str, npt.NDArray[Any]]:
    """Every event-derived column for ``n`` contacts from one chunk's events."""
    out: dict[str, npt.NDArray[Any]] = {}
    bucket = np.searchsorted(_EDGES, ev.age_s, side="left")
    key = (ev.position * sql.N_CODES + ev.code) * _N_BUCKETS + bucket
    counts = np.bincount(key, minlength=n * sql.N_CODES * _N_BUCKETS)
    cumulative = counts.reshape(n, sql.N_CODES, _N_BUCKETS).cumsum(axis=2).astype(np.float64)
    revenue = np.bincount(
        ev.position * _N_BUCKETS + bucket, weights=ev.value, minlength=n * _N_BUCKETS
    )
    revenue_cum = revenue.reshape(n, _N_BUCKETS).cumsum(axis=1)
    for metric in COUNTED:
        table = revenue_cum if metric == "revenue" else cumulative[:, _METRIC_CODES[metric], :]
        for k, days in enumerate(WINDOWS_DAYS):
            out[f"{metric}_{days}d"] = table[:, k]
        out[f"{metric}_total"] = table[:, -1]
    for name, code in _TOTAL_CODES.items():
        out[name] = cumulative[:, code, -1]
    out["open_rate"] = _rate(out["opens_total"], out["sends_total"])
    out["click_rate"] = _rate(out["clicks_total"], out["sends_total"])
    out["open_rate_90d"] = _rate(out["opens_90d"], out["sends_90d"])
    out["click_rate_90d"] = _rate(out["clicks_90d"], out["sends_90d"])

    # ages are "seconds before now": the last event has the smallest age
    youngest = np.full(n * sql.N_CODES, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(youngest, ev.position * sql.N_CODES + ev.code, ev.age_s)
    youngest_by_code = youngest.reshape(n, sql.N_CODES)
    for what, codes in _LAST.items():
        age = youngest_by_code[:, list(codes)].min(axis=1)
        out[f"days_since_last_{what}"] = _days_or_nan(age)
    oldest = np.full(n, _NEVER, dtype=np.int64)
    np.maximum.at(oldest, ev.position, ev.age_s)
    out["_oldest_age_s"] = oldest

    points = np.array(
        [settings.points.get(name, 0.0) for name in sql.TYPE_CODES] + [0.0], dtype=np.float64
    )
    half_life_s = settings.half_life_days * DAY_S
    weights = points[ev.code] * np.exp2(-ev.age_s / half_life_s)
    out["engagement_points"] = np.bincount(ev.position, weights=weights, minlength=n)
    out["days_since_reactivation"] = _reactivation(ev, n, settings)
    return out


def _rate(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.minimum(numerator / denominator, 1.0)
    return np.where(denominator > 0, rate, np.nan)


def _days_or_nan(age_s: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    never = age_s == np.iinfo(np.int64).max
    return np.where(never, np.nan, age_s / DAY_S)


def _reactivation(ev: sql.ChunkEvents, n: int, settings: ScoringSettings) -> Any:
    """Days since the latest activity that came after more than ``inactivity_days`` without one."""
    activity = np.isin(ev.code, _ACTIVITY_CODES)
    position, age = ev.position[activity], ev.age_s[activity]
    # contact ascending, then time ascending (age descending); index order usually already is
    order_key = position * (1 << 32) - age
    if len(order_key) > 1 and not bool(np.all(order_key[1:] >= order_key[:-1])):
        order = np.lexsort((-age, position))
        position, age = position[order], age[order]
    same_contact = position[1:] == position[:-1]
    gap = age[:-1] - age[1:]
    ends_gap = same_contact & (gap > settings.inactivity_days * DAY_S)
    latest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(latest, position[1:][ends_gap], age[1:][ends_gap])
    return _days_or_nan(latest)


def _assemble(
    parts: list[dict[str, Any]],
    sizes: list[int],
    ids: npt.NDArray[np.int64],
    settings: ScoringSettings,
    keep: Collection[str] | None = None,
) -> pd.DataFrame:
    index = pd.Index(ids, dtype=np.int64, name="contact_id")
    if not parts:
        return _empty_frame(index, keep)
    names = list(dict.fromkeys(k for p in parts for k in p))
    customs = sorted(k for k in names if k.startswith(CUSTOM_PREFIX))
    if settings.custom_fields is not None:
        customs = [CUSTOM_PREFIX + c for c in settings.custom_fields]
        if keep is not None:
            customs = [c for c in customs if c in keep]
    ordered = [k for k in names if not k.startswith(CUSTOM_PREFIX)] + customs
    data: dict[str, Any] = {}
    for name in ordered:
        pieces = [
            p.pop(name) if name in p else np.full(size, None, dtype=object)
            for p, size in zip(parts, sizes, strict=True)
        ]
        # each column's chunk pieces go as soon as it is whole: memory stays at one frame
        column = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        # object stays object (pandas would otherwise infer its own string dtype, None -> NaN)
        data[name] = (
            pd.Series(column, index=index, dtype=object, copy=False)
            if column.dtype == object
            else column
        )
    return pd.DataFrame(data, index=index, copy=False)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _empty_frame(index: pd.Index, keep: Collection[str] | None = None) -> pd.DataFrame:
    from syncd.engine.fields import FIELDS, FieldType

    columns: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        if keep is not None and name not in keep:
            continue
        if kind is FieldType.NUMBER:
            columns[name] = pd.Series(np.zeros(0), index=index, dtype=np.float64)
        elif kind is FieldType.BOOL:
            columns[name] = pd.Series(np.zeros(0, dtype=bool), index=index)
        else:
            columns[name] = pd.Series([], index=index, dtype=object)
    return pd.DataFrame(columns, index=index)
