"""Pushing to the HubSpot sandbox: largest batches, exact landing, per-record reasons, consent."""

from __future__ import annotations

import math

import pytest

from connectors.hubspot import HubSpotSettings
from connectors.hubspot import settings as hs
from syncd.clock import VirtualClock
from syncd.errors import VendorError
from syncd.records import Change, ChangeOp, Target, TargetKind
from tests.support.rig import Rig
from tests.support.rig_hubspot import NOW, make_rig, sandbox_of, small_population

pytestmark = pytest.mark.anyio

VIP = Target(TargetKind.LIST, "VIP")
SCORE = Target(TargetKind.PROPERTY, "syncd_score")
SEGMENTS = Target(TargetKind.PROPERTY, "syncd_segments")


def rig_with(n_plain: int = 5, **settings: object) -> Rig:
    return make_rig(
        small_population(n_plain), clock=VirtualClock(NOW), settings=HubSpotSettings(**settings)
    )


def plain(n: int) -> list[str]:
    return [f"p{i}@example.com" for i in range(n)]


def test_capabilities_name_the_largest_batches() -> None:
    caps = rig_with().connector.capabilities()
    assert caps.targets == {TargetKind.TAG, TargetKind.LIST, TargetKind.PROPERTY}
    assert caps.batch_max[TargetKind.PROPERTY] == hs.BATCH_MAX == 100
    assert caps.batch_max[TargetKind.LIST] == hs.MEMBERSHIP_BATCH_MAX
    assert caps.rate_limits["burst"].requests == 100 and caps.rate_limits["search"].requests == 4
    tier = rig_with(tier="professional").connector.capabilities()
    assert tier.rate_limits["burst"].requests == 190


async def test_ensure_targets_finds_creates_or_refuses() -> None:
    rig = rig_with()
    sandbox = sandbox_of(rig)
    newsletter = Target(TargetKind.LIST, "Newsletter")
    found = await rig.connector.ensure_targets([newsletter, VIP, SCORE])
    assert found[newsletter] == sandbox.state.list_by_name("Newsletter").id  # type: ignore[union-attr]
    assert sandbox.state.list_by_name("VIP").processing_type == "MANUAL"  # type: ignore[union-attr]
    assert sandbox.state.properties["syncd_score"].type == "number"
    strict = rig_with(create_missing=False)
    with pytest.raises(VendorError, match="create_missing"):
        await strict.connector.ensure_targets([VIP])
    dynamic = rig_with()
    sandbox_of(dynamic).state.create_list("Engaged", "DYNAMIC")
    with pytest.raises(VendorError, match="DYNAMIC"):
        await dynamic.connector.ensure_targets([Target(TargetKind.LIST, "Engaged")])


@pytest.mark.parametrize("n", [1, 50, 120])
async def test_list_changes_use_ceil_n_over_batch_max_write_calls(n: int) -> None:
    rig = rig_with(n_plain=n, membership_batch_max=50)
    await rig.connector.ensure_targets([VIP])
    before = rig.connector.http.stats.write_calls
    sandbox = sandbox_of(rig)
    sandbox.log.clear()
    results = await rig.connector.apply([Change(VIP, ChangeOp.ADD, e) for e in plain(n)])
    assert all(r.ok for r in results)
    calls = math.ceil(n / 50)
    assert rig.connector.http.stats.write_calls - before == calls
    assert sandbox.log.count("PUT", r"/memberships/") == calls
    vip = sandbox.state.list_by_name("VIP")
    assert vip is not None
    emails = {sandbox.state.contacts[c].properties["email"] for c in vip.members}
    assert emails == set(plain(n))


async def test_property_changes_use_ceil_n_over_100_and_land_exactly() -> None:
    rig = rig_with(n_plain=250)
    await rig.connector.ensure_targets([SCORE, SEGMENTS])
    before = rig.connector.http.stats.write_calls
    changes = [Change(SCORE, ChangeOp.SET, e, value=str(i)) for i, e in enumerate(plain(250))]
    changes.append(Change(SEGMENTS, ChangeOp.SET, "p0@example.com", value="vip;active"))
    results = await rig.connector.apply(changes)
    assert [r.ok for r in results] == [True] * 251
    assert rig.connector.http.stats.write_calls - before == 3  # ceil(250 / 100); p0 in one input
    state = sandbox_of(rig).state
    by_email = {c.properties.get("email"): c.properties for c in state.contacts.values()}
    assert all(by_email[e]["syncd_score"] == str(i) for i, e in enumerate(plain(250)))
    assert by_email["p0@example.com"]["syncd_segments"] == "vip;active"
    untouched = by_email[" Alice@Example.COM "]
    assert "syncd_score" not in untouched


