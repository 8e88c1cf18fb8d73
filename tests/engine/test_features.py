"""Features on hand-built populations with known answers (SQLite; PostgreSQL when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from syncd.engine.features import compute_features
from syncd.engine.fields import FIELDS
from syncd.engine.settings import ScoringSettings
from tests.support.store_loader import (
    load_population,
    make_test_engine,
    person,
    population,
    store_kinds,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(params=store_kinds())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    created, cleanup = make_test_engine(request.param, tmp_path)
    try:
        yield created
    finally:
        cleanup()


def _people() -> list:
    busy = person(
        1,
        created=ago(400),
        tools=("hubspot", "brevo"),
        country="FR",
        company="Acme",
        events=[
            *[("send", ago(d)) for d in (1, 5, 10, 40, 100, 400)],
            *[("open", ago(d)) for d in (1, 40, 100)],
            ("click", ago(7)),  # exactly on the 7-day edge: counted
            ("purchase", ago(20), 100, "EUR"),
            ("purchase", ago(200), 50, "USD"),
            ("bounce", ago(3)),
            ("open", NOW + timedelta(days=1)),  # after now: ignored
        ],
    )
    quiet = person(2, created=ago(10), tools=("mailchimp",))
    invalid = person(3, created=ago(10), email=None)
    return [busy, quiet, invalid]


@pytest.fixture
def frame(engine: Engine) -> tuple[pd.DataFrame, dict[int, int]]:
    keys = load_population(engine, "acct", population(NOW, _people()))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'UPDATE contact SET attributes = \'{"country": "FR", "company": "Acme", '
            '"plan": "gold", "seats": 12}\' WHERE email = \'p1@example.com\''
        )
    return compute_features(engine, "acct", NOW), keys


def test_every_catalogue_field_is_a_column(frame: tuple[pd.DataFrame, dict[int, int]]) -> None:
    df, keys = frame
    assert set(FIELDS) <= set(df.columns)
    assert sorted(df.index) == sorted(keys.values())
    assert 3 not in keys  # no email: skipped
    assert df.index.dtype == np.int64


def test_window_counts_rates_and_revenue(frame: tuple[pd.DataFrame, dict[int, int]]) -> None:
    df, keys = frame
    row = df.loc[keys[1]]
    assert [row[f"sends_{w}"] for w in ("7d", "30d", "90d", "365d", "total")] == [2, 3, 4, 5, 6]
    assert [row[f"opens_{w}"] for w in ("7d", "30d", "90d", "365d", "total")] == [1, 1, 2, 3, 3]
    assert row["clicks_7d"] == 1 and row["clicks_total"] == 1
    assert [row[f"purchases_{w}"] for w in ("7d", "30d", "365d", "total")] == [0, 1, 2, 2]
    assert row["revenue_30d"] == pytest.approx(100.0)
    assert row["revenue_total"] == pytest.approx(100 + 50 * 0.92)
    assert row["bounces_total"] == 1 and row["complaints_total"] == 0
    assert row["open_rate"] == pytest.approx(0.5)
    assert row["click_rate"] == pytest.approx(1 / 6)
    assert row["open_rate_90d"] == pytest.approx(2 / 4)


def test_days_since_and_tenure(frame: tuple[pd.DataFrame, dict[int, int]]) -> None:
    df, keys = frame
    busy, quiet = df.loc[keys[1]], df.loc[keys[2]]
    assert busy["days_since_last_open"] == pytest.approx(1)
    assert busy["days_since_last_click"] == pytest.approx(7)
    assert busy["days_since_last_purchase"] == pytest.approx(20)
    assert busy["days_since_last_activity"] == pytest.approx(1)
    assert busy["tenure_days"] == pytest.approx(400)
    for what in ("open", "click", "purchase", "activity"):
        assert np.isnan(quiet[f"days_since_last_{what}"])
    assert np.isnan(quiet["open_rate"])
    assert quiet["tenure_days"] == pytest.approx(10)
    assert quiet["sends_total"] == 0


def test_attributes_identity_and_email(frame: tuple[pd.DataFrame, dict[int, int]]) -> None:
    df, keys = frame
    busy, quiet = df.loc[keys[1]], df.loc[keys[2]]
    assert busy["country"] == "FR" and busy["company"] == "Acme"
    assert busy["custom.plan"] == "gold" and busy["custom.seats"] == "12"
    assert quiet["custom.plan"] is None and quiet["city"] is None
    assert busy["email"] == "p1@example.com" and busy["email_domain"] == "example.com"
    assert bool(busy["in_hubspot"]) and bool(busy["in_brevo"]) and not bool(busy["in_mailchimp"])
    assert bool(quiet["in_mailchimp"]) and not bool(quiet["in_hubspot"])


def test_tenure_counts_from_first_event_when_older(engine: Engine) -> None:
    keys = load_population(
        engine, "acct", population(NOW, [person(1, created=ago(5), events=[("send", ago(50))])])
    )
    df = compute_features(engine, "acct", NOW)
    assert df.loc[keys[1], "tenure_days"] == pytest.approx(50)


def test_subset_matches_full_and_as_of_past(engine: Engine) -> None:
    keys = load_population(engine, "acct", population(NOW, _people()))
    full = compute_features(engine, "acct", NOW)
    part = compute_features(engine, "acct", NOW, [keys[1]])
    assert list(part.index) == [keys[1]]
    numeric = [c for c in full.columns if full[c].dtype == np.float64]
    pd.testing.assert_series_equal(
        part.loc[keys[1], numeric].astype(float),
        full.loc[keys[1], numeric].astype(float),
        check_names=False,
    )
    earlier = compute_features(engine, "acct", ago(30))
    assert earlier.loc[keys[1], "opens_total"] == 2  # the open 1 day ago did not exist yet
    assert earlier.loc[keys[1], "days_since_last_open"] == pytest.approx(10)


def test_currency_base_is_configurable(engine: Engine) -> None:
    keys = load_population(engine, "acct", population(NOW, _people()))
    df = compute_features(engine, "acct", NOW, settings=ScoringSettings(base_currency="USD"))
    assert df.loc[keys[1], "revenue_total"] == pytest.approx(100 / 0.92 + 50, abs=0.01)


def test_empty_account(engine: Engine) -> None:
    df = compute_features(engine, "nobody", NOW)
    assert len(df) == 0 and set(FIELDS) <= set(df.columns)
