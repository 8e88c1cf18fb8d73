"""Rule segments: definitions, nesting, deterministic holdouts, evaluation, drift, memberships.

- Nesting: a rule may name another segment with ``segment("name")``; it is true for contacts
  matching that segment's *rule*, holdout included (the control group still qualifies; it is only
  kept out of pushes). Segments are evaluated in dependency order; a cycle is rejected with the
  cycle named (``segment cycle: a -> b -> a``).
- Holdout: a share of a segment's matches is carved out as an A/B control group, by a hash of
  (account id, segment name, contact id): the same contact lands on the same side on every run
  and every machine, and raising the share only moves more contacts into the control group.
- Drift: a segment whose size (members + holdout) moves by more than ``threshold`` of its previous
  size, ``|size - prev| / max(prev, 1) > threshold``, is flagged in its snapshot and logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from syncd.engine.rules import (
    BoolArray,
    ClauseExplanation,
    CompiledRule,
    FrameColumns,
    RuleError,
    check_rule,
    compile_rule,
)

IdArray = npt.NDArray[np.int64]

#: suffix of the tags / lists the holdout share is pushed under, unless told otherwise
HOLDOUT_SUFFIX = "-holdout"


@dataclass(frozen=True)
class PushTarget:
    """What membership becomes in one connector: tags, lists, properties to set."""

    tags: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentDef:
    name: str
    rule: str
    #: share of the matches kept as an A/B control group, in [0, 1)
    holdout: float = 0.0
    #: connector name -> what members get there
    push: Mapping[str, PushTarget] = field(default_factory=dict)
    #: where the holdout share goes; by default the push tags / lists suffixed ``-holdout``
    holdout_push: Mapping[str, PushTarget] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"segment '{self.name}': holdout share must be in [0, 1)")

    def holdout_targets(self) -> Mapping[str, PushTarget]:
        if self.holdout_push is not None:
            return self.holdout_push
        if self.holdout == 0:
            return MappingProxyType({})
        return {
            tool: PushTarget(
                tags=tuple(t + HOLDOUT_SUFFIX for t in target.tags),
                lists=tuple(name + HOLDOUT_SUFFIX for name in target.lists),
            )
            for tool, target in self.push.items()
        }


@dataclass(frozen=True)
class SegmentResult:
    name: str
    #: the rule's outcome per row of the frame (holdout included), aligned with frame.index
    mask: BoolArray
    #: contacts matching and not held out: these are pushed to the segment's targets
    members: IdArray
    #: contacts matching and carved into the control share
    holdout: IdArray

    @property
    def matched(self) -> IdArray:
        return np.union1d(self.members, self.holdout)

    @property
    def size(self) -> int:
        return len(self.members) + len(self.holdout)


# --- definitions and their dependency graph ------------------------------------------------


@dataclass(frozen=True)
class SegmentSet:
    """Compiled segments, in an order where every segment comes after those it refers to."""

    defs: tuple[SegmentDef, ...]
    rules: Mapping[str, CompiledRule]
    order: tuple[str, ...]


def _find_cycle(refs: Mapping[str, list[str]], names: Sequence[str]) -> list[str] | None:
    """The first dependency cycle met walking segments in definition order, as a path."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        path.append(name)
        for ref in refs.get(name, []):
            cycle = visit(ref)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(name)
        return None

    for name in names:
        cycle = visit(name)
        if cycle is not None:
            return cycle
    return None


def _topological(refs: Mapping[str, list[str]], names: Sequence[str]) -> tuple[str, ...]:
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        for ref in refs[name]:
            place(ref)
        placed.add(name)
        order.append(name)

    for name in names:
        place(name)
    return tuple(order)


def check_segments(defs: Sequence[SegmentDef]) -> dict[str, list[RuleError]]:
    """Every problem per segment name (only segments with problems appear), cycles included."""
    names = [d.name for d in defs]
    problems: dict[str, list[RuleError]] = {}
    rules: dict[str, CompiledRule] = {}
    for d in defs:
        errors = check_rule(d.rule, set(names))
        if errors:
            problems[d.name] = errors
        else:
            rules[d.name] = compile_rule(d.rule, set(names))
    refs = {name: rule.segment_references for name, rule in rules.items()}
    cycle = _find_cycle(refs, [n for n in names if n in rules])
    if cycle is not None:
        first = cycle[0]
        rule = rules[first]
        problems.setdefault(first, []).append(
            RuleError(
                "segment cycle: " + " -> ".join(cycle),
                rule.reference_position(cycle[1]),
                rule.text,
            )
        )
    return problems


