"""``syncd sync``: one run for one account in the foreground, with progress per phase."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.cli.common import open_account

if TYPE_CHECKING:
    from syncd.sync.run import RunReport

PHASES = ("resume", "pull", "recompute", "plan", "push")


def sync(
    config: Annotated[Path, typer.Option("--config", "-c", help="The TOML config file.")],
    account: Annotated[str, typer.Option("--account", "-a", help="The account id.")],
    full: Annotated[
        bool, typer.Option("--full", help="Pull everything, not just changes.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything but push; print the plan.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
) -> None:
    """Pull, merge, recompute, plan and push one account once."""
    from syncd.errors import SyncdError
    from syncd.sync.service import run_account

    loaded, _account, engine = open_account(config, account)
    console = Console(stderr=True, highlight=False)
    observer = _Progress(console, enabled=not as_json)
    try:
        with observer:
            report = asyncio.run(
                run_account(
                    loaded, account, engine, full=full, dry_run=dry_run, observer=observer.note
                )
            )
    except SyncdError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print_report(Console(highlight=False), report)
    if report.status != "ok":
        raise typer.Exit(1)


class _Progress:
    """Rich progress: one line per phase, records counted as pages arrive."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.records: dict[str, int] = {}

    def __enter__(self) -> _Progress:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def note(self, event: str, phase: str, detail: str = "") -> None:
        if not self.enabled:
            return
        if event == "start":
            self.tasks[phase] = self.progress.add_task(phase, total=None, detail=detail)
        elif event == "page":
            self.progress.update(self.tasks[phase], detail=detail)
        elif event == "end" and phase in self.tasks:
            self.progress.update(self.tasks[phase], total=1, completed=1, detail=detail)


def print_report(console: Console, report: RunReport) -> None:
    kind = f"{report.kind}{' dry run' if report.dry_run else ''}"
    colour = "green" if report.status == "ok" else "red"
    console.print(
        f"run {report.run_id} ({kind}) of account [bold]{escape(report.account_id)}[/bold]: "
        f"[{colour}]{report.status}[/{colour}]"
    )
    pulled = Table(title="pulled")
    for column in ("tool", "contacts", "new", "changed", "consent changes", "events", "invalid"):
        pulled.add_column(column, justify="left" if column == "tool" else "right")
    for tool, streams in report.pulled.items():
        contacts, consent, activity = (
            streams.get(s, {}) for s in ("contacts", "consent", "activity")
        )
        pulled.add_row(
            tool,
            str(contacts.get("records", 0)),
            str(contacts.get("contacts_new", 0)),
            str(contacts.get("contacts_changed", 0)),
            str(consent.get("consent_changes", 0)),
            str(activity.get("events_new", 0)),
            str(sum(s.get("invalid", 0) for s in streams.values())),
        )
    console.print(pulled)
    segments = report.recompute.get("segments", {})
    if segments:
        console.print(
            "segments: " + ", ".join(f"{escape(n)} {size}" for n, size in sorted(segments.items()))
        )
    plan = Table(title="plan" + (" (not sent: dry run)" if report.dry_run else ""))
    for column in ("tool", "target", "kind", "adds", "removes", "property updates"):
        plan.add_column(column, justify="left" if column in ("tool", "target", "kind") else "right")
    rows: dict[tuple[str, str, str], dict[str, int]] = {}
    for entry in report.plan.get("per_target", []):
        counts = rows.setdefault((entry["tool"], entry["target"], entry["kind"]), {})
        counts[entry["op"]] = entry["count"]
    for (tool, target, kind), counts in sorted(rows.items()):
        plan.add_row(
            tool,
            escape(target),
            kind,
            str(counts.get("add", 0)),
            str(counts.get("remove", 0)),
            str(counts.get("set", 0)),
        )
    console.print(plan)
    blocked = report.blocked.get("by_target", [])
    if blocked:
        # one row per tool and reason: which targets it kept people out of is in --json
        by_reason: dict[tuple[str, str], int] = {}
        for entry in blocked:
            key = (entry["tool"], entry["reason"])
            by_reason[key] = by_reason.get(key, 0) + entry["count"]
        table = Table(title=f"consent blocked {report.blocked.get('total', 0)} add(s)")
        for column in ("tool", "reason", "adds blocked"):
            table.add_column(column, justify="right" if column == "adds blocked" else "left")
        for (tool, reason), count in sorted(by_reason.items()):
            table.add_row(tool, escape(reason), str(count))
        console.print(table)
    if not report.dry_run:
        calls = Table(title="API calls")
        columns = ("tool", "reads", "writes", "of which setup", "minimum push writes")
        for column in (*columns, "retries", "429s", "rejected"):
            calls.add_column(column, justify="left" if column == "tool" else "right")
        minimum = report.plan.get("min_write_calls", {})
        for tool, api in report.api.items():
            calls.add_row(
                tool,
                str(api.get("read_calls", 0)),
                str(api.get("write_calls", 0)),
                str(report.setup_write_calls.get(tool, 0)),
                str(minimum.get(tool, 0)),
                str(sum(api.get("retries", {}).values())),
                str(api.get("rate_limited", 0)),
                str(report.pushed.get(tool, {}).get("rejected", 0)),
            )
        console.print(calls)
    for tool, pushed in report.pushed.items():
        for rejection in pushed.get("rejections", [])[:10]:
            console.print(
                f"  [yellow]rejected[/yellow] {tool} {escape(rejection['target'])} "
                f"{escape(rejection['email'])}: {escape(str(rejection['reason']))}"
            )
    for error in report.errors:
        console.print(f"[red]error[/red] {escape(json.dumps(error))}")
    console.print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items()))
