"""One run for one account: pull -> merge -> recompute -> plan -> consent gate -> push -> record."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, Table, select, update

from syncd.clock import Clock, SystemClock
from syncd.connector import Connector
from syncd.errors import SyncdError, VendorError
from syncd.records import ConsentStatus, Page, Target, TargetKind
from syncd.store.models import Account, Consent, Contact, Run
from syncd.sync.consent import ConsentGate, ConsentRow
from syncd.sync.desired import (
    PropertyPush,
    SegmentPush,
    desired_state,
    ledger_state,
    presence,
)
from syncd.sync.drift import detect_drift
from syncd.sync.ingest import IngestCounts, Ingestor, read_cursor
from syncd.sync.merge import MergePolicy
from syncd.sync.outbox import (
    OutboxPusher,
    PushCounts,
    pending_count,
    pending_targets,
    rejected_keys,
    store_plan,
)
from syncd.sync.plan import Plan, TargetKey, plan_changes

log = logging.getLogger("syncd.sync")

R = TypeVar("R")
Phase = Literal["resume", "pull", "recompute", "plan", "push"]
Recompute = Callable[[Engine, datetime, bool], dict[str, Any]]
#: progress callback: (event "start" | "page" | "end", phase, detail)
Observer = Callable[[str, str, str], None]


def _quiet(event: str, phase: str, detail: str) -> None:
    pass


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


@dataclass
class RunSpec:
    """Everything one run needs to know about its account (built from the config)."""

    account_id: str
    connectors: Mapping[str, Connector]
    pushes: list[SegmentPush] = field(default_factory=list)
    properties: list[PropertyPush] = field(default_factory=list)
    policy: MergePolicy = field(default_factory=MergePolicy)
    suppression: Literal["global", "per_tool"] = "global"
    drift: Literal["correct", "report"] = "correct"

    def own_properties(self) -> dict[str, frozenset[str]]:
        """Per tool, the property names syncd writes there (lower-cased)."""
        names: dict[str, set[str]] = {}
        for prop in self.properties:
            names.setdefault(prop.tool, set()).add(prop.property.lower())
        for push in self.pushes:
            names.setdefault(push.tool, set()).update(p.lower() for p in push.properties)
        return {tool: frozenset(n) for tool, n in names.items()}


@dataclass
class RunOptions:
    full: bool = False
    dry_run: bool = False


@dataclass
class RunReport:
    run_id: int
    account_id: str
    kind: str
    dry_run: bool
    status: str = "running"
    timings: dict[str, float] = field(default_factory=dict)
    pulled: dict[str, dict[str, Any]] = field(default_factory=dict)
    recompute: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    blocked: dict[str, Any] = field(default_factory=dict)
    pushed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what an interrupted earlier run had planned and this one finished first
    resumed_pending: int = 0
    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    api: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: write calls spent creating missing targets, per tool (the rest are the push's)
    setup_write_calls: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class SyncRun:
    def __init__(
        self,
        engine: Engine,
        spec: RunSpec,
        options: RunOptions,
        *,
        recompute: Recompute,
        clock: Clock | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.options = options
        self.recompute_fn = recompute
        self.observe = observer or _quiet
        self.clock = clock or SystemClock()
        self.now = self.clock.now()
        self.failed_tools: set[str] = set()
        self._run_id: int | None = None
        self._ingest_lock = asyncio.Lock()

    async def execute(self) -> RunReport:
        report = self._start()
        try:
            if report.resumed_pending and not self.options.dry_run:
                # finish what an interrupted run planned before planning anything new
                await self._phase(report, "resume", self._resume(report))
            await self._phase(report, "pull", self._pull(report))
            await self._phase(report, "recompute", self._recompute(report))
            remote_ids = await self._phase(report, "plan", self._plan(report))
            if not self.options.dry_run:
                await self._phase(report, "push", self._push(report, remote_ids))
            report.status = "failed" if report.errors else "ok"
        except BaseException as exc:
            report.status = "interrupted" if isinstance(exc, asyncio.CancelledError) else "failed"
            report.errors.append({"phase": "run", "error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            report.api = {tool: c.http.stats.as_dict() for tool, c in self.spec.connectors.items()}
            self._finish(report)
        return report

    # --- phases ----------------------------------------------------------------------------

    async def _phase(self, report: RunReport, name: Phase, work: Any) -> Any:
        self._set_phase(report.run_id, name)
        self.observe("start", name, "")
        started = time.perf_counter()
        try:
            return await work
        finally:
            report.timings[name] = round(time.perf_counter() - started, 3)
            self.observe("end", name, f"{report.timings[name]:.1f}s")
            log.info(
                "run %s %s phase done in %.2fs",
                report.run_id,
                name,
                report.timings[name],
                extra={"run_id": report.run_id, "phase": name, "account": self.spec.account_id},
            )

    async def _pull(self, report: RunReport) -> None:
        results = await asyncio.gather(
            *(self._pull_tool(tool, c) for tool, c in self.spec.connectors.items()),
            return_exceptions=True,
        )
        for tool, result in zip(self.spec.connectors, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, SyncdError | OSError):
                    raise result
                self.failed_tools.add(tool)
                report.errors.append({"phase": "pull", "tool": tool, "error": str(result)})
                log.error("pull from %s failed: %s", tool, result)
            else:
                report.pulled[tool] = result

    async def _pull_tool(self, tool: str, connector: Connector) -> dict[str, Any]:
        ingestor = Ingestor(
            self.spec.account_id,
            self.spec.policy,
            self.now,
            self._run_id,
            own_properties=self.spec.own_properties(),
        )
        totals: dict[str, Any] = {}
        streams: list[tuple[str, Callable[[str | None], AsyncIterator[Page[Any]]], Any]] = [
            ("contacts", connector.pull_contacts, ingestor.contacts),
            ("consent", connector.pull_consent, ingestor.consent),
            ("activity", connector.pull_activity, ingestor.activity),
        ]
        for stream, pull, ingest in streams:
            cursor = None
            if not self.options.full:
                with self.engine.connect() as conn:
                    cursor = read_cursor(conn, self.spec.account_id, tool, stream)
            counts = IngestCounts()
            records = 0
            seen: set[str] = set()
            async for page in pull(cursor):
                records += len(page.records)
                if stream == "contacts":
                    seen.update(r.remote_id for r in page.records)
                    seen.update(r.remote_id for r in page.invalid)
                # one writer at a time (two tools may bring the same new email), in a worker
                # thread so the other tools' requests keep flowing meanwhile
                async with self._ingest_lock:
                    counts.add(await asyncio.to_thread(self._ingest, ingest, tool, page))
                self.observe("page", "pull", f"{tool} {stream}: {records}")
            totals[stream] = {"records": records, **counts.__dict__}
            if stream == "contacts" and self.options.full:
                # the whole tool was read: whoever it no longer holds was deleted there
                async with self._ingest_lock:
                    gone = await asyncio.to_thread(self._prune, ingestor, tool, seen)
                totals[stream]["gone"] = gone
        return totals

    def _ingest(
        self,
        ingest: Callable[[Connection, str, Page[Any]], IngestCounts],
        tool: str,
        page: Page[Any],
    ) -> IngestCounts:
        with self.engine.begin() as conn:
            return ingest(conn, tool, page)

    def _prune(self, ingestor: Ingestor, tool: str, seen: set[str]) -> int:
        with self.engine.begin() as conn:
            return ingestor.prune(conn, tool, seen)

    async def _recompute(self, report: RunReport) -> None:
        # CPU-bound: in a worker thread, so a daemon's admin API and webhooks stay responsive
        report.recompute = await asyncio.to_thread(
            self.recompute_fn, self.engine, self.now, self.options.full
        )

    async def _plan(self, report: RunReport) -> dict[TargetKey, str]:
        with self.engine.connect() as conn:
            desired = desired_state(
                conn, self.spec.account_id, self.spec.pushes, self.spec.properties
            )
            ledger = ledger_state(conn, self.spec.account_id)
            present = presence(conn, self.spec.account_id)
            gate = self._gate(conn)
            states = self._states(conn)
            skip = rejected_keys(conn, self.spec.account_id, states.get)
        keys = sorted(set(desired.memberships) | set(desired.properties) | set(ledger.memberships))
        remote_ids = await self._ensure_targets(keys, report)
        if self.options.full:
            drift = detect_drift(ledger, present, remote_ids, self._reporting_tools())
            report.drift = drift.as_dict()
            if self.spec.drift == "correct" and not self.options.dry_run:
                drift.correct(self.engine, self.spec.account_id, self.now)
                with self.engine.connect() as conn:
                    ledger = ledger_state(conn, self.spec.account_id)
        usable = {
            t: present.contacts.get(t, set())
            for t in self.spec.connectors
            if t not in self.failed_tools
        }
        plan = plan_changes(desired, ledger, gate, usable, remote_ids=remote_ids, skip=skip)
        report.plan = self._summarise_plan(plan)
        report.blocked = self._summarise_blocked(plan)
        if not self.options.dry_run:
            with self.engine.begin() as conn:
                emails = self._emails(conn, {c.contact_id for c in plan.changes})
                store_plan(
                    conn,
                    self.spec.account_id,
                    report.run_id,
                    plan,
                    emails,
                    present.remote_ids,
                    self.now,
                )
        return remote_ids

    async def _resume(self, report: RunReport) -> None:
        with self.engine.connect() as conn:
            keys = pending_targets(conn, self.spec.account_id)
        remote_ids = await self._ensure_targets(keys, report)
        await self._push(report, remote_ids, into=report.resumed)

    async def _push(
        self,
        report: RunReport,
        remote_ids: dict[TargetKey, str],
        into: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        with self.engine.connect() as conn:
            states = self._states(conn)
            gate = self._gate(conn)
        into = report.pushed if into is None else into

        async def push_tool(tool: str, connector: Connector) -> None:
            pusher = OutboxPusher(
                engine=self.engine,
                account_id=self.spec.account_id,
                tool=tool,
                connector=connector,
                gate=gate,
                remote_target_ids=remote_ids,
                now=self.clock.now,
                state_of=states.get,
            )
            try:
                counts: PushCounts = await pusher.push()
            except VendorError as exc:
                report.errors.append({"phase": "push", "tool": tool, "error": str(exc)})
                return
            into[tool] = counts.as_dict()

        # the vendors' limits are their own: push to all of them at once
        await asyncio.gather(
            *(
                push_tool(tool, connector)
                for tool, connector in self.spec.connectors.items()
                if tool not in self.failed_tools
            )
        )

    # --- helpers ---------------------------------------------------------------------------

    async def _ensure_targets(
        self, keys: list[TargetKey], report: RunReport
    ) -> dict[TargetKey, str]:
        remote: dict[TargetKey, str] = {}
        for tool, connector in self.spec.connectors.items():
            if tool in self.failed_tools:
                continue
            targets = [Target(k.kind, k.name) for k in keys if k.tool == tool]
            if not targets:
                continue
            if self.options.dry_run:
                # a dry run's connectors create nothing: map what exists, one at a time
                for target in targets:
                    try:
                        found = await connector.ensure_targets([target])
                    except VendorError:
                        continue
                    remote.update(
                        {TargetKey(tool, t.kind, t.name): rid for t, rid in found.items()}
                    )
                continue
            before = connector.http.stats.write_calls
            try:
                found = await connector.ensure_targets(targets)
            except VendorError as exc:
                self.failed_tools.add(tool)
                report.errors.append({"phase": "plan", "tool": tool, "error": str(exc)})
                continue
            remote.update({TargetKey(tool, t.kind, t.name): rid for t, rid in found.items()})
            # creating missing lists / tags / properties: writes, but not the push's own
            setup = connector.http.stats.write_calls - before
            report.setup_write_calls[tool] = report.setup_write_calls.get(tool, 0) + setup
        return remote

    def _reporting_tools(self) -> set[str]:
        return {
            tool
            for tool, c in self.spec.connectors.items()
            if c.capabilities().reports_memberships and tool not in self.failed_tools
        }

    def _gate(self, conn: Connection) -> ConsentGate:
        consent = _t(Consent)
        rows = [
            ConsentRow(r.contact_id, r.tool, ConsentStatus(r.status), r.list_id or "", r.source)
            for r in conn.execute(
                select(
                    consent.c.contact_id,
                    consent.c.tool,
                    consent.c.status,
                    consent.c.list_id,
                    consent.c.source,
                )
                .where(consent.c.account_id == self.spec.account_id)
                .where(consent.c.channel == "email")
            )
        ]
        return ConsentGate(rows, self.spec.suppression)

    def _states(self, conn: Connection) -> dict[int, str]:
        contact = _t(Contact)
        return {
            r.id: r.changed_at.isoformat()
            for r in conn.execute(
                select(contact.c.id, contact.c.changed_at).where(
                    contact.c.account_id == self.spec.account_id
                )
            )
        }

    def _emails(self, conn: Connection, ids: set[int]) -> dict[int, str]:
        contact = _t(Contact)
        out: dict[int, str] = {}
        wanted = sorted(ids)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            out.update(
                {
                    r.id: r.email
                    for r in conn.execute(
                        select(contact.c.id, contact.c.email).where(contact.c.id.in_(chunk))
                    )
                }
            )
        return out

    def _summarise_plan(self, plan: Plan) -> dict[str, Any]:
        groups: Counter[tuple[str, str, str, str]] = Counter()
        for c in plan.changes:
            groups[(c.key.tool, str(c.key.kind), c.key.name, str(c.op))] += 1
        per_target = [
            {"tool": t, "kind": k, "target": n, "op": o, "count": count}
            for (t, k, n, o), count in sorted(groups.items())
        ]
        min_calls: Counter[str] = Counter()
        for (tool, kind, _name, _op), count in groups.items():
            batch = self.spec.connectors[tool].capabilities().batch_max.get(TargetKind(kind), 100)
            min_calls[tool] += math.ceil(count / max(1, batch))
        return {
            "changes": len(plan.changes),
            "per_target": per_target,
            "min_write_calls": dict(min_calls),
        }

    @staticmethod
    def _summarise_blocked(plan: Plan) -> dict[str, Any]:
        reasons: Counter[tuple[str, str, str]] = Counter()
        for b in plan.blocked:
            reasons[(b.key.tool, b.key.name, b.reason.split(" in ")[0])] += 1
        return {
            "total": len(plan.blocked),
            "by_target": [
                {"tool": t, "target": n, "reason": r, "count": c}
                for (t, n, r), c in sorted(reasons.items())
            ],
        }

    # --- run rows --------------------------------------------------------------------------

    def _start(self) -> RunReport:
        account = _t(Account)
        run = _t(Run)
        kind = "full" if self.options.full else "incremental"
        with self.engine.begin() as conn:
            if (
                conn.scalar(select(account.c.id).where(account.c.id == self.spec.account_id))
                is None
            ):
                conn.execute(
                    account.insert().values(id=self.spec.account_id, name="", created_at=self.now)
                )
            result = conn.execute(
                run.insert().values(
                    account_id=self.spec.account_id,
                    kind=kind,
                    dry_run=self.options.dry_run,
                    status="running",
                    phase="start",
                    started_at=self.now,
                    counts={},
                    errors=[],
                    timings={},
                    report={},
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            run_id = int(key[0])
            pending = pending_count(conn, self.spec.account_id)
        self._run_id = run_id
        report = RunReport(run_id, self.spec.account_id, kind, self.options.dry_run)
        report.resumed_pending = pending
        return report

    def _set_phase(self, run_id: int, phase: str) -> None:
        run = _t(Run)
        with self.engine.begin() as conn:
            conn.execute(update(run).where(run.c.id == run_id).values(phase=phase))

    def _finish(self, report: RunReport) -> None:
        run = _t(Run)
        counts = {
            "changes_planned": report.plan.get("changes", 0),
            "blocked": report.blocked.get("total", 0),
            "acknowledged": sum(p.get("acknowledged", 0) for p in report.pushed.values()),
            "rejected": sum(p.get("rejected", 0) for p in report.pushed.values()),
            "write_calls": sum(a.get("write_calls", 0) for a in report.api.values()),
        }
        with self.engine.begin() as conn:
            conn.execute(
                update(run)
                .where(run.c.id == report.run_id)
                .values(
                    status=report.status,
                    phase="done",
                    finished_at=self.clock.now(),
                    counts=counts,
                    errors=report.errors,
                    timings=report.timings,
                    report=_json_safe(report.as_dict()),
                )
            )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)
