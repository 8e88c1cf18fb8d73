"""The store's tables (SQLModel). One contact per normalised email per account.

Schema changes go through an Alembic migration in ``store/migrations`` (a test checks that the
migrations and these models agree, on SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel


def _json(default: Any = None) -> Any:
    return Field(default_factory=lambda: {} if default is None else default, sa_column=Column(JSON))


class Account(SQLModel, table=True):
    __tablename__ = "account"
    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    created_at: datetime


class Contact(SQLModel, table=True):
    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("account_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    email: str = Field(max_length=320)
    #: merged attributes (first_name, country, company, custom fields ...)
    attributes: dict[str, Any] = _json()
    #: per attribute: {"tool": ..., "at": ISO time} of the kept value
    provenance: dict[str, Any] = _json()
    created_at: datetime
    updated_at: datetime
    #: last time anything about this contact changed (attributes, consent, activity):
    #: what an incremental recompute looks at
    changed_at: datetime = Field(index=True)


class Identity(SQLModel, table=True):
    __tablename__ = "identity"
    __table_args__ = (
        UniqueConstraint("account_id", "tool", "remote_id"),
        Index("ix_identity_contact", "contact_id", "tool"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    contact_id: int = Field(foreign_key="contact.id")
    tool: str = Field(max_length=32)
    remote_id: str = Field(max_length=128)
    email_in_tool: str = Field(max_length=320)
    #: list ids / tag names the tool reported for this contact at the last pull
    memberships: list[str] = _json([])
    updated_at: datetime


class Consent(SQLModel, table=True):
    """Current consent per contact, tool, channel and (optionally) list ('' = whole channel)."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("contact_id", "tool", "channel", "list_id"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id")
    tool: str = Field(max_length=32)
    channel: str = Field(default="email", max_length=32)
    list_id: str = Field(default="", max_length=128)
    status: str = Field(max_length=16)
    raw_status: str = Field(max_length=64)
    legal_basis: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=128)
    changed_at: datetime | None = None
    recorded_at: datetime


class ConsentEvent(SQLModel, table=True):
    """Append-only history of consent changes (what GDPR export shows, with sources)."""

    __tablename__ = "consent_event"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    tool: str = Field(max_length=32)
    channel: str = Field(default="email", max_length=32)
    list_id: str = Field(default="", max_length=128)
    status: str = Field(max_length=16)
    raw_status: str = Field(max_length=64)
    legal_basis: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=128)
    changed_at: datetime | None = None
    recorded_at: datetime


