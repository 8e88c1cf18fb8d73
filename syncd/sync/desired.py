"""What each tool should hold: segment memberships mapped to each tool's targets, plus
properties; and what the ledger says each tool holds now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, select

from syncd.records import TargetKind
from syncd.store.models import ContactScore, Identity, LedgerEntry, SegmentMembership
from syncd.sync.plan import State, TargetKey

HOLDOUT_SUFFIX = "-holdout"
#: the special property source listing the contact's segments
SEGMENTS_SOURCE = "segments"


@dataclass(frozen=True)
class SegmentPush:
    """Where one segment goes: per tool, its tags, lists and static property values."""

    segment: str
    tool: str
    tags: Sequence[str] = ()
    lists: Sequence[str] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    #: members carved into the A/B control share go to the same targets + this suffix
    holdout: bool = False

    def membership_keys(self, control: bool = False) -> list[TargetKey]:
        suffix = HOLDOUT_SUFFIX if control else ""
        return [TargetKey(self.tool, TargetKind.TAG, t + suffix) for t in self.tags] + [
            TargetKey(self.tool, TargetKind.LIST, name + suffix) for name in self.lists
        ]


@dataclass(frozen=True)
class PropertyPush:
    """A per-contact value pushed as a property: a score column or the segment list."""

    tool: str
    property: str
    source: str  # a ContactScore column, or "segments"


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def desired_state(
    conn: Connection,
    account_id: str,
    pushes: Sequence[SegmentPush],
    properties: Sequence[PropertyPush] = (),
) -> State:
    memberships_t = _t(SegmentMembership)
    members: dict[str, set[int]] = {}
    control: dict[str, set[int]] = {}
    for row in conn.execute(
        select(memberships_t.c.segment, memberships_t.c.contact_id, memberships_t.c.holdout).where(
            memberships_t.c.account_id == account_id
        )
    ):
        (control if row.holdout else members).setdefault(row.segment, set()).add(row.contact_id)
    state = State()
    for push in pushes:
        for key in push.membership_keys():
            state.memberships.setdefault(key, set()).update(members.get(push.segment, set()))
        if push.holdout:
            for key in push.membership_keys(control=True):
                state.memberships.setdefault(key, set()).update(control.get(push.segment, set()))
        for prop, value in push.properties.items():
            values = state.properties.setdefault(
                TargetKey(push.tool, TargetKind.PROPERTY, prop), {}
            )
            for contact_id in members.get(push.segment, set()):
                values.setdefault(contact_id, value)  # the first segment in config order wins
    if properties:
        _score_properties(conn, account_id, properties, members, state)
    return state


def _score_properties(
    conn: Connection,
    account_id: str,
    properties: Sequence[PropertyPush],
    members: Mapping[str, set[int]],
    state: State,
) -> None:
    scores = _t(ContactScore)
    columns = sorted({p.source for p in properties if p.source != SEGMENTS_SOURCE})
    by_contact: dict[int, dict[str, object]] = {}
    if columns:
        for row in conn.execute(
            select(scores.c.contact_id, *(scores.c[c] for c in columns)).where(
                scores.c.account_id == account_id
            )
        ):
            by_contact[row.contact_id] = dict(row._mapping)
    segment_names: dict[int, list[str]] = {}
    for name in sorted(members):
        for contact_id in members[name]:
            segment_names.setdefault(contact_id, []).append(name)
    for prop in properties:
        values = state.properties.setdefault(
            TargetKey(prop.tool, TargetKind.PROPERTY, prop.property), {}
        )
        if prop.source == SEGMENTS_SOURCE:
            for contact_id in by_contact.keys() | segment_names.keys():
                values[contact_id] = ";".join(segment_names.get(contact_id, []))
            continue
        for contact_id, score in by_contact.items():
            values[contact_id] = _format(score.get(prop.source), prop.source)


#: decimals pushed per score; the rest are whole numbers, so that a score drifting by a
#: fraction of a point does not rewrite the property in every tool
DECIMALS = {"churn_risk": 2, "purchase_propensity": 2}


def _format(value: object, source: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.{DECIMALS.get(source, 0)}f}"
    return str(value)


def ledger_state(conn: Connection, account_id: str) -> State:
    ledger = _t(LedgerEntry)
    state = State()
    for row in conn.execute(select(ledger).where(ledger.c.account_id == account_id)):
        key = TargetKey(row.tool, TargetKind(row.target_kind), row.target)
        if key.kind is TargetKind.PROPERTY:
            state.properties.setdefault(key, {})[row.contact_id] = row.value
        else:
            state.memberships.setdefault(key, set()).add(row.contact_id)
    return state


@dataclass
class Presence:
    """Who exists in which tool, under which remote id, and what the tool reported holding."""

    contacts: dict[str, set[int]] = field(default_factory=dict)
    remote_ids: dict[tuple[str, int], str] = field(default_factory=dict)
    reported: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)


def presence(conn: Connection, account_id: str) -> Presence:
    identity = _t(Identity)
    result = Presence()
    for row in conn.execute(
        select(
            identity.c.tool, identity.c.contact_id, identity.c.remote_id, identity.c.memberships
        ).where(identity.c.account_id == account_id)
    ):
        result.contacts.setdefault(row.tool, set()).add(row.contact_id)
        result.remote_ids[(row.tool, row.contact_id)] = row.remote_id
        result.reported[(row.tool, row.contact_id)] = frozenset(row.memberships or ())
    return result
