"""``syncd sandbox seed`` and ``syncd sandbox serve``: the vendor sandbox for manual use."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(no_args_is_help=True)

ContactsOption = Annotated[int, typer.Option("--contacts", "-n", min=1, help="People to generate.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Generator seed (same seed, same data).")]


def seeded_sandboxes(contacts: int, seed: int) -> dict[str, Any]:
    from syncd.sandbox.generate import generate
    from syncd.sandbox.serve import build_sandboxes

    return build_sandboxes(generate(contacts, seed=seed))


def print_summary(console: Console, vendor: str, summary: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(vendor)}[/bold]")
    for key, value in summary.items():
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) or "(none)"
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "(none)"
        else:
            shown = str(value)
        console.print(f"  {escape(str(key))}: {escape(shown)}")


@app.command()
def seed(
    contacts: ContactsOption = 500,
    seed: SeedOption = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """Generate a population, seed the three vendor sandboxes and print what each holds."""
    from syncd.sandbox.serve import summaries

    found = summaries(seeded_sandboxes(contacts, seed))
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
        return
    console = Console(highlight=False)
    console.print(f"{contacts} people generated with seed {seed}")
    for vendor, summary in found.items():
        print_summary(console, vendor, summary)


@app.command()
def serve(
    contacts: ContactsOption = 500,
    seed: SeedOption = 7,
    port_base: Annotated[
        int, typer.Option(help="HubSpot's port; Brevo and Mailchimp take the next two.")
    ] = 8701,
) -> None:
    """Seed the sandboxes and serve them on 127.0.0.1 until Ctrl-C."""
    from syncd.sandbox.serve import SandboxServer

    sandboxes = seeded_sandboxes(contacts, seed)
    console = Console(highlight=False)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with SandboxServer(sandboxes, port_base=port_base) as server:
            for served in server.served:
                # plain echo: URLs and keys are copied from here, so never wrap them
                typer.echo(f"{served.vendor:<10} {served.url}  key {served.api_key}")
            console.print("serving; Ctrl-C stops")
            await stop.wait()

    asyncio.run(run())
