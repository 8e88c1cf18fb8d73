"""Likely duplicates inside one account: contacts that are probably one person under two emails.

The merge keys on the normalised email, so ``john.smith@gmail.com`` and ``johnsmith@gmail.com``
stay two contacts. This module finds such pairs and *reports* them (``syncd contacts
duplicates``); it never merges, because a wrong merge would mix two people's consent.

Evidence, strongest first:

- ``gmail_normalised``: the same Gmail mailbox (Gmail ignores dots in the local part and treats
  googlemail.com as gmail.com);
- ``plus_tag``: the same address with a ``+tag`` (``anna+news@x.com``);
- ``domain_typo``: the same local part on a rare domain that is one or two edits from a frequent
  domain or a common provider (``gmial.com``, ``gmail.con``, ``hotmial.com``);
- ``same_name_company_phone``: the same first and last name, company and phone digits;
- ``similar_local_part``: local parts one or two edits apart on the same domain
  (``jonh.smith`` / ``john.smith``), unless their digits or the contacts' names disagree.

All fuzzy comparisons run in rapidfuzz's C code over small blocks (a domain and the first letter
of the local part), so an account of 50 k contacts takes seconds, not an O(n²) Python loop.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy import Connection, Engine, select

from syncd.store.models import Contact

DuplicateKind = Literal[
    "same_name_company_phone", "gmail_normalised", "plus_tag", "domain_typo", "similar_local_part"
]
KINDS: tuple[DuplicateKind, ...] = (
    "gmail_normalised",
    "plus_tag",
    "domain_typo",
    "same_name_company_phone",
    "similar_local_part",
)

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
#: real mail providers: never taken for a typo, always a plausible target of one
COMMON_PROVIDERS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "live.com",
        "live.co.uk",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "t-online.de",
        "mail.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "btinternet.com",
        "libero.it",
        "telefonica.net",
        "ziggo.nl",
        "telia.com",
        "wp.pl",
        "eircom.net",
        "rogers.com",
        "bigpond.com",
        "comcast.net",
        "yandex.ru",
        "mail.ru",
    }
)
#: a domain with at least this many contacts can be the target of a typo
FREQUENT_DOMAIN_MIN = 5
#: a typo domain has at most 1/TYPO_RARITY of its target's contacts (a provider counts extra)
TYPO_RARITY = 10
PROVIDER_PRIOR = 10
#: similar local parts: at most this many edits (OSA: a swap of two letters is one edit)
MAX_LOCAL_EDITS = 2
#: a group of contacts sharing one key up to this size is reported as all its pairs
ALL_PAIRS_MAX = 5
#: local parts compared as one block at most (a larger one is split on one more letter)
BLOCK_MAX = 2000
#: rows compared at once in a block (bounds the distance matrix's memory)
_CHUNK = 2048

SCORES: Mapping[DuplicateKind, float] = {
    "gmail_normalised": 0.98,
    "plus_tag": 0.95,
    "domain_typo": 0.9,
    "same_name_company_phone": 0.9,
    "similar_local_part": 0.8,
}


@dataclass(frozen=True)
class DuplicatePair:
    """Two contacts that are probably one person; ``contact_ids`` lowest first."""

    contact_ids: tuple[int, int]
    emails: tuple[str, str]
    kind: DuplicateKind
    score: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact_ids": list(self.contact_ids),
            "emails": list(self.emails),
            "kind": self.kind,
            "score": self.score,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Row:
    id: int
    email: str
    local: str
    domain: str
    first: str
    last: str
    company: str
    phone: str


# --- normalising ---------------------------------------------------------------------------


def normalise_text(value: Any) -> str:
    """Case- and whitespace-insensitive form of a name or company ('' for missing)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return " ".join(text.split()).casefold()


