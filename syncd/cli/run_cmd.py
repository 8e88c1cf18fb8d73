"""``syncd run --config F``: the daemon in the foreground (systemd, Docker, Kubernetes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

#: exit status of a config with problems (1: the daemon could not start for another reason)
EXIT_INVALID = 2


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The TOML config file.")],
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", help='"text" or "json" (default: [logging] format).'),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = None,
) -> None:
    """Run the daemon: scheduled syncs, queued resyncs, the admin API.

    SIGTERM or Ctrl-C stops it cleanly (exit 0); SIGHUP reloads the config file, validated
    first (a file with problems is refused and the running config stays).
    """
    import asyncio

    from syncd.config import check_config
    from syncd.daemon.daemon import Daemon, DaemonOptions
    from syncd.daemon.logging import config_secrets, setup_logging
    from syncd.errors import SyncdError

    if log_format not in (None, "text", "json"):
        typer.echo('--log-format must be "text" or "json"', err=True)
        raise typer.Exit(EXIT_INVALID)
    result = check_config(config)
    if result.config is None:
        typer.echo(f"{config}: {len(result.problems)} problem(s)", err=True)
        for problem in result.problems:
            typer.echo(f"  {problem.path or '(file)'}: {problem.message}", err=True)
        raise typer.Exit(EXIT_INVALID)
    settings = result.config.logging
    redactor = setup_logging(
        (log_level or settings.level).upper(),
        log_format or settings.format,
        secrets=config_secrets(result.config),
    )
    daemon = Daemon(config, config=result.config, options=DaemonOptions(redactor=redactor))
    try:
        code = asyncio.run(daemon.serve())
    except SyncdError as exc:
        typer.echo(f"syncd run: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"syncd run: cannot start the admin API: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
