"""The durable resync queue: admin-requested runs, stored so that any daemon on the store picks
them up, survives restarts, and no request runs twice.

A daemon claims a request only while holding the account's lock (see :mod:`locks`): on
PostgreSQL the pending row is read ``FOR UPDATE SKIP LOCKED`` (two daemons polling together
each get a different row, nobody waits), the account lock is tried, and only then is the row
marked running, in the same transaction. A running row whose account is free belongs to a
daemon that died, and :func:`requeue_abandoned` puts it back. On SQLite (one daemon) a plain
conditional update claims the row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select, update

from syncd.daemon.locks import AccountLease, AccountLocks
from syncd.store.models import ResyncRequest

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


def _table() -> Table:
    table: Table = ResyncRequest.__table__  # type: ignore[attr-defined]
    return table


@dataclass(frozen=True)
class Claimed:
    id: int
    account_id: str
    full: bool
    dry_run: bool
    requested_by: str


def enqueue(
    engine: Engine,
    account_id: str,
    *,
    full: bool = False,
    dry_run: bool = False,
    requested_by: str = "cli",
    now: datetime,
) -> int:
    """Store a request; returns its id (what ``syncd resync`` prints)."""
    table = _table()
    with engine.begin() as conn:
        result = conn.execute(
            table.insert().values(
                account_id=account_id,
                full=full,
                dry_run=dry_run,
                status=PENDING,
                requested_by=requested_by,
                requested_at=now,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def claim_next(
    engine: Engine, accounts: Sequence[str], *, daemon_id: str, now: datetime, locks: AccountLocks
) -> tuple[Claimed, AccountLease] | None:
    """The oldest pending request of one of ``accounts`` whose lock could be taken, marked
    running by ``daemon_id``, with the account's lease. ``None`` when there is none."""
    table = _table()
    skipped: set[str] = set()
    while True:
        candidates = [a for a in accounts if a not in skipped]
        if not candidates:
            return None
        with engine.begin() as conn:
            query = (
                select(table)
                .where(table.c.status == PENDING, table.c.account_id.in_(candidates))
                .order_by(table.c.id)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).mappings().first()
            if row is None:
                return None
            lease = locks.try_acquire(row["account_id"])
            if lease is None:
                skipped.add(row["account_id"])  # running here or elsewhere: its turn comes
                continue
            try:
                claimed = conn.execute(
                    update(table)
                    .where(table.c.id == row["id"], table.c.status == PENDING)
                    .values(status=RUNNING, claimed_by=daemon_id, claimed_at=now)
                ).rowcount
            except BaseException:
                locks.release(lease)
                raise
        if claimed == 1:
            request = Claimed(
                row["id"], row["account_id"], row["full"], row["dry_run"], row["requested_by"]
            )
            return request, lease
        locks.release(lease)  # taken by someone else between the read and the update


def finish(
    engine: Engine,
    request_id: int,
    *,
    status: str,
    now: datetime,
    daemon_id: str | None = None,
    run_id: int | None = None,
    error: str | None = None,
) -> bool:
    """Record how a claimed request ended. With ``daemon_id``, only while that daemon still
    holds the claim: a daemon that lost its lock (and so its claim) changes nothing."""
    table = _table()
    values: dict[str, Any] = {"status": status, "run_id": run_id, "error": error}
    if status == PENDING:
        values.update(claimed_by=None, claimed_at=None)  # interrupted: run it again later
    else:
        values["finished_at"] = now
    condition = [table.c.id == request_id]
    if daemon_id is not None:
        condition += [table.c.claimed_by == daemon_id, table.c.status == RUNNING]
    with engine.begin() as conn:
        return bool(conn.execute(update(table).where(*condition).values(**values)).rowcount)


def running_accounts(engine: Engine) -> list[tuple[int, str, str | None]]:
    table = _table()
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id, table.c.account_id, table.c.claimed_by).where(
                table.c.status == RUNNING
            )
        ).all()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


def requeue_abandoned(engine: Engine, is_free: Callable[[str], bool]) -> list[int]:
    """Running requests whose account nobody holds: their daemon died. Back to pending."""
    requeued: list[int] = []
    table = _table()
    for request_id, account_id, _ in running_accounts(engine):
        if not is_free(account_id):
            continue
        with engine.begin() as conn:
            changed = conn.execute(
                update(table)
                .where(table.c.id == request_id, table.c.status == RUNNING)
                .values(status=PENDING, claimed_by=None, claimed_at=None)
            ).rowcount
        if changed:
            requeued.append(request_id)
    return requeued


def depth(engine: Engine) -> dict[str, int]:
    """Pending requests per account (the queue-depth gauge)."""
    table = _table()
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.account_id, func.count())
            .where(table.c.status == PENDING)
            .group_by(table.c.account_id)
        ).all()
    return {str(r[0]): int(r[1]) for r in rows}


def get_request(engine: Engine, request_id: int) -> dict[str, Any] | None:
    table = _table()
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == request_id)).mappings().first()
    return dict(row) if row is not None else None
