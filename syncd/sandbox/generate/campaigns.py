"""The campaigns each tool sends over the history: when, to which list, under what name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from syncd.sandbox.generate.units import DAY
from syncd.sandbox.population import TOOLS

#: (list a campaign goes to, weight); None is the tool's whole audience
CAMPAIGN_TARGETS: dict[str, list[tuple[str | None, float]]] = {
    "hubspot": [("Newsletter", 0.6), ("Product updates", 0.25), ("Events", 0.15)],
    "brevo": [("Newsletter", 0.5), ("Promotions", 0.4), ("Product updates", 0.1)],
    "mailchimp": [(None, 0.5), ("newsletter", 0.35), ("webinar", 0.15)],
}


@dataclass
class CampaignSpec:
    tool: int
    at: int
    list_name: str | None
    id: str
    name: str


def draw_campaigns(rng: np.random.Generator, start: int, now: int) -> list[CampaignSpec]:
    """Weekly-ish sends per tool, at office hours, each to one list (or the whole audience)."""
    specs: list[CampaignSpec] = []
    for k, tool in enumerate(TOOLS):
        targets = CAMPAIGN_TARGETS[tool]
        weights = np.array([w for _, w in targets])
        day = start // DAY + int(rng.integers(0, 7))
        counter = 0
        while True:
            at = day * DAY + int(rng.integers(8, 17)) * 3600 + int(rng.integers(0, 60)) * 60
            if at >= now - 3600:
                break
            target = targets[int(rng.choice(len(targets), p=weights))][0]
            counter += 1
            month = datetime.fromtimestamp(at, UTC).strftime("%b %Y")
            theme = {
                None: "Monthly digest",
                "newsletter": "Newsletter",
                "webinar": "Webinar invite",
                "Events": "Event invitation",
                "Promotions": "Offers",
            }.get(target, target)
            cid = (
                str(40_000_000 + 7_919 * counter),
                str(counter),
                f"{int(rng.integers(0, 16**10)):010x}",
            )[k]
            specs.append(CampaignSpec(k, at, target, cid, f"{theme} {month} #{counter}"))
            day += int(rng.integers(5, 10))
    specs.sort(key=lambda c: (c.at, c.tool))
    return specs
