"""Writing segment results to the store: membership diffs (``since`` kept for stayers),
snapshots with the change since the previous run and the drift flag.

Reads and writes go through SQLAlchemy Core (or the driver, for bulk inserts) in chunks, so a
Connection and a Session both do; the diff itself is NumPy set arithmetic on sorted id arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Connection,
    Integer,
    and_,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from syncd.engine import sql
from syncd.engine.segments import IdArray, SegmentResult, is_drift
from syncd.store.models import SegmentMembership, SegmentSnapshot

log = logging.getLogger(__name__)

Db = Connection | Session

#: ids per IN (...) list: under every SQLite build's variable limit, and PostgreSQL's
CHUNK = 900
#: above this many scoped contacts, loading a segment's memberships whole beats IN lists
SCOPED_LOOKUP_MAX = 50_000
#: rows per executemany of new memberships
WRITE_BATCH = 50_000

_MEMBERSHIP = SegmentMembership.__table__  # type: ignore[attr-defined]
_SNAPSHOT = SegmentSnapshot.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MembershipDiff:
    segment: str
    joined: int
    left: int
    #: stayers whose holdout side changed (only when the holdout share changed)
    moved: int


def _chunks(ids: IdArray) -> list[list[int]]:
    return [ids[i : i + CHUNK].tolist() for i in range(0, len(ids), CHUNK)]


def _connection(db: Db) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def _existing(
    conn: Connection, account_id: str, segment: str, scope: IdArray | None
) -> tuple[IdArray, npt.NDArray[np.bool_]]:
    """(sorted contact ids, holdout flags) stored for the segment, within ``scope`` if given.

    One string aggregate per query (``contact_id * 2 + holdout``) parsed by NumPy: at a million
    members, one Python row object per membership would cost more than the whole diff."""
    packed = "(CAST(contact_id AS BIGINT) * 2 + CASE WHEN holdout THEN 1 ELSE 0 END)"
    query = (
        f"SELECT {sql.string_agg(conn, packed)} FROM segment_membership "
        "WHERE account_id = :a AND segment = :s"
    )
    params = {"a": account_id, "s": segment}
    if scope is not None and len(scope) <= SCOPED_LOOKUP_MAX:
        parts = [
            sql.parse_ints(
                conn.execute(
                    text(f"{query} AND contact_id IN ({','.join(map(str, chunk))})"), params
                ).one()[0]
            )
            for chunk in _chunks(scope)
        ]
        found = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    else:
        found = sql.parse_ints(conn.execute(text(query), params).one()[0])
    found = np.sort(found)
    ids, flags = found >> 1, (found & 1).astype(bool)
    if scope is not None and len(scope) > SCOPED_LOOKUP_MAX:
        keep = np.isin(ids, scope, assume_unique=True)
        ids, flags = ids[keep], flags[keep]
    return ids, flags


def _bound(conn: Connection, column: Any, value: Any) -> Any:
    """``value`` as the column's type hands it to the driver (a SQLite datetime is text)."""
    process = column.type.bind_processor(conn.dialect)
    return process(value) if process else value


def write_memberships(
    db: Db,
    account_id: str,
    result: SegmentResult,
    now: datetime,
    scope: npt.ArrayLike | None = None,
) -> MembershipDiff:
    """Bring the stored membership of one segment in line with ``result``.

    ``scope`` is the contact ids the result was computed for (the incremental path); contacts
    outside it are left alone. ``None`` means the result covers the whole account. Only the
    difference is written: leavers deleted, joiners inserted (driver executemany with plain
    tuples), stayers whose holdout side changed updated; stayers keep their ``since``.
    """
    conn = _connection(db)
    scoped = None if scope is None else np.unique(np.asarray(scope, dtype=np.int64))
    old_ids, old_holdout = _existing(conn, account_id, result.name, scoped)
    new_ids = np.concatenate([result.members, result.holdout]).astype(np.int64)
    new_holdout = np.concatenate(
        [np.zeros(len(result.members), dtype=bool), np.ones(len(result.holdout), dtype=bool)]
    )
    order = np.argsort(new_ids, kind="stable")
    new_ids, new_holdout = new_ids[order], new_holdout[order]
    leaving = np.setdiff1d(old_ids, new_ids, assume_unique=True)
    position = np.searchsorted(old_ids, new_ids)
    stays = position < len(old_ids)
    stays[stays] = old_ids[position[stays]] == new_ids[stays]
    flipped = stays.copy()
    flipped[stays] = old_holdout[position[stays]] != new_holdout[stays]
    moved, moved_to = new_ids[flipped], new_holdout[flipped]

    where_segment = and_(
        _MEMBERSHIP.c.account_id == account_id, _MEMBERSHIP.c.segment == result.name
    )
    for chunk in _chunks(leaving):
        conn.execute(delete(_MEMBERSHIP).where(where_segment, _MEMBERSHIP.c.contact_id.in_(chunk)))
    for flag in (True, False):
        for chunk in _chunks(moved[moved_to == flag]):
            conn.execute(
                update(_MEMBERSHIP)
                .where(where_segment, _MEMBERSHIP.c.contact_id.in_(chunk))
                .values(holdout=flag)
            )
    joining, joining_holdout = new_ids[~stays], new_holdout[~stays]
    _insert_members(conn, account_id, result.name, joining, joining_holdout, now)
    return MembershipDiff(result.name, len(joining), len(leaving), len(moved))


