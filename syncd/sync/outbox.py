"""The durable outbox: a plan is stored before the first call; each acknowledged batch moves its
items to done, updates the ledger and writes the audit rows in one transaction.

After a crash (kill -9 anywhere) the next run finds the pending items and finishes them. Nothing
acknowledged is sent twice; a batch sent but not yet recorded may be sent again, which the vendors'
membership operations absorb (adding a member twice leaves one member).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, bindparam, delete, func, select, update

from syncd.connector import Connector
from syncd.records import Change, ChangeOp, ChangeResult, Target, TargetKind
from syncd.store.bulk import upsert
from syncd.store.models import AuditLog, Identity, LedgerEntry, OutboxItem
from syncd.sync.consent import ConsentGate
from syncd.sync.plan import Plan, RejectedKey, TargetKey


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


OUTBOX = _table(OutboxItem)
LEDGER = _table(LedgerEntry)
AUDIT = _table(AuditLog)
IDENTITY = _table(Identity)

PENDING, DONE, REJECTED, CANCELLED = "pending", "done", "rejected", "cancelled"


@dataclass
class PushCounts:
    sent: int = 0
    acknowledged: int = 0
    rejected: int = 0
    cancelled: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "rejections": self.rejections[:50],
        }


def store_plan(
    conn: Connection,
    account_id: str,
    run_id: int,
    plan: Plan,
    emails: Mapping[int, str],
    remote_ids: Mapping[tuple[str, int], str],
    now: datetime,
) -> int:
    """Write the plan's changes as pending outbox items; returns how many."""
    rows = [
        {
            "account_id": account_id,
            "run_id": run_id,
            "tool": c.key.tool,
            "target_kind": str(c.key.kind),
            "target": c.key.name,
            "op": str(c.op),
            "contact_id": c.contact_id,
            "email": emails[c.contact_id],
            "remote_id": remote_ids.get((c.key.tool, c.contact_id)),
            "value": c.value,
            "status": PENDING,
            "consent_status": c.consent_status,
            "consent_source": c.consent_source,
            "created_at": now,
        }
        for c in plan.changes
    ]
    if rows:
        conn.execute(OUTBOX.insert(), rows)
    return len(rows)


def pending_count(conn: Connection, account_id: str) -> int:
    count: int | None = conn.scalar(
        select(func.count())
        .select_from(OUTBOX)
        .where(and_(OUTBOX.c.account_id == account_id, OUTBOX.c.status == PENDING))
    )
    return count or 0


def pending_targets(conn: Connection, account_id: str) -> list[TargetKey]:
    rows = conn.execute(
        select(OUTBOX.c.tool, OUTBOX.c.target_kind, OUTBOX.c.target)
        .where(and_(OUTBOX.c.account_id == account_id, OUTBOX.c.status == PENDING))
        .distinct()
    )
    return sorted(TargetKey(r.tool, TargetKind(r.target_kind), r.target) for r in rows)


def rejected_keys(
    conn: Connection, account_id: str, state_of: Callable[[int], str | None]
) -> set[RejectedKey]:
    """Changes rejected before whose contact has not changed since: not worth sending again."""
    keys: set[RejectedKey] = set()
    for row in conn.execute(
        select(
            OUTBOX.c.tool,
            OUTBOX.c.target_kind,
            OUTBOX.c.target,
            OUTBOX.c.op,
            OUTBOX.c.contact_id,
            OUTBOX.c.state_hash,
        ).where(and_(OUTBOX.c.account_id == account_id, OUTBOX.c.status == REJECTED))
    ):
        if row.state_hash is not None and row.state_hash == state_of(row.contact_id):
            key = TargetKey(row.tool, TargetKind(row.target_kind), row.target)
            keys.add((key, ChangeOp(row.op), row.contact_id))
    return keys


