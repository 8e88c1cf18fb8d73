"""Rate-limit efficiency of every connector against its in-process sandbox, in simulated time.

    python bench/connectors.py [--contacts N] [--push-rounds R] [--seed S]

Each vendor's sandbox runs with its DOCUMENTED limits (the sandbox defaults) and shares one
simulated clock with the connector's HTTP layer, so hours of rate-limited traffic run in
seconds: time only moves when everyone waits (the client's limiter, a retry backoff, injected
latency). The clock is asyncio's own scheduler turned into a discrete-event simulator
(:class:`SimulatedTime`) rather than syncd's SimulatedTime: SimulatedTime moves time at each
sleep by itself, so ten requests waiting out their latency together cost ten latencies and
concurrency cannot be measured; here concurrent waits overlap, as in real time. For the
rate-limited vendors the two agree (their time only moves in the limiter, one sleeper at a
time).

Phases: ``pull`` = full pulls of contacts, consent and activity; ``push`` = ``R`` sync rounds,
each one apply() with a score property for every contact and membership changes (round 0 puts
every subscribed contact on an "engaged" target; each later round moves a slice of them to a
"lapsed" target), with the remote ids the pull returned, as the engine sends them. Targets are
ensured beforehand (not measured).

Figures per phase:
- rate ratio for vendors limited by a request rate (HubSpot, Brevo): over each of the
  sandbox's rolling windows (R requests per P seconds), the phase's run is cut into windows of
  P seconds from its first request; the full windows (all but the last, where the work ran out)
  hold ``count`` requests: ratio = count / (full windows x R). The binding window is the one
  with the highest ratio; a window longer than the run (a daily quota) never binds.
- Mailchimp has no request rate, only 10 simultaneous connections (an 11th gets a 429), so
  requests per second only say how long its answers take. Its ratio is the time-weighted
  average of in-flight requests divided by 10, with a fixed simulated latency per request
  (FaultPlan.latency_s) so that a request holds its connection for a while: 1.0 means ten
  requests were on the wire all the time, 0.1 means they went one at a time.
- unhandled_429: RateLimited errors that reached the caller (0 expected); server_429: 429s the
  sandbox sent (the client overran a window; handled by retries, but should be 0 as well).
- write_calls vs min_write_calls: the sum over each apply's targets of ceil(N / batch_max).

The last line is one JSON object: minima of the ratios over vendors and totals of the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from syncd.connector import Connector, ConnectorSettings, registry
from syncd.errors import RateLimited
from syncd.records import Change, ChangeOp, ConsentStatus, Page, Target, TargetKind
from syncd.sandbox.generate import generate
from syncd.sandbox.harness import FaultPlan, SandboxTransport, VendorSandbox
from syncd.sandbox.population import Population

#: per-request latency for Mailchimp's concurrency measurement (simulated seconds)
MAILCHIMP_LATENCY_S = 0.05
#: simulated pause between the pull and the push: longer than any window that can bind
GAP_S = 3600.0
STREAMS = ("pull.contacts", "pull.consent", "pull.activity")


# --- simulated time ----------------------------------------------------------------------------


class SimulatedTime:
    """An event loop whose clock jumps to the next timer whenever nothing is ready to run.

    Everything here is in-process (no sockets), so "nothing ready" means every task waits on
    a timer: the loop's select() returns at once and its clock moves by the timeout it was
    given. Implements syncd.clock.Clock.
    """

    def __init__(self, start: datetime = datetime(2026, 11, 30, 12, tzinfo=UTC)) -> None:
        self.start = start
        self.elapsed = 0.0
        self.loop = asyncio.new_event_loop()
        selector = self.loop._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> Any:
            events = real_select(0)
            if not events and timeout:
                self.elapsed += timeout
            return events

        selector.select = select
        self.loop.time = lambda: self.elapsed  # type: ignore[method-assign]

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        """Jump ahead between phases (nothing may be waiting on a timer)."""
        self.elapsed += seconds

    def run(self, main: Any) -> Any:
        try:
            return self.loop.run_until_complete(main)
        finally:
            self.loop.close()


# --- what happened on the wire -----------------------------------------------------------------


@dataclass
class Hit:
    at: float
    method: str
    path: str
    status: int
    phase: str


@dataclass
class Wire:
    """ASGI layer outside a sandbox: the time of every request, and in-flight x time."""

    app: Any
    clock: SimulatedTime
    phase: str = "setup"
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    busy: dict[str, float] = field(default_factory=dict)  # phase -> in-flight x seconds
    _last: float = 0.0

    def _account(self) -> None:
        now = self.clock.monotonic()
        self.busy[self.phase] = self.busy.get(self.phase, 0.0) + self.in_flight * (now - self._last)
        self._last = now

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hit = Hit(round(self.clock.monotonic(), 6), scope["method"], scope["path"], 0, self.phase)
        self.hits.append(hit)

        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                hit.status = message["status"]
            await send(message)

        self._account()
        self.in_flight += 1
        try:
            await self.app(scope, receive, watched)
        finally:
            self._account()
            self.in_flight -= 1


# --- the vendors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    name: str
    requests: int
    per_seconds: float
    applies: Callable[[Hit], bool] = lambda hit: True


@dataclass(frozen=True)
class Vendor:
    name: str
    build: Callable[[SimulatedTime, FaultPlan], tuple[VendorSandbox, str, ConnectorSettings]]
    windows: Callable[[Any], list[Window]]  # the sandbox's configured rate windows
    connections: Callable[[Any], int | None] = lambda sandbox: None
    latency_s: float = 0.0


def _hubspot(clock: SimulatedTime, faults: FaultPlan) -> tuple[VendorSandbox, str, Any]:
    from connectors.hubspot import HubSpotSettings
    from syncd.sandbox.hubspot import DEFAULT_TOKEN, HubSpotSandbox

    sandbox = HubSpotSandbox(clock=clock, faults=faults)
    return sandbox, DEFAULT_TOKEN, HubSpotSettings(purchase_event_type=sandbox.purchase_event_type)


def _hubspot_windows(sandbox: Any) -> list[Window]:
    lim = sandbox.limits

    def is_search(hit: Hit) -> bool:
        return hit.method == "POST" and hit.path.endswith("/search")

    return [
        Window("burst", lim.burst_requests, lim.burst_seconds),
        Window("search", lim.search_requests, lim.search_seconds, is_search),
        Window("daily", lim.daily_requests, lim.daily_seconds),
    ]


def _brevo(clock: SimulatedTime, faults: FaultPlan) -> tuple[VendorSandbox, str, Any]:
    from connectors.brevo import BrevoSettings
    from syncd.sandbox.brevo import DEFAULT_API_KEY, BrevoSandbox

    return BrevoSandbox(clock=clock, faults=faults), DEFAULT_API_KEY, BrevoSettings()


def _brevo_windows(sandbox: Any) -> list[Window]:
    lim = sandbox.limits

    def contacts(hit: Hit) -> bool:
        return hit.path.startswith("/v3/contacts")

    return [
        Window("contacts_second", lim.contacts_per_second, 1.0, contacts),
        Window("contacts_hour", lim.contacts_per_hour, 3600.0, contacts),
        Window("other_hour", lim.other_per_hour, 3600.0, lambda h: not contacts(h)),
    ]


def _mailchimp(clock: SimulatedTime, faults: FaultPlan) -> tuple[VendorSandbox, str, Any]:
    from connectors.mailchimp import MailchimpSettings
    from syncd.sandbox.mailchimp import DEFAULT_API_KEY, MailchimpSandbox

    return MailchimpSandbox(clock=clock, faults=faults), DEFAULT_API_KEY, MailchimpSettings()


VENDORS = {
    "hubspot": Vendor("hubspot", _hubspot, _hubspot_windows),
    "brevo": Vendor("brevo", _brevo, _brevo_windows),
    "mailchimp": Vendor(
        "mailchimp",
        _mailchimp,
        lambda sandbox: [],
        connections=lambda sandbox: sandbox.limits.max_connections,
        latency_s=MAILCHIMP_LATENCY_S,
    ),
}


# --- figures -----------------------------------------------------------------------------------


def window_ratio(times: list[float], window: Window) -> float | None:
    """count in the run's full windows / what those windows allow; None if none is full."""
    if not times:
        return None
    start, end = times[0], times[-1]
    full = math.floor((end - start) / window.per_seconds + 1e-9)
    if full == 0:
        return None
    cut = start + full * window.per_seconds
    return sum(1 for t in times if t < cut - 1e-9) / (full * window.requests)


