"""Reading contacts and events out of the store in bulk, as NumPy arrays.

Why it looks like this: at a million contacts and twenty million events, materialising one
Python tuple per event row costs several times what the database spends scanning its index. So
each chunk of contacts is one query whose aggregate (``group_concat`` on SQLite,
``string_agg`` on PostgreSQL) packs every event into a single integer,

    (contact_id - chunk_low) << 36 | occurred_ts << 4 | has_value << 3 | type code

joined into one string that NumPy parses at C speed. A purchase's value (converted to the base
currency in SQL, in cents) follows its event in the same string as a negative number. The event
query only reads the covering index ``ix_activity_contact_ts``. The same SQL runs on both
databases, so both give the same answers. Chunks can be read by two threads (sqlite3 and
psycopg release the GIL while the database works).
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
#: epoch seconds as unsigned 32 bits: 1970 to 2106 (an event outside decodes as in the future
#: and is dropped)
TS_BITS = 32
CONTACT_SHIFT = TS_SHIFT + TS_BITS
#: the packed contact offset must stay below this (63 bits in all)
MAX_SPAN = 1 << (63 - CONTACT_SHIFT)

#: contacts per query on the full path: bounds memory (one chunk's events at a time)
RANGE_CHUNK = 50_000
#: contact ids per IN list on the incremental path
LIST_CHUNK = 2_000

SEP = "\x1f"  # unit separator: cannot appear unescaped in JSON text nor in an email


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


def _big(conn: Connection, expr: str) -> str:
    # PostgreSQL shifts int4 modulo 32: widen first; SQLite integers are 64-bit already
    return f"CAST({expr} AS BIGINT)" if conn.dialect.name == "postgresql" else f"({expr})"


def _text(conn: Connection, expr: str) -> str:
    # CASE branches must agree on a type in PostgreSQL; SQLite aggregates any of them as text
    return f"CAST({expr} AS TEXT)" if conn.dialect.name == "postgresql" else f"({expr})"


def events_sql(conn: Connection, chunk: Chunk, settings: ScoringSettings) -> str:
    """One aggregate over the chunk's events: a packed integer per event, and after each
    purchase that has a value, that value in base-currency cents as ``-1 - cents`` (negative,
    so it cannot be mistaken for an event)."""
    packed = (
        f"(({_big(conn, 'contact_id - :low')} << {CONTACT_SHIFT})"
        f" + ({_big(conn, 'occurred_ts')} << {TS_SHIFT}))"
    )
    cents = f"(-1 - CAST(round(value * {_currency_case(settings)} * 100) AS BIGINT))"
    whens = []
    for name, code in TYPE_CODES.items():
        if name == "purchase":
            with_value = f"{_text(conn, f'{packed} + {code | HAS_VALUE_BIT}')} || ',' || " + (
                _text(conn, cents)
            )
            whens.append(
                f"WHEN 'purchase' THEN (CASE WHEN value IS NULL THEN "
                f"{_text(conn, f'{packed} + {code}')} ELSE {with_value} END)"
            )
        else:
            whens.append(f"WHEN '{name}' THEN {_text(conn, f'{packed} + {code}')}")
    other = _text(conn, f"{packed} + {OTHER_CODE}")
    expression = f"(CASE type {' '.join(whens)} ELSE {other} END)"
    return (
        f"SELECT {string_agg(conn, expression)} FROM activity_event "
        f"WHERE account_id = :a AND {_where_contacts(chunk, 'contact_id')}"
    )


@dataclass(frozen=True)
class RawEvents:
    """A chunk's events as decoded, before any ``now``: one read can serve several moments."""

    position: IntArray  # index into the chunk's ids
    occurred: IntArray  # epoch seconds
    code: IntArray  # TYPE_CODES / OTHER_CODE
    value: FloatArray  # purchase value in the base currency (0 when none)


def read_raw_events(
    conn: Connection, account_id: str, chunk: Chunk, settings: ScoringSettings
) -> RawEvents:
    params: dict[str, Any] = {"a": account_id, "low": chunk.low, "high": chunk.high}
    row = conn.execute(text(events_sql(conn, chunk, settings)), params).one()
    numbers = parse_ints(row[0])
    is_value = numbers < 0
    packed = numbers[~is_value]
    cents = -1 - numbers[is_value]
    del numbers, is_value
    contact = chunk.low + (packed >> CONTACT_SHIFT)
    occurred = (packed >> TS_SHIFT) & ((1 << TS_BITS) - 1)
    flags = packed & 15
    position = np.searchsorted(chunk.ids, contact)
    keep = position < len(chunk.ids)
    keep[keep] = chunk.ids[position[keep]] == contact[keep]
    has_value = (flags & HAS_VALUE_BIT) != 0
    if int(has_value.sum()) != len(cents):
        raise RuntimeError("event values out of step with events")  # would be a driver bug
    value = np.zeros(len(packed), dtype=np.float64)
    value[has_value] = cents / 100.0
    if not bool(keep.all()):
        position, occurred, flags, value = position[keep], occurred[keep], flags[keep], value[keep]
    return RawEvents(position=position, occurred=occurred, code=flags & 7, value=value)


def events_as_of(raw: RawEvents, now_ts: int) -> ChunkEvents:
    """The events known at ``now_ts``: events after it did not happen yet for this frame."""
    keep = raw.occurred <= now_ts
    if bool(keep.all()):
        return ChunkEvents(raw.position, now_ts - raw.occurred, raw.code, raw.value)
    return ChunkEvents(
        position=raw.position[keep],
        age_s=now_ts - raw.occurred[keep],
        code=raw.code[keep],
        value=raw.value[keep],
    )


def read_events(
    conn: Connection,
    account_id: str,
    chunk: Chunk,
    now_ts: int,
    settings: ScoringSettings,
) -> ChunkEvents:
    return events_as_of(read_raw_events(conn, account_id, chunk, settings), now_ts)


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
            f"SELECT {string_agg(conn, 'id')}, {string_agg(conn, 'email', SEP)}, "
            f"{string_agg(conn, _epoch(conn, 'created_at'))}, {string_agg(conn, 'attrs', SEP)} "
            f"FROM (SELECT id, email, created_at, {attrs} AS attrs FROM contact "
            f"WHERE {where} ORDER BY id) AS c"
        ),
        params,
    ).one()
    ids = parse_ints(row[0])
    if not np.array_equal(ids, chunk.ids):
        raise RuntimeError("contacts changed while reading them; retry")
    emails = row[1].split(SEP) if row[1] else []
    created = parse_ints(row[2])
    attributes_json = "[" + (row[3] or "").replace(SEP, ",") + "]"
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
