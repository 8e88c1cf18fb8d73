"""The in-memory Brevo account: contacts, lists, folders, attributes and campaign events.

Every change goes through :meth:`BrevoState.touch`, which moves the contact's ``modifiedAt``
so incremental pulls (``modifiedSince``) see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from syncd.sandbox.brevo.models import AttributeValue

#: campaignStats keys of the events a contact can carry
STAT_KINDS = (
    "messagesSent",
    "delivered",
    "opened",
    "clicked",
    "hardBounces",
    "softBounces",
    "complaints",
    "userUnsubscription",
    "adminUnsubscription",
    "transacAttributes",
)

DOI_ATTRIBUTE = "DOUBLE_OPT-IN"


@dataclass
class StatEvent:
    kind: str  # one of STAT_KINDS
    at: datetime
    campaign_id: int | None = None
    url: str | None = None
    ip: str = "198.51.100.7"
    order_id: int | None = None
    order_price: float | None = None


@dataclass
class Contact:
    id: int
    email: str | None
    created_at: datetime
    modified_at: datetime
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    email_blacklisted: bool = False
    sms_blacklisted: bool = False
    list_ids: set[int] = field(default_factory=set)
    list_unsubscribed: set[int] = field(default_factory=set)
    events: list[StatEvent] = field(default_factory=list)
    ext_id: str | None = None


@dataclass
class ContactList:
    id: int
    name: str
    folder_id: int
    created_at: datetime


@dataclass
class Folder:
    id: int
    name: str


@dataclass
class Attribute:
    name: str
    category: str
    type: str | None
    enumeration: list[dict[str, Any]] | None = None


def email_key(raw: str) -> str:
    """How Brevo matches an address: trimmed, case-insensitive."""
    return raw.strip().lower()


class BrevoState:
    def __init__(self, now: Callable[[], datetime], timezone: str = "UTC") -> None:
        self._clock_now = now
        self.tz = ZoneInfo(timezone)
        self.contacts: dict[int, Contact] = {}
        self._by_email: dict[str, int] = {}
        self.lists: dict[int, ContactList] = {}
        self.folders: dict[int, Folder] = {1: Folder(1, "Your First Folder")}
        self.attributes: dict[str, Attribute] = {}
        self.campaign_ids: dict[str, int] = {}
        self.processes: dict[int, str] = {}
        self._latest = datetime(2000, 1, 1, tzinfo=UTC)
        self._next = {"contact": 1, "list": 1, "folder": 2, "campaign": 1, "process": 1}
        for name, category, kind in (
            ("FIRSTNAME", "normal", "text"),
            ("LASTNAME", "normal", "text"),
            ("SMS", "normal", "text"),
        ):
            self.attributes[name] = Attribute(name, category, kind)
        self.attributes[DOI_ATTRIBUTE] = Attribute(
            DOI_ATTRIBUTE,
            "category",
            "category",
            [{"value": 1, "label": "Yes"}, {"value": 2, "label": "No"}],
        )

    # --- time ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The server's "now": never behind data it already holds (seeded data may be newer
        than a test's clock), and strictly increasing so ``modifiedSince`` never ties."""
        now = max(self._clock_now(), self._latest + timedelta(milliseconds=1))
        self._latest = now
        return now

    def observe(self, moment: datetime) -> None:
        self._latest = max(self._latest, moment)

    def fmt(self, moment: datetime) -> str:
        """Timestamps as Brevo writes them: milliseconds, in the account's time zone."""
        return moment.astimezone(self.tz).isoformat(timespec="milliseconds")

    def today(self) -> date:
        return self._clock_now().astimezone(UTC).date()

    def new_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    # --- contacts --------------------------------------------------------------------------

    def find(self, identifier: str, identifier_type: str | None = None) -> Contact | None:
        if identifier_type in (None, "contact_id") and identifier.isdigit():
            found = self.contacts.get(int(identifier))
            if found is not None or identifier_type == "contact_id":
                return found
        if identifier_type == "ext_id":
            return next((c for c in self.contacts.values() if c.ext_id == identifier), None)
        if identifier_type == "phone_id":
            return next(
                (c for c in self.contacts.values() if c.attributes.get("SMS") == identifier), None
            )
        cid = self._by_email.get(email_key(identifier))
        return self.contacts.get(cid) if cid is not None else None

    def find_email(self, raw: str) -> Contact | None:
        cid = self._by_email.get(email_key(raw))
        return self.contacts.get(cid) if cid is not None else None

    def add_contact(
        self,
        email: str | None,
        *,
        created_at: datetime | None = None,
        modified_at: datetime | None = None,
        attributes: dict[str, AttributeValue] | None = None,
        blacklisted: bool = False,
    ) -> Contact:
        created = created_at or self.now()
        modified = modified_at or created
        self.observe(max(created, modified))
        contact = Contact(
            id=self.new_id("contact"),
            email=email,
            created_at=created,
            modified_at=modified,
            attributes=dict(attributes or {}),
            email_blacklisted=blacklisted,
        )
        self.contacts[contact.id] = contact
        if email:
            self._by_email[email_key(email)] = contact.id
        return contact

    def delete(self, contact: Contact) -> None:
        self.contacts.pop(contact.id, None)
        if contact.email:
            self._by_email.pop(email_key(contact.email), None)

    def touch(self, contact: Contact) -> None:
        contact.modified_at = self.now()

    def set_attributes(
        self, contact: Contact, values: dict[str, AttributeValue], *, empty_erases: bool = True
    ) -> bool:
        """Apply attribute values the account knows (others are ignored, as Brevo does)."""
        changed = False
        for raw_name, value in values.items():
            name = raw_name.upper()
            if name == "EMAIL" and isinstance(value, str) and value:
                changed |= self._change_email(contact, value)
                continue
            if name not in self.attributes:
                continue
            if value is None or value == "":
                if empty_erases and name in contact.attributes:
                    del contact.attributes[name]
                    changed = True
            elif contact.attributes.get(name) != value:
                contact.attributes[name] = value
                changed = True
        return changed

    def _change_email(self, contact: Contact, new_email: str) -> bool:
        if contact.email and email_key(contact.email) == email_key(new_email):
            return False
        if contact.email:
            self._by_email.pop(email_key(contact.email), None)
        contact.email = new_email
        self._by_email[email_key(new_email)] = contact.id
        return True

    def may_join(self, contact: Contact, list_id: int) -> bool:
        """Consent rule: a blacklisted contact, or one who left this list, is not re-added."""
        return not contact.email_blacklisted and list_id not in contact.list_unsubscribed

    def join(self, contact: Contact, list_id: int) -> bool:
        if list_id in contact.list_ids or not self.may_join(contact, list_id):
            return False
        contact.list_ids.add(list_id)
        return True

    # --- lists, folders, attributes --------------------------------------------------------

    def add_list(
        self, name: str, folder_id: int, created_at: datetime | None = None
    ) -> ContactList:
        created = ContactList(self.new_id("list"), name, folder_id, created_at or self.now())
        self.lists[created.id] = created
        return created

    def list_by_name(self, name: str) -> ContactList | None:
        return next((lst for lst in self.lists.values() if lst.name == name), None)

    def add_folder(self, name: str) -> Folder:
        folder = Folder(self.new_id("folder"), name)
        self.folders[folder.id] = folder
        return folder

    def members(self, list_id: int) -> list[Contact]:
        return [c for c in self.contacts.values() if list_id in c.list_ids]

    def campaign_id(self, campaign: str) -> int:
        if campaign.isdigit():
            return int(campaign)
        if campaign not in self.campaign_ids:
            self.campaign_ids[campaign] = 1000 + self.new_id("campaign")
        return self.campaign_ids[campaign]

    # --- campaign statistics ---------------------------------------------------------------

    def stats(self, contact: Contact, start: date, end: date) -> dict[str, Any]:
        """campaignStats for events whose UTC date falls in ``start..end`` (inclusive)."""
        chosen = [e for e in contact.events if start <= e.at.astimezone(UTC).date() <= end]
        chosen.sort(key=lambda e: e.at)
        out: dict[str, Any] = {}
        for kind in ("messagesSent", "delivered", "hardBounces", "softBounces", "complaints"):
            items = [
                {"campaignId": e.campaign_id, "eventTime": self.fmt(e.at)}
                for e in chosen
                if e.kind == kind
            ]
            if items:
                out[kind] = items
        opened = [
            {"campaignId": e.campaign_id, "count": 1, "eventTime": self.fmt(e.at), "ip": e.ip}
            for e in chosen
            if e.kind == "opened"
        ]
        if opened:
            out["opened"] = opened
        clicked: dict[int | None, list[dict[str, Any]]] = {}
        for e in chosen:
            if e.kind == "clicked":
                clicked.setdefault(e.campaign_id, []).append(
                    {"count": 1, "eventTime": self.fmt(e.at), "ip": e.ip, "url": e.url or ""}
                )
        if clicked:
            out["clicked"] = [{"campaignId": cid, "links": links} for cid, links in clicked.items()]
        user = [
            {"campaignId": e.campaign_id, "eventTime": self.fmt(e.at), "ip": e.ip}
            for e in chosen
            if e.kind == "userUnsubscription"
        ]
        admin = [
            {"eventTime": self.fmt(e.at), "ip": e.ip}
            for e in chosen
            if e.kind == "adminUnsubscription"
        ]
        if user or admin:
            out["unsubscriptions"] = {"userUnsubscription": user, "adminUnsubscription": admin}
        orders = [
            {
                "orderDate": e.at.astimezone(UTC).date().isoformat(),
                "orderId": e.order_id,
                "orderPrice": e.order_price,
            }
            for e in chosen
            if e.kind == "transacAttributes"
        ]
        if orders:
            out["transacAttributes"] = orders
        return out

    def event_counts(self, contacts: Iterable[Contact] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for contact in contacts if contacts is not None else self.contacts.values():
            for event in contact.events:
                counts[event.kind] = counts.get(event.kind, 0) + 1
        return counts
