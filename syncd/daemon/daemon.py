"""The long-running process: config, store, locks, scheduler, resync-queue poller and the admin
server, all on one asyncio loop.

Stopping (SIGTERM / SIGINT): no new work is taken, runs in flight get ``shutdown_grace_s`` to
end and are then cancelled. Cancelling a run anywhere is safe: the plan is in the outbox before
the first write, each acknowledgement is committed with its ledger row, so the next run (here or
on another daemon) finishes what was left. A request whose run was cut short goes back to the
queue. Reloading (SIGHUP / ``POST /admin/reload``) validates the new file first and keeps the
old config when it has problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, Table, func, select, update

from syncd.clock import Clock, SystemClock
from syncd.config import CheckResult, SyncdConfig, check_config, load_config
from syncd.daemon import queue
from syncd.daemon.locks import AccountLease, AccountLocks, SingleDaemonGuard, guard_path
from syncd.daemon.logging import RedactingFilter, config_secrets
from syncd.daemon.metrics import DaemonMetrics
from syncd.daemon.scheduler import JobKind, build_scheduler, schedule_accounts
from syncd.errors import ConfigProblem
from syncd.store.engine import open_store
from syncd.store.models import Run

log = logging.getLogger("syncd.daemon")
T = TypeVar("T")

HttpOptions = Mapping[str, Mapping[str, Any]]
#: per-account http options (tests hand the sandbox transports and a virtual clock in)
HttpOptionsFactory = Callable[[str], HttpOptions | None]
#: abandoned requests (their daemon died) are looked for this often, in polls
REQUEUE_EVERY_POLLS = 10


class Runner(Protocol):
    def __call__(
        self,
        config: SyncdConfig,
        account_id: str,
        engine: Engine,
        *,
        full: bool = False,
        dry_run: bool = False,
        http_options: HttpOptions | None = None,
        clock: Clock | None = None,
    ) -> Awaitable[Any]: ...


def _t(model: object) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


@dataclass
class DaemonOptions:
    daemon_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    poll_interval_s: float = 1.0
    shutdown_grace_s: float = 5.0
    serve_api: bool = True
    #: override ``admin.port`` (0: an ephemeral port, what tests want)
    api_port: int | None = None
    env: Mapping[str, str] | None = None
    http_options: HttpOptions | HttpOptionsFactory | None = None
    clock: Clock | None = None
    runner: Runner | None = None
    redactor: RedactingFilter | None = None


@dataclass
class RunOutcome:
    account_id: str
    kind: str
    status: str
    run_id: int | None = None
    request_id: int | None = None
    error: str | None = None


class Daemon:
    def __init__(
        self,
        config_path: Path | str | None,
        *,
        config: SyncdConfig | None = None,
        options: DaemonOptions | None = None,
    ) -> None:
        self.config_path = Path(config_path) if config_path is not None else None
        self.options = options or DaemonOptions()
        self.clock: Clock = self.options.clock or SystemClock()
        self._config = config
        self._engine: Engine | None = None
        self._locks: AccountLocks | None = None
        self._guard: SingleDaemonGuard | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.metrics = DaemonMetrics(lambda: self.engine)
        self.runs: dict[str, asyncio.Task[RunOutcome]] = {}
        self.outcomes: list[RunOutcome] = []
        self.ready = False
        self.stopping = asyncio.Event()
        self.started_at = time.time()
        self._background: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self._server_task: asyncio.Task[None] | None = None
        self.api_url: str | None = None
        self._polls = 0
        self._wake = asyncio.Event()

    # --- what the API and the CLI see -------------------------------------------------------

    @property
    def config(self) -> SyncdConfig:
        if self._config is None:
            raise RuntimeError("the daemon has not loaded its config yet")
        return self._config

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the daemon has not opened its store yet")
        return self._engine

    @property
    def locks(self) -> AccountLocks:
        if self._locks is None:
            raise RuntimeError("the daemon has not started")
        return self._locks

    def enqueue(self, account_id: str, *, full: bool, dry_run: bool, requested_by: str) -> int:
        self.config.account(account_id)  # KeyError for an unknown account
        request_id = queue.enqueue(
            self.engine,
            account_id,
            full=full,
            dry_run=dry_run,
            requested_by=requested_by,
            now=self.clock.now(),
        )
        log.info(
            "resync %d of %s queued by %s",
            request_id,
            account_id,
            requested_by,
            extra={"account": account_id, "request_id": request_id, "full": full},
        )
        self._wake.set()
        return request_id

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._config is None:
            if self.config_path is None:
                raise RuntimeError("a daemon needs a config file or a config")
            self._config = load_config(self.config_path, env=self.options.env)
        if self.options.redactor is not None:
            self.options.redactor.set_secrets(config_secrets(self.config))
        path = guard_path(self.config.store_url)
        if path is not None:
            self._guard = SingleDaemonGuard(path)
            self._guard.acquire()  # DaemonAlreadyRunning: a second daemon on one SQLite file
        try:
            self._engine = open_store(self.config.store_url)
            self._locks = AccountLocks(self._engine)
            requeued = self._requeue_abandoned(startup=True)
            if requeued:
                log.info("requeued %d resync requests left running", len(requeued))
            self.scheduler = build_scheduler()
            schedule_accounts(self.scheduler, self.config, self._scheduled, self._retention)
            self.scheduler.start()
            self._background.append(asyncio.create_task(self._poll_forever()))
            if self.options.serve_api:
                await self._start_api()
        except BaseException:
            await self.shutdown()
            raise
        self.ready = True
        log.info(
            "daemon %s started: %d accounts, store %s, admin API %s",
            self.options.daemon_id,
            len(self.config.accounts),
            "postgresql" if self.locks.shared else "sqlite",
            self.api_url or "off",
            extra={"daemon_id": self.options.daemon_id},
        )

    async def serve(self) -> int:
        """Run until SIGTERM / SIGINT; SIGHUP reloads. Returns the exit code."""
        loop = asyncio.get_running_loop()
        await self.start()
        with _signal_handlers(loop, self.request_stop, self._reload_from_signal):
            await self.stopping.wait()
        await self.shutdown()
        return 0

    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stopping: no new work; %d runs in flight", len(self.runs))
        self.ready = False
        self.stopping.set()
        self._wake.set()

    async def shutdown(self) -> None:
        self.request_stop()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self._drain_runs()
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, timeout=5)
            self._server = None
        if self._engine is not None:
            self._engine.dispose()
        if self._guard is not None:
            self._guard.release()
            self._guard = None
        log.info("daemon %s stopped", self.options.daemon_id)

    async def _drain_runs(self) -> None:
        tasks = list(self.runs.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.options.shutdown_grace_s)
        for task in pending:
            task.cancel()  # safe anywhere: the outbox resumes on the next run
        if pending:
            log.info("cancelled %d runs at shutdown; their outbox resumes next run", len(pending))
            await asyncio.wait(pending, timeout=10)

    # --- reload -----------------------------------------------------------------------------

    def reload(self) -> CheckResult:
        """Validate the config file again and switch to it, or keep the old one."""
        if self.config_path is None:
            result = CheckResult([ConfigProblem("", "this daemon was given no config file")])
        else:
            result = check_config(self.config_path, env=self.options.env)
        if result.config is not None and result.config.store_url != self.config.store_url:
            result = CheckResult([ConfigProblem("store.url", "changing the store needs a restart")])
        if not result.ok or result.config is None:
            self.metrics.reloads.labels("refused").inc()
            log.error(
                "config reload refused, the old config keeps running: %s",
                "; ".join(f"{p.path or '(file)'}: {p.message}" for p in result.problems),
                extra={"problems": [f"{p.path}: {p.message}" for p in result.problems]},
            )
            return result
        self._config = result.config
        if self.options.redactor is not None:
            self.options.redactor.set_secrets(config_secrets(result.config))
        if self.scheduler is not None:
            schedule_accounts(self.scheduler, result.config, self._scheduled, self._retention)
        self.metrics.reloads.labels("ok").inc()
        log.info("config reloaded: %d accounts", len(result.config.accounts))
        return result

    def _reload_from_signal(self) -> None:
        self.reload()

    # --- running accounts -------------------------------------------------------------------

    async def _scheduled(self, account_id: str, kind: JobKind) -> None:
        """An APScheduler job: run if the account is free everywhere, else skip this turn."""
        if self.stopping.is_set():
            return
        lease = self.locks.try_acquire(account_id)
        if lease is None:
            self.metrics.skipped.labels(account_id, kind, "busy").inc()
            log.info(
                "%s run of %s skipped: the account is running", kind, account_id,
                extra={"account": account_id, "kind": kind},
            )  # fmt: skip
            return
        task = self._spawn(account_id, kind, lease, full=kind == "full", dry_run=False)
        # shielded: stopping the scheduler cancels its jobs, the run ends on our terms
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def _retention(self, account_id: str) -> None:
        """A daily job: drop the account's activity older than its ``retention_days``."""
        from syncd.gdpr.retention import drop_old_activity

        days = self.config.account(account_id).retention_days
        if days and not self.stopping.is_set():
            dropped = drop_old_activity(self.engine, account_id, days, self.clock.now())
            log.info("retention of %s: %s", account_id, dropped, extra={"account": account_id})

    def _spawn(
        self,
        account_id: str,
        kind: str,
        lease: AccountLease,
        *,
        full: bool,
        dry_run: bool,
        request: queue.Claimed | None = None,
    ) -> asyncio.Task[RunOutcome]:
        task = asyncio.create_task(self._run(account_id, kind, lease, full, dry_run, request))
        self.runs[account_id] = task
        task.add_done_callback(lambda _t: self.runs.pop(account_id, None))
        return task

    async def _run(
        self,
        account_id: str,
        kind: str,
        lease: AccountLease,
        full: bool,
        dry_run: bool,
        request: queue.Claimed | None,
    ) -> RunOutcome:
        started = time.perf_counter()
        last_run = self._last_run_id(account_id)
        outcome = RunOutcome(account_id, kind, "failed", request_id=request.id if request else None)
        report: dict[str, Any] | None = None
        self.metrics.in_flight.inc()
        try:
            if kind == "train":
                report = await self._train(account_id)
            else:
                result = await self._runner()(
                    self.config,
                    account_id,
                    self.engine,
                    full=full,
                    dry_run=dry_run,
                    http_options=self._http_options(account_id),
                    clock=self.clock,
                )
                report = result.as_dict()
            outcome.status = str(report.get("status", "ok"))
            outcome.run_id = report.get("run_id")
        except asyncio.CancelledError:
            outcome.status = "interrupted"
            report = self._run_report_since(account_id, last_run)
            raise
        except Exception as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.exception("%s run of %s failed", kind, account_id, extra={"account": account_id})
            report = self._run_report_since(account_id, last_run)
        finally:
            self.metrics.in_flight.dec()
            if report is not None:
                outcome.run_id = outcome.run_id or report.get("run_id")
                report.setdefault("account_id", account_id)
                report.setdefault("kind", kind)
                report["status"] = outcome.status
                self.metrics.observe_run(report, time.perf_counter() - started)
            if request is not None:
                self._finish_request(request, outcome)
            self.locks.release(lease)  # after the request row: see queue.requeue_abandoned
            self.outcomes.append(outcome)
            log.info(
                "%s run of %s ended: %s", kind, account_id, outcome.status,
                extra={"account": account_id, "kind": kind, "run_id": outcome.run_id,
                       "status": outcome.status, "request_id": outcome.request_id},
            )  # fmt: skip
        return outcome

    def _finish_request(self, request: queue.Claimed, outcome: RunOutcome) -> None:
        if outcome.status == "interrupted":
            status = queue.PENDING
        else:
            status = queue.DONE if outcome.status == "ok" else queue.FAILED
        kept = queue.finish(
            self.engine,
            request.id,
            status=status,
            now=self.clock.now(),
            daemon_id=self.options.daemon_id,
            run_id=outcome.run_id,
            error=outcome.error,
        )
        if not kept:
            log.warning(
                "resync %d of %s was taken over by another daemon meanwhile",
                request.id, request.account_id, extra={"request_id": request.id},
            )  # fmt: skip

    def _runner(self) -> Runner:
        if self.options.runner is not None:
            return self.options.runner
        from syncd.sync.service import run_account

        return run_account

    def _http_options(self, account_id: str) -> HttpOptions | None:
        given = self.options.http_options
        if callable(given):
            return given(account_id)
        return given

    async def _train(self, account_id: str) -> dict[str, Any]:
        """Retrain the account's models (CPU-bound: in a thread) and record it as a run."""
        from syncd.engine.configure import model_settings, scoring_settings
        from syncd.engine.models import train

        account = self.config.account(account_id)
        run = _t(Run)
        now = self.clock.now()
        with self.engine.begin() as conn:
            run_id = conn.execute(
                run.insert().values(
                    account_id=account_id, kind="train", dry_run=False, status="running",
                    phase="train", started_at=now, counts={}, errors=[], timings={}, report={},
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        status, errors, lines, timings = "ok", [], [], {}
        try:
            trained = await _in_thread(
                lambda: train(
                    self.engine,
                    account_id,
                    now,
                    model_settings(account),
                    scoring=scoring_settings(account),
                )
            )
            lines, timings = trained.lines(), dict(trained.timings)
        except Exception as exc:
            status = "failed"
            errors.append({"phase": "train", "error": f"{type(exc).__name__}: {exc}"})
            raise
        finally:
            report = {
                "run_id": run_id, "account_id": account_id, "kind": "train", "status": status,
                "timings": timings, "models": lines, "errors": errors,
            }  # fmt: skip
            with self.engine.begin() as conn:
                conn.execute(
                    update(run).where(run.c.id == run_id).values(
                        status=status, phase="done", finished_at=self.clock.now(),
                        timings=timings, errors=errors, report=report,
                    )
                )  # fmt: skip
        return report

    def _last_run_id(self, account_id: str) -> int:
        run = _t(Run)
        with self.engine.connect() as conn:
            found = conn.scalar(select(func.max(run.c.id)).where(run.c.account_id == account_id))
        return int(found or 0)

    def _run_report_since(self, account_id: str, after: int) -> dict[str, Any] | None:
        """The report a run that raised still wrote to its row."""
        run = _t(Run)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(run.c.id, run.c.report)
                .where(run.c.account_id == account_id, run.c.id > after)
                .order_by(run.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        report = dict(row.report or {})
        report.setdefault("run_id", row.id)
        return report

    # --- the queue --------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling the resync queue failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_interval_s)

    def poll_once(self) -> list[asyncio.Task[RunOutcome]]:
        """Claim every pending request this daemon can run now; start their runs."""
        self._polls += 1
        if self._polls % REQUEUE_EVERY_POLLS == 0:
            self._requeue_abandoned(startup=False)
        started: list[asyncio.Task[RunOutcome]] = []
        while not self.stopping.is_set():
            free = [a.id for a in self.config.accounts if a.id not in self.locks.busy]
            claimed = queue.claim_next(
                self.engine,
                free,
                daemon_id=self.options.daemon_id,
                now=self.clock.now(),
                locks=self.locks,
            )
            if claimed is None:
                break
            request, lease = claimed
            log.info(
                "resync %d of %s picked up", request.id, request.account_id,
                extra={"account": request.account_id, "request_id": request.id},
            )  # fmt: skip
            kind = "full" if request.full else "incremental"
            started.append(
                self._spawn(
                    request.account_id, kind, lease,
                    full=request.full, dry_run=request.dry_run, request=request,
                )
            )  # fmt: skip
        return started

    def _requeue_abandoned(self, *, startup: bool) -> list[int]:
        if self.locks.shared:
            return queue.requeue_abandoned(self.engine, self.locks.is_free_everywhere)
        # SQLite: this is the only daemon; at startup nothing of ours is running yet
        return queue.requeue_abandoned(self.engine, lambda a: startup or a not in self.locks.busy)

    # --- the admin server -------------------------------------------------------------------

    async def _start_api(self) -> None:
        from syncd.daemon.api import build_app

        admin = self.config.admin
        port = admin.port if self.options.api_port is None else self.options.api_port
        host = "127.0.0.1" if admin.bind == "localhost" else admin.bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(
            build_app(self), lifespan="off", log_level="warning", access_log=False
        )
        self._server = _QuietServer(config)
        server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        self._server_task = server_task
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.api_url = f"http://{shown}:{bound}"
        deadline = time.monotonic() + 10
        while not self._server.started:
            if server_task.done():
                server_task.result()
                raise RuntimeError("the admin server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError("the admin server did not start in time")
            await asyncio.sleep(0.01)


class _QuietServer(uvicorn.Server):
    """Leaves signals to the daemon, which owns the loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None], reload: Callable[[], None]
) -> Iterator[None]:
    installed: list[signal.Signals] = []
    try:
        for sig, handler in (
            (signal.SIGTERM, stop),
            (signal.SIGINT, stop),
            (signal.SIGHUP, reload),
        ):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _in_thread(work: Callable[[], T]) -> T:
    """``work`` on a daemon thread: unlike the default executor, an exit never waits for it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def target() -> None:
        try:
            result = work()
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=target, name="syncd-train", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[T], result: T | None, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
