"""The store on SQLite and PostgreSQL: one row through every table (create, read, update,
delete), the unique and foreign-key constraints, and SQLite's connection settings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, Table, TypeDecorator, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from syncd.store.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, session
from syncd.store.models import Account, ActivityEvent, Contact

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _python_type(column: Any) -> type:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # SQLModel's AutoString, UTCDateTime
        kind = kind.impl_instance
    if isinstance(kind, JSON):
        return dict
    try:
        found: type = kind.python_type
    except NotImplementedError:
        return object
    return found


def _value(column: Any, n: int) -> Any:
    kind = _python_type(column)
    if kind is str:
        length = getattr(column.type, "length", None) or 32
        return f"v{n}"[:length]
    if kind is datetime:
        return NOW
    if kind is bool:
        return True
    if kind is int:
        return n
    if kind is float:
        return 0.5
    if kind is Decimal:
        return Decimal("12.34")
    if kind is bytes:
        return b"\x00model\xff"
    if kind in (dict, list):
        return {"n": n}
    raise AssertionError(f"no test value for {column.table.name}.{column.name} ({kind})")


def _row_for(table: Table, inserted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for n, column in enumerate(table.columns):
        if column.foreign_keys:
            target = next(iter(column.foreign_keys)).column
            row[column.name] = inserted[target.table.name][target.name]
        elif (
            column.primary_key
            and column.autoincrement is not False
            and (_python_type(column) is int)
        ):
            continue  # the database numbers it
        else:
            row[column.name] = _value(column, n)
    return row


def test_one_row_through_every_table(engine: Engine) -> None:
    """Generic over SQLModel.metadata, so a table added later is covered without edits."""
    inserted: dict[str, dict[str, Any]] = {}
    tables = SQLModel.metadata.sorted_tables
    with engine.begin() as connection:
        for table in tables:
            row = _row_for(table, inserted)
            result = connection.execute(table.insert().values(**row))
            keys = dict(
                zip([c.name for c in table.primary_key], result.inserted_primary_key, strict=True)
            )
            inserted[table.name] = {**row, **keys}
    with engine.begin() as connection:
        for table in tables:
            stored = connection.execute(select(table)).mappings().one()
            for name, value in inserted[table.name].items():
                assert stored[name] == value, f"{table.name}.{name}"
            text_column = next(
                (
                    c
                    for c in table.columns
                    if _python_type(c) is str and not c.primary_key and not c.foreign_keys
                ),
                None,
            )
            if text_column is not None:
                connection.execute(table.update().values({text_column.name: "changed"}))
                assert (
                    connection.execute(select(table.c[text_column.name])).scalar_one() == "changed"
                )
    with engine.begin() as connection:
        for table in reversed(tables):
            connection.execute(table.delete())
            assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0


def _account(db: Any, account_id: str = "acme") -> None:
    db.add(Account(id=account_id, name=account_id.title(), created_at=NOW))
    db.flush()


def _contact(account_id: str, email: str) -> Contact:
    return Contact(
        account_id=account_id,
        email=email,
        attributes={"first_name": "Ada", "country": "FR"},
        provenance={"first_name": {"tool": "hubspot", "at": NOW.isoformat()}},
        created_at=NOW,
        updated_at=NOW,
        changed_at=NOW,
    )


def test_models_round_trip_json_money_and_aware_times(engine: Engine) -> None:
    with session(engine) as db:
        _account(db)
        contact = _contact("acme", "ada@example.com")
        db.add(contact)
        db.flush()
        assert contact.id is not None
        db.add(
            ActivityEvent(
                account_id="acme",
                contact_id=contact.id,
                tool="brevo",
                event_id="e1",
                type="purchase",
                occurred_ts=int(NOW.timestamp()),
                occurred_at=NOW,
                value=Decimal("99.90"),
                currency="EUR",
            )
        )
    with session(engine) as db:
        stored = db.exec(select(Contact).where(Contact.email == "ada@example.com")).one()[0]
        assert stored.attributes == {"first_name": "Ada", "country": "FR"}
        assert stored.changed_at == NOW and stored.changed_at.tzinfo is not None
        event = db.exec(select(ActivityEvent)).one()[0]
        assert Decimal(str(event.value)) == Decimal("99.90")


def test_one_contact_per_email_per_account(engine: Engine) -> None:
    with session(engine) as db:
        _account(db, "acme")
        _account(db, "globex")
        db.add(_contact("acme", "ada@example.com"))
        db.add(_contact("globex", "ada@example.com"))  # another account: fine
    with pytest.raises(IntegrityError), session(engine) as db:
        db.add(_contact("acme", "ada@example.com"))
    with session(engine) as db:  # the failed session rolled back and left the rest alone
        assert len(db.exec(select(Contact)).all()) == 2


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session(engine) as db:
        db.add(_contact("no-such-account", "ada@example.com"))


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(store_url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        engine.dispose()


def test_sqlite_in_memory_shares_one_database() -> None:
    from syncd.store.migrations import upgrade

    engine = make_engine("sqlite://")
    upgrade(engine)
    with session(engine) as db:
        _account(db)
    with session(engine) as db:
        assert db.get(Account, "acme") is not None
    engine.dispose()
