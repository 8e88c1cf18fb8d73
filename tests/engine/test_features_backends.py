"""The generator's population gives the same frame on SQLite and PostgreSQL, and the frame
holds together (needs SYNCD_TEST_DATABASE_URL for the PostgreSQL half)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syncd.engine.features import compute_features
from syncd.engine.fields import FIELDS, FieldType
from syncd.sandbox.generate import generate
from tests.support.store_loader import load_population, make_test_engine, store_kinds

POPULATION = generate(400, seed=3)


def _frame(kind: str, tmp_path: Path) -> tuple[pd.DataFrame, dict[int, int]]:
    engine, cleanup = make_test_engine(kind, tmp_path)
    try:
        keys = load_population(engine, "acct", POPULATION)
        return compute_features(engine, "acct", POPULATION.now), keys
    finally:
        cleanup()


def _by_person(frame: pd.DataFrame, keys: dict[int, int]) -> pd.DataFrame:
    person_of = {contact: key for key, contact in keys.items()}
    out = frame.rename(index=person_of).sort_index()
    return out[[c for c in FIELDS if c not in ("cluster", "persona")]]


def test_frame_is_consistent_on_the_generated_population(tmp_path: Path) -> None:
    frame, keys = _frame("sqlite", tmp_path)
    with_email = [p for p in POPULATION.people if p.email]
    assert len(frame) == len(with_email)
    person = {p.key: p for p in with_email}
    for key, contact in list(keys.items())[:50]:
        events = person[key].events
        opens = sum(e.type == "open" and e.at <= POPULATION.now for e in events)
        assert frame.loc[contact, "opens_total"] == opens
    for window in ("7d", "30d", "90d", "365d"):
        assert (frame[f"opens_{window}"] <= frame["opens_total"]).all()
    assert ((frame["engagement_score"] >= 0) & (frame["engagement_score"] <= 100)).all()
    assert frame["lifecycle"].notna().all()


@pytest.mark.postgres
@pytest.mark.skipif("postgresql" not in store_kinds(), reason="SYNCD_TEST_DATABASE_URL not set")
def test_sqlite_and_postgresql_give_the_same_frame(tmp_path: Path) -> None:
    lite = _by_person(*_frame("sqlite", tmp_path))
    pg = _by_person(*_frame("postgresql", tmp_path))
    assert list(lite.index) == list(pg.index)
    for column in lite.columns:
        if FIELDS[column] is FieldType.NUMBER:
            np.testing.assert_allclose(
                lite[column].to_numpy(float), pg[column].to_numpy(float), rtol=1e-9, err_msg=column
            )
        else:
            assert lite[column].tolist() == pg[column].tolist(), column
