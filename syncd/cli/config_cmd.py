"""``syncd config check FILE``: validate a config file without touching anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)

#: exit status of a config with problems (1 stays for unexpected failures)
EXIT_INVALID = 2


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="The TOML config file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate every part of FILE (keys, types, env vars, connectors, segment rules).

    Prints a summary, or each problem with its key path and exits 2. Creates no database and
    calls no vendor.
    """
    from syncd.config import check_config

    result = check_config(file)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        _print(result.as_json(), file)
    if not result.ok:
        raise typer.Exit(EXIT_INVALID)


def _print(result: dict[str, object], file: Path) -> None:
    console = Console(highlight=False)
    if not result["ok"]:
        problems = result["problems"]
        assert isinstance(problems, list)
        console.print(f"[red]{escape(str(file))}: {len(problems)} problem(s)[/red]")
        for problem in problems:
            where = problem["path"] or "(file)"
            console.print(f"  [bold]{escape(where)}[/bold]: {escape(problem['message'])}")
        return
    summary = result["summary"]
    assert isinstance(summary, dict)
    accounts = summary["accounts"]
    console.print(
        f"[green]{escape(str(file))} is valid[/green]: {len(accounts)} account(s), "
        f"{summary['connectors']} connector(s), {summary['segments']} segment(s); "
        f"store {escape(summary['store'])}"
    )
    for account in accounts:
        console.print(
            f"  {escape(account['id'])}: connectors {', '.join(account['connectors'])}; "
            f"segments {', '.join(account['segments']) or '(none)'}"
        )
