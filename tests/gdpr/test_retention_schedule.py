"""The daemon schedules a daily retention job for accounts with ``retention_days``."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.daemon.scheduler import build_scheduler, schedule_accounts
from syncd.sandbox.generate import generate
from tests.support.hooked import hooked_account

pytestmark = pytest.mark.anyio


async def test_a_retention_job_only_where_retention_days_is_set(tmp_path: Path) -> None:
    account, _ = hooked_account(generate(5, seed=1), tmp_path)
    config = account.config
    calls: list[str] = []

    async def run(account_id: str, kind: str) -> None: ...

    async def housekeeping(account_id: str) -> None:
        calls.append(account_id)

    scheduler = build_scheduler()
    ids = schedule_accounts(scheduler, config, run, housekeeping)
    assert "demo:retention" in ids
    job = scheduler.get_job("demo:retention")
    assert job is not None and tuple(job.args) == ("demo",)
    await job.func(*job.args)
    assert calls == ["demo"]
    config.accounts[0].retention_days = None
    assert "demo:retention" not in schedule_accounts(scheduler, config, run, housekeeping)