def compile_segments(defs: Sequence[SegmentDef]) -> SegmentSet:
    """Compile every rule and order the segments; raises the first :class:`RuleError`."""
    names = [d.name for d in defs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate segment names: {', '.join(duplicates)}")
    problems = check_segments(defs)
    if problems:
        name, errors = next(iter(problems.items()))
        err = errors[0]
        raise RuleError(f"segment '{name}': {err.message}", err.position, err.rule)
    rules = {d.name: compile_rule(d.rule, set(names)) for d in defs}
    refs = {name: rule.segment_references for name, rule in rules.items()}
    return SegmentSet(tuple(defs), rules, _topological(refs, names))


def _as_set(segments: Sequence[SegmentDef] | SegmentSet) -> SegmentSet:
    return segments if isinstance(segments, SegmentSet) else compile_segments(segments)


# --- holdout -------------------------------------------------------------------------------


def _salt(account_id: str, segment: str) -> np.uint64:
    digest = hashlib.blake2b(
        f"{account_id}\x1f{segment}".encode(), digest_size=8, person=b"syncd-holdout"
    ).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def holdout_mask(
    contact_ids: npt.ArrayLike, account_id: str, segment: str, share: float
) -> BoolArray:
    """True for the contacts in the control share: stable across runs, machines, Python hashes.

    blake2b keys the (account, segment) pair once; each contact id is then mixed with the
    splitmix64 finaliser in NumPy, so carving a million contacts costs no Python per contact.
    """
    ids = np.asarray(contact_ids, dtype=np.int64).astype(np.uint64)
    if share <= 0 or len(ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    with np.errstate(over="ignore"):
        z = (ids ^ _salt(account_id, segment)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    unit = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.asarray(unit < share, dtype=bool)


# --- evaluation ----------------------------------------------------------------------------


def evaluate_segments(
    frame: pd.DataFrame,
    segment_defs: Sequence[SegmentDef] | SegmentSet,
    account_id: str,
) -> dict[str, SegmentResult]:
    """Every segment over the feature frame (indexed by contact id), in definition order.

    A partial frame (the incremental path) is fine: each contact's membership reads only its
    own row.
    """
    segments = _as_set(segment_defs)
    by_name = {d.name: d for d in segments.defs}
    ids = frame.index.to_numpy(dtype=np.int64)
    columns = FrameColumns(frame)
    masks: dict[str, BoolArray] = {}
    results: dict[str, SegmentResult] = {}
    for name in segments.order:
        mask = segments.rules[name].mask(columns, masks)
        masks[name] = mask
        matched = ids[mask]
        held = holdout_mask(matched, account_id, name, by_name[name].holdout)
        results[name] = SegmentResult(name, mask, matched[~held], matched[held])
    return {d.name: results[d.name] for d in segments.defs}


@dataclass(frozen=True)
class SegmentExplanation:
    segment: str
    member: bool
    holdout: bool
    clauses: ClauseExplanation


def explain(
    frame: pd.DataFrame,
    contact_id: int,
    segment_defs: Sequence[SegmentDef] | SegmentSet,
    account_id: str = "",
) -> list[SegmentExplanation]:
    """Why one contact is or is not in each segment, clause by clause, in definition order.

    ``frame`` may be the whole feature frame or the contact's row alone. ``account_id`` only
    matters for the holdout flag.
    """
    segments = _as_set(segment_defs)
    if contact_id not in frame.index:
        raise KeyError(f"contact {contact_id} is not in the frame")
    row = frame.loc[[contact_id]]
    results = evaluate_segments(row, segments, account_id)
    masks = {name: result.mask for name, result in results.items()}
    return [
        SegmentExplanation(
            segment=d.name,
            member=bool(results[d.name].mask[0]),
            holdout=bool(len(results[d.name].holdout)),
            clauses=segments.rules[d.name].explain(row, masks),
        )
        for d in segments.defs
    ]


# --- drift ---------------------------------------------------------------------------------


def is_drift(size: int, previous_size: int | None, threshold: float) -> bool:
    """A first run (no previous size) never drifts."""
    if previous_size is None:
        return False
    return abs(size - previous_size) / max(previous_size, 1) > threshold
