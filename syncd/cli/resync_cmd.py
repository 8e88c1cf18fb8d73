"""``syncd resync`` (queue a run for the daemon) and ``syncd runs`` (what ran, and how)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The TOML config file.")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account id.")]
EXIT_INVALID = 2


def _store(config_path: Path, account: str) -> Any:
    from syncd.config import check_config
    from syncd.store.engine import open_store

    result = check_config(config_path)
    if result.config is None:
        typer.echo(f"{config_path}: {len(result.problems)} problem(s)", err=True)
        for problem in result.problems:
            typer.echo(f"  {problem.path or '(file)'}: {problem.message}", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        result.config.account(account)
    except KeyError:
        known = ", ".join(a.id for a in result.config.accounts)
        typer.echo(f"no account {account!r} in {config_path} (known: {known})", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return open_store(result.config.store_url)


def resync(
    config: ConfigOption,
    account: AccountOption,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan, but push nothing.")] = False,
) -> None:
    """Queue a run of ACCOUNT; the running daemon picks it up within seconds. Prints its id."""
    from syncd.clock import SystemClock
    from syncd.daemon.queue import enqueue

    engine = _store(config, account)
    try:
        request_id = enqueue(
            engine, account, full=full, dry_run=dry_run, requested_by="cli",
            now=SystemClock().now(),
        )  # fmt: skip
    finally:
        engine.dispose()
    typer.echo(request_id)


def runs(
    config: ConfigOption,
    account: AccountOption,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """List ACCOUNT's runs: status, phase timings, counts, errors."""
    from syncd.daemon.views import list_runs

    engine = _store(config, account)
    try:
        found = list_runs(engine, account, limit=max(1, limit))
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    _print_runs(account, found)


def _print_runs(account: str, found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if not found:
        console.print(f"no runs of {escape(account)} yet")
        return
    table = Table(title=f"runs of {account}")
    for column in ("run", "kind", "status", "started", "phases (s)", "counts", "errors"):
        table.add_column(column)
    for run in found:
        kind = run["kind"] + (" dry-run" if run["dry_run"] else "")
        timings = " ".join(f"{k} {v:.1f}" for k, v in run["timings"].items())
        counts = " ".join(f"{k}={v}" for k, v in run["counts"].items() if v)
        errors = "; ".join(str(e.get("error", e)) for e in run["errors"])
        status = {"ok": "green", "running": "yellow"}.get(run["status"], "red")
        table.add_row(
            str(run["id"]), kind, f"[{status}]{escape(run['status'])}[/{status}]",
            run["started_at"] or "", timings, counts, escape(errors),
        )  # fmt: skip
    console.print(table)