@dataclass
class PhaseFigures:
    requests: int = 0
    sim_s: float = 0.0
    ratio: float | None = None
    binding: str = "-"
    achieved_per_s: float | None = None
    allowed_per_s: float | None = None
    server_429: int = 0

    def row(self, phase: str) -> str:
        def num(value: float | None, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)

        return (
            f"  {phase:<11}{self.requests:>9}{self.sim_s:>11.1f}  {self.binding:<22}"
            f"{num(self.achieved_per_s, '.2f'):>11}{num(self.allowed_per_s, '.2f'):>11}"
            f"{num(self.ratio, '.3f'):>8}{self.server_429:>12}"
        )


def phase_figures(vendor: Vendor, sandbox: Any, wire: Wire, phase: str) -> PhaseFigures:
    hits = [h for h in wire.hits if h.phase.startswith(phase)]
    out = PhaseFigures(requests=len(hits), server_429=sum(1 for h in hits if h.status == 429))
    if not hits:
        return out
    out.sim_s = hits[-1].at - hits[0].at
    connections = vendor.connections(sandbox)
    if connections:
        span = max(out.sim_s, 1e-9) + vendor.latency_s  # the last request's own time on the wire
        busy = sum(v for k, v in wire.busy.items() if k.startswith(phase))
        average = busy / span
        out.ratio, out.binding = average / connections, f"{connections} connections"
        out.achieved_per_s, out.allowed_per_s = average, float(connections)
        return out
    for window in vendor.windows(sandbox):
        times = [h.at for h in hits if window.applies(h)]
        ratio = window_ratio(times, window)
        if ratio is not None and (out.ratio is None or ratio > out.ratio):
            out.ratio = ratio
            out.binding = f"{window.name} {window.requests}/{window.per_seconds:g}s"
            out.allowed_per_s = window.requests / window.per_seconds
            out.achieved_per_s = ratio * out.allowed_per_s
    return out


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    contacts: int
    pull: PhaseFigures
    push: PhaseFigures
    streams: dict[str, PhaseFigures]
    unhandled_429: int
    write_calls: int
    min_write_calls: int
    failed_changes: int
    wall_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "pull_rate_ratio": _round(self.pull.ratio),
            "push_rate_ratio": _round(self.push.ratio),
            "pull_binding": self.pull.binding,
            "push_binding": self.push.binding,
            "pull_requests": self.pull.requests,
            "push_requests": self.push.requests,
            "server_429": self.pull.server_429 + self.push.server_429,
            "unhandled_429": self.unhandled_429,
            "write_calls": self.write_calls,
            "min_write_calls": self.min_write_calls,
            "failed_changes": self.failed_changes,
            "wall_s": round(self.wall_s, 1),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class Counted:
    unhandled_429 = 0


