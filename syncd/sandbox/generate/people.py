"""Who the people are: names, countries and companies; their email addresses, with the
near-duplicates and invalid addresses identity resolution must cope with; when they signed up."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from syncd.records import CONTACT_ATTRIBUTES
from syncd.sandbox.generate.units import DAY
from syncd.sandbox.generate.vocabulary import (
    COMPANY_STEMS,
    COMPANY_SUFFIXES,
    COUNTRIES,
    FIRST,
    FREE_MAIL,
    INDUSTRIES,
    LAST,
    SIZES,
    TITLES,
    TYPO,
)

DUPLICATE_KINDS = ("gmail_dots", "plus_tag", "typo_domain", "same_name_company_phone")
DUPLICATE_RATE = 0.015  # per kind
INVALID_RATE = 0.005


@dataclass
class Emails:
    canonical: list[str | None]  # None when invalid
    stored: list[str]  # the address before messing up case / spaces
    duplicate_of: list[int | None]
    duplicate_kind: list[str | None]


@functools.cache
def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o"))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def draw_attributes(rng: np.random.Generator, n: int) -> dict[str, list[str | None]]:
    codes = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][0] for c in codes])
    country_ix = rng.choice(len(codes), n, p=weights / weights.sum())
    companies = [f"{a} {b}" for a in COMPANY_STEMS for b in COMPANY_SUFFIXES]
    co_ix = rng.integers(0, len(companies), n)
    has_co, has_phone, has_country, has_city = rng.random((4, n)) < [[0.7], [0.45], [0.96], [0.9]]
    first, last = rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n)
    digits, city_pick, title = rng.integers(0, 10**9, n), rng.random(n), rng.integers(0, 11, n)
    out: dict[str, list[str | None]] = {k: [] for k in (*CONTACT_ATTRIBUTES, "currency")}
    for i in range(n):
        code = codes[country_ix[i]]
        _, dial, width, lang, currency, cities, _ = COUNTRIES[code]
        c = int(co_ix[i])
        out["first_name"].append(FIRST[first[i]])
        out["last_name"].append(LAST[last[i]])
        national = f"{int(digits[i]) * 7919 % 10**width:0{width}d}"
        out["phone"].append(f"+{dial}{national}" if has_phone[i] else None)
        out["country"].append(code if has_country[i] else None)
        out["city"].append(cities[int(city_pick[i] * len(cities))] if has_city[i] else None)
        out["company"].append(companies[c] if has_co[i] else None)
        out["industry"].append(INDUSTRIES[c % len(INDUSTRIES)] if has_co[i] else None)
        out["company_size"].append(SIZES[c * 7 % len(SIZES)] if has_co[i] else None)
        out["job_title"].append(TITLES[title[i]] if has_co[i] else None)
        out["language"].append(lang if has_country[i] else None)
        out["currency"].append(currency)
    return out


def draw_emails(rng: np.random.Generator, attrs: dict[str, list[str | None]]) -> Emails:
    n = len(attrs["first_name"])
    pattern, work, free, num = (
        rng.integers(0, 6, n),
        rng.random(n),
        rng.random(n),
        rng.integers(1, 99, n),
    )
    used: set[str] = set()
    stored: list[str] = []
    for i in range(n):
        first, last = (
            ascii_fold(attrs["first_name"][i] or ""),
            ascii_fold(attrs["last_name"][i] or ""),
        )
        local = (
            f"{first}.{last}",
            f"{first}{last}",
            f"{first[0]}{last}",
            f"{first}_{last}",
            f"{first}.{last}{num[i]}",
            f"{first}{num[i]}",
        )[pattern[i]]
        company, country = attrs["company"][i], attrs["country"][i]
        if company and work[i] < 0.55:
            domain = ascii_fold(company.split()[0]) + (".de" if country == "DE" else ".com")
        elif country and free[i] < 0.25:
            domain = COUNTRIES[country][6]
        else:
            domain = FREE_MAIL[int(free[i] * 100) % len(FREE_MAIL)]
        stored.append(_unique(f"{local}@{domain}", used))
    canonical: list[str | None] = list(stored)
    dup_of: list[int | None] = [None] * n
    dup_kind: list[str | None] = [None] * n
    # near-duplicates: later slots rewritten as a variant of an earlier, untouched person
    slots = rng.permutation(n)
    n_dup = round(n * DUPLICATE_RATE)
    bases = [int(b) for b in slots[n_dup * 4 + round(n * INVALID_RATE) :]]
    cursor = 0
    for k, kind in enumerate(DUPLICATE_KINDS):
        for slot in slots[k * n_dup : (k + 1) * n_dup].tolist():
            base, variant = -1, ""
            while cursor < len(bases) and base < 0:
                candidate = bases[cursor]
                cursor += 1
                if _fits(kind, stored[candidate], attrs, candidate):
                    variant = _variant(kind, stored[candidate], int(num[slot]))
                    base = candidate if variant not in used else -1
            if base < 0:
                break
            for key in (
                "first_name",
                "last_name",
                "country",
                "city",
                "company",
                "industry",
                "company_size",
                "job_title",
                "language",
                "currency",
                "phone",
            ):
                attrs[key][slot] = attrs[key][base]
            if kind != "same_name_company_phone" and num[slot] % 2:
                attrs["phone"][slot] = None
            used.discard(stored[slot])
            used.add(variant)
            stored[slot] = canonical[slot] = variant
            dup_of[slot], dup_kind[slot] = base, kind
    for j, slot in enumerate(slots[n_dup * 4 : n_dup * 4 + round(n * INVALID_RATE)].tolist()):
        local, _, domain = stored[slot].partition("@")
        stored[slot] = (
            f"{local}@@{domain}",
            f"{local}.{domain}",
            f"{local}@",
            f"{local} x@{domain}",
            f"{local}..x@{domain}",
        )[j % 5]
        canonical[slot] = None
    return Emails(canonical, stored, dup_of, dup_kind)


def _unique(email: str, used: set[str]) -> str:
    candidate, k = email, 1
    while candidate in used:
        local, _, domain = email.partition("@")
        candidate, k = f"{local}{k}@{domain}", k + 1
    used.add(candidate)
    return candidate


def _fits(kind: str, email: str, attrs: dict[str, list[str | None]], i: int) -> bool:
    local, _, domain = email.partition("@")
    if kind == "gmail_dots":
        return domain == "gmail.com" and len(local.replace(".", "")) >= 4
    if kind == "typo_domain":
        return domain in TYPO
    if kind == "same_name_company_phone":
        return attrs["company"][i] is not None and attrs["phone"][i] is not None
    return True


def _variant(kind: str, email: str, k: int) -> str:
    local, _, domain = email.partition("@")
    if kind == "gmail_dots":
        bare = local.replace(".", "")
        return f"{bare if '.' in local else bare[:2] + '.' + bare[2:]}@{domain}"
    if kind == "plus_tag":
        return f"{local}+{('news', 'shop', 'promo', 'work')[k % 4]}@{domain}"
    if kind == "typo_domain":
        typos = TYPO[domain]
        return f"{local}@{typos[k % len(typos)]}"
    return f"{local}@{('gmail.com', 'outlook.com', 'icloud.com')[k % 3]}"  # another address


def draw_signups(rng: np.random.Generator, n: int, start: int, now: int) -> NDArray[np.int64]:
    """30 % were there before the history starts; the rest keep arriving, a little faster lately."""
    before = rng.random(n) < 0.3
    old = start - rng.integers(DAY, 3 * 365 * DAY, n)
    new = start + ((now - start - 3600) * np.sqrt(rng.random(n)) ** 0.8).astype(np.int64)
    return np.where(before, old, new).astype(np.int64)
