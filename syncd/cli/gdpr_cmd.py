"""``syncd gdpr export`` (everything syncd holds on a person, as JSON) and ``syncd gdpr erase``
(delete it, keep a salted hash tombstone; ``--remote`` asks each tool to delete them too)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The TOML config file.")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account id.")]
EmailOption = Annotated[str, typer.Option("--email", "-e", help="The person's email address.")]
EXIT_INVALID = 2


def _open(config_path: Path, account_id: str, email: str) -> tuple[Any, Any, str]:
    from syncd.config import check_config
    from syncd.normalize import InvalidEmail, normalize_email
    from syncd.store.engine import open_store

    result = check_config(config_path)
    if result.config is None:
        typer.echo(f"{config_path}: {len(result.problems)} problem(s)", err=True)
        for problem in result.problems:
            typer.echo(f"  {problem.path or '(file)'}: {problem.message}", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        account = result.config.account(account_id)
    except KeyError:
        known = ", ".join(a.id for a in result.config.accounts)
        typer.echo(f"no account {account_id!r} in {config_path} (known: {known})", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        address = normalize_email(email)
    except InvalidEmail as exc:
        typer.echo(f"not an email address: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return account, open_store(result.config.store_url), address


@app.command()
def export(
    config: ConfigOption,
    account: AccountOption,
    email: EmailOption,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Everything syncd holds on EMAIL in ACCOUNT, as JSON."""
    from syncd.clock import SystemClock
    from syncd.gdpr.export import export_person

    found, engine, address = _open(config, account, email)
    try:
        document = export_person(engine, found.id, address, SystemClock().now())
    finally:
        engine.dispose()
    text = json.dumps(document, indent=2, sort_keys=True)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        counts = {name: len(rows) for name, rows in document["tables"].items() if rows}
        typer.echo(f"wrote {out}: {counts or 'nothing held'}", err=True)


@app.command()
def erase(
    config: ConfigOption,
    account: AccountOption,
    email: EmailOption,
    remote: Annotated[
        bool, typer.Option("--remote", help="Also delete them in every tool.")
    ] = False,
    local_only: Annotated[
        bool,
        typer.Option(
            "--local-only",
            help="Touch no tool: leave the lists and tags syncd gave them where they are.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase EMAIL from ACCOUNT: every row goes, a salted hash tombstone stays.

    By default the person first leaves every list and tag syncd manages in each tool (the store
    forgets them, so no later run could); ``--remote`` deletes them in each tool instead.
    """
    from syncd.clock import SystemClock
    from syncd.gdpr.erase import delete_remotely, erase_person, withdraw_memberships

    found, engine, address = _open(config, account, email)
    where = "the store and every tool" if remote else "the store"
    if not yes and not typer.confirm(f"Erase {address} from {where} of {found.id}?"):
        engine.dispose()
        raise typer.Exit(1)
    try:
        if remote:
            outcome = asyncio.run(delete_remotely(found, address))
        elif local_only:
            outcome = {}
        else:  # the person stays in the tools, but leaves every list and tag syncd manages
            outcome = asyncio.run(withdraw_memberships(engine, found, address))
        report = erase_person(engine, found.id, address, SystemClock().now(), remote=outcome)
    finally:
        engine.dispose()
    typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    fine = ("deleted", "not held", "removed from")
    if any(not v.startswith(fine) for v in report.remote.values()):
        raise typer.Exit(1)