def phone_digits(value: Any) -> str:
    """Only the digits of a phone number; a leading international ``00`` counts as ``+``."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return digits[2:] if digits.startswith("00") else digits


def _without_plus(local: str) -> str:
    base = local.split("+", 1)[0]
    return base or local  # "+tag@x" has nothing before the plus: keep it whole


def canonical_email(email: str, typos: Mapping[str, str] | None = None) -> str:
    """The mailbox an address reaches: plus-tags dropped; for Gmail, dots too and googlemail.com
    read as gmail.com; with ``typos``, a misspelt domain replaced by the one it was meant to be."""
    local, _, domain = email.strip().lower().rpartition("@")
    return "@".join(_canonical_parts(local, domain, typos or {}))


def _canonical_parts(local: str, domain: str, typos: Mapping[str, str]) -> tuple[str, str]:
    domain = typos.get(domain, domain)
    local = _without_plus(local)
    if domain in GMAIL_DOMAINS:
        return local.replace(".", "") or local, "gmail.com"
    return local, domain


_SEPARATORS = str.maketrans("", "", "._-")
_NOT_A_DIGIT = re.compile(r"[^0-9]+")


def _letters(text: str) -> str:
    return text.translate(_SEPARATORS)


def _digits(text: str) -> str:
    return _NOT_A_DIGIT.sub("", text)


# --- domain typos --------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainTypo:
    domain: str
    meant: str
    edits: int


def domain_typos(counts: Mapping[str, int]) -> dict[str, DomainTypo]:
    """Rare domains that look like a misspelling of a frequent domain or a common provider."""
    targets = sorted(COMMON_PROVIDERS | {d for d, n in counts.items() if n >= FREQUENT_DOMAIN_MIN})
    suspects = sorted(d for d in counts if d not in COMMON_PROVIDERS and len(d) >= 6)
    if not suspects:
        return {}

    def weight(domain: str) -> int:
        return counts.get(domain, 0) + (PROVIDER_PRIOR if domain in COMMON_PROVIDERS else 0)

    edits = process.cdist(
        suspects, targets, scorer=OSA.distance, score_cutoff=2, dtype=np.int32, workers=-1
    )
    found: dict[str, DomainTypo] = {}
    for i, j in zip(*np.nonzero(edits <= 2), strict=True):
        suspect, target, distance = suspects[i], targets[j], int(edits[i, j])
        if distance == 0 or (distance == 2 and len(target) < 9):
            continue
        if counts[suspect] * TYPO_RARITY > weight(target):
            continue
        best = found.get(suspect)
        rank = (distance, -weight(target), target)
        if best is None or rank < (best.edits, -weight(best.meant), best.meant):
            found[suspect] = DomainTypo(suspect, target, distance)
    return found


# --- the report ----------------------------------------------------------------------------


def find_duplicates(
    conn_or_engine: Connection | Engine, account_id: str, *, limit: int | None = None
) -> list[DuplicatePair]:
    """Likely duplicate pairs in an account, by score (highest first), then contact ids."""
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as conn:
            rows = list(_read_rows(conn, account_id))
    else:
        rows = list(_read_rows(conn_or_engine, account_id))
    return duplicates_among(rows, limit=limit)


def _read_rows(conn: Connection, account_id: str) -> Iterator[_Row]:
    table = Contact.__table__  # type: ignore[attr-defined]
    query = (
        select(table.c.id, table.c.email, table.c.attributes)
        .where(table.c.account_id == account_id)
        .order_by(table.c.id)
    )
    for contact_id, email, attributes in conn.execute(query):
        yield make_row(int(contact_id), str(email), attributes or {})


def make_row(contact_id: int, email: str, attributes: Mapping[str, Any]) -> _Row:
    local, _, domain = email.strip().lower().rpartition("@")
    return _Row(
        id=contact_id,
        email=email,
        local=local,
        domain=domain,
        first=normalise_text(attributes.get("first_name")),
        last=normalise_text(attributes.get("last_name")),
        company=normalise_text(attributes.get("company")),
        phone=phone_digits(attributes.get("phone")),
    )


def duplicates_among(rows: Sequence[_Row], *, limit: int | None = None) -> list[DuplicatePair]:
    """The report over already-read rows (what :func:`find_duplicates` runs on)."""
    rows = [r for r in rows if r.local and r.domain]
    typos = domain_typos(Counter(r.domain for r in rows))
    keys = {
        r.id: _canonical_parts(r.local, r.domain, {d: t.meant for d, t in typos.items()})
        for r in rows
    }
    found: dict[tuple[int, int], DuplicatePair] = {}
    for pair in (
        *_same_mailbox(rows, keys, typos),
        *_same_name_company_phone(rows),
        *_similar_local_parts(rows, keys),
    ):
        kept = found.get(pair.contact_ids)
        if kept is None or pair.score > kept.score:
            found[pair.contact_ids] = pair
    ordered = sorted(found.values(), key=lambda p: (-p.score, p.contact_ids))
    return ordered if limit is None else ordered[:limit]


def _pair(a: _Row, b: _Row, kind: DuplicateKind, score: float, reason: str) -> DuplicatePair:
    first, second = (a, b) if a.id < b.id else (b, a)
    return DuplicatePair(
        (first.id, second.id), (first.email, second.email), kind, round(score, 3), reason
    )


def _group_pairs(groups: Iterable[list[_Row]]) -> Iterator[tuple[_Row, _Row]]:
    """Every two contacts of a small group; in a larger one the oldest contact with each other
    (so one odd key shared by thousands of rows cannot make the report quadratic)."""
    for group in groups:
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r.id)
        if len(group) <= ALL_PAIRS_MAX:
            yield from itertools.combinations(group, 2)
        else:
            for other in group[1:]:
                yield group[0], other


def _same_mailbox(
    rows: Sequence[_Row], keys: Mapping[int, tuple[str, str]], typos: Mapping[str, DomainTypo]
) -> Iterator[DuplicatePair]:
    groups: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        groups[keys[row.id]].append(row)
    for a, b in _group_pairs(groups.values()):
        typo = typos.get(a.domain) or typos.get(b.domain)
        if a.domain != b.domain and typo is not None:
            score = SCORES["domain_typo"] - 0.05 * (typo.edits - 1)
            reason = f"{typo.domain} looks like a typo of {typo.meant} ({typo.edits} edit"
            reason += "s)" if typo.edits > 1 else ")"
            yield _pair(a, b, "domain_typo", score, reason)
        elif a.domain in GMAIL_DOMAINS and (
            a.domain != b.domain or _without_plus(a.local) != _without_plus(b.local)
        ):
            yield _pair(a, b, "gmail_normalised", SCORES["gmail_normalised"], _gmail_reason(a, b))
        else:
            yield _pair(a, b, "plus_tag", SCORES["plus_tag"], "the same address apart from a +tag")


def _gmail_reason(a: _Row, b: _Row) -> str:
    ignored = []
    if a.local.replace(".", "") != b.local.replace(".", "") or "+" in a.local + b.local:
        ignored.append("+tags")
    if _without_plus(a.local) != _without_plus(b.local) and "." in a.local + b.local:
        ignored.append("dots")
    if a.domain != b.domain:
        ignored.append("googlemail.com for gmail.com")
    return "one Gmail mailbox (Gmail ignores " + " and ".join(sorted(ignored)) + ")"


def _same_name_company_phone(rows: Sequence[_Row]) -> Iterator[DuplicatePair]:
    groups: dict[tuple[str, str, str, str], list[_Row]] = defaultdict(list)
    for row in rows:
        if row.first and row.last and row.company and len(row.phone) >= 6:
            groups[(row.first, row.last, row.company, row.phone)].append(row)
    for a, b in _group_pairs(groups.values()):
        yield _pair(
            a,
            b,
            "same_name_company_phone",
            SCORES["same_name_company_phone"],
            "same first and last name, company and phone number",
        )


def _names_disagree(a: _Row, b: _Row) -> bool:
    return bool(a.first and a.last and b.first and b.last) and (a.first, a.last) != (
        b.first,
        b.last,
    )


def _similar_local_parts(
    rows: Sequence[_Row], keys: Mapping[int, tuple[str, str]]
) -> Iterator[DuplicatePair]:
    # one representative (the oldest contact) per mailbox: same-mailbox pairs are found above
    mailboxes: dict[tuple[str, str], _Row] = {}
    for row in rows:
        mailboxes.setdefault(keys[row.id], row)
    for domain, block in _blocks(mailboxes):
        locals_ = [local for local, _ in block]
        for i, j, edits in _close_pairs(locals_):
            (la, a), (lb, b) = block[i], block[j]
            if min(len(la), len(lb)) < 4 * edits:
                continue  # "ab" / "cd": too short for an edit to mean a typo
            if _names_disagree(a, b) or _letters(la) == _letters(lb):
                # only separators apart (anna.kim / anna_kim): two mailboxes a provider keeps
                # apart, and the usual way two people with one common name get addresses
                continue
            similarity = OSA.normalized_similarity(la, lb)
            named = bool(a.first and a.last and b.first and b.last)  # and, above, the same
            score = SCORES["similar_local_part"] * similarity + (0.05 if named else 0.0)
            yield _pair(
                a,
                b,
                "similar_local_part",
                min(score, 0.85),
                f"local parts {edits} edit{'s' if edits > 1 else ''} apart on {domain}",
            )


def _blocks(
    mailboxes: Mapping[tuple[str, str], _Row],
) -> Iterator[tuple[str, list[tuple[str, _Row]]]]:
    """Groups of local parts worth comparing: one domain, the same digits (other digits usually
    mean another person or another account) and the same first two letters, or, so that a typo
    there is still caught, the same last two. A block above BLOCK_MAX is split on one more
    letter, so the comparisons stay near-linear in the account's size however skewed it is."""
    by_start: dict[tuple[str, str, str], list[tuple[str, _Row]]] = defaultdict(list)
    by_end: dict[tuple[str, str, str], list[tuple[str, _Row]]] = defaultdict(list)
    for (local, domain), row in mailboxes.items():
        digits = _digits(local)
        by_start[(domain, digits, local[:2])].append((local, row))
        by_end[(domain, digits, local[-2:])].append((local, row))
    for blocks, from_end in ((by_start, False), (by_end, True)):
        for (domain, _, _), block in blocks.items():
            for part in _split(block, 2, from_end):
                yield domain, part


