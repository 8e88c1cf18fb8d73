"""A deterministic synthetic population for the vendor sandboxes.

Same arguments, same population: every random draw comes from one ``numpy`` Generator seeded
from ``seed``, in a fixed order. Work over people is vectorised; Python loops run over weeks,
campaigns and, once at the end, over the events to build the dataclasses.

Behaviour is driven by latent traits so the scoring engine has something real to learn:
each person has an open propensity (beta, heavy-tailed) that drifts, a Markov active/dormant
state (dormant people seldom open, seldom reactivate, and unsubscribe more), a click rate, and a
purchase rate that is correlated with engagement and bursts when they are active. Senders target
their engaged segment (recent openers, new sign-ups) more than the rest, as marketers do.
"""

from __future__ import annotations

import functools
import gc
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from syncd.sandbox.population import TOOLS, Campaign, Event, Person, Population, ToolPresence

DEFAULT_NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = 86_400
WEEK = 7 * DAY

LISTS: dict[str, list[str]] = {
    "hubspot": ["Newsletter", "Customers", "Product updates", "Events"],
    "brevo": ["Newsletter", "Promotions", "Product updates"],
    "mailchimp": ["newsletter", "vip", "webinar", "customer"],  # Mailchimp tags
}
#: share of a tool's people on each list at sign-up (the customer / vip lists follow purchases)
_JOIN_RATE = {
    "Newsletter": 0.8,
    "Product updates": 0.35,
    "Events": 0.25,
    "Promotions": 0.55,
    "newsletter": 0.6,
    "webinar": 0.2,
}
#: (list a campaign goes to, weight); None is the tool's whole audience
_TARGETS: dict[str, list[tuple[str | None, float]]] = {
    "hubspot": [("Newsletter", 0.6), ("Product updates", 0.25), ("Events", 0.15)],
    "brevo": [("Newsletter", 0.5), ("Promotions", 0.4), ("Product updates", 0.1)],
    "mailchimp": [(None, 0.5), ("newsletter", 0.35), ("webinar", 0.15)],
}
PURCHASE_TOOLS = ("hubspot", "mailchimp")  # custom events / e-commerce orders
EVENT_TYPES = ("send", "open", "click", "purchase", "bounce", "unsubscribe", "complaint")
SEND, OPEN, CLICK, PURCHASE, BOUNCE, UNSUB, COMPLAINT = range(7)
_STATUS = ("subscribed", "unsubscribed", "bounced", "complained", "pending")
_TERMINAL_STATUS = {BOUNCE: 2, UNSUB: 1, COMPLAINT: 3}
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "PERFORMANCE_OF_CONTRACT",
    "LEGITIMATE_INTEREST_PQL",
)


def _words(text: str) -> tuple[str, ...]:
    """A compact word list; an underscore stands for a space inside one entry."""
    return tuple(w.replace("_", " ") for w in text.split())


FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Susan "
    "Thomas Sarah Daniel Emma Lukas Sophie Jonas Léa Hugo Chloé Lucía Pablo Giulia Marco Anna "
    "Lars Ingrid Piotr Zofia Seán Aoife Noah Olivia Liam Mia Jörg Zoë Ana"
)
LAST = _words(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Clark Müller Schmidt "
    "Schneider Fischer Weber Martin Bernard Dubois Lefèvre García Fernández López Rossi Russo "
    "Bianchi de_Vries Jansen Andersson Nilsson Kowalski Nowak Murphy O'Brien Kelly Walsh "
    "Thompson White Harris Lewis Young"
)
# country: (weight, dialling code, national digits, language, currency, cities, local mail domain)
COUNTRIES: dict[str, tuple[float, str, int, str, str, tuple[str, ...], str]] = {
    "US": (0.22, "1", 10, "en", "USD", ("New York", "Austin", "Chicago", "Seattle"), "yahoo.com"),
    "GB": (0.14, "44", 10, "en", "GBP", ("London", "Manchester", "Bristol"), "btinternet.com"),
    "DE": (0.14, "49", 11, "de", "EUR", ("Berlin", "München", "Hamburg", "Köln"), "gmx.de"),
    "FR": (0.10, "33", 9, "fr", "EUR", ("Paris", "Lyon", "Toulouse"), "orange.fr"),
    "ES": (0.07, "34", 9, "es", "EUR", ("Madrid", "Barcelona", "Valencia"), "telefonica.net"),
    "IT": (0.06, "39", 10, "it", "EUR", ("Milano", "Roma", "Torino"), "libero.it"),
    "NL": (0.06, "31", 9, "nl", "EUR", ("Amsterdam", "Rotterdam", "Utrecht"), "ziggo.nl"),
    "SE": (0.04, "46", 9, "sv", "EUR", ("Stockholm", "Göteborg"), "telia.com"),
    "PL": (0.04, "48", 9, "pl", "EUR", ("Warszawa", "Kraków"), "wp.pl"),
    "IE": (0.04, "353", 9, "en", "EUR", ("Dublin", "Cork"), "eircom.net"),
    "CA": (0.05, "1", 10, "en", "USD", ("Toronto", "Montréal", "Vancouver"), "rogers.com"),
    "AU": (0.04, "61", 9, "en", "USD", ("Sydney", "Melbourne"), "bigpond.com"),
}
EU = {"DE", "FR", "ES", "IT", "NL", "SE", "PL", "IE"}
FREE_MAIL = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "icloud.com",
)
TYPO = {
    "gmail.com": ("gmial.com", "gmai.com", "gnail.com"),
    "hotmail.com": ("hotmial.com",),
    "yahoo.com": ("yaho.com",),
    "outlook.com": ("outlok.com",),
    "icloud.com": ("iclod.com",),
}
_CO_A = _words(
    "Acme Nordwind Bluefin Lumen Kestrel Orbit Vireo Granite Solstice Tandem Quill Helio"
)
_CO_B = ("Labs", "Logistics", "Health", "Retail", "Software", "Foods", "GmbH", "& Co", "Studio")
INDUSTRIES = (
    "Software",
    "Retail",
    "Healthcare",
    "Manufacturing",
    "Finance",
    "Education",
    "Logistics",
    "Media",
    "Hospitality",
)
SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
TITLES = (
    "Marketing Manager",
    "CEO",
    "Founder",
    "Head of Growth",
    "Sales Director",
    "Engineer",
    "Product Manager",
    "Office Manager",
    "CFO",
    "Customer Success Lead",
    "Designer",
)
DUPLICATE_KINDS = ("gmail_dots", "plus_tag", "typo_domain", "same_name_company_phone")
DUPLICATE_RATE = 0.015  # per kind
INVALID_RATE = 0.005
TOOL_COUNT_P = (0.55, 0.30, 0.15)
TOOL_P = np.array([0.42, 0.28, 0.30])  # which tool a one- or two-tool person is in


@dataclass
class _Emails:
    canonical: list[str | None]  # None when invalid
    stored: list[str]  # the address before messing up case / spaces
    duplicate_of: list[int | None]
    duplicate_kind: list[str | None]


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

    attrs = _draw_attributes(rng, n)
    emails = _draw_emails(rng, attrs)
    valid = np.array([e is not None for e in emails.canonical], dtype=bool)
    signup = _draw_signups(rng, n, start_ts, now_ts)
    present, created = _draw_presence(rng, n, signup, now_ts)
    pending = present & (rng.random((n, 3)) < np.where(now_ts - created < 14 * DAY, 0.4, 0.02))
    member, leave_at = _draw_lists(rng, present, created, now_ts)
    traits = _draw_traits(rng, n)
    signup_week = np.where(signup < start_ts, -99, (signup - start_ts) // WEEK)
    open_p, active = _engagement_paths(rng, traits, signup_week.astype(np.int64), n_weeks)

    campaigns = _draw_campaigns(rng, start_ts, now_ts)
    sim = _EmailSim(rng, n, start_ts, now_ts, present, created, pending, valid, member, leave_at)
    sim.run(campaigns, open_p, traits)
    del open_p
    sim.add_purchases(traits, active, attrs["currency"])
    del active

    # a million small acyclic objects make the cyclic collector rescan the heap over and over
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _assemble(seed, now, n, attrs, emails, rng, sim, campaigns, created, pending, member)
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o"))
    return "".join(c for c in folded if c.isascii() and c.isalnum()).lower()


def _draw_attributes(rng: np.random.Generator, n: int) -> dict[str, list[str | None]]:
    codes = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][0] for c in codes])
    country_ix = rng.choice(len(codes), n, p=weights / weights.sum())
    companies = [f"{a} {b}" for a in _CO_A for b in _CO_B]
    co_ix = rng.integers(0, len(companies), n)
    has_co, has_phone, has_country, has_city = rng.random((4, n)) < [[0.7], [0.45], [0.96], [0.9]]
    first, last = rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n)
    digits, city_pick, title = rng.integers(0, 10**9, n), rng.random(n), rng.integers(0, 11, n)
    out: dict[str, list[str | None]] = {
        k: []
        for k in (
            "first_name",
            "last_name",
            "phone",
            "country",
            "city",
            "company",
            "industry",
            "company_size",
            "job_title",
            "language",
            "currency",
        )
    }
    for i in range(n):
        code = codes[country_ix[i]]
        _, dial, width, lang, currency, cities, _ = COUNTRIES[code]
        c = int(co_ix[i])
        out["first_name"].append(FIRST[first[i]])
        out["last_name"].append(LAST[last[i]])
        national = f"{int(digits[i]) * 7919 % 10**width:0{width}d}"
        out["phone"].append(f"+{dial}{national}" if has_phone[i] else None)
        out["country"].append(code if has_country[i] else None)
        out["city"].append(cities[int(city_pick[i] * len(cities))] if has_city[i] else None)
        out["company"].append(companies[c] if has_co[i] else None)
        out["industry"].append(INDUSTRIES[c % len(INDUSTRIES)] if has_co[i] else None)
        out["company_size"].append(SIZES[c * 7 % len(SIZES)] if has_co[i] else None)
        out["job_title"].append(TITLES[title[i]] if has_co[i] else None)
        out["language"].append(lang if has_country[i] else None)
        out["currency"].append(currency)
    return out


