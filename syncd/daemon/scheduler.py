"""The account schedules as APScheduler (3.x) jobs on the daemon's asyncio loop.

Per account three jobs: incremental syncs, full syncs, model training, each from the TOML
(an interval in seconds or a cron string in UTC) with the account's jitter. ``max_instances=1``
and ``coalesce`` mean a job that is still running, or that missed several fire times while the
daemon was busy or asleep, runs once, not in a burst; one run per account at a time across
kinds is the account lock's job (see :mod:`locks`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd.config import AccountConfig, SyncdConfig

JobKind = Literal["incremental", "full", "train"]
JOB_KINDS: tuple[JobKind, ...] = ("incremental", "full", "train")
#: a cron run that fires this late (the daemon was down or stuck) still runs, once
CRON_MISFIRE_GRACE_S = 3600

ScheduledRun = Callable[[str, JobKind], Awaitable[object]]
#: daily housekeeping of one account (retention: activity older than retention_days goes)
Housekeeping = Callable[[str], Awaitable[object]]
HOUSEKEEPING_EVERY_S = 24 * 3600


def job_id(account_id: str, kind: JobKind) -> str:
    return f"{account_id}:{kind}"


def trigger_for(spec: int | str, jitter_s: float) -> tuple[BaseTrigger, int]:
    """The trigger of one schedule entry, and how late a fire time may still run."""
    jitter = int(jitter_s) or None
    if isinstance(spec, int):
        return IntervalTrigger(seconds=spec, jitter=jitter, timezone="UTC"), max(60, spec)
    trigger = CronTrigger.from_crontab(spec, timezone="UTC")
    trigger.jitter = jitter  # from_crontab takes no jitter; the trigger honours the attribute
    return trigger, CRON_MISFIRE_GRACE_S


def build_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"max_instances": 1, "coalesce": True},
    )


def schedule_accounts(
    scheduler: AsyncIOScheduler,
    config: SyncdConfig,
    run: ScheduledRun,
    housekeeping: Housekeeping | None = None,
) -> list[str]:
    """Replace every account job with the config's; returns the job ids now scheduled."""
    for job in scheduler.get_jobs():
        job.remove()
    ids: list[str] = []
    for account in config.accounts:
        ids += _schedule_account(scheduler, account, run)
        if housekeeping is not None and account.retention_days:
            ident = f"{account.id}:retention"
            scheduler.add_job(
                housekeeping,
                IntervalTrigger(seconds=HOUSEKEEPING_EVERY_S, timezone="UTC"),
                args=[account.id],
                id=ident,
                name=f"retention of {account.id}",
                misfire_grace_time=HOUSEKEEPING_EVERY_S,
                replace_existing=True,
            )
            ids.append(ident)
    return ids


def _schedule_account(
    scheduler: AsyncIOScheduler, account: AccountConfig, run: ScheduledRun
) -> list[str]:
    ids = []
    for kind in JOB_KINDS:
        spec: int | str = getattr(account.schedule, kind)
        trigger, grace = trigger_for(spec, account.schedule.jitter_s)
        ident = job_id(account.id, kind)
        scheduler.add_job(
            run,
            trigger,
            args=[account.id, kind],
            id=ident,
            name=f"{kind} run of {account.id}",
            misfire_grace_time=grace,
            replace_existing=True,
        )
        ids.append(ident)
    return ids