@dataclass
class OutboxPusher:
    """Sends one tool's pending items in the connector's largest batches, recording each batch."""

    engine: Engine
    account_id: str
    tool: str
    connector: Connector
    gate: ConsentGate
    remote_target_ids: Mapping[TargetKey, str]
    now: Callable[[], datetime]
    state_of: Callable[[int], str | None]

    async def push(self) -> PushCounts:
        counts = PushCounts()
        items = self._pending()
        self._cancel_unconsented(items, counts)
        batch_max = self.connector.capabilities().batch_max
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        for item in items:
            if item.status == PENDING:
                groups[(item.target_kind, item.target, item.op)].append(item)
        for (kind, _target, _op), group in sorted(groups.items()):
            size = max(1, batch_max.get(TargetKind(kind), 100))
            for start in range(0, len(group), size):
                chunk = group[start : start + size]
                results = await self.connector.apply([self._change(i) for i in chunk])
                counts.sent += len(chunk)
                self._record(chunk, results, counts)
        return counts

    def _pending(self) -> list[Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OUTBOX)
                .where(
                    and_(
                        OUTBOX.c.account_id == self.account_id,
                        OUTBOX.c.tool == self.tool,
                        OUTBOX.c.status == PENDING,
                    )
                )
                .order_by(OUTBOX.c.id)
            ).all()
        return [_Item(**row._mapping) for row in rows]

    def _cancel_unconsented(self, items: Sequence[Any], counts: PushCounts) -> None:
        """Consent may have changed since the plan was stored: re-check every add now."""
        cancelled = []
        for item in items:
            if item.op != ChangeOp.ADD:
                continue
            key = TargetKey(self.tool, TargetKind(item.target_kind), item.target)
            list_id = self.remote_target_ids.get(key) if key.kind is TargetKind.LIST else None
            decision = self.gate.check_add(item.contact_id, self.tool, list_id)
            if not decision.allowed:
                item.status = CANCELLED
                cancelled.append({"b_id": item.id, "b_reason": f"consent: {decision.reason}"})
        if cancelled:
            with self.engine.begin() as conn:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("b_id"))
                    .values(status=CANCELLED, reason=bindparam("b_reason")),
                    cancelled,
                )
            counts.cancelled += len(cancelled)

    @staticmethod
    def _change(item: Any) -> Change:
        return Change(
            target=Target(TargetKind(item.target_kind), item.target),
            op=ChangeOp(item.op),
            email=item.email,
            remote_id=item.remote_id,
            value=item.value,
        )

    def _record(
        self, chunk: Sequence[Any], results: Sequence[ChangeResult], counts: PushCounts
    ) -> None:
        if len(results) != len(chunk):
            raise RuntimeError(
                f"{self.tool} connector returned {len(results)} results for {len(chunk)} changes"
            )
        now = self.now()
        done: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        ledger_add: list[dict[str, Any]] = []
        ledger_remove: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for item, result in zip(chunk, results, strict=True):
            if result.ok:
                done.append({"b_id": item.id, "b_at": now})
                entry = {
                    "account_id": self.account_id,
                    "tool": self.tool,
                    "target_kind": item.target_kind,
                    "target": item.target,
                    "contact_id": item.contact_id,
                    "value": item.value,
                    "acknowledged_at": now,
                }
                (ledger_remove if item.op == ChangeOp.REMOVE else ledger_add).append(entry)
                audit.append(
                    {
                        "account_id": self.account_id,
                        "at": now,
                        "actor": "syncd",
                        "action": f"push.{item.op}",
                        "detail": {
                            "tool": self.tool,
                            "target_kind": item.target_kind,
                            "target": item.target,
                            "contact_id": item.contact_id,
                            "value": item.value,
                            "run_id": item.run_id,
                            "consent_status": item.consent_status,
                            "consent_source": item.consent_source,
                        },
                    }
                )
            else:
                rejected.append(
                    {
                        "b_id": item.id,
                        "b_at": now,
                        "b_reason": result.reason or "rejected",
                        "b_hash": self.state_of(item.contact_id),
                    }
                )
                counts.rejections.append(
                    {
                        "tool": self.tool,
                        "target": item.target,
                        "op": item.op,
                        "email": item.email,
                        "reason": result.reason,
                    }
                )
        with self.engine.begin() as conn:
            if done:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("b_id"))
                    .values(status=DONE, done_at=bindparam("b_at")),
                    done,
                )
            if rejected:
                conn.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == bindparam("b_id"))
                    .values(
                        status=REJECTED,
                        done_at=bindparam("b_at"),
                        reason=bindparam("b_reason"),
                        state_hash=bindparam("b_hash"),
                    ),
                    rejected,
                )
            upsert(
                conn,
                LEDGER,
                ledger_add,
                ("account_id", "tool", "target_kind", "target", "contact_id"),
                ("value", "acknowledged_at"),
            )
            for (kind, target), ids in _by_target(ledger_remove).items():
                conn.execute(
                    delete(LEDGER).where(
                        and_(
                            LEDGER.c.account_id == self.account_id,
                            LEDGER.c.tool == self.tool,
                            LEDGER.c.target_kind == kind,
                            LEDGER.c.target == target,
                            LEDGER.c.contact_id.in_(ids),
                        )
                    )
                )
            if audit:
                conn.execute(AUDIT.insert(), audit)
        counts.acknowledged += len(done)
        counts.rejected += len(rejected)


def _by_target(entries: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in entries:
        grouped[(e["target_kind"], e["target"])].append(e["contact_id"])
    return grouped


class _Item:
    """A mutable view of an outbox row (status changes as the push proceeds)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)
