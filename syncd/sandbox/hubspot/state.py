"""HubSpot's account state, in memory: contacts, properties, lists, subscriptions, events.

Every write goes through a method here so the vendor's own "last modified" fields
(``lastmodifieddate`` / ``updatedAt`` on contacts, ``updatedAt`` on lists) move with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd.clock import Clock
from syncd.normalize import iso_utc, parse_timestamp
from syncd.sandbox.hubspot.limits import CONTACT_OBJECT_TYPE_ID

#: properties HubSpot computes itself: writing one is refused as READ_ONLY_VALUE
READ_ONLY = frozenset(
    {
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
        "hs_email_optout",
        "hs_email_bad_address",
        "hs_email_hard_bounce_reason_enum",
    }
)

#: returned on every contact whatever ``properties`` asks for
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)

_BUILTIN: tuple[tuple[str, str, str, str], ...] = (
    # name, label, type, fieldType
    ("email", "Email", "string", "text"),
    ("firstname", "First Name", "string", "text"),
    ("lastname", "Last Name", "string", "text"),
    ("phone", "Phone Number", "string", "phonenumber"),
    ("country", "Country/Region", "string", "text"),
    ("city", "City", "string", "text"),
    ("company", "Company Name", "string", "text"),
    ("industry", "Industry", "string", "text"),
    # an enumeration in real portals; text here so any generated size label fits
    ("numemployees", "Number of Employees", "string", "text"),
    ("jobtitle", "Job Title", "string", "text"),
    ("hs_language", "Preferred language", "string", "text"),
    ("createdate", "Create Date", "datetime", "date"),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date"),
    ("hs_object_id", "Record ID", "number", "number"),
    ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox"),
    ("hs_email_bad_address", "Invalid email address", "bool", "booleancheckbox"),
    ("hs_email_hard_bounce_reason_enum", "Email hard bounce reason", "enumeration", "select"),
)

HARD_BOUNCE_REASONS = (
    "BAD_MAILBOX",
    "DOMAIN",
    "MAILBOX_FULL",
    "POLICY",
    "SPAM",
    "OTHER",
    "UNKNOWN",
)


def email_key(raw: str) -> str:
    """How HubSpot matches an address: case and surrounding spaces do not matter."""
    return raw.strip().lower()


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str = "contactinformation"
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    hubspot_defined: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "hidden": False,
            "formField": not self.hubspot_defined,
            "hasUniqueValue": self.name == "email",
            "calculated": False,
            "externalOptions": False,
            "displayOrder": -1,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.name in READ_ONLY,
            },
        }
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        if self.created_at is not None:
            body["createdAt"] = iso_utc(self.created_at)
        if self.updated_at is not None:
            body["updatedAt"] = iso_utc(self.updated_at)
        return body

    def invalid(self, value: str | None) -> str | None:
        """HubSpot's error code for a value this property refuses, else None."""
        if value is None or value == "":
            return None
        if self.type == "number":
            try:
                Decimal(value)
            except InvalidOperation:
                return "INVALID_DECIMAL"
        elif self.type == "bool" and value.lower() not in ("true", "false"):
            return "INVALID_BOOLEAN"
        elif self.type in ("date", "datetime"):
            try:
                parse_timestamp(value)
            except ValueError:
                return "INVALID_DATE"
        elif self.type == "enumeration":
            allowed = {o["value"] for o in self.options}
            if any(part not in allowed for part in value.split(";") if part):
                return "INVALID_OPTION"
        return None


@dataclass
class Contact:
    id: str
    properties: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @property
    def email(self) -> str | None:
        return self.properties.get("email")

    def as_json(self, wanted: list[str] | None) -> dict[str, Any]:
        """The contact as HubSpot returns it: requested properties, ``null`` when unset."""
        names = list(DEFAULT_PROPERTIES) + [p for p in wanted or [] if p not in DEFAULT_PROPERTIES]
        return {
            "id": self.id,
            "properties": {name: self.properties.get(name) for name in names},
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
            "archived": False,
        }


