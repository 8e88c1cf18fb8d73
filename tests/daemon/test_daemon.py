"""The daemon in-process on the sandbox world: queue pickup (also from another process),
one run per account, scheduled jobs, the SQLite single-daemon guard, stopping mid-push and
resuming from the outbox, signals, JSON logs without secrets."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from syncd.daemon import queue
from syncd.daemon.daemon import Daemon
from syncd.daemon.locks import DaemonAlreadyRunning
from syncd.daemon.logging import setup_logging
from syncd.store.models import OutboxItem, Run
from syncd.sync.service import run_account
from tests.daemon.conftest import TOKEN, Rig, wait_for

pytestmark = pytest.mark.anyio


def _requests(daemon: Daemon) -> list[dict[str, Any]]:
    table = queue._table()
    with daemon.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def _all_done(daemon: Daemon, count: int) -> bool:
    found = _requests(daemon)
    return len(found) == count and all(r["status"] in ("done", "failed") for r in found)


async def test_resync_from_another_process_is_picked_up(rig: Rig) -> None:
    daemon = rig.daemon(serve_api=False)
    await daemon.start()
    env = {**os.environ, **rig.env}
    command = [
        sys.executable, "-c", "from syncd.cli.main import app; app()",
        "resync", "--config", str(rig.tmp / "syncd.toml"), "--account", "demo", "--full",
    ]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    request_id = int(done.stdout.strip())
    await wait_for(lambda: _all_done(daemon, 1))
    (request,) = _requests(daemon)
    assert request["id"] == request_id and request["status"] == "done"
    assert request["requested_by"] == "cli" and request["run_id"] is not None

    listing = await asyncio.to_thread(
        subprocess.run,
        [*command[:3], "runs", "--config", command[5], "--account", "demo", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    runs = json.loads(listing.stdout)
    ours = next(r for r in runs if r["id"] == request["run_id"])
    assert ours["status"] == "ok" and "push" in ours["timings"] and ours["counts"]


async def test_one_run_per_account_at_a_time(rig: Rig) -> None:
    active: list[str] = []
    overlaps: list[str] = []

    async def watched(*args: Any, **kwargs: Any) -> Any:
        account = args[1]
        if account in active:
            overlaps.append(account)
        active.append(account)
        try:
            return await run_account(*args, **kwargs)
        finally:
            active.remove(account)

    daemon = rig.daemon(serve_api=False, runner=watched)
    await daemon.start()
    for full in (True, False, False):
        daemon.enqueue("demo", full=full, dry_run=False, requested_by="test")
    # a scheduled run while one is in flight is skipped, not stacked
    await wait_for(lambda: "demo" in daemon.locks.busy)
    await daemon._scheduled("demo", "incremental")
    await wait_for(lambda: _all_done(daemon, 3), within=60)
    assert overlaps == []
    assert [r["status"] for r in _requests(daemon)] == ["done", "done", "done"]
    skipped = daemon.metrics.skipped.labels("demo", "incremental", "busy")._value.get()
    assert skipped == 1


async def test_scheduled_jobs_fire(rig: Rig) -> None:
    daemon = rig.daemon(serve_api=False)
    await daemon.start()
    assert daemon.scheduler is not None
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {"demo:incremental", "demo:full", "demo:train"}
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    jobs["demo:full"].modify(next_run_time=datetime.now(UTC))
    await wait_for(lambda: any(o.kind == "full" for o in daemon.outcomes), within=60)
    jobs["demo:train"].modify(next_run_time=datetime.now(UTC))
    await wait_for(lambda: any(o.kind == "train" for o in daemon.outcomes), within=60)
    by_kind = {o.kind: o for o in daemon.outcomes}
    assert by_kind["full"].status == "ok", by_kind["full"]
    assert by_kind["train"].status == "ok", by_kind["train"]
    with daemon.engine.connect() as conn:
        kinds = set(conn.scalars(select(Run.__table__.c.kind)))  # type: ignore[attr-defined]
    assert {"full", "train"} <= kinds


async def test_second_daemon_on_one_sqlite_store_is_refused(rig: Rig) -> None:
    first = rig.daemon(serve_api=False)
    await first.start()
    second = rig.daemon(serve_api=False)
    with pytest.raises(DaemonAlreadyRunning, match="SQLite supports one daemon"):
        await second.start()
    await first.shutdown()
    third = rig.daemon(serve_api=False)
    await third.start()  # the guard went with the first daemon
    assert third.ready


class _SlowWrites(httpx.AsyncBaseTransport):
    """The sandbox, with every write taking a moment: time to stop a daemon mid-push."""

    def __init__(self, inner: httpx.AsyncBaseTransport, delay: float) -> None:
        self.inner, self.delay = inner, delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            await asyncio.sleep(self.delay)
        return await self.inner.handle_async_request(request)


def _pending_outbox(daemon: Daemon) -> int:
    table = OutboxItem.__table__  # type: ignore[attr-defined]
    with daemon.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(table.c.status == "pending")) or 0)


def _phase(daemon: Daemon) -> str | None:
    table = Run.__table__  # type: ignore[attr-defined]
    with daemon.engine.connect() as conn:
        return conn.scalar(
            select(table.c.phase).where(table.c.kind == "full").order_by(table.c.id.desc())
        )


async def test_stop_mid_push_then_next_start_finishes_the_outbox(rig: Rig) -> None:
    world, clock = rig.worlds["demo"], rig.clocks["demo"]

    def slow(account: str) -> dict[str, dict[str, Any]]:
        options = world.http_options(clock)
        return {
            tool: {**o, "transport": _SlowWrites(o["transport"], 0.15)}
            for tool, o in options.items()
        }

    daemon = rig.daemon(serve_api=False, http_options=slow)
    await daemon.start()
    daemon.enqueue("demo", full=True, dry_run=False, requested_by="test")
    await wait_for(lambda: _phase(daemon) == "push", within=60, step=0.01)
    await daemon.shutdown()  # grace 0: the run is cancelled at its next await
    assert _pending_outbox(daemon) > 0
    (request,) = _requests(daemon)
    assert request["status"] == "pending"  # interrupted: it runs again
    assert daemon.outcomes[-1].status == "interrupted"

    again = rig.daemon(serve_api=False)
    await again.start()
    await wait_for(lambda: _all_done(again, 1), within=60)
    assert _requests(again)[0]["status"] == "done"
    assert _pending_outbox(again) == 0
    table = Run.__table__  # type: ignore[attr-defined]
    with again.engine.connect() as conn:
        report = conn.scalar(
            select(table.c.report).where(table.c.id == _requests(again)[0]["run_id"])
        )
    assert sum(r["acknowledged"] for r in report["resumed"].values()) > 0


async def test_sigterm_stops_serve_with_exit_code_0(rig: Rig) -> None:
    daemon = rig.daemon(serve_api=False)
    serving = asyncio.create_task(daemon.serve())
    await wait_for(lambda: daemon.ready)
    os.kill(os.getpid(), signal.SIGHUP)  # reload: same file, still running
    await asyncio.sleep(0.05)
    assert daemon.ready and not serving.done()
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(serving, timeout=10) == 0
    assert daemon.metrics.reloads.labels("ok")._value.get() == 1


async def test_json_logs_of_a_full_run_hold_no_secret(rig: Rig) -> None:
    stream = io.StringIO()
    redactor = setup_logging("DEBUG", "json", stream=stream)
    try:
        daemon = rig.daemon(redactor=redactor)
        await daemon.start()
        daemon.enqueue("demo", full=True, dry_run=False, requested_by="test")
        await wait_for(lambda: _all_done(daemon, 1), within=60)
        async with httpx.AsyncClient(base_url=str(daemon.api_url)) as http:
            await http.get("/accounts", headers={"Authorization": "Bearer wrong-" + TOKEN})
        await daemon.shutdown()
    finally:
        import logging

        root = logging.getLogger()
        for handler in list(root.handlers):
            if handler.get_name() == "syncd-daemon":
                root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    phases = [e for e in lines if e["logger"] == "syncd.sync" and "phase" in e]
    assert {e["phase"] for e in phases} >= {"pull", "recompute", "plan", "push"}
    assert all(e["account"] == "demo" and "run_id" in e for e in phases)
    text = stream.getvalue()
    for secret in [*rig.env.values()]:
        assert secret not in text
