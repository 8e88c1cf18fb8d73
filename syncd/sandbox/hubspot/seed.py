"""Population -> HubSpot state: contacts, consent, static lists and event occurrences."""

from __future__ import annotations

import uuid

from syncd.sandbox.hubspot.state import EventOccurrence, HubSpotState, SubscriptionStatus
from syncd.sandbox.population import Person, Population, ToolPresence

TOOL = "hubspot"

#: syncd attribute -> HubSpot contact property
ATTRIBUTE_PROPERTIES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "country": "country",
    "city": "city",
    "company": "company",
    "industry": "industry",
    "company_size": "numemployees",
    "job_title": "jobtitle",
    "language": "hs_language",
}

#: population event type -> HubSpot event type. HubSpot-defined types are ``e_<label>``;
#: a purchase is a custom event, ``pe<portalId>_purchase`` (see :func:`purchase_event_type`).
EMAIL_EVENT_TYPES = {
    "send": "e_marketing_email_sent",
    "open": "e_marketing_email_opened",
    "click": "e_marketing_email_clicked",
    "bounce": "e_marketing_email_bounced",
    "unsubscribe": "e_marketing_email_unsubscribed",
    "complaint": "e_marketing_email_spam_reported",
}

#: v4 ``source`` of an opt-out caused by a spam report (HubSpot's email-events vocabulary)
SPAM_REPORT_SOURCE = "SOURCE_SPAM_REPORT"
RECIPIENT_SOURCE = "SOURCE_RECIPIENT"

_LEGAL_BASES = {
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
}
_LEGAL_ALIASES = {
    "CONSENT": "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST": "LEGITIMATE_INTEREST_CLIENT",
    "CONTRACT": "PERFORMANCE_OF_CONTRACT",
}


def purchase_event_type(portal_id: int) -> str:
    return f"pe{portal_id}_purchase"


def hubspot_legal_basis(raw: str | None) -> str | None:
    """A population legal basis in HubSpot's vocabulary (unknown words become NON_GDPR)."""
    if not raw:
        return None
    word = raw.strip().upper().replace(" ", "_").replace("-", "_")
    if word in _LEGAL_BASES:
        return word
    return _LEGAL_ALIASES.get(word, "NON_GDPR")


def seed_population(state: HubSpotState, population: Population) -> None:
    for name in population.lists.get(TOOL, []):
        if state.list_by_name(name) is None:
            state.create_list(name, "MANUAL", at=population.now)
    people = population.in_tool(TOOL)
    # subscription types first, so an opt-out of all email covers every one of them
    for person in people:
        for name in person.tools[TOOL].unsubscribed_lists:
            if state.subscription_by_name(name) is None:
                state.add_subscription_type(name)
    for person in people:
        _seed_person(state, person, person.tools[TOOL])


def _seed_person(state: HubSpotState, person: Person, presence: ToolPresence) -> None:
    props: dict[str, str] = {"email": presence.email}
    for attr, prop in ATTRIBUTE_PROPERTIES.items():
        value = getattr(person, attr)
        if value:
            props[prop] = str(value)
    if presence.status == "bounced":
        props["hs_email_bad_address"] = "true"
        props["hs_email_hard_bounce_reason_enum"] = "BAD_MAILBOX"
    # a consent change moves lastmodifieddate too (hs_email_optout and friends are properties)
    contact = state.create_contact(
        props,
        created_at=presence.created_at,
        updated_at=max(presence.updated_at, presence.status_changed_at),
    )
    _seed_consent(state, presence)
    for name in presence.lists:
        lst = state.list_by_name(name) or state.create_list(name, "MANUAL", at=presence.created_at)
        lst.members[contact.id] = presence.created_at
    for index, event in enumerate(e for e in person.events if e.tool == TOOL):
        if event.type == "purchase":
            event_type = purchase_event_type(state.portal_id)
            properties = {"hs_campaign_id": event.campaign}
            if event.value is not None:
                properties["amount"] = str(event.value)
            if event.currency:
                properties["currency"] = event.currency
        else:
            event_type = EMAIL_EVENT_TYPES[event.type]
            properties = {"hs_email_campaign_id": event.campaign}
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"hubspot:{contact.id}:{index}:{event.type}")
        state.events.append(
            EventOccurrence(str(stable), event_type, contact.id, event.at, properties)
        )


def _seed_consent(state: HubSpotState, presence: ToolPresence) -> None:
    email = presence.email
    at = presence.status_changed_at
    legal = hubspot_legal_basis(presence.legal_basis)
    marketing = state.marketing.id
    if presence.status in ("subscribed", "bounced"):
        state.set_status(
            email,
            marketing,
            SubscriptionStatus("SUBSCRIBED", "SOURCE_FORM", at, legal),
            touch=False,
        )
    elif presence.status == "unsubscribed":
        state.opt_out_of_all(email, at, RECIPIENT_SOURCE, touch=False)
    elif presence.status == "complained":
        state.opt_out_of_all(email, at, SPAM_REPORT_SOURCE, touch=False)
    # "pending": no status at all yet (NOT_SPECIFIED) until the person confirms
    for name in presence.unsubscribed_lists:
        sub = state.subscription_by_name(name) or state.add_subscription_type(name)
        status = SubscriptionStatus("UNSUBSCRIBED", RECIPIENT_SOURCE, at, legal)
        state.set_status(email, sub.id, status, touch=False)
