"""``syncd models``: train an account's churn, propensity and cluster models; list stored ones.

``train`` prints, per model, what was kept and why (both cross-validated AUCs, the chosen
model, the number of examples and positives, the stored version), or why no model was trained
("only 3 positive examples (need 20)"): an account too small to learn from is a normal outcome,
not an error, so the exit status is 0 either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from syncd.cli.common import EXIT_INVALID, open_account

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from syncd.engine.models import ModelOutcome, TrainReport

app = typer.Typer(no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file.")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="Account id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _run(engine: Engine, action: Callable[[], None]) -> None:
    from syncd.errors import SyncdError

    try:
        action()
    except SyncdError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"--now: not an ISO date-time: {value!r}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- rendering (pure: tested on hand-built reports) ------------------------------------------


def outcome_lines(outcome: ModelOutcome) -> list[str]:
    """What ``train`` prints for one model: its verdict, then the details worth reading."""
    if not outcome.trained:
        return [outcome.message]
    metrics = outcome.metrics
    lines = [f"{outcome.message}, stored as version {outcome.version}"]
    if "auc" in metrics:  # the message already gives both AUCs, the choice and the counts
        lines.append(
            f"  {metrics['cv_folds']}-fold cross-validation on {metrics['n_cv']} rows, final fit "
            f"on {metrics['n_fit']}; {len(metrics['features'])} features; "
            f"scikit-learn {metrics['sklearn']}"
        )
    for cluster in metrics.get("clusters", []):
        lines.append(f"  cluster {cluster['label']}: {cluster['persona']} ({cluster['share']:.1%})")
    return lines


def render_train(console: Console, report: TrainReport) -> None:
    console.print(
        f"[bold]{escape(report.account_id)}[/]: features as of {report.cutoff:%Y-%m-%d %H:%M}"
        " UTC, outcomes in the days after"
    )
    for outcome in report.outcomes.values():
        for line in outcome_lines(outcome):
            console.print(escape(line), highlight=False)
    if report.timings:
        spent = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.timings.items())
        console.print(f"time: {spent}", highlight=False)


def report_json(report: TrainReport) -> dict[str, Any]:
    return {
        "account": report.account_id,
        "cutoff": report.cutoff.isoformat(),
        "models": {
            kind: {
                "trained": o.trained,
                "message": o.message,
                "version": o.version,
                "metrics": o.metrics,
            }
            for kind, o in report.outcomes.items()
        },
        "timings": report.timings,
    }


def _summary(kind: str, metrics: dict[str, Any]) -> str:
    if "auc" in metrics and metrics.get("chosen") in metrics["auc"]:
        chosen = metrics["chosen"]
        return (
            f"{chosen}, AUC {metrics['auc'][chosen]:.3f}, "
            f"{metrics.get('n')} examples / {metrics.get('positives')} positive"
        )
    if "k" in metrics:
        personas = "; ".join(c["persona"] for c in metrics.get("clusters", []))
        return f"k={metrics['k']}: {personas}"
    return ""


def artifacts_table(rows: Iterable[Any]) -> Table:
    table = Table("kind", "version", "trained at", "model", "size", show_lines=False)
    for row in rows:
        size = f"{len(row.blob) / 1024:.0f} KiB"
        trained = row.trained_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(row.kind, str(row.version), trained, _summary(row.kind, row.metrics), size)
    return table


# --- commands --------------------------------------------------------------------------------


@app.command("train")
def train_command(
    config: ConfigOption,
    account: AccountOption,
    now: Annotated[
        str | None, typer.Option(help="Train as of this ISO time (default: now).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train churn, propensity and clusters for an account and store them."""
    from syncd.engine.configure import model_settings, scoring_settings
    from syncd.engine.models import train

    _, account_config, engine = open_account(config, account)
    moment = _parse_now(now)

    def act() -> None:
        report = train(
            engine,
            account,
            moment,
            model_settings(account_config),
            scoring=scoring_settings(account_config),
        )
        if as_json:
            typer.echo(json.dumps(report_json(report), indent=2, default=str))
        else:
            render_train(Console(), report)

    _run(engine, act)


@app.command("show")
def show_command(
    config: ConfigOption,
    account: AccountOption,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind: churn, propensity or clusters.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the account's stored models, newest first, with their metrics."""
    from sqlalchemy import select

    from syncd.store.models import ModelArtifact

    _, _, engine = open_account(config, account)

    def act() -> None:
        table = ModelArtifact.__table__  # type: ignore[attr-defined]
        query = select(table).where(table.c.account_id == account)
        if kind:
            query = query.where(table.c.kind == kind)
        query = query.order_by(table.c.kind, table.c.version.desc())
        with engine.connect() as conn:
            rows = list(conn.execute(query))
        if as_json:
            listed = [
                {
                    "kind": r.kind,
                    "version": r.version,
                    "trained_at": r.trained_at.isoformat(),
                    "metrics": r.metrics,
                }
                for r in rows
            ]
            typer.echo(json.dumps(listed, indent=2, default=str))
        elif not rows:
            typer.echo(f"no stored models for account '{account}' (run: syncd models train)")
        else:
            Console().print(artifacts_table(rows))

    _run(engine, act)