@dataclass
class ContactList:
    id: str
    name: str
    processing_type: str
    created_at: datetime
    updated_at: datetime
    members: dict[str, datetime] = field(default_factory=dict)
    version: int = 1

    @property
    def accepts_memberships(self) -> bool:
        return self.processing_type in ("MANUAL", "SNAPSHOT")

    def as_json(self) -> dict[str, Any]:
        return {
            "listId": self.id,
            "listVersion": self.version,
            "name": self.name,
            "objectTypeId": CONTACT_OBJECT_TYPE_ID,
            "processingStatus": "COMPLETE",
            "processingType": self.processing_type,
            "createdAt": iso_utc(self.created_at),
            "updatedAt": iso_utc(self.updated_at),
            "filtersUpdatedAt": iso_utc(self.created_at),
            "size": len(self.members),
        }

    def as_search_result(self) -> dict[str, Any]:
        body = self.as_json()
        del body["size"]
        body["additionalProperties"] = {"hs_list_size": str(len(self.members))}
        return body


@dataclass
class SubscriptionType:
    id: str
    name: str
    description: str
    created_at: datetime
    is_default: bool = False


@dataclass
class SubscriptionStatus:
    status: str  # SUBSCRIBED / UNSUBSCRIBED (v4 words)
    source: str
    timestamp: datetime
    legal_basis: str | None = None
    legal_basis_explanation: str | None = None


@dataclass
class EventOccurrence:
    id: str
    event_type: str
    object_id: str
    occurred_at: datetime
    properties: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "objectType": "CONTACT",
            "objectId": self.object_id,
            "eventType": self.event_type,
            "occurredAt": iso_utc(self.occurred_at),
            "id": self.id,
            "properties": self.properties,
        }


