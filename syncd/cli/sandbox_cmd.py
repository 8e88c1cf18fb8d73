"""``syncd sandbox seed`` and ``syncd sandbox serve``: the vendor sandbox for manual use."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
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
        int,
        typer.Option(help="HubSpot's port; Brevo and Mailchimp take the next two (0: any free)."),
    ] = 8701,
    speed: Annotated[
        float,
        typer.Option(min=1, help="Raise the vendors' documented request rates by this factor."),
    ] = 1.0,
    write_config: Annotated[
        Path | None,
        typer.Option(
            help="Once serving, write a syncd config for an account over these sandboxes "
            "here, and its API keys beside it (FILE.env.json)."
        ),
    ] = None,
    store_url: Annotated[
        str, typer.Option(help="The store URL written into that config.")
    ] = "sqlite:///./syncd-sandbox.db",
    host: Annotated[
        str, typer.Option(help="Address to listen on (keep loopback outside a container).")
    ] = "127.0.0.1",
) -> None:
    """Seed the sandboxes and serve them (on 127.0.0.1 by default) until Ctrl-C or SIGTERM."""
    from syncd.sandbox.generate import generate
    from syncd.sandbox.serve import SandboxServer, summaries
    from syncd.sandbox.world import SandboxWorld

    world = SandboxWorld.build(generate(contacts, seed=seed), speed=speed)
    console = Console(highlight=False)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with SandboxServer(world.sandboxes, port_base=port_base or None, host=host) as server:
            for served in server.served:
                # plain echo: URLs and keys are copied from here, so never wrap them
                typer.echo(f"{served.vendor:<10} {served.url}  key {served.api_key}")
            if write_config is not None:
                text = world.config_toml(
                    store_url,
                    base_urls={s.vendor: s.url for s in server.served},
                    rate_limits=world.client_rate_limits(),
                )
                sidecar = {"env": world.env(), "summaries": summaries(world.sandboxes)}
                env_file = write_config.with_name(write_config.name + ".env.json")
                env_file.write_text(json.dumps(sidecar, default=str))
                # the config last: its appearance tells a waiting parent that all is ready
                tmp = write_config.with_name(write_config.name + ".tmp")
                tmp.write_text(text)
                tmp.replace(write_config)
            console.print(f"serving (request rates x{speed:g}); Ctrl-C stops")
            await stop.wait()

    asyncio.run(run())
