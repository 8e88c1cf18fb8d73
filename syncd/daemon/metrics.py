"""Prometheus metrics of a daemon.

Counters and histograms come from the run reports this daemon produced (one
:meth:`DaemonMetrics.observe_run` per finished run). What the store knows better than any one
daemon (segment sizes and drift, queue depth, the last success per account) is read from the
store at scrape time, so every daemon on a shared store reports the same values for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Table, func, select

from syncd.daemon import queue
from syncd.store.models import Run, SegmentSnapshot

#: run and phase durations: from a no-change incremental run to a large full sync
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class DaemonMetrics:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "syncd_runs", "Runs finished, by account, kind and outcome.",
            ["account", "kind", "status"], registry=r,
        )  # fmt: skip
        self.skipped = Counter(
            "syncd_runs_skipped", "Runs not started because the account was busy or stopping.",
            ["account", "kind", "reason"], registry=r,
        )  # fmt: skip
        self.run_duration = Histogram(
            "syncd_run_duration_seconds", "Wall time of whole runs.",
            ["account", "kind"], buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.phase_duration = Histogram(
            "syncd_run_phase_duration_seconds", "Wall time of each run phase.",
            ["account", "phase"], buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.api_calls = Counter(
            "syncd_api_calls", "Vendor API calls, by vendor and operation.",
            ["account", "vendor", "operation"], registry=r,
        )  # fmt: skip
        self.api_responses = Counter(
            "syncd_api_responses", "Vendor answers, by operation and HTTP status.",
            ["account", "vendor", "operation", "status"], registry=r,
        )  # fmt: skip
        self.api_writes = Counter(
            "syncd_api_write_calls", "Vendor API calls that change something.",
            ["account", "vendor"], registry=r,
        )  # fmt: skip
        self.rate_limited = Counter(
            "syncd_api_rate_limited", "429 answers from a vendor.",
            ["account", "vendor"], registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "syncd_api_retries", "Retried vendor calls, by reason.",
            ["account", "vendor", "reason"], registry=r,
        )  # fmt: skip
        self.records = Counter(
            "syncd_records", "Records pulled, pushed (acknowledged) or rejected, per vendor.",
            ["account", "vendor", "outcome"], registry=r,
        )  # fmt: skip
        self.consent_blocked = Counter(
            "syncd_consent_blocked", "Planned memberships the consent gate refused.",
            ["account"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "syncd_runs_in_flight", "Runs this daemon is executing now.", registry=r
        )
        self.reloads = Counter(
            "syncd_config_reloads", "Config reloads, by outcome.", ["outcome"], registry=r
        )
        r.register(StoreCollector(engine))

    def observe_run(self, report: dict[str, Any], duration_s: float) -> None:
        """Count one finished run from its report (``RunReport.as_dict()`` or a train report)."""
        account = str(report.get("account_id", ""))
        kind = str(report.get("kind", ""))
        self.runs.labels(account, kind, str(report.get("status", "unknown"))).inc()
        self.run_duration.labels(account, kind).observe(duration_s)
        for phase, seconds in (report.get("timings") or {}).items():
            if isinstance(seconds, int | float):
                self.phase_duration.labels(account, phase).observe(seconds)
        for vendor, api in (report.get("api") or {}).items():
            for operation, count in (api.get("by_operation") or {}).items():
                self.api_calls.labels(account, vendor, operation).inc(count)
            for operation, statuses in (api.get("by_status") or {}).items():
                for status, count in statuses.items():
                    self.api_responses.labels(account, vendor, operation, status).inc(count)
            self.api_writes.labels(account, vendor).inc(api.get("write_calls", 0))
            self.rate_limited.labels(account, vendor).inc(api.get("rate_limited", 0))
            for reason, count in (api.get("retries") or {}).items():
                self.retries.labels(account, vendor, reason).inc(count)
        for vendor, streams in (report.get("pulled") or {}).items():
            pulled = sum(s.get("records", 0) for s in streams.values() if isinstance(s, dict))
            self.records.labels(account, vendor, "pulled").inc(pulled)
        for section in ("resumed", "pushed"):
            for vendor, pushed in (report.get(section) or {}).items():
                self.records.labels(account, vendor, "pushed").inc(pushed.get("acknowledged", 0))
                self.records.labels(account, vendor, "rejected").inc(pushed.get("rejected", 0))
        self.consent_blocked.labels(account).inc((report.get("blocked") or {}).get("total", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Gauges read from the store when scraped."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self.engine()
        sizes = GaugeMetricFamily(
            "syncd_segment_size", "Members of a segment at its last recompute.",
            labels=["account", "segment"],
        )  # fmt: skip
        drift = GaugeMetricFamily(
            "syncd_segment_drift", "1 when a segment's size moved past the drift threshold.",
            labels=["account", "segment"],
        )  # fmt: skip
        for row in latest_snapshots(engine):
            sizes.add_metric([row["account_id"], row["segment"]], row["size"])
            drift.add_metric([row["account_id"], row["segment"]], 1.0 if row["drift"] else 0.0)
        depth = GaugeMetricFamily(
            "syncd_resync_queue_depth", "Pending resync requests.", labels=["account"]
        )
        for account, count in queue.depth(engine).items():
            depth.add_metric([account], count)
        success = GaugeMetricFamily(
            "syncd_last_success_timestamp_seconds", "When the account's last good run ended.",
            labels=["account"],
        )  # fmt: skip
        for account, at in last_success(engine).items():
            success.add_metric([account], at.timestamp())
        yield from (sizes, drift, depth, success)


def latest_snapshots(engine: Engine, account_id: str | None = None) -> list[dict[str, Any]]:
    """The newest snapshot of every segment (of one account, or all)."""
    snap = _t(SegmentSnapshot)
    newest = select(func.max(snap.c.id).label("id")).group_by(snap.c.account_id, snap.c.segment)
    if account_id is not None:
        newest = newest.where(snap.c.account_id == account_id)
    query = select(snap).where(snap.c.id.in_(newest.scalar_subquery())).order_by(snap.c.segment)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def last_success(engine: Engine) -> dict[str, datetime]:
    run = _t(Run)
    query = (
        select(run.c.account_id, func.max(run.c.finished_at))
        .where(run.c.status == "ok", run.c.dry_run.is_(False))
        .group_by(run.c.account_id)
    )
    with engine.connect() as conn:
        return {str(a): _aware(at) for a, at in conn.execute(query).all() if at is not None}


def _aware(at: datetime) -> datetime:
    from datetime import UTC

    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
