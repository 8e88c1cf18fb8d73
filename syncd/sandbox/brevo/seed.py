"""Write a vendor-neutral population into a Brevo account, in Brevo's own shapes.

Choices (Brevo's contact object carries no blacklist reason, so the reason lives where Brevo
shows it, in the contact's campaign statistics):

* ``subscribed``: ``emailBlacklisted`` false.
* ``unsubscribed`` / ``blacklisted`` / ``bounced`` / ``complained``: ``emailBlacklisted`` true;
  the person's own unsubscribe / bounce / complaint events (``userUnsubscription``,
  ``hardBounces``, ``complaints``) are what tell the reasons apart.
* ``pending``: a double opt-in not yet confirmed: not blacklisted, category attribute
  ``DOUBLE_OPT-IN`` = "No".
* lists left (``unsubscribed_lists``) go to ``listUnsubscribed`` and out of ``listIds``.
* events: send -> messagesSent + delivered, open -> opened, click -> clicked (one link),
  bounce -> hardBounces, complaint -> complaints, unsubscribe -> userUnsubscription,
  purchase -> transacAttributes (order date, id and price: Brevo keeps no currency there).
"""

from __future__ import annotations

from syncd.sandbox.brevo.state import DOI_ATTRIBUTE, Attribute, BrevoState, StatEvent
from syncd.sandbox.population import Person, Population

VENDOR = "brevo"

#: syncd attribute name -> the Brevo attribute the population is written to
ATTRIBUTES = {
    "first_name": "FIRSTNAME",
    "last_name": "LASTNAME",
    "phone": "SMS",
    "country": "COUNTRY",
    "city": "CITY",
    "company": "COMPANY",
    "industry": "INDUSTRY",
    "company_size": "COMPANY_SIZE",
    "job_title": "JOB_TITLE",
    "language": "LANGUAGE",
}

BLACKLISTING_STATUSES = frozenset({"unsubscribed", "blacklisted", "bounced", "complained"})
REASON_EVENTS = frozenset({"bounce", "complaint", "unsubscribe"})

EVENT_KINDS = {
    "send": ("messagesSent", "delivered"),
    "open": ("opened",),
    "click": ("clicked",),
    "bounce": ("hardBounces",),
    "complaint": ("complaints",),
    "unsubscribe": ("userUnsubscription",),
    "purchase": ("transacAttributes",),
}


def seed_population(state: BrevoState, population: Population) -> None:
    for brevo_name in ATTRIBUTES.values():
        if brevo_name not in state.attributes:
            state.attributes[brevo_name] = Attribute(brevo_name, "normal", "text")
    for name in population.lists.get(VENDOR, []):
        _ensure_list(state, name)
    people = sorted(population.in_tool(VENDOR), key=lambda p: (p.tools[VENDOR].created_at, p.key))
    for person in people:
        _seed_person(state, person)


def _ensure_list(state: BrevoState, name: str) -> int:
    existing = state.list_by_name(name)
    return existing.id if existing else state.add_list(name, folder_id=1).id


def _seed_person(state: BrevoState, person: Person) -> None:
    presence = person.tools[VENDOR]
    attributes: dict[str, str | int | float | bool | list[str] | None] = {}
    for syncd_name, brevo_name in ATTRIBUTES.items():
        value = getattr(person, syncd_name)
        if value:
            attributes[brevo_name] = value
    if presence.status == "pending":
        attributes[DOI_ATTRIBUTE] = "No"
    modified = max(presence.updated_at, presence.status_changed_at, presence.created_at)
    if presence.status in BLACKLISTING_STATUSES:
        # blacklisting modifies the contact: never before the event that caused it
        causes = [e.at for e in person.events if e.tool == VENDOR and e.type in REASON_EVENTS]
        modified = max([modified, *causes])
    contact = state.add_contact(
        presence.email,
        created_at=presence.created_at,
        modified_at=modified,
        attributes=attributes,
        blacklisted=presence.status in BLACKLISTING_STATUSES,
    )
    left = {_ensure_list(state, name) for name in presence.unsubscribed_lists}
    contact.list_unsubscribed = left
    contact.list_ids = {_ensure_list(state, name) for name in presence.lists} - left
    for event in sorted(person.events, key=lambda e: e.at):
        if event.tool != VENDOR:
            continue
        campaign_id = state.campaign_id(event.campaign) if event.campaign else None
        for kind in EVENT_KINDS.get(event.type, ()):
            stat = StatEvent(kind=kind, at=event.at, campaign_id=campaign_id)
            if kind == "clicked":
                stat.url = f"https://example.com/campaigns/{campaign_id}"
            if kind == "transacAttributes":
                stat.order_id = 10_000 * contact.id + len(contact.events)
                stat.order_price = float(event.value) if event.value is not None else 0.0
            contact.events.append(stat)