def _insert_members(
    conn: Connection,
    account_id: str,
    segment: str,
    ids: IdArray,
    holdout: npt.NDArray[np.bool_],
    now: datetime,
) -> None:
    if not len(ids):
        return
    since = _bound(conn, _MEMBERSHIP.c.since, now)
    flags = (_bound(conn, _MEMBERSHIP.c.holdout, False), _bound(conn, _MEMBERSHIP.c.holdout, True))
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = (
        "INSERT INTO segment_membership (account_id, segment, contact_id, holdout, since) "
        f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})"
    )
    id_list, flag_list = ids.tolist(), holdout.tolist()
    for start in range(0, len(id_list), WRITE_BATCH):
        stop = min(start + WRITE_BATCH, len(id_list))
        rows = [
            (account_id, segment, contact_id, flags[held], since)
            for contact_id, held in zip(id_list[start:stop], flag_list[start:stop], strict=True)
        ]
        conn.exec_driver_sql(statement, rows)


def latest_snapshots(db: Db, account_id: str) -> dict[str, SegmentSnapshot]:
    """The most recent snapshot of every segment of the account."""
    newest = (
        select(func.max(_SNAPSHOT.c.id))
        .where(_SNAPSHOT.c.account_id == account_id)
        .group_by(_SNAPSHOT.c.segment)
    )
    rows = db.execute(select(_SNAPSHOT).where(_SNAPSHOT.c.id.in_(newest))).mappings().all()
    return {row["segment"]: SegmentSnapshot(**row) for row in rows}


def stored_sizes(db: Db, account_id: str) -> dict[str, tuple[int, int]]:
    """Per segment: (members + holdout, holdout) as stored now."""
    query = (
        select(
            _MEMBERSHIP.c.segment,
            func.count(),
            func.coalesce(func.sum(cast(_MEMBERSHIP.c.holdout, Integer)), 0),
        )
        .where(_MEMBERSHIP.c.account_id == account_id)
        .group_by(_MEMBERSHIP.c.segment)
    )
    return {segment: (int(n), int(held)) for segment, n, held in db.execute(query).all()}


def write_segment_results(
    db: Db,
    account_id: str,
    results: Mapping[str, SegmentResult],
    now: datetime,
    *,
    drift_threshold: float,
    scope: npt.ArrayLike | None = None,
    run_id: int | None = None,
) -> list[SegmentSnapshot]:
    """Write every segment's memberships and one snapshot each; flag and log drift.

    Sizes come from the store after the write, so an incremental run (``scope``) still
    snapshots the whole segment.
    """
    for result in results.values():
        write_memberships(db, account_id, result, now, scope)
    previous = latest_snapshots(db, account_id)
    sizes = stored_sizes(db, account_id)
    snapshots: list[SegmentSnapshot] = []
    for name in results:
        size, held = sizes.get(name, (0, 0))
        before = previous[name].size if name in previous else None
        drift = is_drift(size, before, drift_threshold)
        if drift:
            log.warning(
                "segment %r drifted: %s -> %d members (more than %.0f%% change)",
                name,
                before,
                size,
                drift_threshold * 100,
                extra={"account_id": account_id, "segment": name, "drift": True},
            )
        snapshot = SegmentSnapshot(
            account_id=account_id,
            segment=name,
            run_id=run_id,
            computed_at=now,
            size=size,
            holdout_size=held,
            previous_size=before,
            drift=drift,
        )
        snapshots.append(snapshot)
    if snapshots:
        db.execute(
            insert(_SNAPSHOT),
            [s.model_dump(exclude={"id"}) for s in snapshots],
        )
    return snapshots


def drop_segments(db: Db, account_id: str, keep: Sequence[str]) -> int:
    """Delete memberships of segments no longer defined; returns how many rows went."""
    result = db.execute(
        delete(_MEMBERSHIP).where(
            _MEMBERSHIP.c.account_id == account_id, _MEMBERSHIP.c.segment.not_in(list(keep))
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
