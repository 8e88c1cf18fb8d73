"""Soak: real SIGKILLs of ``syncd sync`` during its push, each followed by a run to completion.

    python bench/soak_kill.py [--rounds R] [--contacts N] [--seed S] [--speed X]

Serves the three sandbox vendors on loopback in a child process (``syncd sandbox serve``,
request rates x``--speed``) with a SQLite store, then, per round:

1. makes fresh work through the vendors' own APIs over HTTP (Mailchimp): unsubscribes one
   random subscribed member (syncd must then take that person out of every marketing target in
   all three tools) and, as if by hand, takes syncd's tags off a few random members (drift a
   full sync corrects);
2. starts ``syncd sync --full`` and SIGKILLs it at a random moment of its push: the store's
   ``run.phase`` is polled until it reads ``push``, then the kill comes after a random delay
   drawn from [0, W], W adapting as the soak goes (shrunk after a kill that came once the run
   was done, widened after one inside the push), so that some kills land before the first
   write, some between writes and some after the last;
3. runs ``syncd sync --json`` (incremental) to completion, then another one, and checks:
   - the completion run is ok and no outbox item is left pending;
   - the further run plans 0 changes and makes 0 write calls;
   - no (tool, target, op, contact) was acknowledged twice among the outbox items the
     round's runs planned (an acknowledged change is never planned again).

Every ``--reseed-every`` rounds (0 = never) the sandbox child is restarted with a new seed and
a new store, for a fresh initial push. At the end, one more ``--full`` run must plan nothing
(the vendors hold exactly what the ledger says). Prints one line per round and a summary line;
exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SERVE_TIMEOUT_S = 300.0
POLL_S = 0.005


# --- the sandbox child -------------------------------------------------------------------------


@dataclass
class Sandbox:
    proc: subprocess.Popen[bytes]
    config: Path
    store: Path
    env: dict[str, str]
    mailchimp_url: str
    mailchimp_key: str


def serve(workdir: Path, contacts: int, seed: int, speed: float, activity_days: int) -> Sandbox:
    workdir.mkdir(parents=True, exist_ok=True)
    config, store = workdir / "c.toml", workdir / "s.db"
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "syncd", "sandbox", "serve", "--contacts", str(contacts),
         "--seed", str(seed), "--port-base", "0", "--write-config", str(config),
         "--store-url", f"sqlite:///{store}", "--speed", str(speed)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + SERVE_TIMEOUT_S
    while not config.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"sandbox serve did not start: see {workdir / 'serve.log'}")
        time.sleep(0.1)
    sidecar = json.loads((workdir / "c.toml.env.json").read_text())
    env = {**os.environ, **sidecar["env"]}
    text = config.read_text()
    if activity_days:
        # shorter Brevo history: fewer campaignStats calls a contact (a connector setting)
        text = text.replace(
            "[accounts.connectors.brevo]\n",
            f"[accounts.connectors.brevo]\nactivity_days = {activity_days}\n",
        )
        config.write_text(text)
    parsed = tomllib.loads(text)
    mailchimp = parsed["accounts"][0]["connectors"]["mailchimp"]
    return Sandbox(
        proc,
        config,
        store,
        env,
        mailchimp["base_url"],
        env[mailchimp["api_key_env"]],
    )


def stop(sandbox: Sandbox) -> None:
    if sandbox.proc.poll() is None:
        sandbox.proc.send_signal(signal.SIGTERM)
        try:
            sandbox.proc.wait(10)
        except subprocess.TimeoutExpired:
            sandbox.proc.kill()
            sandbox.proc.wait()


# --- fresh work through Mailchimp's API --------------------------------------------------------


def mutate(sandbox: Sandbox, rng: random.Random, drift: int) -> dict[str, int]:
    """One unsubscribe and ``drift`` hand-removed tag sets; returns what was done."""
    done = {"unsubscribed": 0, "untagged": 0}
    with httpx.Client(
        base_url=sandbox.mailchimp_url, auth=("soak", sandbox.mailchimp_key), timeout=30
    ) as http:
        list_id = http.get("/lists").raise_for_status().json()["lists"][0]["id"]
        members: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = (
                http.get(f"/lists/{list_id}/members", params={"count": 1000, "offset": offset})
                .raise_for_status()
                .json()
            )
            members += page["members"]
            offset += len(page["members"])
            if not page["members"] or offset >= page["total_items"]:
                break
        subscribed = [m for m in members if m["status"] == "subscribed"]
        if subscribed:
            who = rng.choice(subscribed)
            http.patch(
                f"/lists/{list_id}/members/{who['id']}",
                json={"status": "unsubscribed"},
            ).raise_for_status()
            done["unsubscribed"] = 1
        tagged = [
            m for m in members if any(t["name"].startswith("syncd-") for t in m.get("tags", []))
        ]
        for member in rng.sample(tagged, min(drift, len(tagged))):
            tags = [
                {"name": t["name"], "status": "inactive"}
                for t in member["tags"]
                if t["name"].startswith("syncd-")
            ]
            http.post(
                f"/lists/{list_id}/members/{member['id']}/tags",
                json={"tags": tags},
            ).raise_for_status()
            done["untagged"] += 1
    return done


# --- syncd runs --------------------------------------------------------------------------------


def sync_args(sandbox: Sandbox, *extra: str) -> list[str]:
    return [PYTHON, "-m", "syncd", "sync", "--config", str(sandbox.config), "--account", "demo",
            *extra]  # fmt: skip


def run_sync(sandbox: Sandbox, *extra: str) -> dict[str, Any]:
    """A run to completion; its JSON report."""
    done = subprocess.run(
        sync_args(sandbox, "--json", *extra),
        cwd=ROOT, env=sandbox.env, capture_output=True, timeout=3600, check=False,
    )  # fmt: skip
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"sync exited {done.returncode} without a report:\n{tail}") from None
    return report


def query(store: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the store while a run may be writing it (retry a busy database)."""
    for _ in range(200):
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
                return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "no such table" not in str(exc):
                raise
            time.sleep(0.01)
    raise RuntimeError(f"store stayed busy: {sql}")


