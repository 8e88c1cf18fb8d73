"""Seeding: the people of a population who are in Mailchimp become members of one audience.

How the neutral population maps to Mailchimp's shapes (documented decisions):
- status: subscribed / unsubscribed / pending as is; bounced -> ``cleaned``; complained ->
  ``unsubscribed`` with ``unsubscribe_reason`` "Abuse complaint" (an abuse report unsubscribes).
- the population's list names for Mailchimp are tags (static segments).
- attributes go to merge fields FNAME, LNAME, PHONE, COMPANY, INDUSTRY, CO_SIZE, JOB_TITLE and
  the ADDRESS field (city, country); language to the member's ``language``.
- events become activity-feed items: send -> ``sent``, open, click, bounce, unsubscribe ->
  ``unsub``, complaint -> ``abuse``, purchase -> ``order`` (with order_id, order_total,
  currency_code: syncd's sandbox models e-commerce orders in the feed, see the connector docs).
- a second person with the same address (Mailchimp holds one member per address) is skipped and
  counted in ``summary()["duplicates_skipped"]``.
"""

from __future__ import annotations

import hashlib

from syncd.sandbox.mailchimp.state import (
    ABUSE_REASON,
    ActivityItem,
    Audience,
    Member,
    subscriber_hash,
)
from syncd.sandbox.population import Event, Person, Population, ToolPresence

TOOL = "mailchimp"

STATUS_OF_PRESENCE = {
    "subscribed": "subscribed",
    "unsubscribed": "unsubscribed",
    "bounced": "cleaned",
    "complained": "unsubscribed",
    "pending": "pending",
}

ACTIVITY_OF_EVENT = {
    "send": "sent",
    "open": "open",
    "click": "click",
    "bounce": "bounce",
    "unsubscribe": "unsub",
    "complaint": "abuse",
    "purchase": "order",
}


def address_of(person: Person) -> dict[str, str] | str:
    if not (person.city or person.country):
        return ""
    return {
        "addr1": "",
        "addr2": "",
        "city": person.city or "",
        "state": "",
        "zip": "",
        "country": person.country or "",
    }


def seed_audience(audience: Audience, population: Population) -> int:
    """Fill ``audience``; return how many duplicate addresses were skipped."""
    titles = {c.id: c.name for c in population.campaigns if c.tool == TOOL}
    for name in population.lists.get(TOOL, []):
        if audience.segment_named(name) is None:
            audience.add_segment(name, population.now)
    skipped = 0
    for person in population.in_tool(TOOL):
        presence = person.tools[TOOL]
        member = _member_of(audience, person, presence)
        if member is None:
            skipped += 1
            continue
        for name in presence.lists:
            segment = audience.segment_named(name) or audience.add_segment(
                name, presence.created_at
            )
            segment.members.add(member.id)
        member.activity = [
            _activity_of(member.id, event, titles)
            for event in sorted(person.events, key=lambda e: e.at, reverse=True)
            if event.tool == TOOL and event.type in ACTIVITY_OF_EVENT
        ]
    return skipped


def _member_of(audience: Audience, person: Person, presence: ToolPresence) -> Member | None:
    status = STATUS_OF_PRESENCE.get(presence.status, "subscribed")
    if subscriber_hash(presence.email) in audience.members:
        return None  # Mailchimp holds one member per address
    member = audience.add_member(presence.email, status, presence.updated_at)
    member.timestamp_signup = presence.created_at
    member.timestamp_opt = (
        None
        if status == "pending"
        else presence.status_changed_at
        if status == "subscribed"
        else presence.created_at
    )
    member.last_changed = max(presence.updated_at, presence.status_changed_at)
    member.source = "Import"
    if presence.status == "complained":
        member.unsubscribe_reason = ABUSE_REASON
    elif status == "unsubscribed":
        member.unsubscribe_reason = "N/A (Unsubscribed by an admin)"
    member.language = person.language or ""
    member.merge_fields.update(
        {
            "FNAME": person.first_name or "",
            "LNAME": person.last_name or "",
            "PHONE": person.phone or "",
            "ADDRESS": address_of(person),
            "COMPANY": person.company or "",
            "INDUSTRY": person.industry or "",
            "CO_SIZE": person.company_size or "",
            "JOB_TITLE": person.job_title or "",
        }
    )
    return member


def _activity_of(member_id: str, event: Event, titles: dict[str, str]) -> ActivityItem:
    kind = ACTIVITY_OF_EVENT[event.type]
    item = ActivityItem(
        activity_type=kind,
        created_at=event.at,
        campaign_id=event.campaign,
        campaign_title=titles.get(event.campaign, ""),
    )
    if kind == "click":
        item.link_clicked = f"https://example.com/c/{event.campaign}"
    elif kind == "bounce":
        item.bounce_type = "hard"
    elif kind == "order":
        digest = hashlib.sha1(
            f"{member_id}|{event.campaign}|{event.at.isoformat()}".encode(),
            usedforsecurity=False,
        ).hexdigest()
        item.order_id = f"ord_{digest[:12]}"
        item.order_total = event.value
        item.currency_code = event.currency
    return item
