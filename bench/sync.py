"""A whole account's sync against the three sandboxes at their DOCUMENTED limits, in simulated time.

    python bench/sync.py [--contacts N] [--seed S] [--brevo-activity-days D] [--latency-s L]

Builds a sandbox world of N people (default 50,000), runs one full sync in-process (pull ->
merge -> recompute -> plan -> push), then a rerun with nothing changed, and prints per vendor
and run: read and write calls, setup writes (creating missing lists / tags / properties),
the plan's minimum push writes (sum over targets of ceil(changes / batch_max)), 429s, the
simulated seconds the vendor was busy (per phase, its first request to its last answer,
summed), the floor of each phase's requests on their own (summed: the bound for the busy
seconds) and the floor of all the run's requests (defined below).

Simulated time. Everything runs on one event loop whose clock jumps to the next timer when
nothing is ready (bench/connectors.py's ``SimulatedTime``), shared by the connectors' HTTP
layer and the sandboxes. syncd's ``VirtualClock`` is not enough here: it moves time at every
sleep on its own, so the three vendors' pulls, which run side by side, would add up their
waits instead of overlapping them. Rate-limit waits and the sandboxes' latency cost no wall
time; the database work, the recompute and the sandboxes' own CPU do (printed as real time).

Latency. Each sandbox answers after ``--latency-s`` simulated seconds (default 0.05), so a
request holds its connection for a while as on the real network; without it Mailchimp, which
has no request rate but only 10 simultaneous connections, would take no simulated time at all.

Rate-limit floor, per vendor, over the requests the run actually sent (retries included):
- a rolling window of R requests per P seconds covering n of them needs at least
  (ceil(n / R) - 1) x P seconds (R at once, then R more each P seconds); a daily quota the
  run stays under therefore costs nothing. HubSpot: 100 / 10 s (all), 4 / s (CRM search),
  250,000 / day. Brevo: 10 / s and 36,000 / h on /v3/contacts*, 100 / h on everything else.
- Mailchimp (concurrency-bound): n requests of L seconds each over 10 connections need at
  least n x L / 10 seconds.
- a vendor's floor is the largest of its windows' (and, for every vendor, n x L / 10, the
  connection bound the client's own 10 connections impose); the account's floor is the largest
  over vendors, since the vendors could all be worked in parallel. The engine pulls from the
  three in parallel but pushes to them one after another, so its run time is at best
  max(pull floors) + sum(push floors): printed too.

The last line is one JSON object: write_calls (push writes, setup excluded), min_write_calls,
wall_s (the full run's simulated duration: what it would take against the real vendors),
rate_limit_floor_s, rerun_write_calls (plus contacts, real_wall_s and a few more figures).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncd.config import check_config_text  # noqa: E402
from syncd.sandbox.generate import generate  # noqa: E402
from syncd.sandbox.world import ACCOUNT_ID, SandboxWorld  # noqa: E402
from syncd.store.engine import init_store, make_engine  # noqa: E402
from syncd.sync.run import RunReport  # noqa: E402
from syncd.sync.service import run_account  # noqa: E402

CONNECTIONS = 10  # every connector's client opens at most this many; Mailchimp's hard limit


def _simulated_time() -> Any:
    """bench/connectors.py's discrete-event loop (loaded by path: ``connectors`` is also the
    name of syncd's connector package)."""
    spec = importlib.util.spec_from_file_location("bench_connectors", ROOT / "bench/connectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.SimulatedTime


# --- the wire ----------------------------------------------------------------------------------


@dataclass
class Hit:
    tool: str
    phase: str
    run: str
    method: str
    path: str
    start: float
    end: float = 0.0
    status: int = 0


@dataclass
class Wire:
    clock: Any
    run: str = "setup"
    phase: str = "start"
    hits: list[Hit] = field(default_factory=list)
    phases: list[tuple[str, str, float, float]] = field(default_factory=list)  # run, phase, t0, t1
    _started: float = 0.0

    def observe(self, event: str, phase: str, detail: str) -> None:
        if event == "start":
            self.phase, self._started = phase, self.clock.monotonic()
        elif event == "end":
            self.phases.append((self.run, phase, self._started, self.clock.monotonic()))

    def wrap(self, tool: str, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return _Recording(self, tool, inner)


class _Recording(httpx.AsyncBaseTransport):
    def __init__(self, wire: Wire, tool: str, inner: httpx.AsyncBaseTransport) -> None:
        self.wire, self.tool, self.inner = wire, tool, inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        w = self.wire
        hit = Hit(self.tool, w.phase, w.run, request.method, request.url.path, w.clock.monotonic())
        w.hits.append(hit)
        response = await self.inner.handle_async_request(request)
        hit.end, hit.status = w.clock.monotonic(), response.status_code
        return response


# --- rate-limit floors -------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    name: str
    requests: int
    per_seconds: float
    applies: Callable[[Hit], bool] = lambda hit: True

    def floor(self, hits: list[Hit]) -> float:
        n = sum(1 for h in hits if self.applies(h))
        return 0.0 if n == 0 else (math.ceil(n / self.requests) - 1) * self.per_seconds


def windows(tool: str, sandbox: Any) -> list[Window]:
    lim = sandbox.limits
    if tool == "hubspot":

        def search(h: Hit) -> bool:
            return h.method == "POST" and h.path.endswith("/search")

        return [
            Window("burst", lim.burst_requests, lim.burst_seconds),
            Window("search", lim.search_requests, lim.search_seconds, search),
            Window("daily", lim.daily_requests, lim.daily_seconds),
        ]
    if tool == "brevo":

        def contacts(h: Hit) -> bool:
            return h.path.startswith("/v3/contacts")

        return [
            Window("contacts/s", lim.contacts_per_second, 1.0, contacts),
            Window("contacts/h", lim.contacts_per_hour, 3600.0, contacts),
            Window("other/h", lim.other_per_hour, 3600.0, lambda h: not contacts(h)),
        ]
    return []  # Mailchimp: connections only


def floor_s(tool: str, sandbox: Any, hits: list[Hit], latency_s: float) -> tuple[float, str]:
    """The seconds the vendor's limits alone require for ``hits``, and which limit binds."""
    best, binding = len(hits) * latency_s / CONNECTIONS, f"{CONNECTIONS} connections"
    for window in windows(tool, sandbox):
        seconds = window.floor(hits)
        if seconds > best:
            best, binding = seconds, window.name
    return best, binding


def busy_s(hits: list[Hit], phases: list[tuple[str, str, float, float]]) -> float:
    """Per phase, first request to last answer; summed (the gaps are other vendors' turns)."""
    total = 0.0
    for run, phase, _t0, _t1 in phases:
        mine = [h for h in hits if h.run == run and h.phase == phase]
        if mine:
            total += max(h.end for h in mine) - min(h.start for h in mine)
    return total


# --- the runs ----------------------------------------------------------------------------------


@dataclass
class VendorFigures:
    reads: int
    writes: int
    setup_writes: int
    min_writes: int
    rate_limited: int
    retries: int
    sim_s: float
    floor_s: float
    binding: str
    pull_floor_s: float
    push_floor_s: float
    #: the floor of each phase's requests on their own, summed: the bound for ``sim_s``
    #: (which leaves out the gaps between phases, where a window may have refilled)
    phase_floor_s: float


@dataclass
class RunFigures:
    name: str
    report: RunReport
    sim_s: float
    real_s: float
    vendors: dict[str, VendorFigures]

    @property
    def push_writes(self) -> int:
        return sum(v.writes - v.setup_writes for v in self.vendors.values())

    @property
    def min_writes(self) -> int:
        return sum(v.min_writes for v in self.vendors.values())

    @property
    def floor_s(self) -> float:
        return max((v.floor_s for v in self.vendors.values()), default=0.0)

    @property
    def engine_floor_s(self) -> float:
        """Pull in parallel, push one vendor after another (what this engine does)."""
        pulls = max((v.pull_floor_s for v in self.vendors.values()), default=0.0)
        # splitting a vendor's requests in two can only round its windows down: keep the bound
        return max(self.floor_s, pulls + sum(v.push_floor_s for v in self.vendors.values()))


def figures(
    name: str,
    report: RunReport,
    wire: Wire,
    world: SandboxWorld,
    latency_s: float,
    sim_s: float,
    real_s: float,
) -> RunFigures:
    phases = [p for p in wire.phases if p[0] == name]
    vendors: dict[str, VendorFigures] = {}
    for tool, sandbox in world.sandboxes.items():
        hits = [h for h in wire.hits if h.run == name and h.tool == tool]
        api = report.api.get(tool, {})
        floor, binding = floor_s(tool, sandbox, hits, latency_s)
        pulling = [h for h in hits if h.phase in ("resume", "pull", "recompute")]
        pushing = [h for h in hits if h.phase in ("plan", "push")]
        vendors[tool] = VendorFigures(
            reads=int(api.get("read_calls", 0)),
            writes=int(api.get("write_calls", 0)),
            setup_writes=int(report.setup_write_calls.get(tool, 0)),
            min_writes=int(report.plan.get("min_write_calls", {}).get(tool, 0)),
            rate_limited=int(api.get("rate_limited", 0)),
            retries=sum(int(v) for v in api.get("retries", {}).values()),
            sim_s=busy_s(hits, phases),
            floor_s=floor,
            binding=binding,
            pull_floor_s=floor_s(tool, sandbox, pulling, latency_s)[0],
            push_floor_s=floor_s(tool, sandbox, pushing, latency_s)[0],
            phase_floor_s=sum(
                floor_s(tool, sandbox, [h for h in hits if h.phase == phase], latency_s)[0]
                for phase in {h.phase for h in hits}
            ),
        )
    return RunFigures(name, report, sim_s, real_s, vendors)


async def bench(args: argparse.Namespace, clock: Any, workdir: Path) -> list[RunFigures]:
    started = time.perf_counter()
    population = generate(args.contacts, seed=args.seed)
    clock.elapsed = 0.0
    clock.start = population.now
    world = SandboxWorld.build(population, clock=clock)  # speed 1: the documented limits
    for sandbox in world.sandboxes.values():
        sandbox.faults.latency_s = args.latency_s
    seeded = time.perf_counter() - started
    print(f"population of {args.contacts} built and seeded in {seeded:.1f} s")
    url = f"sqlite:///{workdir / 'store.db'}"
    options: dict[str, dict[str, int | str | bool]] = {}
    if args.brevo_activity_days:
        options["brevo"] = {"activity_days": args.brevo_activity_days}
    checked = check_config_text(world.config_toml(url, connector_options=options), env=world.env())
    assert checked.config is not None, checked.problems
    init_store(url)
    engine = make_engine(url)
    wire = Wire(clock)
    out: list[RunFigures] = []
    for name, full in (("full", True), ("rerun", False)):
        clock.advance(3600.0)  # an hour apart: no rolling window carries over
        wire.run = name
        http_options = world.http_options(clock)
        for tool, opts in http_options.items():
            opts["transport"] = wire.wrap(tool, opts["transport"])
        t0, real0 = clock.monotonic(), time.perf_counter()
        report = await run_account(
            checked.config,
            ACCOUNT_ID,
            engine,
            full=full,
            http_options=http_options,
            clock=clock,
            observer=wire.observe,
        )
        sim, real = clock.monotonic() - t0, time.perf_counter() - real0
        if report.status != "ok":
            print(f"{name} run: {report.status} {report.errors}", file=sys.stderr)
        out.append(figures(name, report, wire, world, args.latency_s, sim, real))
        print(f"{name} run done: {real:.1f} s real, {sim:,.0f} s simulated")
    engine.dispose()
    return out


def print_run(run: RunFigures) -> None:
    r = run.report
    print(
        f"\n{run.name} run ({r.kind}, {r.status}): {r.plan.get('changes', 0)} changes planned, "
        f"{r.blocked.get('total', 0)} blocked by consent; simulated {run.sim_s:,.1f} s, "
        f"real {run.real_s:,.1f} s (phases, real s: "
        + ", ".join(f"{k} {v:.1f}" for k, v in r.timings.items())
        + ")"
    )
    head = (
        f"  {'vendor':<10}{'reads':>8}{'writes':>8}{'setup':>7}{'push':>7}{'min':>7}"
        f"{'ratio':>7}{'429s':>6}{'retries':>8}{'busy s':>10}{'ph floor':>10}{'floor s':>10}"
        "  binding"
    )
    print(head)
    for tool, v in run.vendors.items():
        push = v.writes - v.setup_writes
        ratio = f"{push / v.min_writes:.3f}" if v.min_writes else "-"
        print(
            f"  {tool:<10}{v.reads:>8}{v.writes:>8}{v.setup_writes:>7}{push:>7}{v.min_writes:>7}"
            f"{ratio:>7}{v.rate_limited:>6}{v.retries:>8}{v.sim_s:>10,.1f}{v.phase_floor_s:>10,.1f}{v.floor_s:>10,.1f}"
            f"  {v.binding}"
        )
    ratio = f"{run.push_writes / run.min_writes:.3f}" if run.min_writes else "-"
    print(
        f"  push writes {run.push_writes} vs minimum {run.min_writes} (ratio {ratio}); "
        f"rate-limit floor {run.floor_s:,.1f} s (vendors in parallel), "
        f"{run.engine_floor_s:,.1f} s with pushes one vendor after another"
    )


def main(args: argparse.Namespace) -> int:
    clock = _simulated_time()()
    real0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        full, rerun = clock.run(bench(args, clock, Path(tmp)))
    for run in (full, rerun):
        print_run(run)
    real = time.perf_counter() - real0
    print(
        f"\nreal wall time {real:.1f} s (full run {full.real_s:.1f} s, "
        f"rerun {rerun.real_s:.1f} s), "
        f"CPU {time.process_time():.1f} s (the two differ on a busy machine)"
    )
    line = {
        "contacts": args.contacts,
        "write_calls": full.push_writes,
        "min_write_calls": full.min_writes,
        "wall_s": round(full.sim_s, 1),
        "rate_limit_floor_s": round(full.floor_s, 1),
        "engine_floor_s": round(full.engine_floor_s, 1),
        "rerun_write_calls": sum(v.writes for v in rerun.vendors.values()),
        "setup_write_calls": sum(v.setup_writes for v in full.vendors.values()),
        "rate_limited": sum(v.rate_limited for r in (full, rerun) for v in r.vendors.values()),
        "real_wall_s": round(real, 1),
        "cpu_s": round(time.process_time(), 1),
        "brevo_activity_days": args.brevo_activity_days or "default",
    }
    print(json.dumps(line, sort_keys=True))
    ok = full.report.status == "ok" and rerun.report.status == "ok"
    return 0 if ok else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000, help="people in the population")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--brevo-activity-days",
        type=int,
        default=0,
        help="Brevo's campaignStats history (connector setting activity_days; 0: its default, "
        "365 = five calls a contact)",
    )
    parser.add_argument(
        "--latency-s", type=float, default=0.05, help="simulated seconds each answer takes"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse()))