def _draw_emails(rng: np.random.Generator, attrs: dict[str, list[str | None]]) -> _Emails:
    n = len(attrs["first_name"])
    pattern, work, free, num = (
        rng.integers(0, 6, n),
        rng.random(n),
        rng.random(n),
        rng.integers(1, 99, n),
    )
    used: set[str] = set()
    stored: list[str] = []
    for i in range(n):
        first, last = _ascii(attrs["first_name"][i] or ""), _ascii(attrs["last_name"][i] or "")
        local = (
            f"{first}.{last}",
            f"{first}{last}",
            f"{first[0]}{last}",
            f"{first}_{last}",
            f"{first}.{last}{num[i]}",
            f"{first}{num[i]}",
        )[pattern[i]]
        company, country = attrs["company"][i], attrs["country"][i]
        if company and work[i] < 0.55:
            domain = _ascii(company.split()[0]) + (".de" if country == "DE" else ".com")
        elif country and free[i] < 0.25:
            domain = COUNTRIES[country][6]
        else:
            domain = FREE_MAIL[int(free[i] * 100) % len(FREE_MAIL)]
        stored.append(_unique(f"{local}@{domain}", used))
    canonical: list[str | None] = list(stored)
    dup_of: list[int | None] = [None] * n
    dup_kind: list[str | None] = [None] * n
    # near-duplicates: later slots rewritten as a variant of an earlier, untouched person
    slots = rng.permutation(n)
    n_dup = round(n * DUPLICATE_RATE)
    bases = [int(b) for b in slots[n_dup * 4 + round(n * INVALID_RATE) :]]
    cursor = 0
    for k, kind in enumerate(DUPLICATE_KINDS):
        for slot in slots[k * n_dup : (k + 1) * n_dup].tolist():
            base, variant = -1, ""
            while cursor < len(bases) and base < 0:
                candidate = bases[cursor]
                cursor += 1
                if _fits(kind, stored[candidate], attrs, candidate):
                    variant = _variant(kind, stored[candidate], int(num[slot]))
                    base = candidate if variant not in used else -1
            if base < 0:
                break
            for key in (
                "first_name",
                "last_name",
                "country",
                "city",
                "company",
                "industry",
                "company_size",
                "job_title",
                "language",
                "currency",
                "phone",
            ):
                attrs[key][slot] = attrs[key][base]
            if kind != "same_name_company_phone" and num[slot] % 2:
                attrs["phone"][slot] = None
            used.discard(stored[slot])
            used.add(variant)
            stored[slot] = canonical[slot] = variant
            dup_of[slot], dup_kind[slot] = base, kind
    for j, slot in enumerate(slots[n_dup * 4 : n_dup * 4 + round(n * INVALID_RATE)].tolist()):
        local, _, domain = stored[slot].partition("@")
        stored[slot] = (
            f"{local}@@{domain}",
            f"{local}.{domain}",
            f"{local}@",
            f"{local} x@{domain}",
            f"{local}..x@{domain}",
        )[j % 5]
        canonical[slot] = None
    return _Emails(canonical, stored, dup_of, dup_kind)


