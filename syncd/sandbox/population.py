"""The vendor-neutral population the sandbox is seeded from (see ``generate.py``).

Each vendor app maps the people present in its tool into its own state; tests compare what a
connector pulls with this population.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

TOOLS = ("hubspot", "brevo", "mailchimp")

#: consent states a person can have in a tool. "blacklisted" is Brevo's; the generator maps
#: it to "unsubscribed" for the others.
PRESENCE_STATUSES = ("subscribed", "unsubscribed", "bounced", "complained", "pending")


@dataclass
class ToolPresence:
    """How one tool holds one person."""

    email: str  # as stored in that tool: may differ in case / spaces from the canonical one
    status: str  # one of PRESENCE_STATUSES
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    lists: list[str] = field(default_factory=list)  # list / tag names this tool holds
    unsubscribed_lists: list[str] = field(default_factory=list)  # lists left (Brevo, HubSpot)
    legal_basis: str | None = None


@dataclass(slots=True)  # slots: a large population holds about a million of these
class Event:
    tool: str
    type: str  # send / open / click / purchase / bounce / unsubscribe / complaint
    at: datetime
    campaign: str  # campaign id within that tool; "" for a purchase no campaign led to
    value: Decimal | None = None
    currency: str | None = None


@dataclass
class Person:
    key: int
    #: the normalised email; ``None`` when the generated address is invalid
    email: str | None
    first_name: str
    last_name: str
    phone: str | None
    country: str | None
    city: str | None
    company: str | None
    industry: str | None
    company_size: str | None
    job_title: str | None
    language: str | None
    tools: dict[str, ToolPresence] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    #: ground truth for identity merging: the key of the person this one nearly duplicates
    duplicate_of: int | None = None
    #: how: "gmail_dots", "plus_tag", "typo_domain" or "same_name_company_phone"
    duplicate_kind: str | None = None


@dataclass
class Campaign:
    tool: str
    id: str
    name: str
    sent_at: datetime
    #: the list / tag the campaign went to; ``None`` for the whole audience
    list_name: str | None = None


@dataclass
class Population:
    seed: int
    now: datetime
    people: list[Person]
    campaigns: list[Campaign]
    #: list / tag names that exist in each tool before any sync
    lists: dict[str, list[str]]

    def in_tool(self, tool: str) -> list[Person]:
        return [p for p in self.people if tool in p.tools]
