"""Brevo connector pushes: largest batches, exact landing, per-record reasons, targets."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from connectors.brevo import BrevoSettings
from syncd.clock import VirtualClock
from syncd.errors import VendorError
from syncd.records import Change, ChangeOp, Target, TargetKind
from syncd.sandbox.brevo import BrevoSandbox
from tests.support.rig import Rig
from tests.support.rig_brevo import make_rig, small_population

pytestmark = pytest.mark.anyio

VIP = Target(TargetKind.LIST, "VIP")
SCORE = Target(TargetKind.PROPERTY, "syncd_score")


def rig_for(extra_people: int = 0, settings: BrevoSettings | None = None) -> Rig:
    population = small_population(extra_people)
    clock = VirtualClock(start=population.now + timedelta(hours=1))
    return make_rig(population, clock=clock, settings=settings)


def box(rig: Rig) -> BrevoSandbox:
    assert isinstance(rig.sandbox, BrevoSandbox)
    return rig.sandbox


def users(n: int) -> list[str]:
    return [f"user{100 + i}@example.com" for i in range(n)]


async def test_list_adds_use_ceil_n_over_150_calls_and_land_exactly() -> None:
    rig = rig_for(extra_people=400)
    sandbox = box(rig)
    await rig.connector.ensure_targets([VIP])
    writes_before = rig.connector.http.stats.write_calls
    changes = [Change(VIP, ChangeOp.ADD, email) for email in users(400)]
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results) and [r.change for r in results] == changes
    assert rig.connector.http.stats.write_calls - writes_before == math.ceil(400 / 150)
    assert sandbox.log.count("POST", r"/contacts/add$") == 3
    vip = sandbox.state.list_by_name("VIP")
    assert vip is not None
    members = {c.email for c in sandbox.state.members(vip.id)}
    assert members == set(users(400)) | {"fay@example.com"}
    assert rig.connector.capabilities().batch_max[TargetKind.LIST] == 150


async def test_per_record_rejections_keep_the_reason() -> None:
    rig = rig_for()
    promotions = Target(TargetKind.LIST, "Promotions")
    changes = [
        Change(promotions, ChangeOp.ADD, "ada@example.com"),
        Change(promotions, ChangeOp.ADD, "bob@example.com"),  # blacklisted
        Change(promotions, ChangeOp.ADD, "fay@example.com"),  # left Promotions
        Change(promotions, ChangeOp.ADD, "ghost@example.com"),  # not in Brevo
        Change(Target(TargetKind.TAG, "x"), ChangeOp.ADD, "ada@example.com"),
        Change(promotions, ChangeOp.ADD, "broken@"),
    ]
    results = await rig.connector.apply(changes)
    assert [r.ok for r in results] == [True, False, False, False, False, False]
    assert "blacklisted" in (results[1].reason or "")
    assert "listUnsubscribed" in (results[2].reason or "")
    assert "document_not_found" in (results[3].reason or "")
    assert "no tags" in (results[4].reason or "")
    assert "invalid email" in (results[5].reason or "")
    bob = box(rig).state.find_email("bob@example.com")
    assert bob is not None and bob.email_blacklisted  # never re-subscribed


async def test_whole_call_refused_still_gives_each_its_reason() -> None:
    rig = rig_for()
    vip = Target(TargetKind.LIST, "VIP")
    results = await rig.connector.apply(
        [
            Change(vip, ChangeOp.ADD, "fay@example.com"),  # already a member: done
            Change(vip, ChangeOp.ADD, "bob@example.com"),
            Change(vip, ChangeOp.REMOVE, "ada@example.com"),  # not a member: done
        ]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert "blacklisted" in (results[1].reason or "")


async def test_list_remove_lands() -> None:
    rig = rig_for()
    newsletter = Target(TargetKind.LIST, "Newsletter")
    results = await rig.connector.apply([Change(newsletter, ChangeOp.REMOVE, "ada@example.com")])
    assert results[0].ok
    ada = box(rig).state.find_email("ada@example.com")
    lst = box(rig).state.list_by_name("Newsletter")
    assert ada is not None and lst is not None and lst.id not in ada.list_ids


async def test_property_sets_go_through_import_in_ceil_n_over_max_calls() -> None:
    rig = rig_for(extra_people=250, settings=BrevoSettings(import_max_rows=100))
    sandbox = box(rig)
    await rig.connector.ensure_targets([SCORE])
    writes_before = rig.connector.http.stats.write_calls
    changes = [
        Change(SCORE, ChangeOp.SET, email, remote_id="x", value=str(i))
        for i, email in enumerate(users(250))
    ]
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results)
    # ensure_targets made the housekeeping list too: apply writes only the imports
    imports = sandbox.log.count("POST", r"/contacts/import$")
    assert imports == math.ceil(250 / 100)
    assert rig.connector.http.stats.write_calls - writes_before == imports
    for i, email in enumerate(users(250)):
        contact = sandbox.state.find_email(email)
        assert contact is not None and contact.attributes["SYNCD_SCORE"] == str(i)
    assert sandbox.summary()["contacts"] == 8 + 250  # nobody created


async def test_property_set_clear_and_unknown_contact() -> None:
    rig = rig_for()
    sandbox = box(rig)
    first = Target(TargetKind.PROPERTY, "first_name")
    results = await rig.connector.apply(
        [
            Change(SCORE, ChangeOp.SET, "ada@example.com", value="9"),
            Change(first, ChangeOp.SET, "ada@example.com", value=None),  # clear
            Change(SCORE, ChangeOp.SET, "ghost@example.com", value="1"),
            Change(SCORE, ChangeOp.ADD, "ada@example.com"),
        ]
    )
    assert [r.ok for r in results] == [True, True, False, False]
    assert "does not exist" in (results[2].reason or "")
    assert sandbox.state.find_email("ghost@example.com") is None  # import never creates here
    ada = sandbox.state.find_email("ada@example.com")
    assert ada is not None
    assert ada.attributes["SYNCD_SCORE"] == "9" and "FIRSTNAME" not in ada.attributes
    assert sandbox.log.count("POST", r"/contacts/import$") == 1


async def test_ensure_targets_finds_creates_or_refuses() -> None:
    rig = rig_for()
    sandbox = box(rig)
    new_list = Target(TargetKind.LIST, "Segment: champions")
    ids = await rig.connector.ensure_targets([VIP, new_list, SCORE])
    vip = sandbox.state.list_by_name("VIP")
    assert vip is not None and ids[VIP] == str(vip.id)
    created = sandbox.state.list_by_name("Segment: champions")
    assert created is not None and ids[new_list] == str(created.id)
    assert ids[SCORE] == "SYNCD_SCORE" and "SYNCD_SCORE" in sandbox.state.attributes
    strict = rig_for(settings=BrevoSettings(create_missing=False))
    with pytest.raises(VendorError, match="create_missing"):
        await strict.connector.ensure_targets([Target(TargetKind.LIST, "Nope")])
    with pytest.raises(VendorError, match="no tags"):
        await strict.connector.ensure_targets([Target(TargetKind.TAG, "t")])


async def test_capabilities() -> None:
    caps = rig_for().connector.capabilities()
    assert caps.targets == frozenset({TargetKind.LIST, TargetKind.PROPERTY})
    assert caps.rate_limits["contacts_second"].requests == 10
    assert caps.rate_limits["contacts_hour"].requests == 36_000
    assert caps.extra["activity_calls_per_contact"] == 5
