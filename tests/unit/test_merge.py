from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync.merge import MergePolicy, merge_attributes

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fold(policy: MergePolicy, updates: list[tuple[str, int, dict[str, str | None]]]):  # type: ignore[no-untyped-def]
    attrs: dict[str, object] = {}
    prov: dict[str, object] = {}
    for tool, minutes, values in updates:
        attrs, prov, _ = merge_attributes(
            policy, attrs, prov, values, tool, T0 + timedelta(minutes=minutes)
        )
    return attrs, prov


def test_most_recent_wins_by_default_and_provenance_is_kept() -> None:
    attrs, prov = fold(
        MergePolicy(),
        [
            ("hubspot", 10, {"city": "Lyon"}),
            ("brevo", 20, {"city": "Paris"}),
            ("mailchimp", 5, {"city": "Nice"}),
        ],
    )
    assert attrs["city"] == "Paris"
    assert prov["city"] == {"tool": "brevo", "at": (T0 + timedelta(minutes=20)).isoformat()}


def test_configured_tool_order_beats_recency() -> None:
    policy = MergePolicy(precedence={"company": ["hubspot", "brevo"]})
    attrs, _ = fold(
        policy, [("hubspot", 1, {"company": "Acme"}), ("brevo", 99, {"company": "ACME Inc"})]
    )
    assert attrs["company"] == "Acme"


def test_empty_values_never_erase() -> None:
    attrs, _ = fold(
        MergePolicy(), [("hubspot", 1, {"phone": "+33 1"}), ("brevo", 9, {"phone": None})]
    )
    assert attrs["phone"] == "+33 1"


updates = st.lists(
    st.tuples(
        st.sampled_from(["hubspot", "brevo", "mailchimp"]),
        st.integers(0, 50),
        st.fixed_dictionaries({"city": st.sampled_from(["A", "B", "C", None])}),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda u: u[0],  # one current record per tool
)


@given(updates, st.booleans())
def test_result_does_not_depend_on_arrival_order(items, with_order) -> None:  # type: ignore[no-untyped-def]
    policy = MergePolicy(precedence={"city": ["mailchimp", "hubspot"]} if with_order else {})
    results = {repr(fold(policy, list(p))[0]) for p in itertools.permutations(items)}
    assert len(results) == 1
