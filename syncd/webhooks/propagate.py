"""Consent propagation: a fast run for a few contacts whose consent was just withdrawn.

Not a sync: nothing is pulled and nothing is recomputed for the account. For the affected
contacts only, every marketing membership the ledger says a tool holds and the consent gate no
longer allows becomes a removal, stored in the normal outbox and pushed by the normal
:class:`OutboxPusher` (the ledger and the audit log are kept the usual way). Whatever else the
contacts need waits for the next incremental run, which sees them changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Engine, Table, and_, select, update

from syncd.clock import Clock
from syncd.config import AccountConfig
from syncd.connector import Connector
from syncd.errors import SyncdError
from syncd.records import ChangeOp, ConsentStatus, Target, TargetKind
from syncd.store.models import Account, Consent, Contact, Identity, LedgerEntry, Run
from syncd.sync.consent import ConsentGate, ConsentRow
from syncd.sync.outbox import OutboxPusher, store_plan
from syncd.sync.plan import Plan, PlannedChange, TargetKey
from syncd.sync.service import build_connectors

KIND = "consent"


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


async def propagate_consent(
    engine: Engine,
    account: AccountConfig,
    contact_ids: Collection[int],
    *,
    clock: Clock,
    http_options: Mapping[str, Mapping[str, Any]] | None = None,
    connectors: Mapping[str, Connector] | None = None,
) -> dict[str, Any]:
    """Plan and push the removals ``contact_ids`` now need in every tool; returns a report
    (also stored as a run of kind ``consent``)."""
    started = time.perf_counter()
    ids = sorted(set(contact_ids))
    own = connectors is None
    tools = dict(connectors) if connectors is not None else build_connectors(account, http_options)
    run_id = _start_run(engine, account.id, clock)
    report: dict[str, Any] = {"run_id": run_id, "account_id": account.id, "kind": KIND}
    report.update({"contacts": len(ids), "removals": 0, "pushed": {}, "errors": []})
    status = "failed"
    try:
        ledger, gate, remote_ids, emails = _load(engine, account, ids)
        targets = await _targets(tools, ledger, report)
        plan = Plan()
        for key, contact_id in ledger:
            if key.tool not in tools or key.tool in report["failed_tools"]:
                continue
            list_id = targets.get(key) if key.kind is TargetKind.LIST else None
            if not gate.check_add(contact_id, key.tool, list_id).allowed:
                plan.changes.append(PlannedChange(key, ChangeOp.REMOVE, contact_id))
        report["removals"] = len(plan.changes)
        with engine.begin() as conn:
            store_plan(conn, account.id, run_id, plan, emails, remote_ids, clock.now())
        states = _states(engine, ids)
        for tool in sorted({c.key.tool for c in plan.changes}):
            pusher = OutboxPusher(
                engine=engine,
                account_id=account.id,
                tool=tool,
                connector=tools[tool],
                gate=gate,
                remote_target_ids=targets,
                now=clock.now,
                state_of=states.get,
            )
            try:
                report["pushed"][tool] = (await pusher.push()).as_dict()
            except SyncdError as exc:
                report["errors"].append({"phase": "push", "tool": tool, "error": str(exc)})
        status = "failed" if report["errors"] else "ok"
    except BaseException as exc:
        report["errors"].append({"phase": KIND, "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        report["status"] = status
        report["timings"] = {KIND: round(time.perf_counter() - started, 4)}
        report["api"] = {tool: c.http.stats.as_dict() for tool, c in tools.items()}
        _finish_run(engine, run_id, report, clock)
        if own:
            for connector in tools.values():
                await connector.aclose()
    return report


def _load(
    engine: Engine, account: AccountConfig, ids: list[int]
) -> tuple[list[tuple[TargetKey, int]], ConsentGate, dict[tuple[str, int], str], dict[int, str]]:
    ledger_t, consent_t, identity_t, contact_t = (
        _t(LedgerEntry),
        _t(Consent),
        _t(Identity),
        _t(Contact),
    )
    with engine.connect() as conn:
        ledger = [
            (TargetKey(r.tool, TargetKind(r.target_kind), r.target), r.contact_id)
            for r in conn.execute(
                select(ledger_t.c.tool, ledger_t.c.target_kind, ledger_t.c.target,
                       ledger_t.c.contact_id)
                .where(and_(ledger_t.c.account_id == account.id,
                            ledger_t.c.contact_id.in_(ids),
                            ledger_t.c.target_kind != str(TargetKind.PROPERTY)))
            )
        ]  # fmt: skip
        rows = [
            ConsentRow(r.contact_id, r.tool, ConsentStatus(r.status), r.list_id or "", r.source)
            for r in conn.execute(
                select(consent_t.c.contact_id, consent_t.c.tool, consent_t.c.status,
                       consent_t.c.list_id, consent_t.c.source)
                .where(and_(consent_t.c.contact_id.in_(ids), consent_t.c.channel == "email"))
            )
        ]  # fmt: skip
        remote_ids = {
            (r.tool, r.contact_id): r.remote_id
            for r in conn.execute(
                select(identity_t.c.tool, identity_t.c.contact_id, identity_t.c.remote_id).where(
                    identity_t.c.contact_id.in_(ids)
                )
            )
        }
        emails = {
            r.id: r.email
            for r in conn.execute(
                select(contact_t.c.id, contact_t.c.email).where(contact_t.c.id.in_(ids))
            )
        }
    return sorted(ledger), ConsentGate(rows, account.merge.suppression), remote_ids, emails


async def _targets(
    tools: Mapping[str, Connector], ledger: list[tuple[TargetKey, int]], report: dict[str, Any]
) -> dict[TargetKey, str]:
    """Remote ids of the lists involved (the gate checks per-list unsubscribes by them)."""
    found: dict[TargetKey, str] = {}
    report["failed_tools"] = []
    for tool in sorted({k.tool for k, _ in ledger if k.tool in tools}):
        keys = sorted({k for k, _ in ledger if k.tool == tool})
        try:
            ids = await tools[tool].ensure_targets([Target(k.kind, k.name) for k in keys])
        except SyncdError as exc:
            report["failed_tools"].append(tool)
            report["errors"].append({"phase": "targets", "tool": tool, "error": str(exc)})
            continue
        found.update({TargetKey(tool, t.kind, t.name): rid for t, rid in ids.items()})
    return found


def _states(engine: Engine, ids: list[int]) -> dict[int, str]:
    contact = _t(Contact)
    with engine.connect() as conn:
        return {
            r.id: r.changed_at.isoformat()
            for r in conn.execute(
                select(contact.c.id, contact.c.changed_at).where(contact.c.id.in_(ids))
            )
        }


def _start_run(engine: Engine, account_id: str, clock: Clock) -> int:
    account, run = _t(Account), _t(Run)
    now = clock.now()
    with engine.begin() as conn:
        if conn.scalar(select(account.c.id).where(account.c.id == account_id)) is None:
            conn.execute(account.insert().values(id=account_id, name="", created_at=now))
        key = conn.execute(
            run.insert().values(
                account_id=account_id,
                kind=KIND,
                dry_run=False,
                status="running",
                phase="push",
                started_at=now,
                counts={},
                errors=[],
                timings={},
                report={},
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])  # fmt: skip


def _finish_run(engine: Engine, run_id: int, report: dict[str, Any], clock: Clock) -> None:
    run = _t(Run)
    pushed = report["pushed"].values()
    counts = {
        "changes_planned": report["removals"],
        "acknowledged": sum(p.get("acknowledged", 0) for p in pushed),
        "rejected": sum(p.get("rejected", 0) for p in pushed),
        "write_calls": sum(a.get("write_calls", 0) for a in report.get("api", {}).values()),
    }
    with engine.begin() as conn:
        conn.execute(
            update(run)
            .where(run.c.id == run_id)
            .values(
                status=report["status"], phase="done", finished_at=clock.now(), counts=counts,
                errors=report["errors"], timings=report["timings"],
                report=json.loads(json.dumps(report, default=str)),
            )
        )  # fmt: skip