def _split(
    block: list[tuple[str, _Row]], letters: int, from_end: bool
) -> Iterator[list[tuple[str, _Row]]]:
    if len(block) < 2:
        return
    if len(block) <= BLOCK_MAX or letters >= max(len(local) for local, _ in block):
        yield block
        return
    parts: dict[str, list[tuple[str, _Row]]] = defaultdict(list)
    for local, row in block:
        parts[local[-letters - 1 :] if from_end else local[: letters + 1]].append((local, row))
    for part in parts.values():
        yield from _split(part, letters + 1, from_end)


def _close_pairs(texts: Sequence[str]) -> Iterator[tuple[int, int, int]]:
    """(i, j, edits) with i < j for every two texts at most MAX_LOCAL_EDITS apart; only texts
    whose lengths differ by MAX_LOCAL_EDITS or less are compared at all."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        by_length[len(text)].append(i)
    for length, left in sorted(by_length.items()):
        right = [j for d in range(MAX_LOCAL_EDITS + 1) for j in by_length.get(length + d, ())]
        right_texts = [texts[j] for j in right]
        for start in range(0, len(left), _CHUNK):
            chunk = left[start : start + _CHUNK]
            edits = process.cdist(
                [texts[i] for i in chunk],
                right_texts,
                scorer=OSA.distance,
                score_cutoff=MAX_LOCAL_EDITS,
                dtype=np.uint8,
                # threads only pay off on a large matrix
                workers=-1 if len(chunk) * len(right) > 1_000_000 else 1,
            )
            rows_ix, cols_ix = np.nonzero(edits <= MAX_LOCAL_EDITS)
            for r, c in zip(rows_ix.tolist(), cols_ix.tolist(), strict=True):
                i, j = chunk[r], right[c]
                if i != j and (len(texts[i]) != len(texts[j]) or i < j):
                    yield min(i, j), max(i, j), int(edits[r, c])
