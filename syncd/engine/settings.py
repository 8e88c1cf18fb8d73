"""An account's scoring settings, as the engine sees them (the config module maps TOML onto these).

Defaults follow the issue: open 10, click 20, purchase 50 points, negative points for bounces,
unsubscribes and complaints, a 30-day half-life, a six-month inactivity threshold, tiers split at
a 20 % open rate. Revenue is summed in ``base_currency`` using the small fixed rate table below:
rates are approximate and only meant to make purchases in several currencies comparable, not to
do accounting. An unknown or missing currency is taken to be the base currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_POINTS: Mapping[str, float] = MappingProxyType(
    {
        "send": 0.0,
        "open": 10.0,
        "click": 20.0,
        "purchase": 50.0,
        "bounce": -10.0,
        "unsubscribe": -30.0,
        "complaint": -50.0,
    }
)

#: value of one unit of each currency in EUR (rounded, fixed: see the module docstring)
EUR_PER_UNIT: Mapping[str, float] = MappingProxyType(
    {
        "EUR": 1.0,
        "USD": 0.92,
        "GBP": 1.17,
        "CHF": 1.05,
        "CAD": 0.68,
        "AUD": 0.61,
        "JPY": 0.0062,
        "SEK": 0.088,
        "NOK": 0.086,
        "DKK": 0.134,
        "PLN": 0.23,
        "CZK": 0.04,
    }
)

#: inactivity threshold per sector: how long without an open, click or purchase before a
#: contact counts as inactive (3, 6 or 12 months)
SECTOR_INACTIVITY_DAYS: Mapping[str, int] = MappingProxyType(
    {"retail": 90, "ecommerce": 90, "media": 180, "services": 180, "saas": 180, "b2b": 365}
)


@dataclass(frozen=True)
class ScoringSettings:
    points: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    half_life_days: float = 30.0
    #: raw decayed points that map to a score of 100. ``None``: the account's
    #: ``saturation_percentile`` of positive raw scores, measured at each full recompute and
    #: stored, so incremental runs scale exactly as the full run before them did
    score_saturation: float | None = None
    saturation_percentile: float = 99.0
    inactivity_days: int = 180
    #: contacts younger than this are "new" whatever they did
    new_days: int = 30
    #: an activity ending a gap longer than ``inactivity_days`` makes the contact "reactivated"
    #: for this many days
    reactivation_days: int = 30
    #: open rate above which a contact is "high" (any open below it: "medium", none: "inactive")
    tier_high_rate: float = 0.20
    #: which rate the tiers read: "open_rate" (all time) or "open_rate_90d"
    tier_rate_field: str = "open_rate"
    drift_threshold: float = 0.2
    base_currency: str = "EUR"
    currency_rates: Mapping[str, float] = field(default_factory=lambda: dict(EUR_PER_UNIT))
    #: custom attributes to expose as ``custom.<name>``; ``None``: every one found
    custom_fields: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError("half_life_days must be positive")
        if self.inactivity_days <= 0 or self.new_days < 0 or self.reactivation_days < 0:
            raise ValueError("inactivity_days must be positive, new/reactivation days >= 0")
        if self.score_saturation is not None and self.score_saturation <= 0:
            raise ValueError("score_saturation must be positive")
        if self.tier_rate_field not in ("open_rate", "open_rate_90d"):
            raise ValueError("tier_rate_field must be open_rate or open_rate_90d")
        if self.base_currency not in self.currency_rates:
            raise ValueError(f"no rate for base currency {self.base_currency}")

    @classmethod
    def for_sector(cls, sector: str, **overrides: object) -> ScoringSettings:
        """Settings with the sector's inactivity threshold (unknown sector: six months)."""
        days = SECTOR_INACTIVITY_DAYS.get(sector.lower(), 180)
        return cls(**{"inactivity_days": days, **overrides})  # type: ignore[arg-type]

    def rate_to_base(self, currency: str) -> float:
        """Multiplier turning an amount in ``currency`` into the base currency."""
        eur = self.currency_rates.get(currency.upper())
        base = self.currency_rates[self.base_currency]
        return 1.0 if eur is None else eur / base
