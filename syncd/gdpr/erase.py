"""Erasure: the person's rows go from every table; a salted hash tombstone stays so that a
later pull does not bring them back; with ``remote``, each tool deletes them through its own
deletion endpoint. The audit row that records the erasure holds no personal data: the hash,
how many rows went from which table, and what each tool answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, select

from syncd.config import AccountConfig
from syncd.errors import SyncdError
from syncd.gdpr.export import AUDIT, CONTACT, REJECTED, rows_about
from syncd.gdpr.tombstone import TOMBSTONE, email_hash, store_salt
from syncd.normalize import normalize_email

HttpOptions = Mapping[str, Mapping[str, Any]]


@dataclass
class ErasureReport:
    account_id: str
    email_hash: str
    deleted: dict[str, int] = field(default_factory=dict)
    #: per tool: "deleted", "not held", or the refusal / error
    remote: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "email_hash": self.email_hash,
            "deleted": self.deleted,
            "remote": self.remote,
        }


async def delete_remotely(
    account: AccountConfig, email: str, http_options: HttpOptions | None = None
) -> dict[str, str]:
    """Ask every configured tool to delete the person; per tool, what happened."""
    from syncd.sync.service import build_connectors

    outcome: dict[str, str] = {}
    connectors = build_connectors(account, http_options)
    try:
        for tool, connector in sorted(connectors.items()):
            try:
                result = await connector.delete_contact(email)
            except SyncdError as exc:
                outcome[tool] = f"failed: {exc}"
                continue
            if result.ok:
                outcome[tool] = "not held" if result.reason else "deleted"
            else:
                outcome[tool] = f"refused: {result.reason}"
    finally:
        for connector in connectors.values():
            await connector.aclose()
    return outcome


async def withdraw_memberships(
    engine: Engine,
    account: AccountConfig,
    email: str,
    http_options: HttpOptions | None = None,
) -> dict[str, str]:
    """Take the person off every list and tag syncd put them on, in every tool.

    An erasure without ``remote`` leaves the person in the tools, but not in syncd's segments:
    once the store forgets them, no later run could take them out again, so it happens now.
    """
    from syncd.records import Change, ChangeOp, Target, TargetKind
    from syncd.store.models import Identity, LedgerEntry
    from syncd.sync.service import build_connectors

    ledger: Table = LedgerEntry.__table__  # type: ignore[attr-defined]
    identity: Table = Identity.__table__  # type: ignore[attr-defined]
    address = normalize_email(email)
    with engine.connect() as conn:
        rows = conn.execute(
            select(ledger.c.tool, ledger.c.target_kind, ledger.c.target, identity.c.remote_id)
            .join(CONTACT, CONTACT.c.id == ledger.c.contact_id)
            .outerjoin(
                identity,
                and_(
                    identity.c.contact_id == ledger.c.contact_id, identity.c.tool == ledger.c.tool
                ),
            )
            .where(
                and_(
                    CONTACT.c.account_id == account.id,
                    CONTACT.c.email == address,
                    ledger.c.target_kind != str(TargetKind.PROPERTY),
                )
            )
        ).all()
    changes: dict[str, list[Change]] = {}
    for row in rows:
        target = Target(TargetKind(row.target_kind), row.target)
        changes.setdefault(row.tool, []).append(
            Change(target, ChangeOp.REMOVE, address, remote_id=row.remote_id)
        )
    outcome: dict[str, str] = {}
    connectors = build_connectors(account, http_options, read_only=True)
    try:
        for tool, wanted in sorted(changes.items()):
            connector = connectors.get(tool)
            if connector is None:
                outcome[tool] = "not configured any more"
                continue
            try:
                await connector.ensure_targets(sorted({c.target for c in wanted}, key=str))
                results = await connector.apply(wanted)
            except SyncdError as exc:
                outcome[tool] = f"failed: {exc}"
                continue
            refused = [r.reason or "refused" for r in results if not r.ok]
            outcome[tool] = (
                f"removed from {len(results)} target(s)"
                if not refused
                else f"refused: {refused[0]}"
            )
    finally:
        for connector in connectors.values():
            await connector.aclose()
    return outcome


def erase_person(
    engine: Engine,
    account_id: str,
    email: str,
    now: datetime,
    *,
    remote: Mapping[str, str] | None = None,
    actor: str = "cli",
) -> ErasureReport:
    """Delete the person's rows and leave the tombstone, in one transaction."""
    address = normalize_email(email)
    with engine.begin() as conn:
        salt = store_salt(conn, now)
        assert salt is not None
        report = ErasureReport(account_id, email_hash(salt, address), remote=dict(remote or {}))
        found = list(rows_about(conn, account_id, address))
        contact: tuple[Table, list[dict[str, Any]]] | None = None
        for table, rows in found:
            if table is CONTACT:
                contact = (table, rows)  # last: the other rows point at it
                continue
            _delete(conn, table, rows)
            report.deleted[table.name] = len(rows)
        if contact is not None:
            _delete(conn, *contact)
            report.deleted[CONTACT.name] = len(contact[1])
        exists = conn.scalar(
            select(TOMBSTONE.c.email_hash).where(
                and_(
                    TOMBSTONE.c.account_id == account_id,
                    TOMBSTONE.c.email_hash == report.email_hash,
                )
            )
        )
        if exists is None:
            conn.execute(
                TOMBSTONE.insert().values(
                    account_id=account_id, email_hash=report.email_hash, erased_at=now
                )
            )
        conn.execute(
            AUDIT.insert().values(
                account_id=account_id,
                at=now,
                actor=actor,
                action="gdpr.erase",
                detail=report.as_dict(),
            )
        )
    return report


def _delete(conn: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = list(table.primary_key.columns)
    for row in rows:
        conn.execute(delete(table).where(and_(*(k == row[k.name] for k in keys))))


__all__ = [
    "AUDIT",
    "REJECTED",
    "ErasureReport",
    "delete_remotely",
    "erase_person",
    "withdraw_memberships",
]
