"""Clause-by-clause account of a rule for one contact: each clause's outcome and what it read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._ast import And, Node, Not, Or, SegmentRef, children, fields_read
from ._evaluate import BoolArray, Columns, Evaluator


@dataclass(frozen=True)
class ClauseExplanation:
    """One clause for one contact. ``outcome`` is None when unknown (the clause read a null)."""

    text: str
    kind: str  # "and", "or", "not", "segment" or "clause"
    outcome: bool | None
    #: every field the clause read, with this contact's value (None = null)
    values: dict[str, Any] = field(default_factory=dict)
    children: tuple[ClauseExplanation, ...] = ()


def _kind(node: Node) -> str:
    if isinstance(node, And):
        return "and"
    if isinstance(node, Or):
        return "or"
    if isinstance(node, Not):
        return "not"
    if isinstance(node, SegmentRef):
        return "segment"
    return "clause"


def _scalar(columns: Columns, name: str) -> Any:
    values = columns.read(name)
    if bool(np.asarray(values.null).reshape(-1)[0]):
        return None
    data = values.data
    item = data.iloc[0] if isinstance(data, pd.Series) else np.asarray(data).reshape(-1)[0]
    return item.item() if isinstance(item, np.generic) else item


def explain_node(
    node: Node,
    rule: str,
    row: pd.DataFrame,
    segment_masks: Mapping[str, BoolArray],
) -> ClauseExplanation:
    """Explain ``node`` for the single contact in the one-row frame ``row``."""
    if len(row) != 1:
        raise ValueError(f"explain needs exactly one contact, got {len(row)} rows")
    columns = Columns(row)
    evaluator = Evaluator(columns, segment_masks)

    def build(sub: Node) -> ClauseExplanation:
        result = evaluator.evaluate(sub)
        outcome = True if result.true[0] else False if result.false[0] else None
        return ClauseExplanation(
            text=rule[sub.span.start : sub.span.end],
            kind=_kind(sub),
            outcome=outcome,
            values={name: _scalar(columns, name) for name in fields_read(sub)},
            children=tuple(build(child) for child in children(sub)),
        )

    return build(node)