async def drain(stream: AsyncIterator[Page[Any]], counted: Counted) -> list[Any]:
    records: list[Any] = []
    try:
        async for page in stream:
            records.extend(page.records)
    except RateLimited:
        counted.unhandled_429 += 1
    return records


def push_rounds(
    connector: Connector, ids: dict[str, str], marketable: list[str], rounds: int
) -> tuple[list[Target], list[list[Change]]]:
    supported = connector.capabilities().targets
    kind = TargetKind.LIST if TargetKind.LIST in supported else TargetKind.TAG
    engaged, lapsed = Target(kind, "syncd bench engaged"), Target(kind, "syncd bench lapsed")
    score = Target(TargetKind.PROPERTY, "syncd_score")
    slices = [marketable[i :: rounds + 1] for i in range(rounds + 1)]
    plan: list[list[Change]] = []
    for r in range(rounds):
        changes = [Change(score, ChangeOp.SET, e, rid, str((r * 7 + i) % 100)) for i, (e, rid) in
                   enumerate(sorted(ids.items()))]  # fmt: skip
        if r == 0:
            changes += [Change(engaged, ChangeOp.ADD, e, ids[e]) for e in marketable]
            changes += [Change(lapsed, ChangeOp.ADD, e, ids[e]) for e in slices[0][:50]]
        else:
            changes += [Change(engaged, ChangeOp.REMOVE, e, ids[e]) for e in slices[r]]
            changes += [Change(lapsed, ChangeOp.ADD, e, ids[e]) for e in slices[r]]
        plan.append(changes)
    return [engaged, lapsed, score], plan


def minimum_calls(connector: Connector, changes: list[Change]) -> int:
    batch_max = connector.capabilities().batch_max
    per_target: dict[Target, int] = {}
    for change in changes:
        per_target[change.target] = per_target.get(change.target, 0) + 1
    return sum(math.ceil(n / batch_max[t.kind]) for t, n in per_target.items())


