"""Interrupted pushes: a run dies at a write (before the vendor saw it, or after the vendor
applied it but before syncd recorded it); the next run finishes the plan, and the account ends
in the exact desired state with no acknowledged change sent twice.

The process is not killed here (see bench/soak_kill.py for real SIGKILLs): the run is stopped by
an exception no handler in syncd catches, raised from inside the HTTP transport, which leaves
the store exactly as a kill at that point would.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.generate import generate
from syncd.sandbox.population import Population
from tests.support.e2e import Account, write_calls

pytestmark = pytest.mark.anyio

N_PEOPLE = 60
SEED = 9
KILL_POINTS = 24
READ_PATHS = ("/search", "/batch/read")


class Killed(BaseException):
    """Stands for SIGKILL: nothing in syncd catches a BaseException."""


def _is_write(request: httpx.Request) -> bool:
    return request.method != "GET" and not any(p in request.url.path for p in READ_PATHS)


class KillSwitch:
    def __init__(self, at: int, after_vendor_applied: bool) -> None:
        self.at = at
        self.after = after_vendor_applied
        self.writes = 0

    def wrap(self, tool: str, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return _Killing(self, inner)


class _Killing(httpx.AsyncBaseTransport):
    def __init__(self, switch: KillSwitch, inner: httpx.AsyncBaseTransport) -> None:
        self.switch = switch
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _is_write(request):
            self.switch.writes += 1
            if self.switch.writes == self.switch.at:
                if self.switch.after:
                    response = await self.inner.handle_async_request(request)
                    await response.aread()
                raise Killed(f"killed at write {self.switch.at}")
        return await self.inner.handle_async_request(request)


def population() -> Population:
    return generate(N_PEOPLE, seed=SEED)


def _kill_points() -> list[tuple[int, bool]]:
    # the reference run of this population makes about 20-30 writes (targets, batches)
    rng = random.Random(SEED)
    return [(rng.randint(1, 28), i % 2 == 1) for i in range(KILL_POINTS)]


@pytest.mark.parametrize(("at", "after"), _kill_points())
async def test_a_run_killed_at_a_write_is_finished_by_the_next(
    tmp_path: Path, at: int, after: bool
) -> None:
    account = Account.create(population(), tmp_path)
    switch = KillSwitch(at, after)
    try:
        await account.run(full=True, wrap=switch.wrap)
    except Killed:
        killed = True
    else:
        killed = False  # fewer writes than ``at``: the run simply finished
    assert killed == (switch.writes >= at)

    pending = sum(1 for r in account.outbox() if r.status == "pending")
    rerun = await account.run(full=True)
    assert rerun.status == "ok", rerun.errors
    # what the killed run had planned is finished first
    assert rerun.resumed_pending == pending
    assert sum(1 for r in account.outbox() if r.status == "pending") == 0

    # the vendors hold exactly what the ledger records, and nothing is left to do
    held = await account.holdings()
    ledger = account.ledger()
    for key, emails in held.items():
        assert emails == ledger.get(key, set()), key
    final = await account.run()
    assert final.plan["changes"] == 0 and write_calls(final) == 0

    # no acknowledged change was planned twice
    done = Counter(
        (r.tool, r.target_kind, r.target, r.op, r.contact_id)
        for r in account.outbox()
        if r.status == "done"
    )
    assert max(done.values(), default=1) == 1


async def test_the_kill_points_cover_the_whole_push(tmp_path: Path) -> None:
    """The reference run's writes span the kill points chosen above."""
    account = Account.create(population(), tmp_path)
    switch = KillSwitch(at=10**9, after_vendor_applied=False)
    report = await account.run(full=True, wrap=switch.wrap)
    assert report.status == "ok"
    assert 20 <= switch.writes <= 40, switch.writes
