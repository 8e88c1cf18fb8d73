"""Time units of the generator (seconds since the epoch throughout) and its default moment."""

from __future__ import annotations

from datetime import UTC, datetime

DEFAULT_NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = 86_400
WEEK = 7 * DAY
