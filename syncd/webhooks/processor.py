"""Apply authenticated webhook events to the store, in one transaction with their replay keys.

Withdrawn consent goes through the same :meth:`Ingestor.consent` path as a pull (source
``"<vendor>:webhook"``), so the history, ``changed_at`` and tombstone rules are the pull's.
Other events only mark known contacts changed for the next incremental run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, select, update
from sqlalchemy.exc import IntegrityError

from syncd.records import ConsentRecord, Page
from syncd.store.models import Contact, Identity, WebhookDelivery
from syncd.sync.ingest import Ingestor
from syncd.sync.merge import MergePolicy
from syncd.webhooks.events import EventKind, WebhookEvent, WebhookRejected


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


DELIVERY, CONTACT, IDENTITY = _t(WebhookDelivery), _t(Contact), _t(Identity)


@dataclass
class Applied:
    vendor: str
    consent: int = 0
    changed: int = 0
    ignored: int = 0
    #: events about nobody syncd holds (a HubSpot id never pulled, an erased person)
    unknown: int = 0
    replayed: int = 0
    #: contacts whose removals must go out now
    propagate: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "consent": self.consent,
            "changed": self.changed,
            "ignored": self.ignored,
            "unknown": self.unknown,
            "replayed": self.replayed,
            "propagating": len(self.propagate),
        }


def apply_events(
    engine: Engine, account_id: str, vendor: str, events: Sequence[WebhookEvent], now: datetime
) -> Applied:
    """Raises 409 when every event of the delivery was applied before."""
    try:
        with engine.begin() as conn:
            return _apply(conn, account_id, vendor, events, now)
    except IntegrityError:
        # the same delivery arrived twice at once: the other one holds the keys
        raise WebhookRejected(409, "this delivery was already received") from None


def _apply(
    conn: Connection,
    account_id: str,
    vendor: str,
    events: Sequence[WebhookEvent],
    now: datetime,
) -> Applied:
    applied = Applied(vendor)
    keys = {e.key for e in events}
    seen = set(
        conn.scalars(
            select(DELIVERY.c.delivery_key).where(
                and_(
                    DELIVERY.c.account_id == account_id,
                    DELIVERY.c.vendor == vendor,
                    DELIVERY.c.delivery_key.in_(sorted(keys)),
                )
            )
        )
    )
    fresh = [e for e in events if e.key not in seen]
    applied.replayed = len(events) - len(fresh)
    if not fresh:
        raise WebhookRejected(409, "this delivery was already received")
    conn.execute(
        DELIVERY.insert(),
        [
            {"account_id": account_id, "vendor": vendor, "delivery_key": k, "received_at": now}
            for k in sorted({e.key for e in fresh})
        ],
    )
    emails = _emails_of(conn, account_id, vendor, fresh)
    ingestor = Ingestor(account_id, MergePolicy(), now)
    consent: list[ConsentRecord] = []
    changed: set[str] = set()
    for event in fresh:
        email = event.email or emails.get(event.remote_id or "")
        if event.kind is EventKind.IGNORED:
            applied.ignored += 1
        elif email is None:
            applied.unknown += 1
        elif event.kind is EventKind.CONSENT and event.status is not None:
            consent.append(
                ConsentRecord(
                    tool=vendor,
                    email=email,
                    status=event.status,
                    raw_status=event.raw_status,
                    changed_at=event.occurred_at or now,
                    source=f"{vendor}:webhook",
                    list_id=event.list_id,
                )
            )
        else:
            changed.add(email)
    if consent:
        counts = ingestor.consent(conn, vendor, Page(consent, None))
        skipped = counts.erased_skipped
        applied.unknown += skipped
        applied.consent += len(consent) - skipped
        ids = ingestor.contact_ids(conn, {r.email for r in consent})
        applied.propagate |= set(ids.values())
    if changed:
        ids = ingestor.contact_ids(conn, changed)  # known contacts only: a pull brings new ones
        applied.unknown += len(changed) - len(ids)
        applied.changed += len(ids)
        if ids:
            conn.execute(
                update(CONTACT).where(CONTACT.c.id.in_(sorted(ids.values()))).values(changed_at=now)
            )
    return applied


def _emails_of(
    conn: Connection, account_id: str, vendor: str, events: Sequence[WebhookEvent]
) -> dict[str, str]:
    """Email per vendor id, for events that name the contact only by its id in the tool."""
    wanted = sorted({e.remote_id for e in events if e.email is None and e.remote_id})
    if not wanted:
        return {}
    rows = conn.execute(
        select(IDENTITY.c.remote_id, CONTACT.c.email)
        .join(CONTACT, CONTACT.c.id == IDENTITY.c.contact_id)
        .where(
            and_(
                IDENTITY.c.account_id == account_id,
                IDENTITY.c.tool == vendor,
                IDENTITY.c.remote_id.in_(wanted),
            )
        )
    )
    return {r.remote_id: r.email for r in rows}
