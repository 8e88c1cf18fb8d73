"""The CRM search API's filter and sort semantics over sandbox contacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd.normalize import parse_timestamp
from syncd.sandbox.hubspot.models import SearchFilter, SearchRequest, SearchSort
from syncd.sandbox.hubspot.state import Contact, HubSpotState

Comparable = Decimal | datetime | str


class SearchError(ValueError):
    """A filter HubSpot would refuse (its message)."""


def _coerce(state: HubSpotState, prop: str, raw: str) -> Comparable:
    definition = state.properties.get(prop)
    kind = definition.type if definition else "string"
    try:
        if kind in ("date", "datetime"):
            parsed = parse_timestamp(raw)
            if parsed is None:
                raise ValueError(raw)
            return parsed
        if kind == "number":
            return Decimal(raw)
    except (ValueError, InvalidOperation):
        raise SearchError(f"Invalid value {raw!r} for property {prop}") from None
    return raw.lower()


def _matches(state: HubSpotState, contact: Contact, flt: SearchFilter) -> bool:
    raw = contact.properties.get(flt.propertyName)
    op = flt.operator
    if op == "HAS_PROPERTY":
        return raw is not None
    if op == "NOT_HAS_PROPERTY":
        return raw is None
    if op in ("IN", "NOT_IN"):
        values = {v.lower() for v in flt.values or []}
        inside = raw is not None and raw.lower() in values
        return inside if op == "IN" else not inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = (flt.value or "").lower().strip("*")
        found = raw is not None and token in raw.lower()
        return found if op == "CONTAINS_TOKEN" else not found
    if flt.value is None:
        raise SearchError(f"Filter on {flt.propertyName} with {op} needs a value")
    if raw is None:
        return op == "NEQ"
    have = _coerce(state, flt.propertyName, raw)
    want = _coerce(state, flt.propertyName, flt.value)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b,
        "NEQ": lambda a, b: a != b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
    }
    if op == "BETWEEN":
        high = _coerce(state, flt.propertyName, flt.highValue or flt.value)
        return bool(want <= have <= high)  # type: ignore[operator]
    return compare[op](have, want)


def _sort_key(state: HubSpotState, contact: Contact, prop: str) -> tuple[int, Any]:
    raw = contact.properties.get(prop)
    if raw is None:
        return (1, "")
    return (0, _coerce(state, prop, raw))


def _sorts(request: SearchRequest) -> list[SearchSort]:
    out: list[SearchSort] = []
    for item in request.sorts:
        if isinstance(item, SearchSort):
            out.append(item)
        elif item.startswith("-"):
            out.append(SearchSort(propertyName=item[1:], direction="DESCENDING"))
        else:
            out.append(SearchSort(propertyName=item))
    return out


def run_search(state: HubSpotState, request: SearchRequest) -> list[Contact]:
    """Every matching contact in the requested order (paging is the caller's)."""
    found = [
        c
        for c in state.contacts.values()
        if not request.filterGroups
        or any(all(_matches(state, c, f) for f in g.filters) for g in request.filterGroups)
    ]
    if request.query:
        q = request.query.lower()
        found = [
            c
            for c in found
            if any(
                q in (c.properties.get(p) or "").lower() for p in ("email", "firstname", "lastname")
            )
        ]
    found.sort(key=lambda c: int(c.id))
    for sort in reversed(_sorts(request)):
        found.sort(
            key=lambda c, p=sort.propertyName: _sort_key(state, c, p),  # type: ignore[misc]
            reverse=sort.direction == "DESCENDING",
        )
    return found
