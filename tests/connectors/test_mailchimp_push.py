"""Pushing to the Mailchimp sandbox: largest batches, exact landing, per-record reasons, consent."""

from __future__ import annotations

import math

import pytest

from connectors.mailchimp import MailchimpSettings
from syncd.clock import VirtualClock
from syncd.errors import VendorError
from syncd.records import Change, ChangeOp, Target, TargetKind
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.mailchimp.state import subscriber_hash
from tests.support.rig import Rig
from tests.support.rig_mailchimp import make_rig, sandbox_of, small_population

pytestmark = pytest.mark.anyio
HOT = Target(TargetKind.TAG, "hot")
WEBINAR = Target(TargetKind.TAG, "webinar")
SCORE = Target(TargetKind.PROPERTY, "syncd_score")
SEGMENT_BATCH = r"/segments/\d+$"


def tagged(rig: Rig, name: str) -> set[str]:
    audience = sandbox_of(rig).audience
    segment = audience.segment_named(name)
    assert segment is not None
    return {audience.members[h].email_address.strip().lower() for h in segment.members}


def plain(n: int) -> list[str]:
    return [f"p{i}@example.com" for i in range(n)]


@pytest.mark.parametrize("n", [1, 500, 501, 1234])
async def test_n_adds_to_one_tag_take_ceil_n_over_500_calls(n: int) -> None:
    rig = make_rig(small_population(n_plain=1234), clock=VirtualClock())
    await rig.connector.ensure_targets([HOT])
    before = rig.connector.http.stats.write_calls
    results = await rig.connector.apply([Change(HOT, ChangeOp.ADD, e) for e in plain(n)])
    assert all(r.ok for r in results) and len(results) == n
    calls = math.ceil(n / 500)
    assert rig.connector.http.stats.write_calls - before == calls
    assert sandbox_of(rig).log.count("POST", SEGMENT_BATCH) == calls
    assert tagged(rig, "hot") == set(plain(n))


async def test_adds_and_removes_share_calls_and_land_exactly() -> None:
    rig = make_rig(small_population(n_plain=1300), clock=VirtualClock())
    changes = [Change(WEBINAR, ChangeOp.REMOVE, e) for e in plain(700)]
    changes += [Change(WEBINAR, ChangeOp.ADD, e) for e in ["alice@example.com", "eve@example.com"]]
    before = tagged(rig, "webinar")
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results)
    assert sandbox_of(rig).log.count("POST", SEGMENT_BATCH) == 2  # 700 removes: 500 + 200
    assert tagged(rig, "webinar") == (before - set(plain(700))) | {
        "alice@example.com",
        "eve@example.com",
    }
    for call in [e for e in sandbox_of(rig).log.exchanges if e.method == "POST"]:
        body = call.request_body
        assert (
            len(body.get("members_to_add", [])) <= 500
            and len(body.get("members_to_remove", [])) <= 500
        )


async def test_per_record_rejection_keeps_mailchimps_reason() -> None:
    rig = make_rig(small_population(n_plain=3), clock=VirtualClock())
    results = await rig.connector.apply(
        [
            Change(HOT, ChangeOp.ADD, "p0@example.com"),
            Change(HOT, ChangeOp.ADD, "ghost@example.com"),
            Change(SCORE, ChangeOp.SET, "p1@example.com", value="87"),
            Change(SCORE, ChangeOp.SET, "ghost@example.com", value="10"),
        ]
    )
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[1].reason == "Email address is not a member of this audience"
    assert results[3].reason and "status" in results[3].reason
    assert tagged(rig, "hot") == {"p0@example.com"}
    assert "ghost@example.com" not in {
        m.email_address for m in sandbox_of(rig).audience.members.values()
    }


