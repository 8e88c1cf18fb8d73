"""Config -> the engine's own settings (the engine does not depend on the TOML models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.config import AccountConfig
from syncd.engine.segments import PushTarget, SegmentDef
from syncd.engine.settings import ScoringSettings

if TYPE_CHECKING:
    from syncd.engine.models import ModelSettings

DAYS_PER_MONTH = 30


def scoring_settings(account: AccountConfig) -> ScoringSettings:
    scoring = account.scoring
    return ScoringSettings(
        points=scoring.points.model_dump(),
        half_life_days=scoring.half_life_days,
        inactivity_days=scoring.inactive_after_months * DAYS_PER_MONTH,
        tier_high_rate=scoring.tiers.high_open_rate,
        tier_rate_field="open_rate_90d" if scoring.tiers.window == "90d" else "open_rate",
        drift_threshold=scoring.drift_threshold,
        base_currency=scoring.rfm.currency,
    )


def model_settings(account: AccountConfig) -> ModelSettings:
    from syncd.engine.models import ModelSettings  # scikit-learn: only when training

    return ModelSettings(inactivity_days=account.scoring.inactive_after_months * DAYS_PER_MONTH)


def segment_defs(account: AccountConfig) -> list[SegmentDef]:
    return [
        SegmentDef(
            name=s.name,
            rule=s.rule,
            holdout=s.holdout,
            push={
                tool: PushTarget(
                    tags=tuple(t.tags), lists=tuple(t.lists), properties=dict(t.properties)
                )
                for tool, t in s.push.items()
            },
        )
        for s in account.segments
    ]
