"""The rule language: every operator with its null behaviour, precedence, and each error message
with its position. Frames are hand-built; the known answers are written out per contact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from syncd.engine.rules import check_rule, compile_rule, parse_rule
from syncd.errors import RuleError

IDS = [101, 102, 103, 104, 105]


@pytest.fixture
def frame() -> pd.DataFrame:
    nan = np.nan
    return pd.DataFrame(
        {
            "opens_7d": [0.0, 1.0, 3.0, nan, 2.0],
            "clicks_total": [5.0, 2.0, 0.0, 1.0, nan],
            "revenue_365d": [0.0, 150.0, 99.5, 500.0, nan],
            "country": ["FR", "DE", None, "BE", "FR"],
            "job_title": ["Founder & CEO", "cto", "Head of Growth", None, "Growth Lead"],
            "email": ["a@x.edu", "b@y.com", "c@z.org", "d@x.edu", "e@y.com"],
            "in_hubspot": [True, False, True, False, True],
            "custom.plan": ["pro", "free", None, "trial", "pro"],
        },
        index=pd.Index(IDS, name="contact_id", dtype="int64"),
    )


def members(rule: str, frame: pd.DataFrame) -> list[int]:
    compiled = compile_rule(rule, set())
    return frame.index[compiled.mask(frame)].tolist()


def outcome(rule: str, frame: pd.DataFrame) -> list[bool | None]:
    """Per contact: True, False or None (unknown)."""
    tri = compile_rule(rule, set()).evaluate(frame)
    return [True if t else False if f else None for t, f in zip(tri.true, tri.false, strict=True)]


# --- operators and nulls -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("opens_7d >= 1", [False, True, True, None, True]),
        ("opens_7d > 1", [False, False, True, None, True]),
        ("opens_7d < 1", [True, False, False, None, False]),
        ("opens_7d <= 1", [True, True, False, None, False]),
        ("opens_7d = 1", [False, True, False, None, False]),
        ("opens_7d == 1", [False, True, False, None, False]),
        ("opens_7d != 1", [True, False, True, None, True]),
        ("1 < opens_7d", [False, False, True, None, True]),
        ("opens_7d > clicks_total", [False, False, True, None, None]),
        ('country = "FR"', [True, False, None, False, True]),
        ("country = 'FR'", [True, False, None, False, True]),
        ('country != "FR"', [False, True, None, True, False]),
        ('country in ["FR", "BE"]', [True, False, None, True, True]),
        ('country not in ["FR", "BE"]', [False, True, None, False, False]),
        ("opens_7d in [0, 3]", [True, False, True, None, False]),
        ("revenue_365d between 99.5 and 150", [False, True, True, False, None]),
        ("revenue_365d not between 99.5 and 150", [True, False, False, True, None]),
        ("opens_7d between -1 and clicks_total", [True, True, False, None, None]),
        ('job_title contains "Growth"', [False, False, True, None, True]),
        ('job_title not contains "Growth"', [True, True, False, None, False]),
        ('job_title contains "growth"', [False, False, False, None, False]),
        ('job_title starts_with "Head"', [False, False, True, None, False]),
        ('email ends_with ".edu"', [True, False, False, True, False]),
        ('email not ends_with ".edu"', [False, True, True, False, True]),
        ("country is null", [False, False, True, False, False]),
        ("country is not null", [True, True, False, True, True]),
        ("opens_7d is null", [False, False, False, True, False]),
        ("in_hubspot", [True, False, True, False, True]),
        ("in_hubspot = false", [False, True, False, True, False]),
        ("not in_hubspot", [False, True, False, True, False]),
        ('custom.plan = "pro"', [True, False, None, False, True]),
        ('custom.missing = "x"', [None] * 5),
        ("custom.missing is null", [True] * 5),
        ("churn_risk > 0.7", [None] * 5),  # a prediction not computed yet reads as null
    ],
)
def test_operator(rule: str, expected: list[bool | None], frame: pd.DataFrame) -> None:
    assert outcome(rule, frame) == expected


def test_not_of_a_null_comparison_stays_unknown(frame: pd.DataFrame) -> None:
    # three-valued: contact 103 has no country, so neither the clause nor its negation holds
    assert outcome('not (country = "FR")', frame) == [False, True, None, True, False]
    assert 103 not in members('country = "FR"', frame)
    assert 103 not in members('not (country = "FR")', frame)
    assert members('not (country = "FR") or country is null', frame) == [102, 103, 104]


def test_kleene_and_or_with_unknown(frame: pd.DataFrame) -> None:
    # unknown and false = false; unknown or true = true
    assert outcome('country = "FR" and opens_7d > 100', frame)[2] is False
    assert outcome('country = "FR" or opens_7d > 1', frame)[2] is True
    assert outcome('country = "FR" and opens_7d > 1', frame)[2] is None
    assert outcome('country = "FR" or opens_7d > 100', frame)[2] is None


def test_keywords_are_case_insensitive(frame: pd.DataFrame) -> None:
    assert members("opens_7d >= 1 AND NOT country IS NULL", frame) == [102, 105]


def test_string_escapes(frame: pd.DataFrame) -> None:
    quoted = frame.assign(company=['say "hi"', "it's", None, "x", "y"])
    assert members(r'company = "say \"hi\""', quoted) == [101]
    assert members(r"company = 'it\'s'", quoted) == [102]


def test_numbers_in_other_dtypes(frame: pd.DataFrame) -> None:
    ints = frame.assign(opens_7d=pd.array([0, 1, 3, None, 2], dtype="Int64"))
    assert members("opens_7d >= 1", ints) == [102, 103, 105]
    objects = frame.assign(country=pd.Series(["FR", None, 3, "BE", "FR"], dtype=object, index=IDS))
    assert members('country in ["FR", "3"]', objects) == [101, 103, 105]


def test_empty_frame() -> None:
    empty = pd.DataFrame(
        {"opens_7d": pd.Series([], dtype=float)}, index=pd.Index([], dtype="int64")
    )
    assert compile_rule("opens_7d > 1 or not (country = 'FR')", set()).mask(empty).shape == (0,)


# --- precedence and parentheses ------------------------------------------------------------


def test_precedence_not_binds_tighter_than_and_than_or(frame: pd.DataFrame) -> None:
    # or loosest: a or (b and c)
    assert members('country = "DE" or opens_7d >= 3 and in_hubspot', frame) == [102, 103]
    assert members('(country = "DE" or opens_7d >= 3) and in_hubspot', frame) == [103]
    # not binds tighter than and: (not a) and b
    assert members("not in_hubspot and clicks_total >= 1", frame) == [102, 104]
    assert members("not (in_hubspot and clicks_total >= 1)", frame) == [102, 103, 104]


def test_double_not_and_nested_parentheses(frame: pd.DataFrame) -> None:
    assert members("not not in_hubspot", frame) == [101, 103, 105]
    assert members("((in_hubspot)) and ((opens_7d > 0))", frame) == [103, 105]


def test_tree_shape() -> None:
    node = parse_rule("a = 1 or b = 2 and not c = 3 or d = 4")
    assert type(node).__name__ == "Or"
    assert [type(item).__name__ for item in node.items] == ["Compare", "And", "Compare"]  # type: ignore[union-attr]


# --- errors with their positions -----------------------------------------------------------


def only_error(rule: str, known: set[str] | None = None) -> tuple[str, int]:
    errors = check_rule(rule, known or set())
    assert len(errors) == 1, [str(e) for e in errors]
    assert errors[0].rule == rule
    return errors[0].message, errors[0].position


@pytest.mark.parametrize(
    ("rule", "message", "position"),
    [
        ("opnes_7d >= 1", "unknown field 'opnes_7d' (did you mean 'opens_7d'?)", 0),
        (
            "opens_7d >= 1 and clickz_total > 2",
            "unknown field 'clickz_total' (did you mean 'clicks_total'?)",
            18,
        ),
        ("zzzz = 1", "unknown field 'zzzz'", 0),
        ("country > 3", "type mismatch: 'country' is a string, 3 is a number", 10),
        ('country > "F"', "'>' needs numbers; 'country' is a string", 0),
        ('opens_7d contains "x"', "'contains' needs a string; 'opens_7d' is a number", 0),
        ("country contains job_title", "'contains' needs a quoted string to look for", 17),
        ('opens_7d = "3"', "type mismatch: 'opens_7d' is a number, '3' is a string", 11),
        ('country in ["FR", 3]', "type mismatch: 'country' is a string, 3 is a number", 18),
        ("country between 1 and 2", "'between' needs a number; 'country' is a string", 0),
        ("in_hubspot > 1", "type mismatch: 'in_hubspot' is a bool, 1 is a number", 13),
        (
            "opens_7d",
            "'opens_7d' is a number, not a condition: compare it (e.g. '>', '=', 'is not null')",
            0,
        ),
        (
            'segment("hyper-engagd")',
            "unknown segment 'hyper-engagd' (did you mean 'hyper-engaged'?)",
            8,
        ),
        ('x = "abc', "unterminated string", 4),
        ("country = 'FR", "unterminated string", 10),
        ("(opens_7d > 1 and clicks_total > 2", "unclosed '('", 0),
        ("opens_7d > 1)", "unexpected ')', expected 'and', 'or' or end of rule", 12),
        ("opens_7d >", "expected a field or a value, found end of rule", 10),
        ("opens_7d > > 1", "unexpected '>', expected a field or a value", 11),
        ("opens_7d 1", "unexpected '1', expected 'and', 'or' or end of rule", 9),
        ("opens_7d >= 1 and", "expected a field or a value, found end of rule", 17),
        ("", "empty rule", 0),
        ("country = null", "null is not a value here: use 'is null' or 'is not null'", 10),
        ("country is empty", "unexpected 'empty', expected 'null' after 'is'", 11),
        ('country in ["FR"', "unclosed '['", 11),
        ("country in []", "empty list", 11),
        ("country in [job_title]", "list items must be literals", 12),
        ("opens_7d between 1 or 2", "unexpected 'or', expected 'and' in 'between ... and ...'", 19),
        (
            "country not = 'FR'",
            "unexpected '=', expected 'in', 'between', 'contains', 'starts_with' or 'ends_with'",
            12,
        ),
        ("opens_7d > 1 & clicks_total", "unexpected character '&'", 13),
        ("opens_7d > 1x", "malformed number '1x'", 11),
        (
            "segment(hyper)",
            "unexpected 'hyper', expected a quoted segment name, as in segment(\"name\")",
            8,
        ),
    ],
)
def test_error_message_and_position(rule: str, message: str, position: int) -> None:
    assert only_error(rule, {"hyper-engaged"}) == (message, position)


def test_every_problem_is_listed_in_order() -> None:
    errors = check_rule('opnes_7d > 1 and country > 3 and segment("nope")', {"a"})
    assert [(e.message.split(" (")[0], e.position) for e in errors] == [
        ("unknown field 'opnes_7d'", 0),
        ("type mismatch: 'country' is a string, 3 is a number", 27),
        ("unknown segment 'nope'", 41),
    ]


def test_valid_rule_has_no_errors() -> None:
    rule = 'segment("a") and (opens_7d >= 1 or custom.plan in ["pro"]) and email is not null'
    assert check_rule(rule, {"a"}) == []
    assert check_rule(rule, ["a"]) == []  # the config loader passes a list


def test_compile_raises_the_first_error_with_position() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("opens_7d >= 1 and opnes_7d > 2", set())
    assert caught.value.position == 18
    assert str(caught.value) == (
        "unknown field 'opnes_7d' (did you mean 'opens_7d'?) at position 18"
    )


def test_never_evaluates_python() -> None:
    # what eval would run is just an unknown field / syntax error here
    assert only_error("__import__('os').system('true')") == (
        "unexpected '(', expected 'and', 'or' or end of rule",
        10,
    )


def test_earliest_problem_wins_over_a_later_bad_character() -> None:
    assert only_error('(opens_7d > 1 and country = "FR') == ("unterminated string", 28)
    assert only_error("opens_7d > > 1 ; x") == ("unexpected '>', expected a field or a value", 11)
    assert only_error("opens_7d > 1 ;") == ("unexpected character ';'", 13)
