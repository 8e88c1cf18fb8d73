"""Drift: what a tool really holds against what the ledger says it holds.

Someone removed a tag by hand, or added a member to a syncd list. Detected on full syncs (when the
contacts pull reports memberships) and either corrected (the ledger is set to what the tool holds,
so the plan puts the desired state back) or only reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, delete

from syncd.records import TargetKind
from syncd.store.bulk import insert_new
from syncd.store.models import LedgerEntry
from syncd.sync.desired import Presence
from syncd.sync.plan import State, TargetKey

LEDGER: Table = LedgerEntry.__table__  # type: ignore[attr-defined]


@dataclass
class DriftReport:
    #: the ledger says member, the tool does not
    missing: dict[TargetKey, set[int]] = field(default_factory=dict)
    #: the tool says member, the ledger does not
    extra: dict[TargetKey, set[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def flat(d: Mapping[TargetKey, set[int]]) -> list[dict[str, Any]]:
            return [
                {"tool": k.tool, "target": k.name, "kind": str(k.kind), "contacts": len(v)}
                for k, v in sorted(d.items())
                if v
            ]

        return {"missing": flat(self.missing), "extra": flat(self.extra)}

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.missing.values()) + sum(len(v) for v in self.extra.values())

    def correct(self, engine: Engine, account_id: str, now: datetime) -> None:
        with engine.begin() as conn:
            for key, ids in self.missing.items():
                conn.execute(
                    delete(LEDGER).where(
                        and_(
                            LEDGER.c.account_id == account_id,
                            LEDGER.c.tool == key.tool,
                            LEDGER.c.target_kind == str(key.kind),
                            LEDGER.c.target == key.name,
                            LEDGER.c.contact_id.in_(sorted(ids)),
                        )
                    )
                )
            rows = [
                {
                    "account_id": account_id,
                    "tool": key.tool,
                    "target_kind": str(key.kind),
                    "target": key.name,
                    "contact_id": contact_id,
                    "value": None,
                    "acknowledged_at": now,
                }
                for key, ids in self.extra.items()
                for contact_id in sorted(ids)
            ]
            insert_new(
                conn, LEDGER, rows, ("account_id", "tool", "target_kind", "target", "contact_id")
            )


def detect_drift(
    ledger: State,
    present: Presence,
    remote_ids: Mapping[TargetKey, str],
    reporting_tools: Set[str],
) -> DriftReport:
    """Compare, for every target syncd manages in a tool that reports memberships, the two views."""
    report = DriftReport()
    for key, remote_id in remote_ids.items():
        if key.tool not in reporting_tools or key.kind is TargetKind.PROPERTY:
            continue
        labels = {remote_id, key.name}
        held = {
            contact_id
            for contact_id in present.contacts.get(key.tool, set())
            if labels & present.reported.get((key.tool, contact_id), frozenset())
        }
        recorded = ledger.memberships.get(key, set()) & present.contacts.get(key.tool, set())
        if recorded - held:
            report.missing[key] = recorded - held
        if held - recorded:
            report.extra[key] = held - recorded
    return report
