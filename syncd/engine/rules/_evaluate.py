"""Vectorised evaluation of a type-checked rule over the feature frame.

Three-valued (SQL / Kleene) logic, computed as two boolean arrays per clause: ``true`` and
``false``; where neither holds the clause is *unknown*, which is what any comparison with a null
gives. ``not`` swaps the two, so ``not (country = "FR")`` is unknown, not true, for a contact with
no country; ``and`` is false as soon as one side is false, ``or`` true as soon as one side is true.
A contact is a member only where the whole rule is *true*. ``is null`` / ``is not null`` and
segment references are never unknown.

A field the frame lacks (a custom field nobody has, a prediction not yet computed) reads as null.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from syncd.engine.fields import FieldType, field_type

from ._ast import (
    And,
    Between,
    Compare,
    FieldRef,
    InList,
    IsNull,
    Node,
    Not,
    Operand,
    Or,
    SegmentRef,
    StringMatch,
    Truthy,
)

BoolArray = npt.NDArray[np.bool_]

#: rows sampled, and the share of distinct values below which string matching goes through
#: the distinct values (job titles, industries) rather than every row (emails)
_SAMPLE = 10_000
_DISTINCT_SHARE = 0.2

_NUMPY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Tri:
    """A clause's outcome per contact: true, false, or (neither) unknown."""

    true: BoolArray
    false: BoolArray

    @property
    def unknown(self) -> BoolArray:
        return ~(self.true | self.false)


@dataclass(frozen=True)
class Values:
    """An operand's values: a numpy array (numbers, bools), a pandas string Series, or a scalar."""

    data: Any
    null: BoolArray | bool


def _bools(result: Any) -> BoolArray:
    if isinstance(result, pd.Series):
        return result.to_numpy(dtype=bool, na_value=False)
    return np.asarray(result, dtype=bool)


