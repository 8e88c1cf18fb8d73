"""The rule language's syntax tree. Every node keeps its source span for errors and explain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

Scalar = float | str | bool

CompareOp = TypingLiteral["=", "!=", "<", "<=", ">", ">="]
MatchOp = TypingLiteral["contains", "starts_with", "ends_with"]


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class FieldRef:
    name: str
    span: Span


@dataclass(frozen=True)
class Literal:
    value: Scalar
    span: Span


Operand = FieldRef | Literal


@dataclass(frozen=True)
class Compare:
    op: CompareOp
    left: Operand
    right: Operand
    span: Span


@dataclass(frozen=True)
class InList:
    operand: Operand
    items: tuple[Literal, ...]
    negated: bool
    span: Span


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand
    negated: bool
    span: Span


@dataclass(frozen=True)
class StringMatch:
    op: MatchOp
    operand: Operand
    pattern: Operand
    negated: bool
    span: Span


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool
    span: Span


@dataclass(frozen=True)
class Truthy:
    """A bare boolean field (or literal) used as a clause: ``in_hubspot``."""

    operand: Operand
    span: Span


@dataclass(frozen=True)
class SegmentRef:
    name: str
    span: Span
    #: where the quoted name starts, so errors point at it
    name_pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    span: Span


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    span: Span


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    span: Span


Node = Compare | InList | Between | StringMatch | IsNull | Truthy | SegmentRef | Not | And | Or


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.items
    if isinstance(node, Not):
        return (node.operand,)
    return ()


def operands(node: Node) -> tuple[Operand, ...]:
    """The operands a leaf clause reads (empty for connectives and segment references)."""
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, InList):
        return (node.operand, *node.items)
    if isinstance(node, Between):
        return (node.operand, node.low, node.high)
    if isinstance(node, StringMatch):
        return (node.operand, node.pattern)
    if isinstance(node, IsNull | Truthy):
        return (node.operand,)
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    out: list[Node] = [node]
    for child in children(node):
        out.extend(walk(child))
    return out


def fields_read(node: Node) -> list[str]:
    """Field names a clause (and its sub-clauses) reads, in order of appearance, without repeats."""
    seen: dict[str, None] = {}
    for sub in walk(node):
        for operand in operands(sub):
            if isinstance(operand, FieldRef):
                seen.setdefault(operand.name, None)
    return list(seen)


def segment_refs(node: Node) -> list[SegmentRef]:
    return [sub for sub in walk(node) if isinstance(sub, SegmentRef)]
