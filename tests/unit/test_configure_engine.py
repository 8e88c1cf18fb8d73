"""The account's TOML scoring settings reach the engine as written."""

from __future__ import annotations

from syncd.config import check_config_text
from syncd.engine.configure import model_settings, scoring_settings, segment_defs

TOML = """
[[accounts]]
id = "a"
[accounts.connectors.brevo]
api_key_env = "K"
[accounts.scoring]
half_life_days = 14
inactivity_months = "b2b"
[accounts.scoring.tiers]
high_open_rate = 0.3
window = "90d"
[accounts.scoring.rfm]
currency = "USD"
[accounts.scoring.points]
open = 5
[[accounts.segments]]
name = "openers"
rule = "opens_30d >= 1"
holdout = 0.2
push.brevo = { lists = ["Openers"], properties = { SEG = "openers" } }
"""


def test_scoring_and_segments_map_onto_the_engine() -> None:
    result = check_config_text(TOML, env={"K": "secret"})
    assert result.config is not None, result.problems
    account = result.config.accounts[0]
    scoring = scoring_settings(account)
    assert scoring.half_life_days == 14
    assert scoring.inactivity_days == 12 * 30
    assert scoring.tier_high_rate == 0.3 and scoring.tier_rate_field == "open_rate_90d"
    assert scoring.base_currency == "USD" and scoring.points["open"] == 5
    assert model_settings(account).inactivity_days == 360
    (segment,) = segment_defs(account)
    assert segment.name == "openers" and segment.holdout == 0.2
    assert segment.push["brevo"].lists == ("Openers",)
    assert dict(segment.push["brevo"].properties) == {"SEG": "openers"}
