"""The simulation's numpy columns turned into the population's dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from syncd.sandbox.generate.campaigns import CampaignSpec
from syncd.sandbox.generate.events import EVENT_TYPES, PURCHASE, EmailSim
from syncd.sandbox.generate.people import Emails
from syncd.sandbox.generate.presence import LEGAL_BASES, LISTS, STATUS, mess_address
from syncd.sandbox.generate.vocabulary import EU
from syncd.sandbox.population import TOOLS, Campaign, Event, Person, Population, ToolPresence


def assemble(
    seed: int,
    now: datetime,
    n: int,
    attrs: dict[str, list[str | None]],
    emails: Emails,
    rng: np.random.Generator,
    sim: EmailSim,
    specs: list[CampaignSpec],
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
                email=mess_address(emails.stored[i], float(mess[i, k])),
                status=STATUS[int(sim.status[i, k])],
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
