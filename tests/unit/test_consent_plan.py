"""Properties of the consent gate and the plan (hypothesis): for any population, consent
history and segment set, no planned change breaks the consent rules, and plans are idempotent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.records import SUPPRESSING, ChangeOp, ConsentStatus, TargetKind
from syncd.sync.consent import ConsentGate, ConsentRow
from syncd.sync.plan import State, TargetKey, apply_plan, plan_changes

TOOLS = ("hubspot", "brevo", "mailchimp")
CONTACTS = list(range(12))
KEYS = [
    TargetKey("hubspot", TargetKind.LIST, "vip"),
    TargetKey("brevo", TargetKind.LIST, "vip"),
    TargetKey("mailchimp", TargetKind.TAG, "vip"),
    TargetKey("mailchimp", TargetKind.TAG, "dormant"),
]
REMOTE = {KEYS[0]: "11", KEYS[1]: "7"}

statuses = st.sampled_from(list(ConsentStatus))
consent_rows = st.lists(
    st.builds(
        ConsentRow,
        contact_id=st.sampled_from(CONTACTS),
        tool=st.sampled_from(TOOLS),
        status=statuses,
        list_id=st.sampled_from(["", "", "", "11", "7"]),
    ),
    max_size=40,
)
member_sets = st.dictionaries(
    st.sampled_from(KEYS), st.sets(st.sampled_from(CONTACTS), max_size=12), max_size=4
)
presence = st.fixed_dictionaries(
    {tool: st.sets(st.sampled_from(CONTACTS), max_size=12) for tool in TOOLS}
)
modes = st.sampled_from(["global", "per_tool"])


def latest(rows: list[ConsentRow]) -> list[ConsentRow]:
    """The store keeps one current row per (contact, tool, list): the last one wins."""
    current: dict[tuple[int, str, str], ConsentRow] = {}
    for row in rows:
        current[(row.contact_id, row.tool, row.list_id)] = row
    return list(current.values())


@settings(max_examples=300, deadline=None)
@given(consent_rows, member_sets, member_sets, presence, modes)
def test_no_planned_add_breaks_consent(rows, desired, ledger, present, mode) -> None:  # type: ignore[no-untyped-def]
    rows = latest(rows)
    gate = ConsentGate(rows, mode)
    plan = plan_changes(State(desired), State(ledger), gate, present, remote_ids=REMOTE)
    channel = {(r.contact_id, r.tool): r.status for r in rows if not r.list_id}
    left = {
        (r.contact_id, r.tool, r.list_id) for r in rows if r.list_id and r.status in SUPPRESSING
    }
    for change in plan.changes:
        assert change.op in (ChangeOp.ADD, ChangeOp.REMOVE)  # never a status change
        assert change.contact_id in present[change.key.tool]
        if change.op is not ChangeOp.ADD:
            continue
        tool = change.key.tool
        assert channel.get((change.contact_id, tool)) == ConsentStatus.SUBSCRIBED
        if mode == "global":
            assert not any(channel.get((change.contact_id, t)) in SUPPRESSING for t in TOOLS)
        list_id = REMOTE.get(change.key)
        assert (change.contact_id, tool, list_id) not in left
        assert change.consent_status == ConsentStatus.SUBSCRIBED


@settings(max_examples=200, deadline=None)
@given(consent_rows, member_sets, member_sets, presence, modes)
def test_plan_is_idempotent(rows, desired, ledger, present, mode) -> None:  # type: ignore[no-untyped-def]
    gate = ConsentGate(latest(rows), mode)
    first = plan_changes(State(desired), State(ledger), gate, present, remote_ids=REMOTE)
    after = apply_plan(State(ledger), first.changes)
    again = plan_changes(State(desired), after, gate, present, remote_ids=REMOTE)
    assert again.changes == []


@settings(max_examples=200, deadline=None)
@given(consent_rows, member_sets, member_sets, presence, modes)
def test_members_who_lose_consent_are_removed(rows, desired, ledger, present, mode) -> None:  # type: ignore[no-untyped-def]
    gate = ConsentGate(latest(rows), mode)
    plan = plan_changes(State(desired), State(ledger), gate, present, remote_ids=REMOTE)
    final = apply_plan(State(ledger), plan.changes)
    for key, members in final.memberships.items():
        for contact_id in members & present[key.tool]:
            assert gate.check_add(contact_id, key.tool, REMOTE.get(key)).allowed


def test_unsubscribed_in_one_tool_blocks_everywhere_unless_per_tool() -> None:
    rows = [
        ConsentRow(1, "hubspot", ConsentStatus.SUBSCRIBED),
        ConsentRow(1, "brevo", ConsentStatus.SUBSCRIBED),
        ConsentRow(1, "mailchimp", ConsentStatus.UNSUBSCRIBED, source="mailchimp:webhook"),
    ]
    key = TargetKey("brevo", TargetKind.LIST, "vip")
    desired = State({key: {1}})
    present = {"brevo": {1}}
    blocked = plan_changes(desired, State(), ConsentGate(rows, "global"), present)
    assert blocked.changes == []
    assert blocked.blocked[0].reason == "suppressed: unsubscribed in mailchimp"
    allowed = plan_changes(desired, State(), ConsentGate(rows, "per_tool"), present)
    assert [(c.op, c.contact_id) for c in allowed.changes] == [(ChangeOp.ADD, 1)]
    # a member who unsubscribes elsewhere is removed from the list
    removed = plan_changes(desired, State({key: {1}}), ConsentGate(rows, "global"), present)
    assert [(c.op, c.contact_id) for c in removed.changes] == [(ChangeOp.REMOVE, 1)]


def test_a_contact_never_rejoins_a_list_it_left() -> None:
    rows = [
        ConsentRow(5, "brevo", ConsentStatus.SUBSCRIBED),
        ConsentRow(5, "brevo", ConsentStatus.UNSUBSCRIBED, list_id="7"),
    ]
    key = TargetKey("brevo", TargetKind.LIST, "vip")
    plan = plan_changes(
        State({key: {5}}), State(), ConsentGate(rows), {"brevo": {5}}, remote_ids={key: "7"}
    )
    assert plan.changes == [] and plan.blocked[0].reason == "left this list before"


def test_properties_only_when_the_value_differs() -> None:
    key = TargetKey("hubspot", TargetKind.PROPERTY, "syncd_score")
    desired = State(properties={key: {1: "40", 2: "55", 3: "10"}})
    ledger = State(properties={key: {1: "40", 2: "50"}})
    plan = plan_changes(desired, ledger, ConsentGate([]), {"hubspot": {1, 2}})
    assert [(c.op, c.contact_id, c.value) for c in plan.changes] == [(ChangeOp.SET, 2, "55")]
