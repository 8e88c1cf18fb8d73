"""Which tools hold each person, since when, on which lists, and on what legal basis; and how a
tool happens to spell the address it holds."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from syncd.sandbox.generate.units import DAY
from syncd.sandbox.population import TOOLS

LISTS: dict[str, list[str]] = {
    "hubspot": ["Newsletter", "Customers", "Product updates", "Events"],
    "brevo": ["Newsletter", "Promotions", "Product updates"],
    "mailchimp": ["newsletter", "vip", "webinar", "customer"],  # Mailchimp tags
}
#: share of a tool's people on each list at sign-up (the customer / vip lists follow purchases)
JOIN_RATE = {
    "Newsletter": 0.8,
    "Product updates": 0.35,
    "Events": 0.25,
    "Promotions": 0.55,
    "newsletter": 0.6,
    "webinar": 0.2,
}
#: a presence's status; ``TERMINAL_STATUS`` in ``events`` indexes into it
STATUS = ("subscribed", "unsubscribed", "bounced", "complained", "pending")
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "PERFORMANCE_OF_CONTRACT",
    "LEGITIMATE_INTEREST_PQL",
)
TOOL_COUNT_P = (0.55, 0.30, 0.15)
TOOL_P = np.array([0.42, 0.28, 0.30])  # which tool a one- or two-tool person is in


def draw_presence(
    rng: np.random.Generator, n: int, signup: NDArray[np.int64], now: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    count = rng.choice(3, n, p=TOOL_COUNT_P) + 1
    keys = rng.random((n, 3)) ** (1 / TOOL_P)  # weighted sampling without replacement
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    present = rank < count[:, None]
    first = rank == 0
    later = signup[:, None] + rng.exponential(120 * DAY, (n, 3)).astype(np.int64)
    spill = signup[:, None] + ((now - signup)[:, None] * rng.random((n, 3))).astype(np.int64)
    created = np.where(first, signup[:, None], np.where(later < now, later, spill))
    return present, created.astype(np.int64)


def draw_lists(
    rng: np.random.Generator, present: NDArray[np.bool_], created: NDArray[np.int64], now: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Columns are (tool, list) pairs in LISTS order; leave_at is when someone left a list."""
    cols = [(k, name) for k, tool in enumerate(TOOLS) for name in LISTS[tool]]
    n = present.shape[0]
    rate = np.array([JOIN_RATE.get(name, 0.0) for _, name in cols])
    tool_of = np.array([k for k, _ in cols])
    member = present[:, tool_of] & (rng.random((n, len(cols))) < rate)
    can_leave = np.array([TOOLS[k] != "mailchimp" and name != "Customers" for k, name in cols])
    leaves = member & can_leave & (rng.random((n, len(cols))) < 0.07)
    when = created[:, tool_of] + ((now - created[:, tool_of]) * rng.random((n, len(cols))))
    leave_at = np.where(leaves, when.astype(np.int64), np.iinfo(np.int64).max)
    return member, leave_at


def mess_address(email: str, r: float) -> str:
    """How a tool happens to hold an address: case and stray spaces vary, the address does not."""
    if r < 0.6:
        return email
    if r < 0.78:
        local, _, domain = email.partition("@")
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    if r < 0.84:
        return email.upper()
    return (" " + email, email + " ", "  " + email + " ")[int(r * 1000) % 3]
