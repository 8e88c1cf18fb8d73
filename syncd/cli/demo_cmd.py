"""``syncd demo``: the whole loop on a fresh machine, with nothing to set up.

Starts the vendor sandboxes on loopback (in a child process, so that vendor and client do not
share one Python thread), seeds them, writes a temporary config on SQLite, runs a full sync,
prints the report, then runs again and shows that the second run pushes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.cli.sync_cmd import print_report

#: how long the child may take to seed and start serving
STARTUP_TIMEOUT_S = 120.0


def demo(
    contacts: Annotated[
        int, typer.Option("--contacts", "-n", min=10, help="People to generate.")
    ] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 7,
    speed: Annotated[
        float,
        typer.Option(
            min=1,
            help="Raise the vendors' documented request rates by this factor, so the demo takes "
            "minutes rather than Brevo's real hours (the client is told the same limits).",
        ),
    ] = 50.0,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the store and config in this folder.")
    ] = None,
) -> None:
    """Seed the sandboxes, serve them on 127.0.0.1, sync twice, and show what happened."""
    console = Console(highlight=False)
    folder = keep or Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "syncd.toml"
    store_url = f"sqlite:///{folder / 'syncd.db'}"
    console.print(
        f"Seeding {contacts:,} people into the HubSpot, Brevo and Mailchimp sandboxes and "
        f"serving them on 127.0.0.1 (request rates x{speed:g})..."
    )
    child = _serve(contacts, seed, speed, config_path, store_url)
    try:
        sidecar = _wait_ready(child, config_path)
        _print_holdings(console, sidecar["summaries"])
        exit_code = asyncio.run(_two_runs(console, config_path, sidecar["env"], folder))
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    console.print(f"config and store: {escape(str(folder))}")
    raise typer.Exit(exit_code)


def _serve(
    contacts: int, seed: int, speed: float, config: Path, store_url: str
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "syncd", "sandbox", "serve",
        "--contacts", str(contacts), "--seed", str(seed), "--port-base", "0",
        "--speed", str(speed), "--write-config", str(config), "--store-url", store_url,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(child: subprocess.Popen[bytes], config: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not config.exists():
        if child.poll() is not None:
            err = child.stderr.read().decode() if child.stderr else ""
            typer.echo(f"error: the sandbox stopped while starting:\n{err}", err=True)
            raise typer.Exit(1)
        if time.monotonic() > deadline:
            typer.echo("error: the sandbox did not start in time", err=True)
            raise typer.Exit(1)
        time.sleep(0.1)
    sidecar: dict[str, Any] = json.loads(config.with_name(config.name + ".env.json").read_text())
    return sidecar


def _print_holdings(console: Console, summaries: dict[str, dict[str, Any]]) -> None:
    table = Table(title="what each vendor holds before the first sync")
    for column in ("vendor", "contacts", "consent states", "activity"):
        table.add_column(column, justify="right" if column == "contacts" else "left")
    for vendor, summary in summaries.items():
        consent, activity = summary.get("consent", {}), summary.get("activity", {})
        table.add_row(
            vendor,
            f"{summary.get('contacts', 0):,}",
            ", ".join(f"{k} {v:,}" for k, v in consent.items()),
            ", ".join(f"{k} {v:,}" for k, v in activity.items()),
        )
    console.print(table)


async def _two_runs(console: Console, config_path: Path, env: dict[str, str], folder: Path) -> int:
    from syncd.config import load_config
    from syncd.sandbox.world import ACCOUNT_ID
    from syncd.store.engine import init_store
    from syncd.sync.duplicates import find_duplicates
    from syncd.sync.service import run_account

    config = load_config(config_path, env={**os.environ, **env})
    engine = init_store(config.store_url)
    started = time.perf_counter()
    first = await run_account(config, ACCOUNT_ID, engine, full=True)
    console.rule(f"first run: full sync ({time.perf_counter() - started:.1f}s)")
    print_report(console, first)
    duplicates = find_duplicates(engine, ACCOUNT_ID)
    console.print(
        f"likely duplicates reported (not merged): {len(duplicates)} "
        f"(syncd contacts duplicates --config {escape(str(config_path))} --account {ACCOUNT_ID})"
    )
    started = time.perf_counter()
    second = await run_account(config, ACCOUNT_ID, engine)
    writes = sum(api.get("write_calls", 0) for api in second.api.values())
    console.rule(f"second run: incremental, nothing changed ({time.perf_counter() - started:.1f}s)")
    console.print(
        f"changes planned: {second.plan.get('changes', 0)}, write calls: {writes} "
        f"({'nothing to push, as it should be' if writes == 0 else 'UNEXPECTED'})"
    )
    ok = first.status == second.status == "ok" and writes == 0
    return 0 if ok else 1
