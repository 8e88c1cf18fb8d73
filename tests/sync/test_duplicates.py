"""Likely duplicates: each kind on hand-built contacts, no pair for clearly different people,
recall and precision against the generator's marked near-duplicates, and the CLI."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert
from sqlmodel import SQLModel
from typer.testing import CliRunner

from syncd.store.engine import make_engine
from syncd.store.models import Account, Contact
from syncd.sync.duplicates import (
    DuplicatePair,
    canonical_email,
    domain_typos,
    duplicates_among,
    find_duplicates,
    make_row,
    phone_digits,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
Person = tuple[str, dict[str, Any]]  # (email, attributes)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def load(engine: Engine, people: Sequence[Person], account: str = "acme") -> None:
    """Insert an account's contacts; in a fresh store they get ids 1, 2, ... in order."""
    with engine.begin() as conn:
        conn.execute(
            insert(Account.__table__),  # type: ignore[attr-defined]
            [{"id": account, "name": account, "created_at": NOW}],
        )
        conn.execute(
            insert(Contact.__table__),  # type: ignore[attr-defined]
            [
                {
                    "account_id": account,
                    "email": email,
                    "attributes": attributes,
                    "provenance": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                    "changed_at": NOW,
                }
                for email, attributes in people
            ],
        )


def named(first: str, last: str, **more: Any) -> dict[str, Any]:
    return {"first_name": first, "last_name": last, **more}


def pairs_of(pairs: Sequence[DuplicatePair]) -> set[tuple[frozenset[str], str]]:
    return {(frozenset(p.emails), p.kind) for p in pairs}


def pair(a: str, b: str, kind: str) -> tuple[frozenset[str], str]:
    return frozenset((a, b)), kind


# --- normalising -----------------------------------------------------------------------------


def test_canonical_email_gmail_and_plus_tags() -> None:
    assert canonical_email("J.O.Hn.Smith+News@GoogleMail.com") == "johnsmith@gmail.com"
    assert canonical_email("john.smith+x@acme.io") == "john.smith@acme.io"  # dots kept
    assert canonical_email("+only@acme.io") == "+only@acme.io"
    assert canonical_email("anna@gmial.com", {"gmial.com": "gmail.com"}) == "anna@gmail.com"
    assert phone_digits("+49 (30) 123-4567") == phone_digits("0049 30 1234567") == "49301234567"


def test_domain_typos_rare_near_frequent_or_provider() -> None:
    counts = {
        "gmail.com": 400,
        "gmial.com": 2,
        "gmail.con": 1,
        "hotmial.com": 1,
        "yaho.com": 1,
        "acme.io": 40,
        "acme.co": 30,
        "helio.com": 50,
        "telia.com": 3,
    }
    typos = domain_typos(counts)
    assert {d: t.meant for d, t in typos.items()} == {
        "gmial.com": "gmail.com",
        "gmail.con": "gmail.com",
        "hotmial.com": "hotmail.com",
        "yaho.com": "yahoo.com",
    }
    assert typos["gmial.com"].edits == 1  # a swap is one edit


# --- each kind on hand-built contacts ---------------------------------------------------------

KNOWN: list[Person] = [
    ("john.smith@gmail.com", named("John", "Smith")),  # 1
    ("johnsmith@gmail.com", named("John", "Smith")),  # 2  gmail dots of 1
    ("anna.k@googlemail.com", {}),  # 3
    ("annak@gmail.com", {}),  # 4  googlemail of 3
    ("mia@acme.io", named("Mia", "Weber", company="Acme")),  # 5
    ("mia+news@acme.io", {}),  # 6  plus tag of 5
    ("piotr.nowak@gmail.com", named("Piotr", "Nowak")),  # 7
    ("piotr.nowak@gmial.com", named("Piotr", "Nowak")),  # 8  typo of 7
    ("sean.kelly@hotmail.com", {}),  # 9
    ("sean.kelly@hotmial.com", {}),  # 10 typo of 9
    ("zoe@yahoo.com", {}),  # 11
    ("zoe@yaho.com", {}),  # 12 typo of 11
    ("lars@outlook.com", named("Lars", "Jansen", company="Kestrel GmbH", phone="+49 30 123456")),
    (
        "l.jansen@kestrel.de",
        named("lars ", " JANSEN", company="kestrel  gmbh", phone="004930123456"),
    ),
    ("jonh.miller@acme.io", named("John", "Miller")),  # 15
    ("john.miller@acme.io", named("John", "Miller")),  # 16 local typo of 15
]
EXPECTED = {
    pair("john.smith@gmail.com", "johnsmith@gmail.com", "gmail_normalised"),
    pair("anna.k@googlemail.com", "annak@gmail.com", "gmail_normalised"),
    pair("mia@acme.io", "mia+news@acme.io", "plus_tag"),
    pair("piotr.nowak@gmail.com", "piotr.nowak@gmial.com", "domain_typo"),
    pair("sean.kelly@hotmail.com", "sean.kelly@hotmial.com", "domain_typo"),
    pair("zoe@yahoo.com", "zoe@yaho.com", "domain_typo"),
    pair("lars@outlook.com", "l.jansen@kestrel.de", "same_name_company_phone"),
    pair("jonh.miller@acme.io", "john.miller@acme.io", "similar_local_part"),
}