def _unique(email: str, used: set[str]) -> str:
    candidate, k = email, 1
    while candidate in used:
        local, _, domain = email.partition("@")
        candidate, k = f"{local}{k}@{domain}", k + 1
    used.add(candidate)
    return candidate


def _fits(kind: str, email: str, attrs: dict[str, list[str | None]], i: int) -> bool:
    local, _, domain = email.partition("@")
    if kind == "gmail_dots":
        return domain == "gmail.com" and len(local.replace(".", "")) >= 4
    if kind == "typo_domain":
        return domain in TYPO
    if kind == "same_name_company_phone":
        return attrs["company"][i] is not None and attrs["phone"][i] is not None
    return True


def _variant(kind: str, email: str, k: int) -> str:
    local, _, domain = email.partition("@")
    if kind == "gmail_dots":
        bare = local.replace(".", "")
        return f"{bare if '.' in local else bare[:2] + '.' + bare[2:]}@{domain}"
    if kind == "plus_tag":
        return f"{local}+{('news', 'shop', 'promo', 'work')[k % 4]}@{domain}"
    if kind == "typo_domain":
        typos = TYPO[domain]
        return f"{local}@{typos[k % len(typos)]}"
    return f"{local}@{('gmail.com', 'outlook.com', 'icloud.com')[k % 3]}"  # another address


def _draw_signups(rng: np.random.Generator, n: int, start: int, now: int) -> NDArray[np.int64]:
    """30 % were there before the history starts; the rest keep arriving, a little faster lately."""
    before = rng.random(n) < 0.3
    old = start - rng.integers(DAY, 3 * 365 * DAY, n)
    new = start + ((now - start - 3600) * np.sqrt(rng.random(n)) ** 0.8).astype(np.int64)
    return np.where(before, old, new).astype(np.int64)


