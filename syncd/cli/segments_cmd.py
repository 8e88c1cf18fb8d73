"""``syncd segments``: preview every segment of an account, or explain one contact's memberships.

Both read the store: fresh features and scores (``syncd.engine.features.compute_features``),
with whatever the last recompute stored in ``contact_score`` (scores, stages, predictions,
clusters) taking precedence, so that both commands agree with what was pushed and a single
contact's explain does not measure RFM quintiles on itself. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from syncd.cli.common import EXIT_INVALID, open_account
from syncd.engine.rules import ClauseExplanation
from syncd.engine.segments import (
    SegmentDef,
    SegmentExplanation,
    SegmentSet,
    evaluate_segments,
    is_drift,
)

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from syncd.config import AccountConfig
    from syncd.store.models import SegmentSnapshot

app = typer.Typer(no_args_is_help=True)


ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Config file.")]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="Account id.")]


@dataclass(frozen=True)
class SegmentPreview:
    name: str
    size: int
    holdout_size: int
    previous_size: int | None
    drift: bool
    sample: list[str]

    @property
    def change(self) -> str:
        if self.previous_size is None:
            return "new"
        delta = self.size - self.previous_size
        share = delta / max(self.previous_size, 1)
        return f"{delta:+d} ({share:+.1%})"


def preview(
    frame: pd.DataFrame,
    segments: Sequence[SegmentDef] | SegmentSet,
    account_id: str,
    previous: Mapping[str, SegmentSnapshot],
    *,
    drift_threshold: float,
    sample_size: int = 5,
) -> list[SegmentPreview]:
    """Each segment's size now, against the last stored snapshot, with a sample of emails."""
    results = evaluate_segments(frame, segments, account_id)
    emails = frame["email"] if "email" in frame.columns else None
    out: list[SegmentPreview] = []
    for name, result in results.items():
        before = previous[name].size if name in previous else None
        sample: list[str] = []
        if emails is not None:
            sample = [str(e) for e in emails.loc[result.matched[:sample_size].tolist()]]
        out.append(
            SegmentPreview(
                name,
                result.size,
                len(result.holdout),
                before,
                is_drift(result.size, before, drift_threshold),
                sample,
            )
        )
    return out


def render_preview(console: Console, previews: Sequence[SegmentPreview]) -> None:
    table = Table(title="Segments")
    for column in ("segment", "size", "holdout", "change", "drift", "sample"):
        table.add_column(column, justify="right" if column in ("size", "holdout") else "left")
    for p in previews:
        table.add_row(
            escape(p.name),
            str(p.size),
            str(p.holdout_size),
            p.change,
            "[bold red]DRIFT[/]" if p.drift else "",
            escape(", ".join(p.sample)),
        )
    console.print(table)


_MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]?[/]"}


def _show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _clause_label(clause: ClauseExplanation) -> str:
    label = f"{_MARKS[clause.outcome]} {escape(clause.text)}"
    if clause.kind in ("and", "or", "not"):
        label = f"{_MARKS[clause.outcome]} [bold]{clause.kind}[/]  [dim]{escape(clause.text)}[/]"
    elif clause.values:
        read = ", ".join(f"{k} = {_show_value(v)}" for k, v in clause.values.items())
        label += f"  [dim]({escape(read)})[/]"
    if clause.outcome is None:
        label += "  [yellow]unknown: a null was read[/]"
    return label


def explanation_tree(explanation: SegmentExplanation) -> Tree:
    if explanation.member:
        status = "[green]member[/]" + (" [magenta](holdout)[/]" if explanation.holdout else "")
    else:
        status = "[red]not a member[/]"
    tree = Tree(f"{_MARKS[explanation.member]} [bold]{escape(explanation.segment)}[/]: {status}")

    def add(node: Tree, clause: ClauseExplanation) -> None:
        branch = node.add(_clause_label(clause))
        for child in clause.children:
            add(branch, child)

    add(tree, explanation.clauses)
    return tree


def render_explain(
    console: Console, email: str, explanations: Sequence[SegmentExplanation]
) -> None:
    console.print(f"[bold]{escape(email)}[/]")
    for explanation in explanations:
        console.print(explanation_tree(explanation))