def last_run(store: Path) -> tuple[int, str] | None:
    if not store.exists():
        return None
    try:
        rows = query(
            store,
            # a run's recompute step writes a row of its own (kind "recompute"): skip it
            "SELECT id, phase FROM run WHERE kind IN ('full', 'incremental') "
            "ORDER BY id DESC LIMIT 1",
        )
    except RuntimeError:  # the first run is still creating the tables
        return None
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


@dataclass
class Kill:
    killed: bool  # False: the run finished (or left its push) before the kill came
    phase: str
    delay_s: float
    run_id: int | None


def killed_run(sandbox: Sandbox, rng: random.Random, window_s: float) -> Kill:
    before = last_run(sandbox.store)
    log = (sandbox.config.parent / "killed.log").open("ab")
    proc = subprocess.Popen(
        sync_args(sandbox, "--full", "--json"),
        cwd=ROOT, env=sandbox.env, stdout=log, stderr=log,
    )  # fmt: skip
    run_id, phase = None, "start"
    while proc.poll() is None:
        now = last_run(sandbox.store)
        if now is not None and (before is None or now[0] != before[0]):
            run_id, phase = now
            if phase in ("push", "done"):
                break
        time.sleep(POLL_S)
    delay = rng.uniform(0, window_s)
    if phase == "push":
        time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
        final = last_run(sandbox.store)
        return Kill(True, final[1] if final else phase, delay, run_id)
    log.close()
    return Kill(False, "finished", delay, run_id)


# --- the checks --------------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    kill: Kill
    pending_at_kill: int
    resumed: int
    changes: int
    problems: list[str] = field(default_factory=list)
    mutation: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        k = self.kill
        when = f"killed in {k.phase} +{k.delay_s * 1000:.0f} ms" if k.killed else "not killed"
        verdict = "ok" if not self.problems else "VIOLATION " + "; ".join(self.problems)
        return (
            f"round {self.number:>3}: {when:<26} pending {self.pending_at_kill:>4}, "
            f"resumed {self.resumed:>4}, planned {self.changes:>4} "
            f"(unsubscribed {self.mutation.get('unsubscribed', 0)}, "
            f"untagged {self.mutation.get('untagged', 0)})  {self.seconds:5.1f} s  {verdict}"
        )


def pending(store: Path) -> int:
    return int(query(store, "SELECT count(*) FROM outbox_item WHERE status = 'pending'")[0][0])


def twice_acknowledged(store: Path, first_run: int) -> list[tuple[Any, ...]]:
    return query(
        store,
        "SELECT tool, target_kind, target, op, contact_id, count(*) FROM outbox_item "
        "WHERE status = 'done' AND run_id >= ? "
        "GROUP BY tool, target_kind, target, op, contact_id HAVING count(*) > 1",
        (first_run,),
    )


def writes(report: dict[str, Any]) -> int:
    return sum(int(a.get("write_calls", 0)) for a in report.get("api", {}).values())


