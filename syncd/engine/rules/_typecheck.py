"""Type-checks a parsed rule against the field catalogue (syncd/engine/fields.py).

Collects every problem rather than stopping at the first, so ``config check`` can list them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from syncd.engine.fields import FIELDS, FieldType, field_type
from syncd.errors import RuleError

from ._ast import (
    Between,
    Compare,
    FieldRef,
    InList,
    IsNull,
    Literal,
    Node,
    Operand,
    SegmentRef,
    StringMatch,
    Truthy,
    walk,
)

_ORDERING = ("<", "<=", ">", ">=")


def literal_type(value: float | str | bool) -> FieldType:
    if isinstance(value, bool):
        return FieldType.BOOL
    if isinstance(value, str):
        return FieldType.STRING
    return FieldType.NUMBER


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(operand: Operand) -> str:
    if isinstance(operand, FieldRef):
        return f"'{operand.name}'"
    if isinstance(operand.value, bool):
        return "true" if operand.value else "false"
    if isinstance(operand.value, str):
        return repr(operand.value)
    return f"{operand.value:g}"


class _Checker:
    def __init__(self, rule: str, known_segments: Collection[str]) -> None:
        self.rule = rule
        self.known_segments = known_segments
        self.errors: list[RuleError] = []

    def fail(self, message: str, pos: int) -> None:
        self.errors.append(RuleError(message, pos, self.rule))

    def type_of(self, operand: Operand) -> FieldType | None:
        """The operand's type; None (after recording the error) for an unknown field."""
        if isinstance(operand, Literal):
            return literal_type(operand.value)
        found = field_type(operand.name)
        if found is None:
            hint = suggest(operand.name, FIELDS)
            self.fail(f"unknown field '{operand.name}'{hint}", operand.span.start)
        return found

    def same_type(self, anchor: Operand, anchor_type: FieldType, other: Operand) -> bool:
        other_type = self.type_of(other)
        if other_type is None:
            return False
        if other_type is not anchor_type:
            self.fail(
                f"type mismatch: {_show(anchor)} is a {anchor_type}, "
                f"{_show(other)} is a {other_type}",
                other.span.start,
            )
            return False
        return True

    def require(self, operand: Operand, wanted: FieldType, what: str) -> None:
        found = self.type_of(operand)
        if found is not None and found is not wanted:
            self.fail(f"{what} needs a {wanted}; {_show(operand)} is a {found}", operand.span.start)

    def check(self, node: Node) -> None:
        if isinstance(node, Compare):
            left_type = self.type_of(node.left)
            if left_type is None:
                self.type_of(node.right)
                return
            if not self.same_type(node.left, left_type, node.right):
                return
            if node.op in _ORDERING and left_type is not FieldType.NUMBER:
                self.fail(
                    f"'{node.op}' needs numbers; {_show(node.left)} is a {left_type}",
                    node.left.span.start,
                )
        elif isinstance(node, InList):
            operand_type = self.type_of(node.operand)
            if operand_type is not None:
                for item in node.items:
                    if not self.same_type(node.operand, operand_type, item):
                        break
        elif isinstance(node, Between):
            word = "'not between'" if node.negated else "'between'"
            for operand in (node.operand, node.low, node.high):
                self.require(operand, FieldType.NUMBER, word)
        elif isinstance(node, StringMatch):
            word = f"'not {node.op}'" if node.negated else f"'{node.op}'"
            self.require(node.operand, FieldType.STRING, word)
            if isinstance(node.pattern, FieldRef):
                self.fail(f"{word} needs a quoted string to look for", node.pattern.span.start)
            else:
                self.require(node.pattern, FieldType.STRING, word)
        elif isinstance(node, IsNull):
            self.type_of(node.operand)
        elif isinstance(node, Truthy):
            found = self.type_of(node.operand)
            if found is not None and found is not FieldType.BOOL:
                self.fail(
                    f"{_show(node.operand)} is a {found}, not a condition: "
                    "compare it (e.g. '>', '=', 'is not null')",
                    node.operand.span.start,
                )
        elif isinstance(node, SegmentRef) and node.name not in self.known_segments:
            hint = suggest(node.name, self.known_segments)
            self.fail(f"unknown segment '{node.name}'{hint}", node.name_pos)


def check_types(node: Node, rule: str, known_segments: Collection[str]) -> list[RuleError]:
    checker = _Checker(rule, known_segments)
    for sub in walk(node):
        checker.check(sub)
    return sorted(checker.errors, key=lambda err: err.position)
