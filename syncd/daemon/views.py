"""Read-only views of the store shared by the admin API, the status page and ``syncd runs``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, select

from syncd.store.models import Run, SegmentSnapshot


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.isoformat().replace("+00:00", "Z")


def run_summary(row: Any) -> dict[str, Any]:
    """One run without its full report: what a listing shows."""
    started, finished = row["started_at"], row["finished_at"]
    duration = None
    if started is not None and finished is not None:
        duration = round((_aware(finished) - _aware(started)).total_seconds(), 3)
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "kind": row["kind"],
        "dry_run": bool(row["dry_run"]),
        "status": row["status"],
        "phase": row["phase"],
        "started_at": iso(started),
        "finished_at": iso(finished),
        "duration_s": duration,
        "timings": row["timings"] or {},
        "counts": row["counts"] or {},
        "errors": row["errors"] or [],
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def list_runs(engine: Engine, account_id: str, limit: int = 20) -> list[dict[str, Any]]:
    run = _t(Run)
    query = (
        select(*[c for c in run.c if c.name != "report"])
        .where(run.c.account_id == account_id)
        .order_by(run.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [run_summary(r) for r in conn.execute(query).mappings()]


def run_detail(engine: Engine, run_id: int) -> dict[str, Any] | None:
    """A run with its full report (a dry-run's report carries its plan)."""
    run = _t(Run)
    with engine.connect() as conn:
        row = conn.execute(select(run).where(run.c.id == run_id)).mappings().first()
    if row is None:
        return None
    return {**run_summary(row), "report": row["report"] or {}}


def recent_errors(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """Errors of the latest runs that had any, newest first."""
    run = _t(Run)
    query = (
        select(run.c.id, run.c.account_id, run.c.kind, run.c.started_at, run.c.errors)
        .where(run.c.status.in_(("failed", "interrupted")))
        .order_by(run.c.id.desc())
        .limit(limit)
    )
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            for error in row["errors"] or [{"error": "(no detail)"}]:
                out.append(
                    {
                        "run_id": row["id"],
                        "account_id": row["account_id"],
                        "kind": row["kind"],
                        "at": iso(row["started_at"]),
                        "phase": error.get("phase") if isinstance(error, dict) else None,
                        "error": error.get("error") if isinstance(error, dict) else str(error),
                    }
                )
    return out[:limit]


def segment_history(
    engine: Engine, account_id: str, per_segment: int = 60
) -> dict[str, list[tuple[datetime, int]]]:
    """Segment sizes over time (oldest first), the last ``per_segment`` snapshots of each."""
    snap = _t(SegmentSnapshot)
    query = (
        select(snap.c.segment, snap.c.computed_at, snap.c.size)
        .where(snap.c.account_id == account_id)
        .order_by(snap.c.id)
    )
    history: dict[str, list[tuple[datetime, int]]] = {}
    with engine.connect() as conn:
        for segment, at, size in conn.execute(query).all():
            history.setdefault(segment, []).append((_aware(at), int(size)))
    return {name: points[-per_segment:] for name, points in history.items()}
