"""``syncd db``: create or upgrade the store's schema, and show where it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from syncd.cli.config_cmd import EXIT_INVALID

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Config file whose [store] to use.")
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Store URL (overrides --config).", envvar="SYNCD_STORE_URL"),
]


def _store_url(config: Path | None, url: str | None) -> str:
    from syncd.config import DEFAULT_STORE_URL, read_store_url
    from syncd.errors import ConfigError

    if url:
        return url
    if config is None:
        return DEFAULT_STORE_URL
    try:
        return read_store_url(config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"{problem}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


@app.command()
def upgrade(
    config: ConfigOption = None,
    url: UrlOption = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply the schema migrations (creates the store if it does not exist)."""
    from syncd.store.engine import describe_store_url, ensure_sqlite_directory, make_engine
    from syncd.store.migrations import current_revision
    from syncd.store.migrations import upgrade as run_upgrade

    store_url = _store_url(config, url)
    ensure_sqlite_directory(store_url)
    engine = make_engine(store_url)
    try:
        before = current_revision(engine)
        run_upgrade(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    Console(highlight=False).print(
        f"{escape(describe_store_url(store_url))}: {before or '(empty)'} -> {after}"
    )


@app.command()
def current(config: ConfigOption = None, url: UrlOption = None) -> None:
    """Show the store's schema revision and the newest one this syncd knows."""
    from syncd.store.engine import describe_store_url, make_engine
    from syncd.store.migrations import current_revision, head_revision

    store_url = _store_url(config, url)
    engine = make_engine(store_url)
    try:
        at = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if at == head else "needs `syncd db upgrade`"
    Console(highlight=False).print(
        f"{escape(describe_store_url(store_url))}: at {at or '(empty)'}, head {head} ({state})"
    )