# --- reading the store ------------------------------------------------------------------


def _score_columns() -> tuple[str, ...]:
    from syncd.engine.recompute import SCORE_COLUMNS

    return SCORE_COLUMNS


def frame_from_store(
    engine: Engine, account_id: str, now: datetime, contact_ids: Sequence[int] | None = None
) -> pd.DataFrame:
    """Fresh features and scores, with the last recompute's stored values taking precedence."""
    import pandas as pd
    from sqlalchemy import select

    from syncd.engine.features import compute_features
    from syncd.store.models import ContactScore

    table = ContactScore.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        frame = compute_features(conn, account_id, now, contact_ids=contact_ids)
        query = select(table.c.contact_id, *(table.c[c] for c in _score_columns())).where(
            table.c.account_id == account_id
        )
        if contact_ids is not None:
            query = query.where(table.c.contact_id.in_(list(contact_ids)))
        scores = pd.DataFrame(conn.execute(query).all(), columns=["contact_id", *_score_columns()])
    return overlay_stored_scores(frame, scores.set_index("contact_id"))


def overlay_stored_scores(frame: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """``stored`` values (indexed by contact id) where present, ``frame``'s elsewhere."""
    from syncd.engine.fields import FieldType, field_type

    stored = stored.reindex(frame.index)
    out = frame.copy()
    for column in _score_columns():
        numeric = field_type(column) is FieldType.NUMBER
        kept = stored[column].astype("float64" if numeric else object)
        if column in out.columns:
            fresh = out[column].astype("float64" if numeric else object)
            kept = kept.where(kept.notna(), fresh)
        out[column] = kept
    return out


def _segment_defs(account: AccountConfig) -> list[SegmentDef]:
    from syncd.engine.configure import segment_defs

    return segment_defs(account)


def _run(action: Callable[[], None]) -> None:
    from syncd.errors import SyncdError

    try:
        action()
    except SyncdError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


# --- commands ---------------------------------------------------------------------------


@app.command("preview")
def preview_command(
    config: ConfigOption,
    account: AccountOption,
    sample: Annotated[int, typer.Option(help="Member emails to show per segment.")] = 5,
) -> None:
    """Each segment's size, change since the last recompute, drift flag and a sample."""
    from syncd.engine.segment_store import latest_snapshots

    _, account_config, engine = open_account(config, account)
    threshold = account_config.scoring.drift_threshold

    def act() -> None:
        now = datetime.now(UTC)
        frame = frame_from_store(engine, account, now)
        with engine.connect() as conn:
            previous = latest_snapshots(conn, account)
        previews = preview(
            frame,
            _segment_defs(account_config),
            account,
            previous,
            drift_threshold=threshold,
            sample_size=sample,
        )
        render_preview(Console(), previews)

    try:
        _run(act)
    finally:
        engine.dispose()


@app.command("explain")
def explain_command(
    config: ConfigOption,
    account: AccountOption,
    email: Annotated[str, typer.Option("--email", "-e", help="The contact's email.")],
) -> None:
    """Clause by clause, why a contact is or is not in each segment."""
    from sqlalchemy import select

    from syncd.engine.segments import explain
    from syncd.normalize import InvalidEmail, normalize_email
    from syncd.store.models import Contact

    _, account_config, engine = open_account(config, account)

    def act() -> None:
        try:
            address = normalize_email(email)
        except InvalidEmail as exc:
            typer.echo(f"not an email address: {email} ({exc})", err=True)
            raise typer.Exit(EXIT_INVALID) from None
        with engine.connect() as conn:
            contacts = Contact.__table__  # type: ignore[attr-defined]
            contact_id = conn.execute(
                select(contacts.c.id).where(
                    contacts.c.account_id == account, contacts.c.email == address
                )
            ).scalar()
        if contact_id is None:
            typer.echo(f"no contact {address} in account '{account}'", err=True)
            raise typer.Exit(1)
        frame = frame_from_store(engine, account, datetime.now(UTC), contact_ids=[contact_id])
        explanations = explain(frame, contact_id, _segment_defs(account_config), account)
        render_explain(Console(), address, explanations)

    try:
        _run(act)
    finally:
        engine.dispose()
