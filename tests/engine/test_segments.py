"""Segments: nesting, cycles, topological evaluation, deterministic holdouts, explain, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.engine.segments import (
    PushTarget,
    SegmentDef,
    check_segments,
    compile_segments,
    evaluate_segments,
    explain,
    holdout_mask,
    is_drift,
)
from syncd.errors import RuleError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opens_7d": [0.0, 1.0, 3.0, np.nan, 2.0],
            "clicks_total": [5.0, 2.0, 0.0, 1.0, 4.0],
            "country": ["FR", "DE", None, "BE", "FR"],
            "email": ["a@x.fr", "b@y.de", "c@z.org", "d@x.be", "e@y.fr"],
        },
        index=pd.Index([101, 102, 103, 104, 105], dtype="int64", name="contact_id"),
    )


def test_nested_segments_evaluate_in_dependency_order(frame: pd.DataFrame) -> None:
    defs = [
        # defined before what it refers to: evaluation order must not follow the list
        SegmentDef("french-engaged", 'segment("engaged") and country = "FR"'),
        SegmentDef("engaged", "opens_7d >= 1 and clicks_total >= 2"),
        SegmentDef("not-engaged", 'not segment "engaged"'),
    ]
    assert compile_segments(defs).order == ("engaged", "french-engaged", "not-engaged")
    results = evaluate_segments(frame, defs, "acme")
    assert list(results) == ["french-engaged", "engaged", "not-engaged"]
    assert results["engaged"].members.tolist() == [102, 105]
    assert results["french-engaged"].members.tolist() == [105]
    # a segment reference is never unknown: 104 (null opens) is simply not engaged
    assert results["not-engaged"].members.tolist() == [101, 103, 104]
    assert results["engaged"].mask.tolist() == [False, True, False, False, True]


def test_nesting_reads_the_referenced_rule_including_its_holdout(frame: pd.DataFrame) -> None:
    defs = [
        SegmentDef("clickers", "clicks_total >= 1", holdout=0.5),
        SegmentDef("clickers-fr", 'segment("clickers") and country = "FR"'),
    ]
    results = evaluate_segments(frame, defs, "acme")
    assert results["clickers"].size == 4
    assert results["clickers-fr"].members.tolist() == [101, 105]


@pytest.mark.parametrize(
    ("defs", "segment", "message", "position"),
    [
        ([SegmentDef("a", 'segment("a")')], "a", "segment cycle: a -> a", 8),
        (
            [
                SegmentDef("a", 'opens_7d > 1 and segment("b")'),
                SegmentDef("b", 'segment("c") or clicks_total > 0'),
                SegmentDef("c", 'segment("a")'),
            ],
            "a",
            "segment cycle: a -> b -> c -> a",
            25,
        ),
        (
            [
                SegmentDef("ok", "opens_7d > 1"),
                SegmentDef("x", 'segment("ok") and segment("y")'),
                SegmentDef("y", 'segment "x"'),
            ],
            "x",
            "segment cycle: x -> y -> x",
            26,
        ),
    ],
)
def test_cycles_are_rejected_with_the_cycle_named(
    defs: list[SegmentDef], segment: str, message: str, position: int
) -> None:
    problems = check_segments(defs)
    assert list(problems) == [segment]
    [err] = problems[segment]
    assert (err.message, err.position) == (message, position)
    with pytest.raises(RuleError, match=f"segment '{segment}': {message}"):
        compile_segments(defs)


def test_check_segments_reports_each_segment_problem() -> None:
    problems = check_segments(
        [
            SegmentDef("hyper-engaged", "opnes_7d >= 1"),
            SegmentDef("fine", "opens_7d >= 1"),
            SegmentDef("lost", 'segment("hyper-engagd")'),
        ]
    )
    assert {name: [(e.message, e.position) for e in errs] for name, errs in problems.items()} == {
        "hyper-engaged": [("unknown field 'opnes_7d' (did you mean 'opens_7d'?)", 0)],
        "lost": [("unknown segment 'hyper-engagd' (did you mean 'hyper-engaged'?)", 8)],
    }


def test_duplicate_names_and_bad_share_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate segment names: a"):
        compile_segments([SegmentDef("a", "opens_7d > 1"), SegmentDef("a", "opens_7d > 2")])
    with pytest.raises(ValueError, match="holdout share"):
        SegmentDef("a", "opens_7d > 1", holdout=1.0)


# --- holdout ---------------------------------------------------------------------------------


def test_holdout_is_stable_and_carved_out_of_members() -> None:
    ids = np.arange(1, 20_001, dtype=np.int64)
    frame = pd.DataFrame({"opens_7d": np.ones(len(ids))}, index=pd.Index(ids, dtype="int64"))
    defs = [SegmentDef("all", "opens_7d >= 1", holdout=0.1)]
    first = evaluate_segments(frame, defs, "acme")["all"]
    again = evaluate_segments(frame.sample(frac=1.0, random_state=3), defs, "acme")["all"]
    assert np.array_equal(np.sort(again.holdout), first.holdout)
    assert len(np.intersect1d(first.members, first.holdout)) == 0
    assert first.size == len(ids)
    assert abs(len(first.holdout) / len(ids) - 0.1) < 0.01
    # another account or segment name carves a different control group
    other = evaluate_segments(frame, defs, "globex")["all"]
    assert not np.array_equal(other.holdout, first.holdout)


def test_holdout_known_values_do_not_change_between_releases() -> None:
    # pins the hash: a change here would silently reshuffle every running A/B test
    ids = np.arange(1, 41)
    held = holdout_mask(ids, "acme", "hyper-engaged", 0.25)
    assert ids[held].tolist() == [2, 7, 8, 14, 23, 24, 25, 27, 30, 31, 33]


def test_zero_share_holds_nobody_out() -> None:
    assert not holdout_mask(np.arange(100), "a", "s", 0.0).any()


@settings(max_examples=50, deadline=None)
@given(
    ids=st.lists(st.integers(min_value=1, max_value=2**62), min_size=1, max_size=50, unique=True),
    share=st.floats(min_value=0.01, max_value=0.9),
    more=st.floats(min_value=0.0, max_value=0.09),
    account=st.text(max_size=8),
)
def test_same_contact_always_lands_on_the_same_side(
    ids: list[int], share: float, more: float, account: str
) -> None:
    arr = np.array(ids, dtype=np.int64)
    held = holdout_mask(arr, account, "seg", share)
    # alone, in another order, or among others: the contact's side does not move
    for i, contact in enumerate(ids):
        assert holdout_mask(np.array([contact]), account, "seg", share)[0] == held[i]
    assert np.array_equal(holdout_mask(arr[::-1], account, "seg", share), held[::-1])
    # a bigger share only moves more contacts into the control group
    assert not (held & ~holdout_mask(arr, account, "seg", share + more)).any()


@settings(max_examples=20, deadline=None)
@given(share=st.floats(min_value=0.05, max_value=0.5), start=st.integers(0, 10**12))
def test_share_within_tolerance(share: float, start: int) -> None:
    ids = np.arange(start, start + 20_000, dtype=np.int64)
    observed = holdout_mask(ids, "acme", "seg", share).mean()
    # binomial standard deviation at n=20000 is at most 0.0036: 5 sigma
    assert abs(observed - share) < 0.018


def test_holdout_targets_default_to_suffixed_names() -> None:
    seg = SegmentDef(
        "vip", "opens_7d > 1", holdout=0.1, push={"hubspot": PushTarget(lists=("VIP",))}
    )
    assert seg.holdout_targets() == {"hubspot": PushTarget(lists=("VIP-holdout",))}
    assert SegmentDef("x", "opens_7d > 1").holdout_targets() == {}


# --- explain -------------------------------------------------------------------------------


def test_explain_shows_each_clause_value_and_fields_read(frame: pd.DataFrame) -> None:
    defs = [
        SegmentDef("engaged", "opens_7d >= 1 and clicks_total >= 2"),
        SegmentDef("fr-or-engaged", 'not (country = "FR") or segment("engaged")'),
    ]
    [engaged, combo] = explain(frame, 104, defs, "acme")
    assert (engaged.segment, engaged.member, engaged.holdout) == ("engaged", False, False)
    assert engaged.clauses.kind == "and"
    # opens is null, so the first clause is unknown; the second false: the whole rule false
    assert [(c.text, c.outcome, c.values) for c in engaged.clauses.children] == [
        ("opens_7d >= 1", None, {"opens_7d": None}),
        ("clicks_total >= 2", False, {"clicks_total": 1.0}),
    ]
    assert engaged.clauses.outcome is False
    assert combo.member is True
    not_clause, segment_clause = combo.clauses.children
    assert (not_clause.text, not_clause.kind, not_clause.outcome) == (
        'not (country = "FR")',
        "not",
        True,
    )
    assert not_clause.children[0].values == {"country": "BE"}
    assert (segment_clause.kind, segment_clause.outcome) == ("segment", False)


def test_explain_unknown_contact(frame: pd.DataFrame) -> None:
    with pytest.raises(KeyError):
        explain(frame, 999, [SegmentDef("a", "opens_7d > 1")])


# --- drift -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "previous", "threshold", "drift"),
    [
        (100, None, 0.2, False),
        (120, 100, 0.2, False),
        (121, 100, 0.2, True),
        (79, 100, 0.2, True),
        (80, 100, 0.2, False),
        (1, 0, 0.5, True),
        (0, 0, 0.5, False),
    ],
)
def test_drift_flag(size: int, previous: int | None, threshold: float, drift: bool) -> None:
    assert is_drift(size, previous, threshold) is drift