class ActivityEvent(SQLModel, table=True):
    __tablename__ = "activity_event"
    __table_args__ = (
        UniqueConstraint("account_id", "tool", "event_id"),
        # covering index for the engine's per-contact aggregation (currency too: revenue is
        # converted to the base currency in the same index-only scan)
        Index(
            "ix_activity_contact_ts",
            "account_id",
            "contact_id",
            "occurred_ts",
            "type",
            "value",
            "currency",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    contact_id: int = Field(foreign_key="contact.id")
    tool: str = Field(max_length=32)
    event_id: str = Field(max_length=160)
    type: str = Field(max_length=16)
    occurred_at: datetime
    #: the same instant as epoch seconds: SQLite keeps datetimes as text, and the engine's
    #: vectorised aggregation compares integers far faster than strings
    occurred_ts: int
    campaign: str | None = Field(default=None, max_length=128)
    value: float | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    currency: str | None = Field(default=None, max_length=3)


class ContactScore(SQLModel, table=True):
    """The engine's output per contact: scores, stages, predictions, cluster."""

    __tablename__ = "contact_score"
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    computed_at: datetime
    engagement_score: float = 0.0
    rfm_r: int | None = None
    rfm_f: int | None = None
    rfm_m: int | None = None
    rfm_group: str | None = Field(default=None, max_length=32)
    lifecycle: str | None = Field(default=None, max_length=16)
    engagement_tier: str | None = Field(default=None, max_length=16)
    churn_risk: float | None = None
    purchase_propensity: float | None = None
    cluster: int | None = None
    persona: str | None = Field(default=None, max_length=128)


class SegmentMembership(SQLModel, table=True):
    __tablename__ = "segment_membership"
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    segment: str = Field(primary_key=True, max_length=128)
    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    #: True for contacts carved into the segment's A/B control share
    holdout: bool = False
    since: datetime


class SegmentSnapshot(SQLModel, table=True):
    """Segment sizes per recompute: change since last run, drift flags, charts."""

    __tablename__ = "segment_snapshot"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    segment: str = Field(max_length=128)
    run_id: int | None = Field(default=None, foreign_key="run.id")
    computed_at: datetime
    size: int
    holdout_size: int = 0
    previous_size: int | None = None
    drift: bool = False


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    tool: str = Field(primary_key=True, max_length=32)
    stream: str = Field(primary_key=True, max_length=32)
    cursor: str
    updated_at: datetime


class LedgerEntry(SQLModel, table=True):
    """What a remote holds, as last acknowledged: per tool / target / contact."""

    __tablename__ = "ledger_entry"
    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=64)
    tool: str = Field(primary_key=True, max_length=32)
    target_kind: str = Field(primary_key=True, max_length=16)
    target: str = Field(primary_key=True, max_length=128)
    contact_id: int = Field(foreign_key="contact.id", primary_key=True)
    value: str | None = None  # for properties
    acknowledged_at: datetime


class OutboxItem(SQLModel, table=True):
    """A planned change, stored before the first call; done in the same transaction as the
    ledger update that records it."""

    __tablename__ = "outbox_item"
    __table_args__ = (Index("ix_outbox_pending", "account_id", "status", "tool"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", max_length=64)
    run_id: int = Field(foreign_key="run.id")
    tool: str = Field(max_length=32)
    target_kind: str = Field(max_length=16)
    target: str = Field(max_length=128)
    op: str = Field(max_length=8)
    contact_id: int = Field(foreign_key="contact.id")
    email: str = Field(max_length=320)
    remote_id: str | None = Field(default=None, max_length=128)
    value: str | None = None
    status: str = Field(default="pending", max_length=16)  # pending / done / rejected
    reason: str | None = None
    consent_status: str | None = Field(default=None, max_length=16)
    consent_source: str | None = Field(default=None, max_length=128)
    #: fingerprint of the contact's relevant state when rejected (retry only when it changes)
    state_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime
    done_at: datetime | None = None


class Run(SQLModel, table=True):
    __tablename__ = "run"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    kind: str = Field(max_length=16)  # full / incremental / recompute / train
    dry_run: bool = False
    status: str = Field(default="running", max_length=16)  # running / ok / failed / interrupted
    phase: str = Field(default="start", max_length=16)
    started_at: datetime
    finished_at: datetime | None = None
    counts: dict[str, Any] = _json()
    errors: list[Any] = _json([])
    timings: dict[str, Any] = _json()
    report: dict[str, Any] = _json()


class RejectedRecord(SQLModel, table=True):
    """Records kept out of the merge (invalid email, malformed fields), with the reason."""

    __tablename__ = "rejected_record"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    run_id: int | None = Field(default=None, foreign_key="run.id")
    tool: str = Field(max_length=32)
    remote_id: str = Field(max_length=128)
    raw_email: str = Field(max_length=320)
    reason: str
    seen_at: datetime


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str | None = Field(default=None, index=True, max_length=64)
    at: datetime
    actor: str = Field(default="syncd", max_length=64)
    action: str = Field(max_length=64)
    detail: dict[str, Any] = _json()


class ModelArtifact(SQLModel, table=True):
    """A trained model (churn, propensity, clusters) with its metrics and version."""

    __tablename__ = "model_artifact"
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=64)
    kind: str = Field(max_length=32)
    version: int
    trained_at: datetime
    metrics: dict[str, Any] = _json()
    blob: bytes = Field(sa_column=Column(LargeBinary))


class ResyncRequest(SQLModel, table=True):
    """An admin-requested run, queued in the store so any daemon on it picks it up.

    ``status``: pending -> running (claimed by one daemon, which holds the account's lock while
    it runs) -> done / failed. A ``running`` row whose account lock is free was left by a daemon
    that died; it goes back to pending.
    """

    __tablename__ = "resync_request"
    __table_args__ = (Index("ix_resync_pending", "status", "account_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=64)
    full: bool = False
    dry_run: bool = False
    status: str = Field(default="pending", max_length=16)
    requested_by: str = Field(default="cli", max_length=64)
    requested_at: datetime
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: int | None = None
    error: str | None = None


class ErasureTombstone(SQLModel, table=True):
    """What is left of an erased person: a salted hash of the email, so that a later pull does
    not silently bring them back (the salt is the store's own secret, see ``StoreSecret``)."""

    __tablename__ = "erasure_tombstone"
    account_id: str = Field(primary_key=True, max_length=64)
    email_hash: str = Field(primary_key=True, max_length=64)
    erased_at: datetime


class StoreSecret(SQLModel, table=True):
    """Secrets the store generates for itself (the erasure tombstones' salt)."""

    __tablename__ = "store_secret"
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)
    created_at: datetime


class WebhookDelivery(SQLModel, table=True):
    """Webhook deliveries already applied, by a key per delivery or event: a replay is refused."""

    __tablename__ = "webhook_delivery"
    account_id: str = Field(primary_key=True, max_length=64)
    vendor: str = Field(primary_key=True, max_length=32)
    delivery_key: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(index=True)