def _draw_presence(
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


def _draw_lists(
    rng: np.random.Generator, present: NDArray[np.bool_], created: NDArray[np.int64], now: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Columns are (tool, list) pairs in LISTS order; leave_at is when someone left a list."""
    cols = [(k, name) for k, tool in enumerate(TOOLS) for name in LISTS[tool]]
    n = present.shape[0]
    rate = np.array([_JOIN_RATE.get(name, 0.0) for _, name in cols])
    tool_of = np.array([k for k, _ in cols])
    member = present[:, tool_of] & (rng.random((n, len(cols))) < rate)
    can_leave = np.array([TOOLS[k] != "mailchimp" and name != "Customers" for k, name in cols])
    leaves = member & can_leave & (rng.random((n, len(cols))) < 0.07)
    when = created[:, tool_of] + ((now - created[:, tool_of]) * rng.random((n, len(cols))))
    leave_at = np.where(leaves, when.astype(np.int64), np.iinfo(np.int64).max)
    return member, leave_at


def _draw_traits(rng: np.random.Generator, n: int) -> dict[str, NDArray[np.float64]]:
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


def _engagement_paths(
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


@dataclass
class _CampaignSpec:
    tool: int
    at: int
    list_name: str | None
    id: str
    name: str


def _draw_campaigns(rng: np.random.Generator, start: int, now: int) -> list[_CampaignSpec]:
    """Weekly-ish sends per tool, at office hours, each to one list (or the whole audience)."""
    specs: list[_CampaignSpec] = []
    for k, tool in enumerate(TOOLS):
        targets = _TARGETS[tool]
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
            specs.append(_CampaignSpec(k, at, target, cid, f"{theme} {month} #{counter}"))
            day += int(rng.integers(5, 10))
    specs.sort(key=lambda c: (c.at, c.tool))
    return specs


class _EmailSim:
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
        campaigns: list[_CampaignSpec],
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
                self.status[who[mask], k] = _TERMINAL_STATUS[kind]
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


def _mess(email: str, r: float) -> str:
    """How a tool happens to hold an address: case and stray spaces vary, the address does not."""
    if r < 0.6:
        return email
    if r < 0.78:
        local, _, domain = email.partition("@")
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    if r < 0.84:
        return email.upper()
    return (" " + email, email + " ", "  " + email + " ")[int(r * 1000) % 3]


def _assemble(
    seed: int,
    now: datetime,
    n: int,
    attrs: dict[str, list[str | None]],
    emails: _Emails,
    rng: np.random.Generator,
    sim: _EmailSim,
    specs: list[_CampaignSpec],
    created: NDArray[np.int64],
    pending: NDArray[np.bool_],
    member: NDArray[np.bool_],
) -> Population:
    cols_ = sim.columns()
    who_a, tool_a, kind_a, at_a = cols_[0], cols_[1], cols_[2], cols_[3]
    last_at = np.maximum(sim.changed, created)
    np.maximum.at(last_at, (who_a, tool_a), at_a)
    is_buy = kind_a == PURCHASE
    spend = np.zeros((n, 3), np.int64)
    np.add.at(spend, (who_a[is_buy], tool_a[is_buy]), cols_[5][is_buy])
    bought = np.zeros((n, 3), bool)
    bought[who_a[is_buy], tool_a[is_buy]] = True
    # sends share their campaign's timestamp: build each distinct datetime once
    stamps, inverse = np.unique(at_a, return_inverse=True)
    moments = [datetime.fromtimestamp(t, UTC) for t in stamps.tolist()]
    campaign_ids = [*(s.id for s in specs), ""]  # index -1: no campaign
    currency = attrs["currency"]
    events: list[list[Event]] = [[] for _ in range(n)]
    step = 1 << 17  # convert to Python objects a slice at a time: bounded transient memory
    for lo in range(0, who_a.size, step):
        rows = (who_a, tool_a, kind_a, inverse, cols_[4], cols_[5])
        for i, k, e, t, c, v in zip(*(col[lo : lo + step].tolist() for col in rows), strict=True):
            if e == PURCHASE:
                ev = Event(
                    TOOLS[k],
                    "purchase",
                    moments[t],
                    campaign_ids[c],
                    Decimal(v).scaleb(-2),
                    currency[i],
                )
            else:
                ev = Event(TOOLS[k], EVENT_TYPES[e], moments[t], campaign_ids[c])
            events[i].append(ev)
    when = datetime.fromtimestamp
    edits = rng.random((n, 3))
    edited = created + ((sim.now - created) * edits).astype(np.int64)
    updated = np.where(edits < 0.3, np.maximum(last_at, edited), last_at)
    mess = rng.random((n, 3))
    basis = rng.random((n, 3))
    cols = [(k, name) for k, t in enumerate(TOOLS) for name in LISTS[t]]
    tool_cols = [[(j, nm) for j, (kk, nm) in enumerate(cols) if kk == k] for k in range(3)]
    is_member = (member & (sim.leave_at > sim.now)).tolist()
    has_left = (sim.leave_at <= sim.now).tolist()
    people: list[Person] = []
    for i in range(n):
        tools: dict[str, ToolPresence] = {}
        for k in np.flatnonzero(sim.present[i]).tolist():
            name = TOOLS[k]
            lists = [nm for j, nm in tool_cols[k] if is_member[i][j]]
            left = [nm for j, nm in tool_cols[k] if has_left[i][j]]
            if bought[i, k]:
                lists.append("Customers" if name == "hubspot" else "customer")
                if name == "mailchimp" and spend[i, k] >= 40_000:
                    lists.append("vip")
            legal = None
            if attrs["country"][i] in EU and basis[i, k] < 0.6:
                legal = LEGAL_BASES[int(basis[i, k] * 100) % len(LEGAL_BASES)]
            tools[name] = ToolPresence(
                email=_mess(emails.stored[i], float(mess[i, k])),
                status=_STATUS[int(sim.status[i, k])],
                created_at=when(int(created[i, k]), UTC),
                updated_at=when(int(updated[i, k]), UTC),
                status_changed_at=when(int(sim.changed[i, k]), UTC),
                lists=lists,
                unsubscribed_lists=left,
                legal_basis=legal,
            )
        people.append(
            Person(
                key=i,
                email=emails.canonical[i],
                first_name=attrs["first_name"][i] or "",
                last_name=attrs["last_name"][i] or "",
                phone=attrs["phone"][i],
                country=attrs["country"][i],
                city=attrs["city"][i],
                company=attrs["company"][i],
                industry=attrs["industry"][i],
                company_size=attrs["company_size"][i],
                job_title=attrs["job_title"][i],
                language=attrs["language"][i],
                tools=tools,
                events=events[i],
                duplicate_of=emails.duplicate_of[i],
                duplicate_kind=emails.duplicate_kind[i],
            )
        )
    campaigns = [Campaign(TOOLS[s.tool], s.id, s.name, when(s.at, UTC), s.list_name) for s in specs]
    return Population(seed, now, people, campaigns, {t: list(v) for t, v in LISTS.items()})
