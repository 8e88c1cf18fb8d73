"""Everything syncd holds on one person, as JSON: the contact, and every row of every table
that is about them (found by ``contact_id``, plus the audit rows naming them and the refused
records carrying their address). Tables are found from the store's metadata, so a new table
with a ``contact_id`` column is exported (and erased) without anyone remembering to."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, select
from sqlmodel import SQLModel

from syncd.normalize import normalize_email
from syncd.store.models import AuditLog, Contact, RejectedRecord

FORMAT = "syncd.gdpr.export/1"


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


CONTACT, AUDIT, REJECTED = _t(Contact), _t(AuditLog), _t(RejectedRecord)


def person_tables() -> list[Table]:
    """Tables with rows about one contact (by ``contact_id``), children before parents."""
    return [t for t in reversed(SQLModel.metadata.sorted_tables) if "contact_id" in t.c]


def contact_id_of(conn: Connection, account_id: str, email: str) -> int | None:
    found: int | None = conn.scalar(
        select(CONTACT.c.id).where(
            and_(CONTACT.c.account_id == account_id, CONTACT.c.email == email)
        )
    )
    return found


def audit_ids_about(conn: Connection, account_id: str, contact_id: int) -> list[int]:
    """Audit rows naming the contact (their detail is JSON: filtered here, not in SQL)."""
    ids = []
    rows = conn.execute(select(AUDIT.c.id, AUDIT.c.detail).where(AUDIT.c.account_id == account_id))
    for row in rows:
        detail = row.detail or {}
        if isinstance(detail, dict) and detail.get("contact_id") == contact_id:
            ids.append(row.id)
    return ids


def rejected_ids_about(conn: Connection, account_id: str, email: str) -> list[int]:
    rows = conn.execute(
        select(REJECTED.c.id, REJECTED.c.raw_email).where(REJECTED.c.account_id == account_id)
    )
    return [r.id for r in rows if r.raw_email.strip().lower() == email]


def rows_about(
    conn: Connection, account_id: str, email: str
) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """Per table, the rows about the person (nothing when syncd holds nothing on them)."""
    contact_id = contact_id_of(conn, account_id, email)
    if contact_id is not None:
        yield CONTACT, _rows(conn, CONTACT, CONTACT.c.id == contact_id)
        for table in person_tables():
            yield table, _rows(conn, table, table.c.contact_id == contact_id)
        audit = audit_ids_about(conn, account_id, contact_id)
        yield AUDIT, _rows(conn, AUDIT, AUDIT.c.id.in_(audit)) if audit else []
    rejected = rejected_ids_about(conn, account_id, email)
    yield REJECTED, _rows(conn, REJECTED, REJECTED.c.id.in_(rejected)) if rejected else []


def _rows(conn: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    order = list(table.primary_key.columns)
    return [dict(r._mapping) for r in conn.execute(select(table).where(where).order_by(*order))]


def export_person(engine: Engine, account_id: str, email: str, now: datetime) -> dict[str, Any]:
    """The person's data as a JSON-ready document."""
    address = normalize_email(email)
    with engine.connect() as conn:
        tables = {
            t.name: [json_ready(r) for r in rows]
            for t, rows in rows_about(conn, account_id, address)
        }
    return {
        "format": FORMAT,
        "account_id": account_id,
        "email": address,
        "exported_at": now.isoformat(),
        "found": bool(tables.get("contact")) or bool(tables.get("rejected_record")),
        "tables": tables,
    }


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
