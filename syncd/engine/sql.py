"""Reading contacts and events out of the store in bulk, as NumPy arrays.

Why it looks like this: at a million contacts and twenty million events, materialising one
Python tuple per event row costs several times what the database spends scanning its index. So
each chunk of contacts is one query whose aggregate (``group_concat`` on SQLite,
``string_agg`` on PostgreSQL) packs every event into a single integer,

    (contact_id - chunk_low) << 35 | (occurred_ts - base) << 4 | has_value << 3 | type code

joined into one string that NumPy parses at C speed. Purchase values (converted to the base
currency in SQL) come as a second aggregate, in the same scan order. The event query only reads
the covering index ``ix_activity_contact_ts``. The same SQL runs on both databases, so both give
the same answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, text

from syncd.engine.settings import ScoringSettings

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: event type codes (the low three bits of a packed event)
TYPE_CODES: dict[str, int] = {
    "send": 0,
    "open": 1,
    "click": 2,
    "purchase": 3,
    "bounce": 4,
    "unsubscribe": 5,
    "complaint": 6,
}
OTHER_CODE = 7
N_CODES = 8
HAS_VALUE_BIT = 8
TS_SHIFT = 4
TS_BITS = 31
CONTACT_SHIFT = TS_SHIFT + TS_BITS
#: the packed contact offset must stay below this (63 bits in all)
MAX_SPAN = 1 << (63 - CONTACT_SHIFT)
#: events older than this (about 34 years before ``now``) are not read
HORIZON_S = (1 << (TS_BITS - 1)) - 1

#: contacts per query on the full path: bounds memory (one chunk's events at a time)
RANGE_CHUNK = 50_000
#: contact ids per IN list on the incremental path
LIST_CHUNK = 2_000

_SEP = "\x1f"  # unit separator: cannot appear unescaped in JSON text nor in an email


@dataclass(frozen=True)
class Chunk:
    """A slice of the account's contacts: sorted ids, and how to select their rows."""

    ids: IntArray
    low: int
    high: int  # exclusive
    #: True: select rows by ``low <= contact_id < high``; False: by an IN list of ``ids``
    by_range: bool


@dataclass(frozen=True)
class ChunkEvents:
    position: IntArray  # index into the chunk's ids
    age_s: IntArray  # now - occurred_ts, seconds (>= 0)
    code: IntArray  # TYPE_CODES / OTHER_CODE
    value: FloatArray  # purchase value in the base currency (0 when none)


@dataclass(frozen=True)
class ChunkContacts:
    emails: list[str]
    created_ts: IntArray
    attributes_json: str  # a JSON array of the contacts' attribute objects, in id order
    tools: dict[str, npt.NDArray[np.bool_]]


def string_agg(conn: Connection, expr: str, sep: str = ",") -> str:
    """The dialect's string aggregate over ``expr`` (an SQL expression)."""
    if conn.dialect.name == "postgresql":
        return f"string_agg(CAST({expr} AS TEXT), '{sep}')"
    if sep == ",":
        return f"group_concat({expr})"
    return f"group_concat({expr}, char({ord(sep)}))"


