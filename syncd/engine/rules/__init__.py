"""The segment rule language: a small, safe expression language, parsed (never ``eval``-ed).

Syntax (keywords are case-insensitive, field names are not)::

    opens_7d >= 1 and clicks_total >= 2
    country in ["FR", "BE"] and not (lifecycle = "inactive" or churn_risk > 0.7)
    revenue_365d between 100 and 500
    job_title contains "founder" or email_domain ends_with ".edu"
    company is not null and custom.plan not in ['free', 'trial']
    segment("hyper-engaged") and in_hubspot

- Connectives ``or`` < ``and`` < ``not`` (loosest first); parentheses group.
- Comparisons ``= == != < <= > >=``; ``x in [..]`` / ``x not in [..]``; ``x between a and b``
  (inclusive); ``contains`` / ``starts_with`` / ``ends_with`` (case-sensitive, each also with
  ``not``); ``x is null`` / ``x is not null``; a bare boolean field (``in_hubspot``) is a clause.
- Literals: numbers (``3``, ``-2.5``, ``1e3``), strings in double or single quotes (``\\"`` and
  ``\\'`` escape), ``true`` / ``false``.
- Fields: every name in :mod:`syncd.engine.fields` plus ``custom.<name>`` (strings).
- ``segment("name")`` (or ``segment "name"``) is true for contacts matching that segment's rule,
  its holdout included: nesting, with cycles rejected.
- Ordering (``<``, ``between`` ...) needs numbers; ``contains`` & co need strings; both sides of a
  comparison must have the same type.

Null semantics are SQL's three-valued logic (see ``_evaluate``): a comparison with a null is
*unknown*, ``not unknown`` stays unknown, and only *true* makes a member. So neither
``country = "FR"`` nor ``not (country = "FR")`` matches a contact without a country; use
``country is null`` to reach them. Explain shows unknown clauses as such.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from syncd.errors import RuleError

from ._ast import Node, segment_refs
from ._evaluate import BoolArray, Columns, Evaluator, Tri
from ._explain import ClauseExplanation, explain_node
from ._parser import parse
from ._typecheck import check_types

__all__ = [
    "BoolArray",
    "ClauseExplanation",
    "CompiledRule",
    "FrameColumns",
    "RuleError",
    "Tri",
    "check_rule",
    "compile_rule",
    "parse_rule",
]


#: a frame's columns converted for evaluation; share one across rules over the same frame
FrameColumns = Columns


def parse_rule(rule: str) -> Node:
    """The syntax tree of ``rule``; raises :class:`RuleError` on a syntax error."""
    return parse(rule)


def check_rule(rule: str, known_segments: Collection[str]) -> list[RuleError]:
    """Every problem in ``rule`` (empty when it is fine), each with its 0-based position.

    A syntax error stops parsing, so it comes alone; otherwise unknown fields, type mismatches
    and unknown segment references are all listed. Cycles need every segment: see
    :func:`syncd.engine.segments.check_segments`.
    """
    try:
        node = parse(rule)
    except RuleError as err:
        return [err]
    return check_types(node, rule, known_segments)


@dataclass(frozen=True)
class CompiledRule:
    """A parsed, type-checked rule, ready to evaluate."""

    text: str
    node: Node

    @property
    def segment_references(self) -> list[str]:
        """Names of the segments this rule refers to, in order, without repeats."""
        return list(dict.fromkeys(ref.name for ref in segment_refs(self.node)))

    def reference_position(self, segment: str) -> int:
        """Where the rule first names ``segment`` (for cycle errors)."""
        return next(ref.name_pos for ref in segment_refs(self.node) if ref.name == segment)

    def evaluate(
        self,
        frame: pd.DataFrame | FrameColumns,
        segment_masks: Mapping[str, BoolArray] | None = None,
    ) -> Tri:
        columns = frame if isinstance(frame, Columns) else Columns(frame)
        return Evaluator(columns, segment_masks or {}).evaluate(self.node)

    def mask(
        self,
        frame: pd.DataFrame | FrameColumns,
        segment_masks: Mapping[str, BoolArray] | None = None,
    ) -> BoolArray:
        """True where the rule is true (unknown counts as not matching)."""
        return np.asarray(self.evaluate(frame, segment_masks).true, dtype=bool)

    def explain(
        self, row: pd.DataFrame, segment_masks: Mapping[str, BoolArray] | None = None
    ) -> ClauseExplanation:
        return explain_node(self.node, self.text, row, segment_masks or {})


def compile_rule(rule: str, known_segments: Collection[str]) -> CompiledRule:
    """Parse and type-check; raises the first :class:`RuleError` found."""
    node = parse(rule)
    errors = check_types(node, rule, known_segments)
    if errors:
        raise errors[0]
    return CompiledRule(rule, node)
