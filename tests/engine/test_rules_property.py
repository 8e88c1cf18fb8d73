"""Property: the vectorised evaluator agrees with a slow, row-by-row reference evaluation
(written here, independently of the parser's tree) on small random frames and random rules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.engine.rules import compile_rule

NUMBER_FIELDS = ("opens_7d", "clicks_total")
STRING_FIELDS = ("country", "job_title")
BOOL_FIELDS = ("in_hubspot",)
NUMBERS = (-1.0, 0.0, 1.0, 2.0, 3.5)
STRINGS = ("FR", "DE", "fr", "Gro", "CTO", "", "h")
ORDER_OPS = ("=", "!=", "<", "<=", ">", ">=")

Tree = tuple[Any, ...]


def number_literal() -> st.SearchStrategy[float]:
    return st.sampled_from(NUMBERS)


def string_literal() -> st.SearchStrategy[str]:
    return st.sampled_from(STRINGS)


def leaves() -> st.SearchStrategy[Tree]:
    num = st.sampled_from(NUMBER_FIELDS)
    text = st.sampled_from(STRING_FIELDS)
    neg = st.booleans()
    return st.one_of(
        st.tuples(st.just("cmp"), num, st.sampled_from(ORDER_OPS), number_literal()),
        st.tuples(st.just("cmp"), text, st.sampled_from(("=", "!=")), string_literal()),
        st.tuples(st.just("cmpf"), num, st.sampled_from(ORDER_OPS), num),
        st.tuples(st.just("in"), num, st.lists(number_literal(), min_size=1, max_size=3), neg),
        st.tuples(st.just("in"), text, st.lists(string_literal(), min_size=1, max_size=3), neg),
        st.tuples(st.just("between"), num, number_literal(), number_literal(), neg),
        st.tuples(
            st.just("match"),
            text,
            st.sampled_from(("contains", "starts_with", "ends_with")),
            string_literal(),
            neg,
        ),
        st.tuples(
            st.just("isnull"), st.sampled_from(NUMBER_FIELDS + STRING_FIELDS + BOOL_FIELDS), neg
        ),
        st.tuples(st.just("truthy"), st.sampled_from(BOOL_FIELDS)),
    )


def trees() -> st.SearchStrategy[Tree]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.tuples(st.just("not"), inner),
            st.tuples(st.just("and"), st.lists(inner, min_size=2, max_size=3)),
            st.tuples(st.just("or"), st.lists(inner, min_size=2, max_size=3)),
        ),
        max_leaves=8,
    )


# --- rendering (with as few parentheses as precedence allows) ------------------------------


def lit(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def render(tree: Tree) -> str:
    kind = tree[0]
    no = "not " if kind in ("in", "between", "match", "isnull") and tree[-1] else ""
    if kind in ("cmp", "cmpf"):
        _, field, op, right = tree
        return f"{field} {op} {right if kind == 'cmpf' else lit(right)}"
    if kind == "in":
        return f"{tree[1]} {no}in [{', '.join(lit(v) for v in tree[2])}]"
    if kind == "between":
        return f"{tree[1]} {no}between {lit(tree[2])} and {lit(tree[3])}"
    if kind == "match":
        return f"{tree[1]} {no}{tree[2]} {lit(tree[3])}"
    if kind == "isnull":
        return f"{tree[1]} is {no}null"
    if kind == "truthy":
        return str(tree[1])
    if kind == "not":
        inner = render(tree[1])
        return f"not ({inner})" if tree[1][0] in ("and", "or") else f"not {inner}"
    parts = [f"({render(c)})" if kind == "and" and c[0] == "or" else render(c) for c in tree[1]]
    return f" {kind} ".join(parts)


# --- the reference: one row at a time, Kleene logic, None = unknown --------------------------


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def negate(value: bool | None, negated: bool) -> bool | None:
    return (None if value is None else not value) if negated else value


def reference(tree: Tree, row: dict[str, Any]) -> bool | None:
    kind = tree[0]
    if kind == "not":
        return negate(reference(tree[1], row), True)
    if kind in ("and", "or"):
        values = [reference(c, row) for c in tree[1]]
        if kind == "and":
            return False if False in values else None if None in values else True
        return True if True in values else None if None in values else False
    value = row[tree[1]]
    if kind == "isnull":
        return negate(is_null(value), tree[2])
    if is_null(value):
        return None
    if kind in ("cmp", "cmpf"):
        other = row[tree[3]] if kind == "cmpf" else tree[3]
        if is_null(other):
            return None
        return {
            "=": value == other,
            "!=": value != other,
            "<": value < other,
            "<=": value <= other,
            ">": value > other,
            ">=": value >= other,
        }[tree[2]]
    if kind == "in":
        return negate(value in tree[2], tree[3])
    if kind == "between":
        return negate(tree[2] <= value <= tree[3], tree[4])
    if kind == "match":
        op, pattern = tree[2], tree[3]
        found = {
            "contains": pattern in value,
            "starts_with": value.startswith(pattern),
            "ends_with": value.endswith(pattern),
        }[op]
        return negate(found, tree[4])
    return bool(value)  # truthy


# --- frames -----------------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=8))
    numbers = st.sampled_from((math.nan, *NUMBERS))
    texts = st.sampled_from((None, "FR", "DE", "fr", "Head of Growth", "CTO", "growth"))
    data: dict[str, Any] = {
        name: draw(st.lists(numbers, min_size=n, max_size=n)) for name in NUMBER_FIELDS
    }
    for name in STRING_FIELDS:
        data[name] = pd.Series(draw(st.lists(texts, min_size=n, max_size=n)), dtype=object)
    data["in_hubspot"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    index = pd.Index(range(1000, 1000 + n), dtype="int64", name="contact_id")
    frame = pd.DataFrame({k: list(v) for k, v in data.items()}, index=index)
    return frame.astype({name: "float64" for name in NUMBER_FIELDS} | {"in_hubspot": bool})


@settings(max_examples=300, deadline=None)
@given(tree=trees(), frame=frames())
def test_vectorised_equals_reference(tree: Tree, frame: pd.DataFrame) -> None:
    rule = render(tree)
    tri = compile_rule(rule, set()).evaluate(frame)
    got = [True if t else False if f else None for t, f in zip(tri.true, tri.false, strict=True)]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    expected = [reference(tree, row) for row in rows]
    assert got == expected, rule


@settings(max_examples=100, deadline=None)
@given(tree=trees(), frame=frames())
def test_explain_agrees_with_evaluation(tree: Tree, frame: pd.DataFrame) -> None:
    compiled = compile_rule(render(tree), set())
    mask = compiled.mask(frame)
    for position, contact in enumerate(frame.index):
        clauses = compiled.explain(frame.loc[[contact]])
        assert (clauses.outcome is True) == bool(mask[position])
    assert isinstance(mask, np.ndarray)


@settings(max_examples=150, deadline=None)
@given(tree=trees(), frame=frames())
def test_matching_through_distinct_values_agrees(tree: Tree, frame: pd.DataFrame) -> None:
    # string matching goes through a column's distinct values when they repeat enough: force
    # that path and the row-by-row one, and compare
    from unittest.mock import patch

    import syncd.engine.rules._evaluate as evaluate_module

    compiled = compile_rule(render(tree), set())
    with patch.object(evaluate_module, "_DISTINCT_SHARE", 1.0):
        via_distinct = compiled.evaluate(frame)
    with patch.object(evaluate_module, "_DISTINCT_SHARE", -1.0):
        via_rows = compiled.evaluate(frame)
    assert np.array_equal(via_distinct.true, via_rows.true)
    assert np.array_equal(via_distinct.false, via_rows.false)
