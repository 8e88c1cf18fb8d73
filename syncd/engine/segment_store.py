"""Writing segment results to the store: membership diffs (``since`` kept for stayers),
snapshots with the change since the previous run and the drift flag.

Reads and writes go through SQLAlchemy Core in chunks, so a Connection and a Session both do;
the diff itself is NumPy set arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Integer, and_, cast, delete, func, insert, select, update
from sqlalchemy.orm import Session

from syncd.engine.segments import IdArray, SegmentResult, is_drift
from syncd.store.models import SegmentMembership, SegmentSnapshot

log = logging.getLogger(__name__)

Db = Connection | Session

#: ids per IN (...) list: under every SQLite build's variable limit, and PostgreSQL's
CHUNK = 900
#: above this many scoped contacts, loading a segment's memberships whole beats IN lists
SCOPED_LOOKUP_MAX = 50_000

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


def _existing(
    db: Db, account_id: str, segment: str, scope: IdArray | None
) -> tuple[IdArray, npt.NDArray[np.bool_]]:
    """(contact ids, holdout flags) stored for the segment, within ``scope`` when given."""
    base = select(_MEMBERSHIP.c.contact_id, _MEMBERSHIP.c.holdout).where(
        _MEMBERSHIP.c.account_id == account_id, _MEMBERSHIP.c.segment == segment
    )
    if scope is not None and len(scope) <= SCOPED_LOOKUP_MAX:
        rows = [
            row
            for chunk in _chunks(scope)
            for row in db.execute(base.where(_MEMBERSHIP.c.contact_id.in_(chunk))).all()
        ]
    else:
        rows = list(db.execute(base).all())
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    flags = np.fromiter((bool(r[1]) for r in rows), dtype=bool, count=len(rows))
    if scope is not None and len(scope) > SCOPED_LOOKUP_MAX:
        keep = np.isin(ids, scope)
        ids, flags = ids[keep], flags[keep]
    return ids, flags


def write_memberships(
    db: Db,
    account_id: str,
    result: SegmentResult,
    now: datetime,
    scope: npt.ArrayLike | None = None,
) -> MembershipDiff:
    """Bring the stored membership of one segment in line with ``result``.

    ``scope`` is the contact ids the result was computed for (the incremental path); contacts
    outside it are left alone. ``None`` means the result covers the whole account.
    """
    scoped = None if scope is None else np.unique(np.asarray(scope, dtype=np.int64))
    old_ids, old_holdout = _existing(db, account_id, result.name, scoped)
    new_ids = np.concatenate([result.members, result.holdout]).astype(np.int64)
    new_holdout = np.concatenate(
        [np.zeros(len(result.members), dtype=bool), np.ones(len(result.holdout), dtype=bool)]
    )
    leaving = np.setdiff1d(old_ids, new_ids)
    joining_mask = ~np.isin(new_ids, old_ids)
    # stayers keep their row (and so their ``since``); only a changed holdout side is updated
    order = np.argsort(old_ids)
    stay_mask = ~joining_mask
    stay_ids = new_ids[stay_mask]
    was_holdout = old_holdout[order][np.searchsorted(old_ids[order], stay_ids)]
    moved = stay_ids[was_holdout != new_holdout[stay_mask]]
    moved_to = new_holdout[stay_mask][was_holdout != new_holdout[stay_mask]]

    where_segment = and_(
        _MEMBERSHIP.c.account_id == account_id, _MEMBERSHIP.c.segment == result.name
    )
    for chunk in _chunks(leaving):
        db.execute(delete(_MEMBERSHIP).where(where_segment, _MEMBERSHIP.c.contact_id.in_(chunk)))
    for flag in (True, False):
        for chunk in _chunks(moved[moved_to == flag]):
            db.execute(
                update(_MEMBERSHIP)
                .where(where_segment, _MEMBERSHIP.c.contact_id.in_(chunk))
                .values(holdout=flag)
            )
    joining = new_ids[joining_mask]
    if len(joining):
        rows = [
            {
                "account_id": account_id,
                "segment": result.name,
                "contact_id": contact_id,
                "holdout": holdout,
                "since": now,
            }
            for contact_id, holdout in zip(
                joining.tolist(), new_holdout[joining_mask].tolist(), strict=True
            )
        ]
        db.execute(insert(_MEMBERSHIP), rows)
    return MembershipDiff(result.name, len(joining), len(leaving), len(moved))


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
