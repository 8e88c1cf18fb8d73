"""What every account command does first: load the config, find the account, open the store.

A broken config prints each problem with its key path and exits 2 before anything is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from syncd.config import AccountConfig, SyncdConfig

#: exit status of a config with problems (1 stays for failures while running)
EXIT_INVALID = 2


def load_checked(config: Path) -> SyncdConfig:
    from syncd.config import load_config
    from syncd.errors import ConfigError

    try:
        return load_config(config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(EXIT_INVALID) from None


def find_account(loaded: SyncdConfig, account_id: str, config: Path) -> AccountConfig:
    try:
        return loaded.account(account_id)
    except KeyError:
        known = ", ".join(a.id for a in loaded.accounts)
        typer.echo(f"no account '{account_id}' in {config} (accounts: {known})", err=True)
        raise typer.Exit(EXIT_INVALID) from None


def open_account(config: Path, account_id: str) -> tuple[SyncdConfig, AccountConfig, Engine]:
    """The validated config, the account and its store (created on first use)."""
    from syncd.errors import StoreError
    from syncd.store.engine import open_store

    loaded = load_checked(config)
    account = find_account(loaded, account_id, config)
    try:
        engine = open_store(loaded.store_url)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    return loaded, account, engine
