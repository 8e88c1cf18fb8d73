"""Field precedence when tools disagree: per field a tool order, else the most recent value.

The decision depends only on the candidates (tool, time, value), never on the order in which
they arrive, so pulling the tools in any order gives the same contact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.normalize import parse_timestamp


@dataclass(frozen=True)
class MergePolicy:
    #: field -> tools in order of trust (first wins)
    precedence: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: the order for fields not named above; ``None``: the most recent value wins
    default: Sequence[str] | None = None


def _rank(policy: MergePolicy, attr: str, tool: str, at: datetime) -> tuple[Any, ...]:
    order = policy.precedence.get(attr, policy.default)
    if order:
        position = list(order).index(tool) if tool in order else len(order)
        return (-position, at, tool)
    return (0, at, tool)


def merge_attributes(
    policy: MergePolicy,
    current: Mapping[str, Any],
    provenance: Mapping[str, Any],
    incoming: Mapping[str, str | None],
    tool: str,
    at: datetime,
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Merge one tool's attributes into a contact; returns (attributes, provenance, changed)."""
    attrs = dict(current)
    prov = {k: dict(v) for k, v in provenance.items()}
    changed = False
    for name, value in incoming.items():
        if value is None or value == "":
            continue
        kept = prov.get(name)
        if kept is not None:
            kept_at = parse_timestamp(kept["at"])
            assert kept_at is not None
            if kept["tool"] == tool:
                if kept_at > at:
                    continue
            elif _rank(policy, name, kept["tool"], kept_at) >= _rank(policy, name, tool, at):
                continue
        if attrs.get(name) != value:
            attrs[name] = value
            changed = True
        prov[name] = {"tool": tool, "at": at.isoformat()}
    return attrs, prov, changed
