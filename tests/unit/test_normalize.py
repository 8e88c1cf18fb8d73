from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.normalize import InvalidEmail, iso_utc, normalize_email, parse_money, parse_timestamp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("x+tag@gmail.com", "x+tag@gmail.com"),
        ("\tA@B.io\n", "a@b.io"),
    ],
)
def test_emails_are_trimmed_and_lowercased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "john.doe@@example.com", "no-at-sign.example.com", "a@b"]
)
def test_invalid_emails_raise_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidEmail) as info:
        normalize_email(raw)
    assert str(info.value)


@given(st.emails())
def test_normalisation_is_idempotent(email: str) -> None:
    try:
        once = normalize_email(email)
    except InvalidEmail:
        return
    assert normalize_email(once) == once
    assert normalize_email(f"  {once.upper()} ") == once


def test_timestamps_become_aware_utc() -> None:
    expected = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert parse_timestamp("2026-03-01T10:30:00Z") == expected
    assert parse_timestamp("2026-03-01T11:30:00+01:00") == expected
    assert parse_timestamp("2026-03-01T10:30:00") == expected
    assert parse_timestamp(int(expected.timestamp() * 1000)) == expected
    assert parse_timestamp(str(int(expected.timestamp()))) == expected
    local = datetime(2026, 3, 1, 5, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_timestamp(local) == expected
    assert parse_timestamp(None) is None and parse_timestamp("") is None
    assert iso_utc(expected) == "2026-03-01T10:30:00.000Z"


def test_money_is_decimal_with_iso_currency() -> None:
    assert parse_money("19.99", "eur") == (Decimal("19.99"), "EUR")
    assert parse_money(5, None) == (Decimal("5"), None)
    assert parse_money(None, "USD") == (None, None)
    with pytest.raises(ValueError, match="amount"):
        parse_money("12,5x", "EUR")
    with pytest.raises(ValueError, match="currency"):
        parse_money("1", "euro")
