"""A deterministic synthetic population for the vendor sandboxes.

Same arguments, same population: every random draw comes from one ``numpy`` Generator seeded
from ``seed``, in a fixed order. Work over people is vectorised; Python loops run over weeks,
campaigns and, once at the end, over the events to build the dataclasses.

Behaviour is driven by latent traits so the scoring engine has something real to learn:
each person has an open propensity (beta, heavy-tailed) that drifts, a Markov active/dormant
state (dormant people seldom open, seldom reactivate, and unsubscribe more), a click rate, and a
purchase rate that is correlated with engagement and bursts when they are active. Senders target
their engaged segment (recent openers, new sign-ups) more than the rest, as marketers do.

The steps live in the submodules, in the order they run: ``people`` (attributes, addresses,
sign-ups), ``presence`` (tools, lists, consent), ``behaviour`` (latent traits), ``campaigns``,
``events`` (the email simulation) and ``assemble`` (numpy columns -> dataclasses).
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import numpy as np

from syncd.sandbox.generate.assemble import assemble
from syncd.sandbox.generate.behaviour import draw_traits, engagement_paths
from syncd.sandbox.generate.campaigns import CAMPAIGN_TARGETS, draw_campaigns
from syncd.sandbox.generate.events import (
    BOUNCE,
    CLICK,
    COMPLAINT,
    EVENT_TYPES,
    OPEN,
    PURCHASE,
    PURCHASE_TOOLS,
    SEND,
    UNSUB,
    EmailSim,
)
from syncd.sandbox.generate.people import (
    DUPLICATE_KINDS,
    DUPLICATE_RATE,
    INVALID_RATE,
    draw_attributes,
    draw_emails,
    draw_signups,
)
from syncd.sandbox.generate.presence import (
    JOIN_RATE,
    LEGAL_BASES,
    LISTS,
    TOOL_COUNT_P,
    TOOL_P,
    draw_lists,
    draw_presence,
)
from syncd.sandbox.generate.units import DAY, DEFAULT_NOW, WEEK
from syncd.sandbox.generate.vocabulary import (
    COUNTRIES,
    EU,
    FIRST,
    FREE_MAIL,
    INDUSTRIES,
    LAST,
    SIZES,
    TITLES,
    TYPO,
)
from syncd.sandbox.population import Population

__all__ = [
    "BOUNCE",
    "CAMPAIGN_TARGETS",
    "CLICK",
    "COMPLAINT",
    "COUNTRIES",
    "DAY",
    "DEFAULT_NOW",
    "DUPLICATE_KINDS",
    "DUPLICATE_RATE",
    "EU",
    "EVENT_TYPES",
    "FIRST",
    "FREE_MAIL",
    "INDUSTRIES",
    "INVALID_RATE",
    "JOIN_RATE",
    "LAST",
    "LEGAL_BASES",
    "LISTS",
    "OPEN",
    "PURCHASE",
    "PURCHASE_TOOLS",
    "SEND",
    "SIZES",
    "TITLES",
    "TOOL_COUNT_P",
    "TOOL_P",
    "TYPO",
    "UNSUB",
    "WEEK",
    "generate",
]


def generate(
    n_people: int, *, seed: int = 7, now: datetime | None = None, history_days: int = 730
) -> Population:
    """Build ``n_people`` people with presences, consent and ``history_days`` of activity."""
    now = (now or DEFAULT_NOW).astimezone(UTC)
    rng = np.random.default_rng(seed)
    now_ts = int(now.timestamp())
    start_ts = now_ts - history_days * DAY
    n_weeks = history_days // 7 + 2
    n = n_people

    attrs = draw_attributes(rng, n)
    emails = draw_emails(rng, attrs)
    valid = np.array([e is not None for e in emails.canonical], dtype=bool)
    signup = draw_signups(rng, n, start_ts, now_ts)
    present, created = draw_presence(rng, n, signup, now_ts)
    pending = present & (rng.random((n, 3)) < np.where(now_ts - created < 14 * DAY, 0.4, 0.02))
    member, leave_at = draw_lists(rng, present, created, now_ts)
    traits = draw_traits(rng, n)
    signup_week = np.where(signup < start_ts, -99, (signup - start_ts) // WEEK)
    open_p, active = engagement_paths(rng, traits, signup_week.astype(np.int64), n_weeks)

    campaigns = draw_campaigns(rng, start_ts, now_ts)
    sim = EmailSim(rng, n, start_ts, now_ts, present, created, pending, valid, member, leave_at)
    sim.run(campaigns, open_p, traits)
    del open_p
    sim.add_purchases(traits, active, attrs["currency"])
    del active

    # a million small acyclic objects make the cyclic collector rescan the heap over and over
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return assemble(seed, now, n, attrs, emails, rng, sim, campaigns, created, pending, member)
    finally:
        if was_enabled:
            gc.enable()
