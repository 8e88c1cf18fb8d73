"""Normalisation written once: emails, timestamps, money, used by every connector."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    pass


def normalize_email(raw: str) -> str:
    """Trim, lower-case and validate an address (syntax only; no DNS look-up).

    Raises :class:`InvalidEmail` with the validator's reason.
    """
    candidate = raw.strip().lower()
    if not candidate:
        raise InvalidEmail("empty email")
    try:
        info = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    return info.normalized.lower()


def parse_timestamp(value: str | int | float | datetime | None) -> datetime | None:
    """Any vendor timestamp (ISO 8601 with or without zone, epoch ms) to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        dt = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    else:
        text = value.strip()
        if text.isdigit():
            return parse_timestamp(int(text))
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` and millisecond precision, as the vendors write it."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_money(
    amount: str | int | float | None, currency: str | None
) -> tuple[Decimal | None, str | None]:
    """A vendor amount to (Decimal, ISO 4217 upper-case code); bad amounts raise ValueError."""
    if amount is None or amount == "":
        return None, None
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    code = currency.strip().upper() if currency else None
    if code is not None and (len(code) != 3 or not code.isalpha()):
        raise ValueError(f"not an ISO 4217 currency: {currency!r}")
    return value, code
