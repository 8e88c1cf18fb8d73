"""The same results under injected faults (429, 5xx, timeouts, drops, truncated and malformed
bodies), with no 429 left unhandled; a fault that never clears is reported, not swallowed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from syncd.errors import MalformedResponse
from syncd.records import Change, ChangeOp, Target, TargetKind
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.population import Population
from tests.contract.hooks import hooks_for
from tests.contract.support import (
    FAULT_RATES,
    FAULT_SCRIPT,
    contact_key,
    drain,
    generated,
    invalid_key,
    opened,
    plain_population,
    refused,
    statuses,
    subscribing,
)
from tests.support.rig import Rig

pytestmark = pytest.mark.anyio


def faults(seed: int) -> FaultPlan:
    plan = FaultPlan(rates=dict(FAULT_RATES), seed=seed)
    for kind in FAULT_SCRIPT:  # every kind at least once, each cleared by its retry
        plan.add_script(kind, "ok")
    return plan


async def everything(rig: Rig) -> dict[str, Any]:
    """What a full pull of every stream yields, in a form that compares exactly."""
    contacts = await drain(rig.connector.pull_contacts(None))
    consent = await drain(rig.connector.pull_consent(None))
    activity = await drain(rig.connector.pull_activity(None))
    key: Callable[[Any], Any] = repr
    return {
        "contacts": Counter(contact_key(r) for r in contacts.records),
        "consent": Counter(consent.records),
        "activity": Counter(activity.records),
        "invalid": sorted(
            map(key, [invalid_key(i) for p in (contacts, consent) for i in p.invalid])
        ),
    }


def assert_429s_handled(rig: Rig) -> None:
    seen = statuses(rig.sandbox.log.exchanges)[429]
    assert seen > 0, "no 429 was exercised"
    assert rig.connector.http.stats.rate_limited == seen, "a 429 reached the caller unhandled"
    assert refused(rig.sandbox.log.exchanges, allowed=frozenset({429})) == []


@pytest.mark.parametrize("seed", [3, 8])
async def test_pulls_are_identical_under_faults(name: str, seed: int) -> None:
    population: Population = generated(120, seed=24)
    async with opened(name, population) as rig:
        clean = await everything(rig)
    plan = faults(seed)
    async with opened(name, population, plan) as rig:
        faulty = await everything(rig)
    assert set(plan.injected) == set(FAULT_SCRIPT)
    assert faulty == clean
    assert_429s_handled(rig)
    assert sum(rig.connector.http.stats.retries.values()) >= len(plan.injected)


async def test_pushes_land_exactly_under_faults(name: str) -> None:
    hooks = hooks_for(name)
    population = plain_population(name, 300)
    emails = sorted(p.email for p in population.people if p.email)
    plan = faults(5)
    async with opened(name, population, plan) as rig:
        supported = rig.connector.capabilities().targets
        targets = [Target(k, f"syncd_faults_{k.value}") for k in TargetKind if k in supported]
        ids = await rig.connector.ensure_targets(targets)
        changes: list[Change] = []
        for target in targets:
            if target.kind is TargetKind.PROPERTY:
                changes += [Change(target, ChangeOp.SET, e, value=e[:8]) for e in emails]
            else:
                changes += [Change(target, ChangeOp.ADD, e) for e in emails]
                changes += [Change(target, ChangeOp.REMOVE, e) for e in emails[::3]]
        results = await rig.connector.apply(changes)
        assert [(r.change.email, r.reason) for r in results if not r.ok] == []
        for target in targets:
            if target.kind is TargetKind.PROPERTY:
                stored = {e: hooks.property_value(rig, e, ids[target]) for e in emails}
                assert stored == {e: e[:8] for e in emails}
            else:
                assert hooks.members(rig, target, ids[target]) == set(emails) - set(emails[::3])
        # one list or field per target, however often a create had to be retried
        again = await rig.connector.ensure_targets(targets)
        assert again == ids
    assert plan.injected
    assert subscribing(rig.sandbox.log) == []
    assert refused(rig.sandbox.log.exchanges, allowed=frozenset({429})) == []


async def test_a_body_that_stays_malformed_is_reported(name: str) -> None:
    plan = FaultPlan(rates={"malformed": 1.0})
    async with opened(name, plain_population(name, 5), plan) as rig:
        with pytest.raises(MalformedResponse) as caught:
            await drain(rig.connector.pull_contacts(None))
    assert caught.value.vendor == name
    assert caught.value.operation
    assert rig.connector.http.stats.retries["malformed"] > 0