async def test_properties_go_to_merge_fields_in_batches_of_500() -> None:
    rig = make_rig(small_population(n_plain=1100), clock=VirtualClock())
    changes = [Change(SCORE, ChangeOp.SET, e, value=str(i)) for i, e in enumerate(plain(1100))]
    changes.append(
        Change(
            Target(TargetKind.PROPERTY, "first_name"), ChangeOp.SET, "p0@example.com", value="Zoe"
        )
    )
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results)
    assert sandbox_of(rig).log.count("POST", r"/lists/[0-9a-f]+$") == 3  # 1100 members: 3 calls
    audience = sandbox_of(rig).audience
    tag = next(f.tag for f in audience.merge_fields.values() if f.name == "syncd_score")
    p7 = audience.members[subscriber_hash("p7@example.com")]
    assert p7.merge_fields[tag] == "7"
    assert audience.members[subscriber_hash("p0@example.com")].merge_fields["FNAME"] == "Zoe"
    clear = await rig.connector.apply([Change(SCORE, ChangeOp.REMOVE, "p7@example.com")])
    assert clear[0].ok and p7.merge_fields[tag] == ""
    pulled = [c async for page in rig.connector.pull_contacts(None) for c in page.records]
    assert {c.email: c.attributes.get("syncd_score") for c in pulled}["p8@example.com"] == "8"


async def test_push_never_subscribes_anyone() -> None:
    rig = make_rig(small_population(n_plain=2), clock=VirtualClock())
    statuses = {h: m.status for h, m in sandbox_of(rig).audience.members.items()}
    everyone = [m.email_address.strip().lower() for m in sandbox_of(rig).audience.members.values()]
    changes = [Change(HOT, ChangeOp.ADD, e) for e in everyone]
    changes += [Change(SCORE, ChangeOp.SET, e, value="1") for e in everyone]
    await rig.connector.apply(changes)
    assert {h: m.status for h, m in sandbox_of(rig).audience.members.items()} == statuses
    for exchange in sandbox_of(rig).log.exchanges:
        for member in (
            (exchange.request_body or {}).get("members", [])
            if isinstance(exchange.request_body, dict)
            else []
        ):
            assert "status" not in member and "status_if_new" not in member


async def test_ensure_targets_finds_creates_or_refuses() -> None:
    population = small_population()
    rig = make_rig(population, clock=VirtualClock())
    found = await rig.connector.ensure_targets(
        [WEBINAR, HOT, SCORE, Target(TargetKind.PROPERTY, "phone")]
    )
    audience = sandbox_of(rig).audience
    assert found[WEBINAR] == str(audience.segment_named("webinar").id)  # type: ignore[union-attr]
    assert found[HOT] == str(audience.segment_named("hot").id)  # type: ignore[union-attr]
    assert found[Target(TargetKind.PROPERTY, "phone")] == "PHONE"
    assert found[SCORE] in audience.merge_fields
    strict = make_rig(
        population, clock=VirtualClock(), settings=MailchimpSettings(create_missing=False)
    )
    with pytest.raises(VendorError, match="create_missing"):
        await strict.connector.ensure_targets([Target(TargetKind.TAG, "brand new")])
    with pytest.raises(VendorError, match="tag targets"):
        await strict.connector.ensure_targets([Target(TargetKind.LIST, "Newsletter")])
    results = await strict.connector.apply(
        [Change(Target(TargetKind.TAG, "nope"), ChangeOp.ADD, "p0@x.com")]
    )
    assert not results[0].ok and results[0].reason and "create_missing" in results[0].reason


async def test_push_is_identical_under_faults() -> None:
    faults = FaultPlan(rates={"429": 0.1, "500": 0.1, "timeout": 0.05, "truncate": 0.05}, seed=5)
    rig = make_rig(small_population(n_plain=900), clock=VirtualClock(), faults=faults)
    changes = [Change(HOT, ChangeOp.ADD, e) for e in plain(900)]
    changes += [Change(SCORE, ChangeOp.SET, e, value="5") for e in plain(900)]
    results = await rig.connector.apply(changes)
    assert all(r.ok for r in results) and faults.injected
    assert tagged(rig, "hot") == set(plain(900))