class Columns:
    """The frame's columns as the evaluator needs them, each converted once per evaluation."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.size = len(frame)
        self._cache: dict[str, Values] = {}
        self._distinct: dict[str, tuple[npt.NDArray[np.intp], list[str]] | None] = {}

    def distinct(self, name: str) -> tuple[npt.NDArray[np.intp], list[str]] | None:
        """(codes, distinct values) of a string column when it repeats itself enough for
        matching the distinct values once to beat matching every row; codes are -1 for null."""
        if name not in self._distinct:
            strings = self.read(name).data
            found: tuple[npt.NDArray[np.intp], list[str]] | None = None
            if isinstance(strings, pd.Series):
                head = strings.iloc[:_SAMPLE]
                if head.nunique() <= _DISTINCT_SHARE * max(len(head), 1):
                    codes, uniques = pd.factorize(strings)
                    found = (np.asarray(codes), [str(u) for u in uniques])
            self._distinct[name] = found
        return self._distinct[name]

    def read(self, name: str) -> Values:
        if name not in self._cache:
            self._cache[name] = self._convert(name)
        return self._cache[name]

    def _convert(self, name: str) -> Values:
        kind = field_type(name)
        if name not in self.frame.columns:
            return self._all_null(kind)
        column = self.frame[name]
        if kind is FieldType.NUMBER:
            numbers = pd.to_numeric(column, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            return Values(numbers, np.isnan(numbers))
        if kind is FieldType.BOOL:
            flags = column if column.dtype == bool else column.astype("boolean")
            return Values(_bools(flags), flags.isna().to_numpy(dtype=bool))
        strings = column if isinstance(column.dtype, pd.StringDtype) else column.astype("string")
        return Values(strings, strings.isna().to_numpy(dtype=bool))

    def _all_null(self, kind: FieldType | None) -> Values:
        null = np.ones(self.size, dtype=bool)
        if kind is FieldType.STRING:
            return Values(pd.Series(pd.NA, index=self.frame.index, dtype="string"), null)
        if kind is FieldType.BOOL:
            return Values(np.zeros(self.size, dtype=bool), null)
        return Values(np.full(self.size, np.nan), null)


class Evaluator:
    def __init__(self, columns: Columns, segment_masks: Mapping[str, BoolArray]) -> None:
        self.columns = columns
        self.segment_masks = segment_masks
        self.size = columns.size

    def operand(self, operand: Operand) -> Values:
        if isinstance(operand, FieldRef):
            return self.columns.read(operand.name)
        return Values(operand.value, False)

    def known(self, *values: Values) -> BoolArray:
        null = np.zeros(self.size, dtype=bool)
        for value in values:
            null = null | value.null
        return ~null

    def tri(self, holds: Any, known: BoolArray) -> Tri:
        holds_arr = np.broadcast_to(_bools(holds), (self.size,))
        return Tri(holds_arr & known, ~holds_arr & known)

    def evaluate(self, node: Node) -> Tri:
        if isinstance(node, And | Or):
            parts = [self.evaluate(item) for item in node.items]
            trues = np.stack([p.true for p in parts])
            falses = np.stack([p.false for p in parts])
            if isinstance(node, And):
                return Tri(np.all(trues, axis=0), np.any(falses, axis=0))
            return Tri(np.any(trues, axis=0), np.all(falses, axis=0))
        if isinstance(node, Not):
            inner = self.evaluate(node.operand)
            return Tri(inner.false, inner.true)
        if isinstance(node, SegmentRef):
            mask = np.asarray(self.segment_masks[node.name], dtype=bool)
            return Tri(mask, ~mask)
        return self.leaf(node)

    def leaf(self, node: Node) -> Tri:
        if isinstance(node, Compare):
            left, right = self.operand(node.left), self.operand(node.right)
            return self.tri(_NUMPY_OPS[node.op](left.data, right.data), self.known(left, right))
        if isinstance(node, InList):
            value = self.operand(node.operand)
            items = [item.value for item in node.items]
            if isinstance(value.data, pd.Series):
                holds: Any = value.data.isin(items)
            else:
                holds = np.isin(value.data, items)
            return self._negate(self.tri(holds, self.known(value)), node.negated)
        if isinstance(node, Between):
            value, low, high = (self.operand(o) for o in (node.operand, node.low, node.high))
            holds = (value.data >= low.data) & (value.data <= high.data)
            return self._negate(self.tri(holds, self.known(value, low, high)), node.negated)
        if isinstance(node, StringMatch):
            value = self.operand(node.operand)
            pattern = str(self.operand(node.pattern).data)
            distinct = (
                self.columns.distinct(node.operand.name)
                if isinstance(node.operand, FieldRef)
                else None
            )
            if distinct is not None:
                codes, uniques = distinct
                matched = [bool(_match(u, node.op, pattern)) for u in uniques]
                hits = np.array([*matched, False], dtype=bool)
                holds = hits[codes]  # code -1 (null) picks the trailing False
            else:
                holds = _match(value.data, node.op, pattern)
            return self._negate(self.tri(holds, self.known(value)), node.negated)
        if isinstance(node, IsNull):
            null = np.broadcast_to(np.asarray(self.operand(node.operand).null), (self.size,))
            is_null = Tri(null.copy(), ~null)
            return self._negate(is_null, node.negated)
        if isinstance(node, Truthy):
            value = self.operand(node.operand)
            return self.tri(value.data, self.known(value))
        raise TypeError(f"not a rule node: {node!r}")  # pragma: no cover

    @staticmethod
    def _negate(result: Tri, negated: bool) -> Tri:
        return Tri(result.false, result.true) if negated else result


def _match(data: Any, op: str, pattern: str) -> Any:
    if not isinstance(data, pd.Series):  # a literal on the left: odd, but well-defined
        text = str(data)
        return {"contains": pattern in text, "starts_with": text.startswith(pattern)}.get(
            op, text.endswith(pattern)
        )
    if op == "contains":
        return data.str.contains(pattern, regex=False)
    if op == "starts_with":
        return data.str.startswith(pattern)
    return data.str.endswith(pattern)
