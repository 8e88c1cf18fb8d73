"""Pushes: the largest batches, exact landing, removals, per-record reasons, consent untouched."""

from __future__ import annotations

import math

import pytest

from syncd.records import (
    Change,
    ChangeOp,
    ChangeResult,
    ConsentRecord,
    ConsentStatus,
    Target,
    TargetKind,
)
from tests.contract.hooks import hooks_for
from tests.contract.support import (
    drain,
    expected,
    generated,
    opened,
    plain_population,
    refused,
    string_leaves,
    subscribing,
)
from tests.support.rig import Rig

pytestmark = pytest.mark.anyio

#: enough people for several batches at every vendor's membership maximum below 1000
PLAIN = 1100
MEMBERSHIP_KINDS = (TargetKind.TAG, TargetKind.LIST)
STRANGER = "stranger.nobody@example.org"


def kinds(rig: Rig) -> list[TargetKind]:
    supported = rig.connector.capabilities().targets
    return [k for k in (*MEMBERSHIP_KINDS, TargetKind.PROPERTY) if k in supported]


def target_for(kind: TargetKind, label: str) -> Target:
    return Target(kind, f"syncd_{label}_{kind.value}")


async def remote_ids(rig: Rig) -> dict[str, str]:
    pulled = await drain(rig.connector.pull_contacts(None))
    return {r.email: r.remote_id for r in pulled.records}


async def apply_counted(rig: Rig, changes: list[Change]) -> tuple[list[ChangeResult], int]:
    before = rig.connector.http.stats.write_calls
    results = await rig.connector.apply(changes)
    return results, rig.connector.http.stats.write_calls - before


def consent_view(records: list[ConsentRecord]) -> list[tuple[str, str, str]]:
    return sorted((r.email, r.status.value, r.list_id or "") for r in records)


def failures(results: list[ChangeResult]) -> list[tuple[str, str | None]]:
    return [(r.change.email, r.reason) for r in results if not r.ok]


async def test_n_changes_to_one_target_take_ceil_n_over_batch_max_write_calls(name: str) -> None:
    hooks = hooks_for(name)
    async with opened(name, plain_population(name, PLAIN)) as rig:
        ids = await remote_ids(rig)
        emails = sorted(ids)
        batch_max = rig.connector.capabilities().batch_max
        for kind in kinds(rig):
            target = target_for(kind, "count")
            vendor_id = (await rig.connector.ensure_targets([target]))[target]
            if kind is TargetKind.PROPERTY:
                values = {e: str(i % 97) for i, e in enumerate(emails)}
                changes = [Change(target, ChangeOp.SET, e, ids[e], v) for e, v in values.items()]
                results, calls = await apply_counted(rig, changes)
                assert failures(results) == []
                assert calls == math.ceil(len(changes) / batch_max[kind]), kind
                stored = {e: hooks.property_value(rig, e, vendor_id) for e in emails}
                assert stored == values
                continue
            adds = [Change(target, ChangeOp.ADD, e, ids[e]) for e in emails]
            results, calls = await apply_counted(rig, adds)
            assert failures(results) == []
            assert calls == math.ceil(len(adds) / batch_max[kind]), kind
            assert hooks.members(rig, target, vendor_id) == set(emails)

            leaving = emails[: len(emails) // 2 + 7]
            removes = [Change(target, ChangeOp.REMOVE, e, ids[e]) for e in leaving]
            results, calls = await apply_counted(rig, removes)
            assert failures(results) == []
            assert calls == math.ceil(len(removes) / batch_max[kind]), kind
            assert hooks.members(rig, target, vendor_id) == set(emails) - set(leaving)
    assert refused(rig.sandbox.log.exchanges) == []
    assert subscribing(rig.sandbox.log) == []


async def test_changes_by_email_alone_land_exactly(name: str) -> None:
    """The engine may know a contact's email before its remote id: pushes must still land."""
    hooks = hooks_for(name)
    async with opened(name, plain_population(name, 60)) as rig:
        emails = sorted(expected(plain_population(name, 60), name).people)
        for kind in kinds(rig):
            target = target_for(kind, "by_email")
            if kind is TargetKind.PROPERTY:
                changes = [Change(target, ChangeOp.SET, e, value="7") for e in emails[:40]]
            else:
                adds = [Change(target, ChangeOp.ADD, e) for e in emails]
                assert failures(await rig.connector.apply(adds)) == []
                changes = [Change(target, ChangeOp.REMOVE, e) for e in emails[40:]]
            results = await rig.connector.apply(changes)
            assert failures(results) == []
            vendor_id = (await rig.connector.ensure_targets([target]))[target]
            if kind is TargetKind.PROPERTY:
                stored = {e: hooks.property_value(rig, e, vendor_id) for e in emails}
                assert stored == {e: ("7" if i < 40 else None) for i, e in enumerate(emails)}
            else:
                assert hooks.members(rig, target, vendor_id) == set(emails[:40])
    assert refused(rig.sandbox.log.exchanges) == []


async def test_a_rejected_record_keeps_the_vendors_reason_and_the_rest_lands(name: str) -> None:
    hooks = hooks_for(name)
    async with opened(name, plain_population(name, 40)) as rig:
        emails = sorted(expected(plain_population(name, 40), name).people)
        for kind in kinds(rig):
            target = target_for(kind, "reject")
            vendor_id = (await rig.connector.ensure_targets([target]))[target]
            if kind is TargetKind.PROPERTY:
                changes = [Change(target, ChangeOp.SET, e, value="3") for e in emails]
                changes.insert(17, Change(target, ChangeOp.SET, STRANGER, value="3"))
            else:
                changes = [Change(target, ChangeOp.ADD, e) for e in emails]
                changes.insert(17, Change(target, ChangeOp.ADD, STRANGER))
            start = len(rig.sandbox.log.exchanges)
            results = await rig.connector.apply(changes)
            assert [r.change for r in results] == changes, "one result per change, in order"
            [(who, reason)] = failures(results)
            assert who == STRANGER and reason
            answers = rig.sandbox.log.exchanges[start:]
            said = {s for e in answers for s in string_leaves(e.response_body) if len(s) >= 8}
            assert any(s in reason for s in said), f"{kind}: {reason!r} is not the vendor's word"
            # the only requests the vendor refused are about the stranger
            for line in refused(answers):
                assert STRANGER in line or "stranger.nobody%40" in line, line
            if kind is TargetKind.PROPERTY:
                assert {hooks.property_value(rig, e, vendor_id) for e in emails} == {"3"}
            else:
                assert hooks.members(rig, target, vendor_id) == set(emails)


async def test_pushes_never_subscribe_anyone(name: str) -> None:
    """Adds and property sets for every contact, suppressed ones included: consent as before."""
    population = generated()
    async with opened(name, population) as rig:
        ids = await remote_ids(rig)
        before = await drain(rig.connector.pull_consent(None))
        suppressed = [r for r in before.records if r.status is not ConsentStatus.SUBSCRIBED]
        assert suppressed, "the population should hold suppressed contacts"
        changes: list[Change] = []
        for kind in kinds(rig):
            target = target_for(kind, "consent")
            op = ChangeOp.SET if kind is TargetKind.PROPERTY else ChangeOp.ADD
            value = "9" if op is ChangeOp.SET else None
            changes += [Change(target, op, e, ids[e], value) for e in sorted(ids)]
        results = await rig.connector.apply(changes)
        assert len(results) == len(changes)
        after = await drain(rig.connector.pull_consent(None))
    assert subscribing(rig.sandbox.log) == []
    assert consent_view(after.records) == consent_view(before.records)
