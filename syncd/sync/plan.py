"""Plan: the desired state diffed against the push ledger, through the consent gate.

Only differences go out. Adds pass the consent gate (blocked ones are reported with the reason);
removals always go; properties are set only where the value differs from what the tool holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from syncd.records import ChangeOp, TargetKind
from syncd.sync.consent import ConsentGate


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    tool: str
    kind: TargetKind
    name: str


@dataclass(frozen=True, slots=True)
class PlannedChange:
    key: TargetKey
    op: ChangeOp
    contact_id: int
    value: str | None = None
    consent_status: str | None = None
    consent_source: str | None = None


@dataclass(frozen=True, slots=True)
class Blocked:
    key: TargetKey
    contact_id: int
    reason: str


@dataclass
class State:
    """Memberships (contact ids per target) and property values (per target, per contact)."""

    memberships: dict[TargetKey, set[int]] = field(default_factory=dict)
    properties: dict[TargetKey, dict[int, str | None]] = field(default_factory=dict)


@dataclass
class Plan:
    changes: list[PlannedChange] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)

    def count(self, op: ChangeOp) -> int:
        return sum(1 for c in self.changes if c.op == op)


RejectedKey = tuple[TargetKey, ChangeOp, int]


def plan_changes(
    desired: State,
    ledger: State,
    gate: ConsentGate,
    present: Mapping[str, Set[int]],
    *,
    remote_ids: Mapping[TargetKey, str] | None = None,
    skip: Set[RejectedKey] = frozenset(),
) -> Plan:
    """The changes that take each tool from what the ledger says it holds to the desired state.

    ``present`` holds, per tool, the contacts that exist there (syncd never creates contacts).
    ``skip`` lists changes the vendor rejected before whose contact has not changed since.
    """
    plan = Plan()
    remote_ids = remote_ids or {}
    keys = sorted(set(desired.memberships) | set(ledger.memberships))
    for key in keys:
        want = desired.memberships.get(key, set())
        have = ledger.memberships.get(key, set())
        in_tool = present.get(key.tool, set())
        list_id = remote_ids.get(key) if key.kind is TargetKind.LIST else None
        for contact_id in sorted(want - have):
            if contact_id not in in_tool:
                continue
            decision = gate.check_add(contact_id, key.tool, list_id)
            if not decision.allowed:
                plan.blocked.append(Blocked(key, contact_id, decision.reason or "no consent"))
                continue
            if (key, ChangeOp.ADD, contact_id) in skip:
                continue
            plan.changes.append(
                PlannedChange(key, ChangeOp.ADD, contact_id, None, decision.status, decision.source)
            )
        # members no longer wanted, or no longer allowed, leave: removals are always allowed
        allowed_members = {c for c in have & want if gate.check_add(c, key.tool, list_id).allowed}
        for contact_id in sorted(have - allowed_members):
            if (key, ChangeOp.REMOVE, contact_id) in skip or contact_id not in in_tool:
                continue
            plan.changes.append(PlannedChange(key, ChangeOp.REMOVE, contact_id))
    for key in sorted(desired.properties):
        want_values = desired.properties[key]
        have_values = ledger.properties.get(key, {})
        in_tool = present.get(key.tool, set())
        for contact_id in sorted(want_values):
            value = want_values[contact_id]
            if contact_id not in in_tool or have_values.get(contact_id) == value:
                continue
            if (key, ChangeOp.SET, contact_id) in skip:
                continue
            plan.changes.append(PlannedChange(key, ChangeOp.SET, contact_id, value))
    return plan


def apply_plan(ledger: State, changes: list[PlannedChange]) -> State:
    """The ledger after every change in ``changes`` was acknowledged (for tests and dry runs)."""
    memberships = {k: set(v) for k, v in ledger.memberships.items()}
    properties = {k: dict(v) for k, v in ledger.properties.items()}
    for change in changes:
        if change.op is ChangeOp.ADD:
            memberships.setdefault(change.key, set()).add(change.contact_id)
        elif change.op is ChangeOp.REMOVE:
            memberships.get(change.key, set()).discard(change.contact_id)
        else:
            properties.setdefault(change.key, {})[change.contact_id] = change.value
    return State(memberships, properties)
