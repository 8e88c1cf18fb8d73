"""Latent traits that drive behaviour (open, click and purchase propensities) and each person's
weekly path through active and dormant spells."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def draw_traits(rng: np.random.Generator, n: int) -> dict[str, NDArray[np.float64]]:
    base = rng.beta(1.1, 2.6, n)  # open propensity: most low, a long tail of fans
    base = np.where(rng.random(n) < 0.12, 0.005, base)  # people who never open
    z = (base - base.mean()) / base.std()
    buyer = rng.random(n) < np.clip(0.3 + 0.12 * z, 0.05, 0.9)
    rate = np.exp(rng.normal(np.log(0.035) + 0.35 * z, 0.9))  # organic purchases per week
    return {
        "open": base,
        "click": rng.beta(2.0, 6.0, n),
        "buy_rate": np.where(buyer, np.minimum(rate, 0.6), 0.0),
        "buy_after_click": np.where(buyer, 0.12, 0.015),
        "basket": np.exp(rng.normal(3.7, 0.55, n)),  # typical order value
        "doomed": (rng.random(n) < 0.03).astype(np.float64),  # address will hard-bounce
    }


def engagement_paths(
    rng: np.random.Generator,
    traits: dict[str, NDArray[np.float64]],
    signup_week: NDArray[np.int64],
    n_weeks: int,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Weekly open probability and active/dormant state (Markov, with a slow log-drift)."""
    base = traits["open"]
    n = base.size
    lapse = np.clip(0.05 - 0.14 * base, 0.006, 0.05)  # keen people lapse less often
    open_p = np.zeros((n, n_weeks), np.float32)
    active = np.zeros((n, n_weeks), bool)
    state = rng.random(n) < 0.6
    level = np.where(state, 1.0, 0.05)  # fades over weeks after a lapse: a trend to see coming
    drift = rng.normal(0.0, 0.3, n)
    for w in range(n_weeks):
        u = rng.random(n)
        state = np.where(signup_week == w, True, np.where(state, u >= lapse, u < 0.015))
        level = np.where(state, np.minimum(1.0, level + 0.4), np.maximum(0.03, level * 0.6))
        drift = 0.96 * drift + rng.normal(0.0, 0.08, n)
        honeymoon = np.where((w - signup_week >= 0) & (w - signup_week < 6), 1.5, 1.0)
        p = base * np.exp(drift) * level * honeymoon
        started = signup_week <= w
        open_p[:, w] = np.clip(p, 0.0, 0.95) * started
        active[:, w] = state & started
    return open_p, active