def test_each_kind_found_with_known_answers(engine: Engine) -> None:
    load(engine, KNOWN)
    found = find_duplicates(engine, "acme")
    assert pairs_of(found) == EXPECTED
    assert all(0.0 < p.score <= 1.0 and p.reason for p in found)
    typo = next(p for p in found if p.emails == ("piotr.nowak@gmail.com", "piotr.nowak@gmial.com"))
    assert typo.contact_ids == (7, 8) and "gmial.com" in typo.reason and "gmail.com" in typo.reason
    reasons = {p.emails: p.reason for p in found}
    assert reasons[("john.smith@gmail.com", "johnsmith@gmail.com")] == (
        "one Gmail mailbox (Gmail ignores dots)"
    )
    assert reasons[("anna.k@googlemail.com", "annak@gmail.com")] == (
        "one Gmail mailbox (Gmail ignores dots and googlemail.com for gmail.com)"
    )


def test_order_is_score_then_ids_and_limit_cuts_it(engine: Engine) -> None:
    load(engine, KNOWN)
    with engine.connect() as conn:  # a Connection works as well as an Engine
        found = find_duplicates(conn, "acme")
    assert found == sorted(found, key=lambda p: (-p.score, p.contact_ids))
    assert found[0].kind == "gmail_normalised" and found[0].contact_ids == (1, 2)
    assert find_duplicates(engine, "acme", limit=3) == found[:3]


def test_typo_in_the_first_letters_is_still_caught() -> None:
    rows = [
        make_row(1, "john.miller@acme.io", named("John", "Miller")),
        make_row(2, "ojhn.miller@acme.io", {}),
        make_row(3, "john.millre@acme.io", {}),
    ]
    assert {(p.contact_ids, p.kind) for p in duplicates_among(rows)} == {
        ((1, 2), "similar_local_part"),
        ((1, 3), "similar_local_part"),
    }  # 2 and 3 differ at both ends: no block holds both (the price of blocking)


CLEARLY_DIFFERENT: list[Person] = [
    # same company, different people
    ("anna.weber@acme.io", named("Anna", "Weber", company="Acme", phone="+4930111111")),
    ("jonas.fischer@acme.io", named("Jonas", "Fischer", company="Acme", phone="+4930222222")),
    # same name and company, different phones: two people (or not enough to say)
    ("mary.jones@orbit.com", named("Mary", "Jones", company="Orbit", phone="+1555000001")),
    ("m.jones@orbit.com", named("Mary", "Jones", company="Orbit", phone="+1555999999")),
    # one local part on two common providers
    ("lea@gmail.com", {}),
    ("lea@yahoo.com", {}),
    ("kim@gmx.de", {}),
    ("kim@gmx.net", {}),
    # numbered addresses are usually other people
    ("emma.kelly1@outlook.com", named("Emma", "Kelly")),
    ("emma.kelly2@outlook.com", named("Emma", "Kelly")),
    # one letter apart, but the names say two people
    ("ana.lopez@icloud.com", named("Ana", "López")),
    ("anna.lopez@icloud.com", named("Anna", "López")),
    # only separators apart: two mailboxes
    ("noah_white@outlook.com", named("Noah", "White")),
    ("noah.white@outlook.com", named("Noah", "White")),
    # two frequent company domains one edit apart are not typos of each other
    *[(f"user{i}@lumen.io", {}) for i in range(6)],
    *[(f"user{i}@lumen.co", {}) for i in range(6)],
]


def test_no_pair_for_clearly_different_people(engine: Engine) -> None:
    load(engine, CLEARLY_DIFFERENT)
    assert find_duplicates(engine, "acme") == []


def test_accounts_never_mix(engine: Engine) -> None:
    load(engine, [("john.smith@gmail.com", {})], account="acme")
    load(engine, [("johnsmith@gmail.com", {})], account="other")
    assert find_duplicates(engine, "acme") == find_duplicates(engine, "other") == []


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_report_does_not_depend_on_row_order(rng: random.Random) -> None:
    rows = [make_row(i, email, attrs) for i, (email, attrs) in enumerate(KNOWN, start=1)]
    expected = duplicates_among(rows)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    assert duplicates_among(shuffled) == expected