def _epoch(conn: Connection, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"CAST(extract(epoch from {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def parse_ints(joined: str | None) -> IntArray:
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


def parse_floats(joined: str | None) -> FloatArray:
    if not joined:
        return np.zeros(0, dtype=np.float64)
    return np.fromstring(joined, dtype=np.float64, sep=",")


def account_contact_ids(conn: Connection, account_id: str) -> IntArray:
    row = conn.execute(
        text(f"SELECT {string_agg(conn, 'id')} FROM contact WHERE account_id = :a"),
        {"a": account_id},
    ).one()
    return np.sort(parse_ints(row[0]))


def existing_contact_ids(conn: Connection, account_id: str, wanted: IntArray) -> IntArray:
    """Those of ``wanted`` that are contacts of the account (sorted, unique)."""
    found = [
        parse_ints(
            conn.execute(
                text(
                    f"SELECT {string_agg(conn, 'id')} FROM contact WHERE account_id = :a AND id IN "
                    f"({_int_list(part)})"
                ),
                {"a": account_id},
            ).one()[0]
        )
        for part in split_ids(np.unique(wanted), LIST_CHUNK)
    ]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def split_ids(ids: IntArray, size: int) -> list[IntArray]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _int_list(ids: IntArray) -> str:
    # ids are int64 from NumPy: formatting them inline is safe and keeps one statement per chunk
    return ",".join(map(str, ids.tolist()))


def plan_chunks(ids: IntArray, *, by_range: bool) -> Iterator[Chunk]:
    """Chunks over sorted ids; each chunk's id span fits the packed offset."""
    size = RANGE_CHUNK if by_range else LIST_CHUNK
    pending = split_ids(ids, size)
    while pending:
        part = pending.pop(0)
        low, high = int(part[0]), int(part[-1]) + 1
        if high - low >= MAX_SPAN and len(part) > 1:
            half = len(part) // 2
            pending[:0] = [part[:half], part[half:]]
            continue
        if high - low >= MAX_SPAN:
            raise ValueError("contact id span too large to pack")  # a single id: impossible
        yield Chunk(part, low, high, by_range)


def _where_contacts(chunk: Chunk, column: str) -> str:
    if chunk.by_range:
        return f"{column} >= :low AND {column} < :high"
    return f"{column} IN ({_int_list(chunk.ids)})"


def _currency_case(settings: ScoringSettings) -> str:
    whens = " ".join(
        f"WHEN '{code}' THEN {settings.rate_to_base(code)!r}"
        for code in sorted(settings.currency_rates)
        if code.isalpha() and len(code) == 3  # codes are inlined: keep them plain
    )
    return f"(CASE currency {whens} ELSE 1.0 END)"


def _type_case() -> str:
    whens = []
    for name, code in TYPE_CODES.items():
        if name == "purchase":
            whens.append(
                f"WHEN 'purchase' THEN (CASE WHEN value IS NULL THEN {code} "
                f"ELSE {code | HAS_VALUE_BIT} END)"
            )
        else:
            whens.append(f"WHEN '{name}' THEN {code}")
    return f"(CASE type {' '.join(whens)} ELSE {OTHER_CODE} END)"


def events_sql(conn: Connection, chunk: Chunk, settings: ScoringSettings) -> str:
    packed = (
        f"(CAST(contact_id - :low AS BIGINT) * {1 << CONTACT_SHIFT}"
        f" + CAST(occurred_ts - :base AS BIGINT) * {1 << TS_SHIFT} + {_type_case()})"
    )
    value = (
        f"(CASE WHEN value IS NOT NULL AND type = 'purchase' "
        f"THEN value * {_currency_case(settings)} END)"
    )
    return (
        f"SELECT {string_agg(conn, packed)}, {string_agg(conn, value)} FROM activity_event "
        f"WHERE account_id = :a AND {_where_contacts(chunk, 'contact_id')} "
        f"AND occurred_ts >= :base AND occurred_ts <= :now"
    )


def read_events(
    conn: Connection,
    account_id: str,
    chunk: Chunk,
    now_ts: int,
    settings: ScoringSettings,
) -> ChunkEvents:
    base = now_ts - HORIZON_S
    params: dict[str, Any] = {
        "a": account_id,
        "low": chunk.low,
        "high": chunk.high,
        "base": base,
        "now": now_ts,
    }
    row = conn.execute(text(events_sql(conn, chunk, settings)), params).one()
    packed = parse_ints(row[0])
    values = parse_floats(row[1])
    contact = chunk.low + (packed >> CONTACT_SHIFT)
    rel = (packed >> TS_SHIFT) & ((1 << TS_BITS) - 1)
    flags = packed & 15
    position = np.searchsorted(chunk.ids, contact)
    known = position < len(chunk.ids)
    known[known] = chunk.ids[position[known]] == contact[known]
    has_value = (flags & HAS_VALUE_BIT) != 0
    if int(has_value.sum()) != len(values):
        raise RuntimeError("event values out of step with events")  # would be a driver bug
    value = np.zeros(len(packed), dtype=np.float64)
    value[has_value] = values
    return ChunkEvents(
        position=position[known],
        age_s=(now_ts - base) - rel[known],
        code=(flags & 7)[known],
        value=value[known],
    )


def read_contacts(
    conn: Connection, account_id: str, chunk: Chunk, tools: Sequence[str]
) -> ChunkContacts:
    where = f"account_id = :a AND {_where_contacts(chunk, 'id')}"
    params: dict[str, Any] = {"a": account_id, "low": chunk.low, "high": chunk.high}
    attrs = "COALESCE(CAST(attributes AS TEXT), '{}')"
    if conn.dialect.name == "sqlite":
        attrs = "COALESCE(attributes, '{}')"
    # one row per column keeps every aggregate in id order (ORDER BY in a subquery: both
    # databases aggregate a sorted subquery in its order)
    row = conn.execute(
        text(
            f"SELECT {string_agg(conn, 'id')}, {string_agg(conn, 'email', _SEP)}, "
            f"{string_agg(conn, _epoch(conn, 'created_at'))}, {string_agg(conn, 'attrs', _SEP)} "
            f"FROM (SELECT id, email, created_at, {attrs} AS attrs FROM contact "
            f"WHERE {where} ORDER BY id) AS c"
        ),
        params,
    ).one()
    ids = parse_ints(row[0])
    if not np.array_equal(ids, chunk.ids):
        raise RuntimeError("contacts changed while reading them; retry")
    emails = row[1].split(_SEP) if row[1] else []
    created = parse_ints(row[2])
    attributes_json = "[" + (row[3] or "").replace(_SEP, ",") + "]"
    return ChunkContacts(emails, created, attributes_json, _read_tools(conn, chunk, tools))


def _read_tools(
    conn: Connection, chunk: Chunk, tools: Sequence[str]
) -> dict[str, npt.NDArray[np.bool_]]:
    # contact ids are global, so the (contact_id, tool) index answers without the account column
    codes = " ".join(f"WHEN '{tool}' THEN {i}" for i, tool in enumerate(tools))
    expr = f"(CAST(contact_id AS BIGINT) * 8 + (CASE tool {codes} ELSE 7 END))"
    params = {"low": chunk.low, "high": chunk.high}
    row = conn.execute(
        text(
            f"SELECT {string_agg(conn, expr)} FROM identity "
            f"WHERE {_where_contacts(chunk, 'contact_id')}"
        ),
        params,
    ).one()
    packed = parse_ints(row[0])
    contact, tool_code = packed >> 3, packed & 7
    position = np.searchsorted(chunk.ids, contact)
    known = position < len(chunk.ids)
    known[known] = chunk.ids[position[known]] == contact[known]
    out: dict[str, npt.NDArray[np.bool_]] = {}
    for i, tool in enumerate(tools):
        flags = np.zeros(len(chunk.ids), dtype=bool)
        flags[position[known & (tool_code == i)]] = True
        out[tool] = flags
    return out
