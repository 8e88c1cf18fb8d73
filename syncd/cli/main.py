"""The ``syncd`` command: a thin face over the core, one module per command group.

Each group is a ``typer.Typer`` named ``app`` in its own module; :data:`GROUPS` lists them.
A command module imports what it needs inside its commands, so ``syncd --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="syncd",
    help="Keep HubSpot, Brevo and Mailchimp audiences in step with one scored view of "
    "every contact.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: (command name, module holding its Typer ``app``, help). Add new groups here:
#: ("segments", "syncd.cli.segments_cmd", ...), ("models", "syncd.cli.models_cmd", ...).
GROUPS: list[tuple[str, str, str]] = [
    ("config", "syncd.cli.config_cmd", "Check a config file."),
    ("contacts", "syncd.cli.contacts_cmd", "Look at contacts: likely duplicates."),
    ("db", "syncd.cli.db_cmd", "Create and upgrade the store's schema."),
    ("sandbox", "syncd.cli.sandbox_cmd", "Seed and serve the vendor sandbox."),
    ("segments", "syncd.cli.segments_cmd", "Preview segments and explain memberships."),
    ("models", "syncd.cli.models_cmd", "Train predictive models and clusters; list stored ones."),
    ("gdpr", "syncd.cli.gdpr_cmd", "Export or erase everything syncd holds on one person."),
]

#: single commands: (module, function name)
COMMANDS: list[tuple[str, str]] = [
    ("syncd.cli.demo_cmd", "demo"),
    ("syncd.cli.sync_cmd", "sync"),
    ("syncd.cli.run_cmd", "run"),
    ("syncd.cli.resync_cmd", "resync"),
    ("syncd.cli.resync_cmd", "runs"),
]


def _register() -> None:
    for name, module, help_text in GROUPS:
        group = importlib.import_module(module).app
        app.add_typer(group, name=name, help=help_text)
    for module, function in COMMANDS:
        app.command(name=function)(getattr(importlib.import_module(module), function))


_register()
