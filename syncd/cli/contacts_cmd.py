"""``syncd contacts``: look at an account's contacts in the store (nothing is written).

``duplicates`` reports contacts that are probably one person under two emails (see
:mod:`syncd.sync.duplicates`); merging them stays a person's decision.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.cli.common import open_account

if TYPE_CHECKING:
    from syncd.sync.duplicates import DuplicatePair

app = typer.Typer(no_args_is_help=True)


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file.")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="Account id.")]


def count_by_kind(pairs: Sequence[DuplicatePair]) -> dict[str, int]:
    """Pairs per kind, every kind listed (zero included) in the report's order."""
    from syncd.sync.duplicates import KINDS

    counts = Counter(p.kind for p in pairs)
    return {kind: counts.get(kind, 0) for kind in KINDS}


def duplicates_report(
    account_id: str, pairs: Sequence[DuplicatePair], limit: int | None = None
) -> dict[str, Any]:
    """What ``--json`` prints: counts over every pair, the first ``limit`` pairs listed."""
    return {
        "account": account_id,
        "count": len(pairs),
        "by_kind": count_by_kind(pairs),
        "pairs": [p.as_dict() for p in pairs[:limit]],
    }


def render_duplicates(
    console: Console, account_id: str, pairs: Sequence[DuplicatePair], limit: int | None = None
) -> None:
    """The most likely ``limit`` pairs as a table, then the count per kind over all of them."""
    if not pairs:
        console.print(f"No likely duplicates in account '{escape(account_id)}'.")
        return
    table = Table(title=f"Likely duplicates in '{escape(account_id)}' (reported, not merged)")
    table.add_column("kind")
    table.add_column("emails")
    table.add_column("score", justify="right")
    table.add_column("reason")
    shown = pairs[:limit]
    if len(shown) < len(pairs):
        table.caption = f"the {len(shown)} most likely of {len(pairs)} pairs"
    for pair in shown:
        table.add_row(
            pair.kind,
            escape(f"{pair.emails[0]}\n{pair.emails[1]}"),
            f"{pair.score:.2f}",
            escape(pair.reason),
        )
    console.print(table)
    summary = Table(title="Per kind")
    summary.add_column("kind")
    summary.add_column("pairs", justify="right")
    for kind, count in count_by_kind(pairs).items():
        summary.add_row(kind, str(count))
    summary.add_row("[bold]total[/]", f"[bold]{len(pairs)}[/]")
    console.print(summary)


@app.command("duplicates")
def duplicates_command(
    config: ConfigOption,
    account: AccountOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Show only the N most likely pairs.")
    ] = None,
) -> None:
    """Contacts that are probably the same person under different emails (never merged)."""
    from syncd.errors import SyncdError
    from syncd.sync.duplicates import find_duplicates

    try:
        _, _, engine = open_account(config, account)
    except SyncdError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        # every pair, not just ``limit``: the per-kind counts cover the whole account
        pairs = find_duplicates(engine, account)
    except SyncdError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(duplicates_report(account, pairs, limit), indent=2))
    else:
        render_duplicates(Console(), account, pairs, limit)