class HubSpotState:
    """One HubSpot account (portal)."""

    def __init__(self, clock: Clock, portal_id: int) -> None:
        self.clock = clock
        self.portal_id = portal_id
        now = clock.now()
        self.contacts: dict[str, Contact] = {}
        self.by_email: dict[str, str] = {}
        self.properties: dict[str, PropertyDef] = {
            name: PropertyDef(name, label, type_, field_type, created_at=now, updated_at=now)
            for name, label, type_, field_type in _BUILTIN
        }
        self.properties["hs_email_hard_bounce_reason_enum"].options = [
            {"label": r.title(), "value": r, "hidden": False, "displayOrder": i}
            for i, r in enumerate(HARD_BOUNCE_REASONS)
        ]
        self.lists: dict[str, ContactList] = {}
        self.subscription_types: dict[str, SubscriptionType] = {}
        #: email key -> subscription id -> status (absent = NOT_SPECIFIED)
        self.statuses: dict[str, dict[str, SubscriptionStatus]] = {}
        #: email key -> when the person opted out of all email
        self.opted_out_all: dict[str, datetime] = {}
        self.events: list[EventOccurrence] = []
        self._next_contact = 1001
        self._next_list = 11
        self._next_subscription = 1_000_001
        self.add_subscription_type("Marketing Information", "Marketing offers and updates.", True)

    # --- contacts ----------------------------------------------------------------------------

    def create_contact(
        self,
        properties: dict[str, str],
        *,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> Contact:
        created = created_at or self.clock.now()
        contact_id = str(self._next_contact)
        self._next_contact += 1
        values = {k: v for k, v in properties.items() if v is not None and v != ""}
        contact = Contact(contact_id, values, created, updated_at or created)
        values["hs_object_id"] = contact_id
        values["createdate"] = iso_utc(created)
        values["lastmodifieddate"] = iso_utc(contact.updated_at)
        self.contacts[contact_id] = contact
        if contact.email:
            self.by_email[email_key(contact.email)] = contact_id
        return contact

    def find(self, ident: str, id_property: str | None) -> Contact | None:
        if id_property in (None, "hs_object_id"):
            return self.contacts.get(ident)
        if id_property == "email":
            cid = self.by_email.get(email_key(ident))
            return self.contacts.get(cid) if cid else None
        for contact in self.contacts.values():
            if contact.properties.get(id_property or "") == ident:
                return contact
        return None

    def touch(self, contact: Contact, at: datetime | None = None) -> None:
        contact.updated_at = at or self.clock.now()
        contact.properties["lastmodifieddate"] = iso_utc(contact.updated_at)

    def update_contact(self, contact: Contact, properties: dict[str, str | None]) -> None:
        old_email = contact.email
        for name, value in properties.items():
            if value is None or value == "":
                contact.properties.pop(name, None)
            else:
                contact.properties[name] = value
        if contact.email != old_email:
            if old_email:
                self.by_email.pop(email_key(old_email), None)
            if contact.email:
                self.by_email[email_key(contact.email)] = contact.id
        self.touch(contact)

    def delete_contact(self, contact: Contact) -> None:
        """GDPR delete: the record, its memberships, events and preferences go."""
        del self.contacts[contact.id]
        if contact.email:
            key = email_key(contact.email)
            self.by_email.pop(key, None)
            self.statuses.pop(key, None)
            self.opted_out_all.pop(key, None)
        for lst in self.lists.values():
            if lst.members.pop(contact.id, None) is not None:
                lst.updated_at = self.clock.now()
        self.events = [e for e in self.events if e.object_id != contact.id]

    # --- lists -------------------------------------------------------------------------------

    def create_list(
        self, name: str, processing_type: str, at: datetime | None = None
    ) -> ContactList:
        now = at or self.clock.now()
        lst = ContactList(str(self._next_list), name, processing_type, now, now)
        self._next_list += 1
        self.lists[lst.id] = lst
        return lst

    def list_by_name(self, name: str) -> ContactList | None:
        return next((lst for lst in self.lists.values() if lst.name.lower() == name.lower()), None)

    def change_memberships(
        self, lst: ContactList, add: list[str], remove: list[str]
    ) -> tuple[list[str], list[str], list[str]]:
        """Returns (added, removed, missing). Existing members / non-members are ignored."""
        now = self.clock.now()
        added, removed, missing = [], [], []
        for rid in add:
            if rid not in self.contacts:
                missing.append(rid)
            elif rid not in lst.members:
                lst.members[rid] = now
                added.append(rid)
        for rid in remove:
            if rid not in self.contacts:
                missing.append(rid)
            elif lst.members.pop(rid, None) is not None:
                removed.append(rid)
        if added or removed:
            lst.updated_at = now
            lst.version += 1
        return added, removed, sorted(set(missing), key=missing.index)

    # --- communication preferences -----------------------------------------------------------

    def add_subscription_type(
        self, name: str, description: str = "", default: bool = False
    ) -> SubscriptionType:
        sub = SubscriptionType(
            str(self._next_subscription), name, description, self.clock.now(), default
        )
        self._next_subscription += 1
        self.subscription_types[sub.id] = sub
        return sub

    def subscription_by_name(self, name: str) -> SubscriptionType | None:
        return next((s for s in self.subscription_types.values() if s.name == name), None)

    @property
    def marketing(self) -> SubscriptionType:
        return next(s for s in self.subscription_types.values() if s.is_default)

    def set_status(
        self, email: str, subscription_id: str, status: SubscriptionStatus, *, touch: bool = True
    ) -> None:
        self.statuses.setdefault(email_key(email), {})[subscription_id] = status
        if touch:
            self._touch_email(email, status.timestamp)

    def opt_out_of_all(self, email: str, at: datetime, source: str, *, touch: bool = True) -> None:
        """Unsubscribe from every type; ``hs_email_optout`` follows (HubSpot sets it itself)."""
        key = email_key(email)
        self.opted_out_all[key] = at
        for sub_id in self.subscription_types:
            current = self.statuses.get(key, {}).get(sub_id)
            legal = current.legal_basis if current else None
            self.statuses.setdefault(key, {})[sub_id] = SubscriptionStatus(
                "UNSUBSCRIBED", source, at, legal
            )
        contact = self.find(email, "email")
        if contact is not None:
            contact.properties["hs_email_optout"] = "true"
        if touch:
            self._touch_email(email, at)

    def _touch_email(self, email: str, at: datetime) -> None:
        contact = self.find(email, "email")
        if contact is not None and at >= contact.updated_at:
            self.touch(contact, at)