async def test_rejections_keep_hubspot_reason_and_the_rest_lands() -> None:
    rig = rig_with(n_plain=20)
    await rig.connector.ensure_targets([SCORE, VIP])
    changes = [Change(SCORE, ChangeOp.SET, e, value="7") for e in plain(20)]
    changes[5] = Change(SCORE, ChangeOp.SET, "p5@example.com", value="not a number")
    changes.append(Change(SCORE, ChangeOp.SET, "nobody@example.com", value="1"))
    changes.append(Change(VIP, ChangeOp.ADD, "nobody@example.com"))
    changes.append(Change(VIP, ChangeOp.ADD, "gina@example.com", remote_id="999999"))
    results = await rig.connector.apply(changes)
    assert len(results) == len(changes)
    assert [r.change for r in results] == changes
    assert not results[5].ok and "not a valid value" in (results[5].reason or "")
    assert all(r.ok for i, r in enumerate(results[:20]) if i != 5)
    assert "Could not get some CONTACT objects" in (results[20].reason or "")
    assert "Could not get some CONTACT objects" in (results[21].reason or "")
    assert "999999" in (results[22].reason or "")
    state = sandbox_of(rig).state
    values = {
        c.properties.get("email"): c.properties.get("syncd_score") for c in state.contacts.values()
    }
    assert values["p4@example.com"] == "7" and values["p5@example.com"] is None


async def test_consent_is_never_written() -> None:
    rig = rig_with()
    sandbox = sandbox_of(rig)
    before = {
        c.email: sandbox.consent_state(c.email or "") for c in sandbox.state.contacts.values()
    }
    optout = Target(TargetKind.PROPERTY, "hs_email_optout")
    changes = [
        Change(optout, ChangeOp.SET, "bruno@example.org", value="false"),
        Change(VIP, ChangeOp.ADD, "bruno@example.org"),
        Change(VIP, ChangeOp.ADD, "dan@example.com"),
    ]
    sandbox.log.clear()
    results = await rig.connector.apply(changes)
    assert not results[0].ok and "never writes hs_email_optout" in (results[0].reason or "")
    assert sandbox.log.count(path_pattern="communication-preferences") == 0
    assert sandbox.log.count("POST", "batch/update") == 0
    after = {c.email: sandbox.consent_state(c.email or "") for c in sandbox.state.contacts.values()}
    assert after == before


async def test_tags_are_manual_lists_and_optionally_a_property() -> None:
    rig = rig_with(tag_property="syncd_tags", tag_list_prefix="tag: ")
    hot, cold = Target(TargetKind.TAG, "hot"), Target(TargetKind.TAG, "cold")
    results = await rig.connector.apply(
        [
            Change(hot, ChangeOp.ADD, "alice@example.com"),
            Change(cold, ChangeOp.ADD, "alice@example.com"),
            Change(hot, ChangeOp.ADD, "p1@example.com"),
        ]
    )
    assert all(r.ok for r in results)
    state = sandbox_of(rig).state
    hot_list = state.list_by_name("tag: hot")
    assert hot_list is not None and hot_list.processing_type == "MANUAL"
    assert state.contacts["1001"].properties["syncd_tags"] == "cold;hot"
    removed = await rig.connector.apply([Change(hot, ChangeOp.REMOVE, "alice@example.com")])
    assert removed[0].ok and "1001" not in hot_list.members
    assert state.contacts["1001"].properties["syncd_tags"] == "cold"


async def test_pushes_survive_faults() -> None:
    rig = rig_with(n_plain=30)
    faults = sandbox_of(rig).faults
    faults.add_script("503", "ok", "truncate", "ok", "timeout", "ok", "429")
    changes = [Change(VIP, ChangeOp.ADD, e) for e in plain(30)]
    changes += [Change(SCORE, ChangeOp.SET, e, value="3") for e in plain(30)]
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results)
    assert len(faults.injected) == 4
    vip = sandbox_of(rig).state.list_by_name("VIP")
    assert vip is not None and len(vip.members) == 30