def one_round(
    number: int, sandbox: Sandbox, rng: random.Random, args: argparse.Namespace, window: float
) -> tuple[Round, float]:
    started = time.monotonic()
    mutation = mutate(sandbox, rng, args.drift) if number > 0 or args.mutate_first else {}
    first = (last_run(sandbox.store) or (0, ""))[0] + 1
    kill = killed_run(sandbox, rng, window)
    at_kill = pending(sandbox.store) if sandbox.store.exists() else 0
    finish = run_sync(sandbox)
    check = run_sync(sandbox)
    result = Round(number, kill, at_kill, int(finish.get("resumed_pending", 0)), 0)
    result.mutation = mutation
    result.changes = int(finish.get("plan", {}).get("changes", 0))
    if finish.get("status") != "ok":
        result.problems.append(f"completion run {finish.get('status')}: {finish.get('errors')}")
    if kill.killed and result.resumed != at_kill:
        result.problems.append(f"resumed {result.resumed} of {at_kill} pending")
    left = pending(sandbox.store)
    if left:
        result.problems.append(f"{left} outbox items still pending")
    if check.get("status") != "ok":
        result.problems.append(f"check run {check.get('status')}: {check.get('errors')}")
    if check.get("plan", {}).get("changes", 0) or writes(check):
        result.problems.append(
            f"further run planned {check.get('plan', {}).get('changes')} changes, "
            f"{writes(check)} write calls"
        )
    for row in twice_acknowledged(sandbox.store, first):
        result.problems.append(f"acknowledged {row[-1]} times: {row[:-1]}")
    push_s = float(finish.get("timings", {}).get("push", 0.0))
    result.seconds = time.monotonic() - started
    return result, push_s


def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="syncd-soak-") as scratch:
        tmp = args.workdir or scratch
        generation = 0
        sandbox = serve(Path(tmp) / "g0", args.contacts, args.seed, args.speed, args.activity_days)
        rounds: list[Round] = []
        window = args.kill_window_s
        try:
            for number in range(args.rounds):
                if args.reseed_every and number and number % args.reseed_every == 0:
                    stop(sandbox)
                    generation += 1
                    sandbox = serve(
                        Path(tmp) / f"g{generation}",
                        args.contacts,
                        args.seed + generation,
                        args.speed,
                        args.activity_days,
                    )
                result, _push_s = one_round(number, sandbox, rng, args, window)
                # aim the next kill into the push: a kill that came after the run was done
                # shrinks the window, one inside the push widens it a little
                if result.kill.killed:
                    window *= 1.1 if result.kill.phase == "push" else 0.7
                rounds.append(result)
                print(result.line(), flush=True)
            final = run_sync(sandbox, "--full")
            final_changes = int(final.get("plan", {}).get("changes", 0))
            final_problem = (
                f"final full run planned {final_changes} changes, {writes(final)} writes"
                if final_changes or writes(final) or final.get("status") != "ok"
                else ""
            )
        finally:
            stop(sandbox)
    violations = sum(1 for r in rounds if r.problems) + (1 if final_problem else 0)
    if final_problem:
        print(f"VIOLATION {final_problem}")
    summary = {
        "rounds": len(rounds),
        "killed": sum(1 for r in rounds if r.kill.killed),
        "killed_in_push": sum(1 for r in rounds if r.kill.killed and r.kill.phase == "push"),
        "pending_at_kill": sum(r.pending_at_kill for r in rounds),
        "resumed": sum(r.resumed for r in rounds),
        "violations": violations,
        "seconds": round(time.monotonic() - started, 1),
        "seconds_per_round": round(sum(r.seconds for r in rounds) / max(1, len(rounds)), 1),
    }
    print(json.dumps(summary, sort_keys=True))
    return 1 if violations else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument(
        "--activity-days", type=int, default=90, help="Brevo's history (0: connector default)"
    )
    parser.add_argument("--drift", type=int, default=5, help="members untagged by hand a round")
    parser.add_argument(
        "--reseed-every", type=int, default=0, help="restart the sandbox with a new seed"
    )
    parser.add_argument(
        "--kill-window-s",
        type=float,
        default=0.5,
        help="the kill delay's first upper bound (it adapts)",
    )
    parser.add_argument(
        "--workdir", help="keep the sandboxes' configs, stores and logs here (default: a temp dir)"
    )
    parser.add_argument(
        "--mutate-first", action="store_true", help="make changes before round 0 as well"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse()))
