"""The email simulation: campaigns sent to whoever is eligible, and the sends, opens, clicks,
purchases, bounces, unsubscribes and complaints that follow, collected as numpy columns."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from syncd.sandbox.generate.campaigns import CampaignSpec
from syncd.sandbox.generate.presence import LISTS
from syncd.sandbox.generate.units import DAY, WEEK
from syncd.sandbox.population import TOOLS

PURCHASE_TOOLS = ("hubspot", "mailchimp")  # custom events / e-commerce orders
EVENT_TYPES = ("send", "open", "click", "purchase", "bounce", "unsubscribe", "complaint")
SEND, OPEN, CLICK, PURCHASE, BOUNCE, UNSUB, COMPLAINT = range(7)
#: the presence status (an index into ``presence.STATUS``) an event leaves behind
TERMINAL_STATUS = {BOUNCE: 2, UNSUB: 1, COMPLAINT: 3}


class EmailSim:
    """Sends campaigns to who is eligible, collecting events as parallel numpy chunks."""

    def __init__(
        self,
        rng: np.random.Generator,
        n: int,
        start: int,
        now: int,
        present: NDArray[np.bool_],
        created: NDArray[np.int64],
        pending: NDArray[np.bool_],
        valid: NDArray[np.bool_],
        member: NDArray[np.bool_],
        leave_at: NDArray[np.int64],
    ) -> None:
        self.rng, self.n, self.start, self.now = rng, n, start, now
        self.present, self.created, self.member, self.leave_at = present, created, member, leave_at
        self.sendable = present & ~pending & valid[:, None]
        self.alive = self.sendable.copy()
        self.status = np.where(pending, 4, 0).astype(np.int8)
        self.changed = created.copy()
        self.last_engaged = np.full(n, -(10**12), np.int64)
        self.chunks: list[tuple[NDArray[np.int64], ...]] = []
        self.cols = {
            (TOOLS[k], name): j
            for j, (k, name) in enumerate(
                (k, name) for k, tool in enumerate(TOOLS) for name in LISTS[tool]
            )
        }

    def _emit(
        self,
        who: NDArray[np.int64],
        tool: int | NDArray[np.int64],
        kind: int,
        at: NDArray[np.int64],
        campaign: int,
        cents: NDArray[np.int64] | None = None,
    ) -> None:
        keep = at <= self.now
        m = int(keep.sum())
        if m:
            self.chunks.append(
                (
                    who[keep],
                    np.broadcast_to(np.asarray(tool, np.int64), who.shape)[keep],
                    np.full(m, kind, np.int64),
                    at[keep],
                    np.full(m, campaign, np.int64),
                    np.zeros(m, np.int64) if cents is None else cents[keep],
                )
            )

    def run(
        self,
        campaigns: list[CampaignSpec],
        open_p: NDArray[np.float32],
        traits: dict[str, NDArray[np.float64]],
    ) -> None:
        rng, n = self.rng, self.n
        for c_ix, c in enumerate(campaigns):
            k, t = c.tool, c.at
            eligible = self.alive[:, k] & (self.created[:, k] <= t)
            if c.list_name is not None:
                col = self.cols[(TOOLS[k], c.list_name)]
                eligible &= self.member[:, col] & (self.leave_at[:, col] > t)
            engaged = (t - self.last_engaged < 120 * DAY) | (t - self.created[:, k] < 60 * DAY)
            eligible &= rng.random(n) < np.where(engaged, 0.9, 0.1)  # the engaged segment
            who = np.flatnonzero(eligible).astype(np.int64)
            if who.size == 0:
                continue
            p = open_p[who, min((t - self.start) // WEEK, open_p.shape[1] - 1)]
            u = rng.random((who.size, 6))
            bounce = u[:, 0] < np.where(traits["doomed"][who] > 0, 0.5, 0.0006)
            complaint = ~bounce & (u[:, 1] < np.where(p < 0.02, 0.002, 0.0002))
            unsub = ~bounce & ~complaint & (u[:, 2] < np.where(p < 0.02, 0.012, 0.0015))
            opened = ~bounce & ~complaint & ~unsub & (u[:, 3] < p)
            clicked = opened & (u[:, 4] < traits["click"][who])
            bought = clicked & (u[:, 5] < traits["buy_after_click"][who])
            self._emit(who, k, SEND, np.full(who.size, t, np.int64), c_ix)
            open_at = t + 60 + rng.exponential(9 * 3600, who.size).astype(np.int64)
            click_at = open_at + 5 + rng.exponential(240, who.size).astype(np.int64)
            buy_at = click_at + 60 + rng.exponential(2400, who.size).astype(np.int64)
            quit_at = t + 60 + rng.exponential(DAY, who.size).astype(np.int64)
            quit_at = np.where(bounce, t + rng.integers(5, 900, who.size), quit_at)
            self._emit(who[opened], k, OPEN, open_at[opened], c_ix)
            self._emit(who[clicked], k, CLICK, click_at[clicked], c_ix)
            self._buy_after_click(who[bought], k, buy_at[bought], c_ix, traits)
            seen = opened & (open_at <= self.now)
            self.last_engaged[who[seen]] = np.maximum(self.last_engaged[who[seen]], open_at[seen])
            for kind, mask in ((BOUNCE, bounce), (UNSUB, unsub), (COMPLAINT, complaint)):
                mask = mask & (quit_at <= self.now)
                self._emit(who[mask], k, kind, quit_at[mask], c_ix)
                self.alive[who[mask], k] = False
                self.status[who[mask], k] = TERMINAL_STATUS[kind]
                self.changed[who[mask], k] = quit_at[mask]

    def shop_tool(self) -> NDArray[np.int64]:
        """The one purchase-carrying tool each person's orders land in (-1: none)."""
        cands = np.array([TOOLS.index(t) for t in PURCHASE_TOOLS])
        ok = self.sendable[:, cands]
        pick = np.where(ok.all(axis=1), (np.arange(self.n) * 2654435761 >> 7) % 2, np.argmax(ok, 1))
        return np.where(ok.any(axis=1), cands[pick], -1).astype(np.int64)

    def _buy_after_click(
        self,
        who: NDArray[np.int64],
        tool: int,
        at: NDArray[np.int64],
        c_ix: int,
        traits: dict[str, NDArray[np.float64]],
    ) -> None:
        if not hasattr(self, "_shop"):
            self._shop = self.shop_tool()
        shop = self._shop[who]
        keep = shop >= 0
        who, shop, at = who[keep], shop[keep], at[keep]
        # bounced shop addresses take no orders; the order is the campaign's only in its own tool
        keep = (self.created[who, shop] <= at) & (self.status[who, shop] != 2)
        cents = self._amounts(who[keep], traits)
        for same in (True, False):
            m = (shop[keep] == tool) == same
            self._emit(
                who[keep][m], shop[keep][m], PURCHASE, at[keep][m], c_ix if same else -1, cents[m]
            )

    def _amounts(
        self, who: NDArray[np.int64], traits: dict[str, NDArray[np.float64]]
    ) -> NDArray[np.int64]:
        value = traits["basket"][who] * np.exp(self.rng.normal(0.0, 0.7, who.size))
        return np.maximum(100, np.round(value * 100)).astype(np.int64)

    def add_purchases(
        self,
        traits: dict[str, NDArray[np.float64]],
        active: NDArray[np.bool_],
        currency: list[str | None],
    ) -> None:
        """Orders outside email: Poisson per week, bursting while someone is active."""
        if not hasattr(self, "_shop"):
            self._shop = self.shop_tool()
        shop = self._shop
        has = np.flatnonzero(shop >= 0)
        rate = traits["buy_rate"][has, None] * np.where(active[has], 1.0, 0.15)
        counts = self.rng.poisson(rate)
        rows, weeks = np.nonzero(counts)
        reps = counts[rows, weeks]
        who = np.repeat(has[rows], reps).astype(np.int64)
        at = self.start + np.repeat(weeks, reps) * WEEK + self.rng.integers(0, WEEK, who.size)
        tool = shop[who]
        end = np.where(self.status[who, tool] == 2, self.changed[who, tool], self.now)
        keep = (at >= self.created[who, tool]) & (at < end)
        self._emit(who[keep], tool[keep], PURCHASE, at[keep], -1, self._amounts(who[keep], traits))

    def columns(self) -> tuple[NDArray[np.int64], ...]:
        """All events, sorted by person, time, then type (a send before its open)."""
        cols = [
            np.concatenate([c[j] for c in self.chunks]) if self.chunks else np.zeros(0, np.int64)
            for j in range(6)
        ]
        self.chunks = []  # the concatenation is the only copy we keep
        order = np.lexsort((cols[2], cols[3], cols[0]))
        return tuple(c[order] for c in cols)
