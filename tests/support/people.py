"""Hand-built people for the vendor rigs and the tests that read them back.

Each rig keeps its own timings and attribute defaults (they are what its tests assert on); the
building of a person present in one tool is written once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from syncd.records import CONTACT_ATTRIBUTES
from syncd.sandbox.population import Event, Person, ToolPresence

#: the contact attributes every ``Person`` carries, in the order the dataclass declares them
PERSON_ATTRIBUTES = CONTACT_ATTRIBUTES


def one_tool_person(
    tool: str,
    key: int,
    email: str | None,
    stored: str,
    status: str,
    *,
    created: datetime,
    updated: datetime,
    changed: datetime,
    attributes: Mapping[str, Any],
    lists: list[str],
    left: list[str] | None = None,
    legal_basis: str | None = None,
    events: list[Event] | None = None,
    other_tools: Mapping[str, ToolPresence] | None = None,
) -> Person:
    """A person held by ``tool`` as ``stored`` (``email`` is the canonical address, or None)."""
    presence = ToolPresence(
        email=stored,
        status=status,
        created_at=created,
        updated_at=updated,
        status_changed_at=changed,
        lists=lists,
        unsubscribed_lists=left if left is not None else [],
        legal_basis=legal_basis,
    )
    return Person(
        key=key,
        email=email,
        tools={tool: presence, **(other_tools or {})},
        events=events if events is not None else [],
        **attributes,
    )
