"""Several daemons on one PostgreSQL store (SYNCD_TEST_DATABASE_URL; each test its own schema):
SKIP LOCKED queue consumption, advisory-lock contention, two daemons over three accounts, and
a daemon that dies mid-run leaving its account to the other."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from syncd.daemon import queue
from syncd.daemon.daemon import Daemon
from syncd.daemon.locks import AccountLocks
from syncd.store.engine import init_store, make_engine
from syncd.store.models import OutboxItem
from syncd.sync.service import run_account
from tests.daemon.conftest import Rig, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


def _requests(daemon: Daemon) -> list[dict[str, Any]]:
    table = queue._table()
    with daemon.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def test_skip_locked_claims_never_overlap(pg_url: str) -> None:
    from syncd.clock import SystemClock

    engine = init_store(pg_url)
    accounts = [f"a{i}" for i in range(12)]
    ids = [queue.enqueue(engine, a, now=SystemClock().now()) for a in accounts for _ in range(2)]
    claimed: dict[str, list[int]] = {"one": [], "two": []}
    barrier = threading.Barrier(2)

    def consume(name: str) -> None:
        own = make_engine(pg_url)
        locks = AccountLocks(own)
        barrier.wait()
        while True:
            got = queue.claim_next(
                own, accounts, daemon_id=name, now=SystemClock().now(), locks=locks
            )
            if got is None:
                break
            request, lease = got
            claimed[name].append(request.id)
            queue.finish(own, request.id, status=queue.DONE, now=SystemClock().now())
            locks.release(lease)
        own.dispose()

    threads = [threading.Thread(target=consume, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    both = claimed["one"] + claimed["two"]
    assert sorted(both) == sorted(ids)  # every request once, none twice
    assert not set(claimed["one"]) & set(claimed["two"])
    engine.dispose()


async def test_lock_contention_one_runs_the_other_skips(pg_rig: Rig) -> None:
    first, second = pg_rig.daemon(serve_api=False), pg_rig.daemon(serve_api=False)
    await first.start()
    await second.start()
    lease = first.locks.try_acquire("acme")
    assert lease is not None
    assert second.locks.try_acquire("acme") is None  # held by another session
    await second._scheduled("acme", "incremental")
    assert second.metrics.skipped.labels("acme", "incremental", "busy")._value.get() == 1
    assert second.outcomes == []
    first.locks.release(lease)
    again = second.locks.try_acquire("acme")
    assert again is not None
    second.locks.release(again)


async def test_two_daemons_three_accounts(pg_rig: Rig) -> None:
    spans: list[tuple[str, float, float]] = []

    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await run_account(*args, **kwargs)
        finally:
            spans.append((args[1], started, time.perf_counter()))

    daemons = [pg_rig.daemon(serve_api=False, runner=timed) for _ in range(2)]
    for daemon in daemons:
        await daemon.start()
    for cycle in range(2):
        for account in pg_rig.worlds:
            daemons[cycle % 2].enqueue(account, full=cycle == 0, dry_run=False, requested_by="t")

    def all_done() -> bool:
        found = _requests(daemons[0])
        return len(found) == 6 and all(r["status"] == "done" for r in found)

    await wait_for(all_done, within=120)
    found = _requests(daemons[0])
    assert len({r["run_id"] for r in found}) == 6  # one run per request, none repeated
    for account in pg_rig.worlds:
        mine = sorted((s, e) for a, s, e in spans if a == account)
        assert len(mine) == 2
        assert mine[0][1] <= mine[1][0], f"{account} ran twice at once"
    assert {r["claimed_by"] for r in found} <= {"test-0", "test-1"}
    # desired state reached everywhere: nothing left in any outbox
    table = OutboxItem.__table__  # type: ignore[attr-defined]
    with daemons[0].engine.connect() as conn:
        assert conn.scalar(select(table.c.id).where(table.c.status == "pending")) is None


async def test_daemon_dying_mid_run_leaves_the_account_free(pg_rig: Rig) -> None:
    started = asyncio.Event()
    hang = asyncio.Event()

    async def stuck(*args: Any, **kwargs: Any) -> Any:
        started.set()
        await hang.wait()  # never set: this daemon "dies" here
        raise AssertionError("unreachable")

    doomed = pg_rig.daemon(serve_api=False, runner=stuck)
    await doomed.start()
    request_id = doomed.enqueue("globex", full=True, dry_run=False, requested_by="t")
    await asyncio.wait_for(started.wait(), 30)
    lease_connection = doomed.locks  # the dedicated connection holding the advisory lock
    assert "globex" in lease_connection.busy

    survivor = pg_rig.daemon(serve_api=False)
    await survivor.start()
    assert survivor.locks.try_acquire("globex") is None
    # the doomed daemon's process dies: its sessions end, PostgreSQL drops its locks
    with survivor.engine.connect() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid <> pg_backend_pid()"
            )
        ).scalars()
        for pid in list(pids):
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    survivor._polls = 9  # the next poll looks for abandoned requests

    def rerun_done() -> bool:
        row = next(r for r in _requests(survivor) if r["id"] == request_id)
        return row["status"] == "done" and row["claimed_by"] == survivor.options.daemon_id

    await wait_for(rerun_done, within=60)
    # the "dead" daemon wakes up late: it lost its claim and must not overwrite the rerun
    for task in list(doomed.runs.values()):
        task.cancel()
    await asyncio.gather(*doomed.runs.values(), return_exceptions=True)
    row = next(r for r in _requests(survivor) if r["id"] == request_id)
    assert row["status"] == "done" and row["claimed_by"] == survivor.options.daemon_id
