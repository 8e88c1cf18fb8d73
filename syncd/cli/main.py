"""The ``syncd`` command: a thin face over the core, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="syncd",
    help="Keep HubSpot, Brevo and Mailchimp audiences in step with one scored view of every contact.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Command groups register themselves here; each lives in its own module.
    pass


_register()
