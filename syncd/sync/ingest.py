"""Ingest: one page of pulled records into the store, with its cursor, in one transaction.

A cursor never runs ahead of the data it covers: the page and the cursor commit together, so an
interrupted pull resumes from the last committed page and re-reading a page changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, update

from syncd.gdpr.tombstone import ErasedFilter
from syncd.records import ActivityRecord, ConsentRecord, ContactRecord, InvalidRecord, Page
from syncd.store.bulk import insert_new, upsert
from syncd.store.models import (
    ActivityEvent,
    Consent,
    ConsentEvent,
    Contact,
    Identity,
    LedgerEntry,
    RejectedRecord,
    SyncCursor,
)
from syncd.sync.merge import MergePolicy, merge_attributes


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


CONTACT = _table(Contact)
IDENTITY = _table(Identity)
CONSENT = _table(Consent)
CONSENT_EVENT = _table(ConsentEvent)
ACTIVITY = _table(ActivityEvent)
CURSOR = _table(SyncCursor)
LEDGER = _table(LedgerEntry)
REJECTED = _table(RejectedRecord)


@dataclass
class IngestCounts:
    contacts_new: int = 0
    contacts_changed: int = 0
    identities: int = 0
    consent_changes: int = 0
    events_new: int = 0
    invalid: int = 0
    invalid_samples: list[str] = field(default_factory=list)
    #: records of erased people (a tombstone matched their email): skipped, not stored
    erased_skipped: int = 0

    def add(self, other: IngestCounts) -> None:
        self.contacts_new += other.contacts_new
        self.contacts_changed += other.contacts_changed
        self.identities += other.identities
        self.consent_changes += other.consent_changes
        self.events_new += other.events_new
        self.invalid += other.invalid
        self.erased_skipped += other.erased_skipped
        self.invalid_samples = (self.invalid_samples + other.invalid_samples)[:20]


@dataclass
class Ingestor:
    account_id: str
    policy: MergePolicy
    now: datetime
    run_id: int | None = None
    #: per tool, the properties syncd itself pushes there (lower-cased): when a tool reports
    #: them back they are syncd's own output, not the contact's data, and are not merged
    own_properties: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _erased: ErasedFilter | None = field(default=None, init=False, repr=False)

    # --- contacts --------------------------------------------------------------------------

    def contacts(self, conn: Connection, tool: str, page: Page[ContactRecord]) -> IngestCounts:
        page, skipped = self._without_erased(conn, page)
        counts = self._invalid(conn, page.invalid)
        counts.erased_skipped = skipped
        now = self.now
        by_email: dict[str, ContactRecord] = {}
        for record in page.records:  # the newest record per email within the page
            kept = by_email.get(record.email)
            if kept is None or kept.updated_at <= record.updated_at:
                by_email[record.email] = record
        existing = self._contacts_by_email(conn, by_email)
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        seen_rows: list[dict[str, Any]] = []
        for email, record in by_email.items():
            row = existing.get(email)
            own = self.own_properties.get(tool, frozenset())
            incoming = {k: v for k, v in record.attributes.items() if k.lower() not in own}
            attrs, prov, changed = merge_attributes(
                self.policy,
                row["attributes"] if row else {},
                row["provenance"] if row else {},
                incoming,
                tool,
                record.updated_at,
            )
            if row is None:
                new_rows.append(
                    {
                        "account_id": self.account_id,
                        "email": email,
                        "attributes": attrs,
                        "provenance": prov,
                        "created_at": now,
                        "updated_at": now,
                        "changed_at": now,
                    }
                )
            elif changed:
                changed_rows.append(
                    {"b_id": row["id"], "b_attrs": attrs, "b_prov": prov, "b_at": now}
                )
            elif prov != row["provenance"]:
                # same values, newer sighting (often our own push coming back): keep the
                # provenance fresh without marking the contact changed for the engine
                seen_rows.append({"b_id": row["id"], "b_prov": prov})
        if new_rows:
            conn.execute(CONTACT.insert(), new_rows)
        if changed_rows:
            conn.execute(
                update(CONTACT)
                .where(CONTACT.c.id == bindparam("b_id"))
                .values(
                    attributes=bindparam("b_attrs"),
                    provenance=bindparam("b_prov"),
                    updated_at=bindparam("b_at"),
                    changed_at=bindparam("b_at"),
                ),
                changed_rows,
            )
        if seen_rows:
            conn.execute(
                update(CONTACT)
                .where(CONTACT.c.id == bindparam("b_id"))
                .values(provenance=bindparam("b_prov")),
                seen_rows,
            )
        ids = self.contact_ids(conn, by_email)
        identities = [
            {
                "account_id": self.account_id,
                "contact_id": ids[r.email],
                "tool": tool,
                "remote_id": r.remote_id,
                "email_in_tool": r.raw_email or r.email,
                "memberships": sorted(r.memberships),
                "updated_at": r.updated_at,
            }
            for r in page.records
        ]
        upsert(
            conn,
            IDENTITY,
            identities,
            ("account_id", "tool", "remote_id"),
            ("contact_id", "email_in_tool", "memberships", "updated_at"),
        )
        counts.contacts_new += len(new_rows)
        counts.contacts_changed += len(changed_rows)
        counts.identities += len(identities)
        self._cursor(conn, tool, "contacts", page.cursor)
        return counts

    # --- consent ---------------------------------------------------------------------------

    def consent(self, conn: Connection, tool: str, page: Page[ConsentRecord]) -> IngestCounts:
        page, skipped = self._without_erased(conn, page)
        counts = self._invalid(conn, page.invalid)
        counts.erased_skipped = skipped
        now = self.now
        ids = self.contact_ids(conn, {r.email for r in page.records}, create=True)
        current = {
            (r.contact_id, r.channel, r.list_id): r.status
            for r in conn.execute(
                select(CONSENT.c.contact_id, CONSENT.c.channel, CONSENT.c.list_id, CONSENT.c.status)
                .where(CONSENT.c.tool == tool)
                .where(CONSENT.c.contact_id.in_(list(ids.values())))
            )
        }
        rows: list[dict[str, Any]] = []
        for r in page.records:
            rows.append(
                {
                    "account_id": self.account_id,
                    "contact_id": ids[r.email],
                    "tool": tool,
                    "channel": r.channel,
                    "list_id": r.list_id or "",
                    "status": str(r.status),
                    "raw_status": r.raw_status,
                    "legal_basis": r.legal_basis,
                    "source": r.source or f"{tool}:pull",
                    "changed_at": r.changed_at,
                    "recorded_at": now,
                }
            )
        changed = [
            row
            for row in {(r["contact_id"], r["channel"], r["list_id"]): r for r in rows}.values()
            if current.get((row["contact_id"], row["channel"], row["list_id"])) != row["status"]
        ]
        upsert(
            conn,
            CONSENT,
            rows,
            ("contact_id", "tool", "channel", "list_id"),
            ("status", "raw_status", "legal_basis", "source", "changed_at", "recorded_at"),
        )
        if changed:
            conn.execute(CONSENT_EVENT.insert(), changed)
            self._touch(conn, {row["contact_id"] for row in changed}, now)
        counts.consent_changes += len(changed)
        self._cursor(conn, tool, "consent", page.cursor)
        return counts

    # --- activity --------------------------------------------------------------------------

    def activity(self, conn: Connection, tool: str, page: Page[ActivityRecord]) -> IngestCounts:
        page, skipped = self._without_erased(conn, page)
        counts = self._invalid(conn, page.invalid)
        counts.erased_skipped = skipped
        now = self.now
        ids = self.contact_ids(conn, {r.email for r in page.records}, create=True)
        event_ids = [r.event_id for r in page.records]
        known = set(
            conn.scalars(
                select(ACTIVITY.c.event_id)
                .where(ACTIVITY.c.account_id == self.account_id)
                .where(ACTIVITY.c.tool == tool)
                .where(ACTIVITY.c.event_id.in_(event_ids))
            )
        )
        fresh: dict[str, dict[str, Any]] = {}
        for r in page.records:
            if r.event_id in known or r.event_id in fresh:
                continue
            fresh[r.event_id] = {
                "account_id": self.account_id,
                "contact_id": ids[r.email],
                "tool": tool,
                "event_id": r.event_id,
                "type": str(r.type),
                "occurred_at": r.occurred_at,
                "occurred_ts": int(r.occurred_at.timestamp()),
                "campaign": r.campaign,
                "value": r.value,
                "currency": r.currency,
            }
        insert_new(conn, ACTIVITY, list(fresh.values()), ("account_id", "tool", "event_id"))
        self._touch(conn, {row["contact_id"] for row in fresh.values()}, now)
        counts.events_new += len(fresh)
        self._cursor(conn, tool, "activity", page.cursor)
        return counts

    # --- contacts gone from a tool ----------------------------------------------------------

    def prune(self, conn: Connection, tool: str, seen: set[str]) -> int:
        """After a complete full pull: forget the tool's identities it no longer holds.

        Someone deleted them in the tool. Their ledger rows for that tool go too (the tool
        holds nothing for them now); their consent history stays, so an unsubscribe there
        still suppresses them elsewhere.
        """
        gone = [
            (row.id, row.contact_id)
            for row in conn.execute(
                select(IDENTITY.c.id, IDENTITY.c.contact_id, IDENTITY.c.remote_id)
                .where(IDENTITY.c.account_id == self.account_id)
                .where(IDENTITY.c.tool == tool)
            )
            if row.remote_id not in seen
        ]
        if not gone:
            return 0
        contact_ids = sorted({contact_id for _, contact_id in gone})
        for chunk in _chunks([identity_id for identity_id, _ in gone], 500):
            conn.execute(delete(IDENTITY).where(IDENTITY.c.id.in_(chunk)))
        for chunk in _chunks(contact_ids, 500):
            conn.execute(
                delete(LEDGER)
                .where(LEDGER.c.account_id == self.account_id)
                .where(LEDGER.c.tool == tool)
                .where(LEDGER.c.contact_id.in_(chunk))
            )
        self._touch(conn, set(contact_ids), self.now)
        return len(gone)

    # --- shared ----------------------------------------------------------------------------

    def _without_erased(self, conn: Connection, page: Page[Any]) -> tuple[Page[Any], int]:
        """The page less the records of erased people (GDPR tombstones), and how many."""
        if self._erased is None:
            self._erased = ErasedFilter(conn, self.account_id)
        if not self._erased.hashes:
            return page, 0
        kept = [r for r in page.records if not self._erased.erased(r.email)]
        return replace(page, records=kept), len(page.records) - len(kept)

    def _contacts_by_email(
        self, conn: Connection, emails: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        wanted = list(emails)
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, 500):
            for row in conn.execute(
                select(CONTACT.c.id, CONTACT.c.email, CONTACT.c.attributes, CONTACT.c.provenance)
                .where(CONTACT.c.account_id == self.account_id)
                .where(CONTACT.c.email.in_(chunk))
            ):
                found[row.email] = {
                    "id": row.id,
                    "attributes": row.attributes or {},
                    "provenance": row.provenance or {},
                }
        return found

    def contact_ids(
        self, conn: Connection, emails: Iterable[str], *, create: bool = False
    ) -> dict[str, int]:
        """Contact id per email; with ``create``, a bare contact for an email not seen yet."""
        wanted = set(emails)
        ids = {e: row["id"] for e, row in self._contacts_by_email(conn, wanted).items()}
        missing = wanted - set(ids)
        if missing and create:
            now = self.now
            conn.execute(
                CONTACT.insert(),
                [
                    {
                        "account_id": self.account_id,
                        "email": email,
                        "attributes": {},
                        "provenance": {},
                        "created_at": now,
                        "updated_at": now,
                        "changed_at": now,
                    }
                    for email in sorted(missing)
                ],
            )
            ids.update({e: row["id"] for e, row in self._contacts_by_email(conn, missing).items()})
        return ids

    def _touch(self, conn: Connection, contact_ids: set[int], now: datetime) -> None:
        for chunk in _chunks(sorted(contact_ids), 500):
            conn.execute(update(CONTACT).where(CONTACT.c.id.in_(chunk)).values(changed_at=now))

    def _invalid(self, conn: Connection, invalid: Sequence[InvalidRecord]) -> IngestCounts:
        counts = IngestCounts()
        if invalid:
            conn.execute(
                REJECTED.insert(),
                [
                    {
                        "account_id": self.account_id,
                        "run_id": self.run_id,
                        "tool": r.tool,
                        "remote_id": r.remote_id,
                        "raw_email": r.raw_email[:320],
                        "reason": r.reason,
                        "seen_at": self.now,
                    }
                    for r in invalid
                ],
            )
            counts.invalid = len(invalid)
            counts.invalid_samples = [f"{r.tool}:{r.raw_email!r}: {r.reason}" for r in invalid][:5]
        return counts

    def _cursor(self, conn: Connection, tool: str, stream: str, cursor: str | None) -> None:
        if cursor is None:
            return
        upsert(
            conn,
            CURSOR,
            [
                {
                    "account_id": self.account_id,
                    "tool": tool,
                    "stream": stream,
                    "cursor": cursor,
                    "updated_at": self.now,
                }
            ],
            ("account_id", "tool", "stream"),
            ("cursor", "updated_at"),
        )


def read_cursor(conn: Connection, account_id: str, tool: str, stream: str) -> str | None:
    value: str | None = conn.scalar(
        select(CURSOR.c.cursor)
        .where(CURSOR.c.account_id == account_id)
        .where(CURSOR.c.tool == tool)
        .where(CURSOR.c.stream == stream)
    )
    return value


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
