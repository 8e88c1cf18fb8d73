"""The events v3 occurrences query, over an index of the portal's events.

Every page of ``GET /events/v3/events`` filters on type / object and a time range and sorts on
``(occurredAt, id)``. Doing that over the whole event list on every page made a pull quadratic
in the population; the index keeps the events grouped by type and by object, each group sorted
once, and answers a page with two bisections and a slice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from syncd.sandbox.hubspot.state import EventOccurrence


@dataclass(frozen=True)
class _Sorted:
    events: list[EventOccurrence]
    times: list[datetime]

    @classmethod
    def of(cls, events: list[EventOccurrence]) -> _Sorted:
        events.sort(key=lambda e: (e.occurred_at, e.id))
        return cls(events, [e.occurred_at for e in events])


class EventIndex:
    """Events by type and by object, sorted on (occurredAt, id); rebuilt when the list changes.

    The state keeps a plain list (the seed appends to it, a GDPR delete replaces it), so the
    index notices a change by the list's identity and length rather than by hooks on writes.
    """

    def __init__(self) -> None:
        self._source: list[EventOccurrence] | None = None
        self._count = -1
        self._all = _Sorted([], [])
        self._by_type: dict[str, _Sorted] = {}
        self._by_object: dict[str, _Sorted] = {}

    def _refresh(self, events: list[EventOccurrence]) -> None:
        if events is self._source and len(events) == self._count:
            return
        by_type: dict[str, list[EventOccurrence]] = defaultdict(list)
        by_object: dict[str, list[EventOccurrence]] = defaultdict(list)
        for event in events:
            by_type[event.event_type].append(event)
            by_object[event.object_id].append(event)
        self._all = _Sorted.of(list(events))
        self._by_type = {k: _Sorted.of(v) for k, v in by_type.items()}
        self._by_object = {k: _Sorted.of(v) for k, v in by_object.items()}
        self._source, self._count = events, len(events)

    def page(
        self,
        events: list[EventOccurrence],
        *,
        event_type: str | None,
        object_id: str | None,
        after: datetime | None,
        before: datetime | None,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[EventOccurrence], int]:
        """One page of the matching events and how many match in all.

        ``after`` / ``before`` are exclusive; order is (occurredAt, id), reversed if
        ``descending``; ``offset`` counts from the first event in that order.
        """
        self._refresh(events)
        if object_id is not None:
            group = self._by_object.get(object_id, _EMPTY)
        elif event_type is not None:
            group = self._by_type.get(event_type, _EMPTY)
        else:
            group = self._all
        lo = 0 if after is None else bisect_right(group.times, after)
        hi = len(group.times) if before is None else bisect_left(group.times, before)
        if object_id is not None and event_type is not None:
            # one contact's events are few: filtering them is cheap
            matching = [e for e in group.events[lo:hi] if e.event_type == event_type]
            group, lo, hi = _Sorted(matching, []), 0, len(matching)
        total = hi - lo
        offset = max(0, offset)
        if descending:
            end = hi - offset
            window = group.events[max(lo, end - limit) : max(lo, end)][::-1]
        else:
            start = lo + offset
            window = group.events[start : min(hi, start + limit)]
        return window, total


_EMPTY = _Sorted([], [])