# --- against the generator's marked near-duplicates -------------------------------------------

#: the generator's names for the kinds
_GENERATOR_KIND = {
    "gmail_dots": {"gmail_normalised"},
    "plus_tag": {"plus_tag"},
    "typo_domain": {"domain_typo"},
    "same_name_company_phone": {"same_name_company_phone"},
}


def test_recall_and_precision_on_generated_population(engine: Engine) -> None:
    from syncd.sandbox.generate import generate

    population = generate(3000, seed=11)
    people = [p for p in population.people if p.email]
    fields = ("first_name", "last_name", "company", "phone")
    load(engine, [(p.email or "", {f: getattr(p, f) for f in fields}) for p in people])
    contact_of = {p.key: i for i, p in enumerate(people, start=1)}
    truth = {
        tuple(sorted((contact_of[p.key], contact_of[p.duplicate_of]))): p.duplicate_kind
        for p in people
        if p.duplicate_of is not None and p.duplicate_of in contact_of
    }
    assert len(truth) > 100
    found = {p.contact_ids: p for p in find_duplicates(engine, "acme")}
    hits = [ids for ids in found if ids in truth]
    recall, precision = len(hits) / len(truth), len(hits) / len(found)
    assert recall >= 0.8, recall
    assert precision >= 0.8, precision
    # and each found true pair carries the kind the generator made it with
    wrong_kind = [ids for ids in hits if found[ids].kind not in _GENERATOR_KIND[truth[ids] or ""]]
    assert len(wrong_kind) <= 0.05 * len(hits), [found[i] for i in wrong_kind[:5]]


def test_fifty_thousand_rows_stay_fast() -> None:
    # one domain, no digits, few first letters: the worst case for the blocks; a Python
    # O(n^2) loop over 50 k rows would take many minutes
    rng = random.Random(5)
    firsts = ["james", "john", "jonas", "jennifer", "jorg", "mary", "mia", "marco"]
    lasts = ["smith", "weber", "rossi", "nowak", "kelly", "jansen", "murphy", "fischer"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [
        make_row(
            i,
            f"{rng.choice(firsts)}.{rng.choice(lasts)}.{''.join(rng.choices(letters, k=6))}"
            "@gmail.com",
            {},
        )
        for i in range(50_000)
    ]
    started = time.perf_counter()
    found = duplicates_among(rows)
    assert time.perf_counter() - started < 30
    assert found  # six random letters nearly collide somewhere in 50 k rows


# --- the command ------------------------------------------------------------------------------

CONFIG = """
[store]
url = "sqlite:///{db}"

[[accounts]]
id = "acme"

[accounts.connectors.hubspot]
api_key_env = "DUP_TEST_HUBSPOT_TOKEN"
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from syncd.store.engine import open_store

    monkeypatch.setenv("DUP_TEST_HUBSPOT_TOKEN", "token")
    db = tmp_path / "store.db"
    path = tmp_path / "syncd.toml"
    path.write_text(CONFIG.format(db=db))
    store = open_store(f"sqlite:///{db}")
    try:
        load(store, KNOWN)
    finally:
        store.dispose()
    return path


def test_command_prints_table_and_counts(config_file: Path) -> None:
    from syncd.cli.main import app

    result = CliRunner().invoke(
        app,
        ["contacts", "duplicates", "--config", str(config_file), "--account", "acme"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "piotr.nowak@gmial.com" in result.output and "domain_typo" in result.output
    assert "Per kind" in result.output and "total" in result.output

    args = ["contacts", "duplicates", "-c", str(config_file), "-a", "acme", "--limit", "1"]
    limited = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert "the 1 most likely of 8 pairs" in limited.output
    assert "domain_typo" in limited.output  # in the per-kind counts, not the one row shown


def test_command_json_and_limit(config_file: Path) -> None:
    from syncd.cli.main import app

    args = ["contacts", "duplicates", "-c", str(config_file), "-a", "acme", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["count"] == len(EXPECTED) == len(report["pairs"])
    assert report["by_kind"] == {
        "gmail_normalised": 2,
        "plus_tag": 1,
        "domain_typo": 3,
        "same_name_company_phone": 1,
        "similar_local_part": 1,
    }
    limited = json.loads(CliRunner().invoke(app, [*args, "--limit", "2"]).output)
    assert limited["pairs"] == report["pairs"][:2]
    assert limited["by_kind"] == report["by_kind"] and limited["count"] == len(EXPECTED)


def test_command_unknown_account_is_refused(config_file: Path) -> None:
    from syncd.cli.main import app

    args = ["contacts", "duplicates", "-c", str(config_file), "-a", "nobody"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "no account 'nobody'" in result.output