async def bench_vendor(
    vendor: Vendor, clock: SimulatedTime, population: Population, rounds: int
) -> Outcome:
    started = time.perf_counter()
    sandbox, api_key, settings = vendor.build(clock, FaultPlan(latency_s=vendor.latency_s))
    sandbox.seed(population)
    wire = Wire(sandbox.app, clock)
    connector = registry()[vendor.name].build(
        settings, api_key, transport=SandboxTransport(wire), clock=clock
    )
    counted = Counted()
    try:
        wire.phase = "pull.contacts"
        contacts = await drain(connector.pull_contacts(None), counted)
        wire.phase = "pull.consent"
        consent = await drain(connector.pull_consent(None), counted)
        wire.phase = "pull.activity"
        await drain(connector.pull_activity(None), counted)
        ids = {r.email: r.remote_id for r in contacts}
        subscribed = {
            r.email
            for r in consent
            if r.list_id is None and r.status is ConsentStatus.SUBSCRIBED and r.email in ids
        }
        targets, plan = push_rounds(connector, ids, sorted(subscribed), rounds)
        wire.phase = "setup"
        await connector.ensure_targets(targets)
        # the push starts with the short windows empty, as a push some minutes after a pull
        clock.advance(GAP_S)
        wire.phase = "push"
        before = connector.http.stats.write_calls
        least = failed = 0
        for changes in plan:
            least += minimum_calls(connector, changes)
            try:
                results = await connector.apply(changes)
            except RateLimited:
                counted.unhandled_429 += 1
                continue
            failed += sum(1 for r in results if not r.ok)
        writes = connector.http.stats.write_calls - before
    finally:
        await connector.aclose()
    return Outcome(
        contacts=len(ids),
        pull=phase_figures(vendor, sandbox, wire, "pull"),
        streams={s: phase_figures(vendor, sandbox, wire, s) for s in STREAMS},
        push=phase_figures(vendor, sandbox, wire, "push"),
        unhandled_429=counted.unhandled_429,
        write_calls=writes,
        min_write_calls=least,
        failed_changes=failed,
        wall_s=time.perf_counter() - started,
    )


def report(name: str, outcome: Outcome) -> None:
    print(f"\n{name}: {outcome.contacts} contacts, {outcome.wall_s:.1f} s wall")
    print(
        f"  {'phase':<11}{'requests':>9}{'sim s':>11}  {'binding limit':<22}"
        f"{'achieved/s':>11}{'allowed/s':>11}{'ratio':>8}{'server 429':>12}"
    )
    print(outcome.pull.row("pull"))
    for stream, figures in outcome.streams.items():
        print(figures.row("  " + stream.removeprefix("pull.")))
    print(outcome.push.row("push"))
    print(
        f"  write calls {outcome.write_calls} (minimum {outcome.min_write_calls}), "
        f"failed changes {outcome.failed_changes}, unhandled 429 {outcome.unhandled_429}"
    )


def summary(outcomes: dict[str, Outcome]) -> dict[str, Any]:
    def least(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(min(known), 4) if known else None

    return {
        "pull_rate_ratio": least([o.pull.ratio for o in outcomes.values()]),
        "push_rate_ratio": least([o.push.ratio for o in outcomes.values()]),
        "unhandled_429": sum(o.unhandled_429 for o in outcomes.values()),
        "write_calls": sum(o.write_calls for o in outcomes.values()),
        "min_write_calls": sum(o.min_write_calls for o in outcomes.values()),
        "per_vendor": {name: o.as_json() for name, o in outcomes.items()},
    }


def run_vendor(name: str, contacts: int, seed: int, rounds: int) -> Outcome:
    """One vendor in its own process (the population is deterministic: same seed, same data)."""
    population = generate(contacts, seed=seed)
    clock = SimulatedTime()
    return clock.run(bench_vendor(VENDORS[name], clock, population, rounds))  # type: ignore[no-any-return]


def main(args: argparse.Namespace) -> None:
    names = sorted(registry())
    for name in names:
        if name not in VENDORS:
            print(f"\n{name}: no bench wiring in bench/connectors.py, skipped")
    wired = [n for n in names if n in VENDORS]
    # vendors are independent simulations: run them side by side to save wall time
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            n: pool.submit(run_vendor, n, args.contacts, args.seed, args.push_rounds) for n in wired
        }
        outcomes = {n: futures[n].result() for n in wired}
    for name, outcome in outcomes.items():
        report(name, outcome)
    print(json.dumps(summary(outcomes), sort_keys=True))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=5000, help="people in the population")
    parser.add_argument("--push-rounds", type=int, default=4, help="sync rounds pushed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2, help="vendors benched at once")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse())
