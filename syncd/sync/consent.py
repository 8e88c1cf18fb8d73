"""The consent gate: a hard rule, not an option.

A contact gets a marketing membership (tag, list) in a tool only if its consent in that tool is
subscribed and it is not suppressed. Unsubscribed, complained or hard-bounced in any tool
suppresses it everywhere (``suppression = "global"``) or only in that tool (``"per_tool"``).
A contact that left a list is never put back on it. Removals are always allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from syncd.records import SUPPRESSING, ConsentStatus

Suppression = Literal["global", "per_tool"]


@dataclass(frozen=True, slots=True)
class ConsentRow:
    contact_id: int
    tool: str
    status: ConsentStatus
    list_id: str = ""  # "" = the whole channel
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: the consent state that decided, and where it came from (recorded in the audit log)
    status: str
    source: str
    reason: str | None = None


class ConsentGate:
    def __init__(self, rows: Iterable[ConsentRow], suppression: Suppression = "global") -> None:
        self.suppression = suppression
        self._channel: dict[tuple[int, str], ConsentRow] = {}
        self._left_lists: set[tuple[int, str, str]] = set()
        self._suppressed_by: dict[int, ConsentRow] = {}
        for row in rows:
            if row.list_id:
                if row.status in SUPPRESSING:
                    self._left_lists.add((row.contact_id, row.tool, row.list_id))
                continue
            self._channel[(row.contact_id, row.tool)] = row
            if row.status in SUPPRESSING:
                self._suppressed_by.setdefault(row.contact_id, row)

    def check_add(self, contact_id: int, tool: str, remote_list_id: str | None = None) -> Decision:
        """May ``contact_id`` be added to a marketing target in ``tool``?"""
        own = self._channel.get((contact_id, tool))
        if own is None:
            return Decision(False, ConsentStatus.UNKNOWN, tool, "no consent record in this tool")
        source = own.source or tool
        if own.status != ConsentStatus.SUBSCRIBED:
            return Decision(False, own.status, source, f"{own.status} in {tool}")
        if self.suppression == "global":
            blocker = self._suppressed_by.get(contact_id)
            if blocker is not None:
                where = blocker.source or blocker.tool
                return Decision(
                    False, blocker.status, where, f"suppressed: {blocker.status} in {blocker.tool}"
                )
        if remote_list_id and (contact_id, tool, remote_list_id) in self._left_lists:
            return Decision(False, ConsentStatus.UNSUBSCRIBED, source, "left this list before")
        return Decision(True, own.status, source)

    def is_suppressed(self, contact_id: int, tool: str) -> bool:
        if self.suppression == "global":
            return contact_id in self._suppressed_by
        own = self._channel.get((contact_id, tool))
        return own is not None and own.status in SUPPRESSING
