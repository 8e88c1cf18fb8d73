"""``syncd segments preview|explain``: the pure parts on hand-built frames, then both commands
end to end against a small store (needs E1's feature code; skipped until it imports)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from syncd import connector as connector_module
from syncd.cli.segments_cmd import (
    SegmentPreview,
    app,
    explanation_tree,
    overlay_stored_scores,
    preview,
    render_explain,
    render_preview,
)
from syncd.engine.segments import SegmentDef, explain
from syncd.store.models import SegmentSnapshot

T0 = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opens_30d": [3.0, 0.0, 2.0, np.nan],
            "country": ["FR", "FR", "DE", None],
            "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"],
        },
        index=pd.Index([1, 2, 3, 4], dtype="int64", name="contact_id"),
    )


DEFS = [
    SegmentDef("engaged", "opens_30d >= 2"),
    SegmentDef("fr-engaged", 'segment("engaged") and country = "FR"'),
    SegmentDef("quiet", "opens_30d < 1"),
]


def snapshot(segment: str, size: int) -> SegmentSnapshot:
    return SegmentSnapshot(account_id="acme", segment=segment, computed_at=T0, size=size)


def test_preview_sizes_change_drift_and_sample(frame: pd.DataFrame) -> None:
    previous = {"engaged": snapshot("engaged", 2), "quiet": snapshot("quiet", 4)}
    rows = preview(frame, DEFS, "acme", previous, drift_threshold=0.2, sample_size=1)
    assert [(p.name, p.size, p.previous_size, p.drift, p.sample) for p in rows] == [
        ("engaged", 2, 2, False, ["a@x.io"]),
        ("fr-engaged", 1, None, False, ["a@x.io"]),
        ("quiet", 1, 4, True, ["b@x.io"]),
    ]
    assert [p.change for p in rows] == ["+0 (+0.0%)", "new", "-3 (-75.0%)"]
    console = Console(record=True, width=120)
    render_preview(console, rows)
    text = console.export_text()
    assert "DRIFT" in text and "-3 (-75.0%)" in text and "fr-engaged" in text


def test_explain_tree_marks_each_clause(frame: pd.DataFrame) -> None:
    explanations = explain(frame, 4, DEFS, "acme")
    console = Console(record=True, width=120)
    render_explain(console, "d@x.io", explanations)
    text = console.export_text()
    assert "✗ engaged: not a member" in text
    assert "? opens_30d >= 2  (opens_30d = null)  unknown: a null was read" in text
    assert '✗ segment("engaged")' in text
    member = explanation_tree(explain(frame, 1, DEFS, "acme")[1])
    out = Console(record=True, width=120)
    out.print(member)
    shown = out.export_text()
    assert "✓ fr-engaged: member" in shown
    assert "✓ country = \"FR\"  (country = 'FR')" in shown


def test_stored_scores_take_precedence(frame: pd.DataFrame) -> None:
    fresh = frame.assign(engagement_score=[10.0, 20.0, 30.0, 40.0], lifecycle="active")
    stored = pd.DataFrame(
        {"engagement_score": [99.0], "lifecycle": ["at_risk"], "churn_risk": [0.8]},
        index=pd.Index([2], name="contact_id"),
    ).reindex(
        columns=[
            "engagement_score",
            "lifecycle",
            "churn_risk",
            "rfm_r",
            "rfm_f",
            "rfm_m",
            "rfm_group",
            "engagement_tier",
            "purchase_propensity",
            "cluster",
            "persona",
        ]
    )
    out = overlay_stored_scores(fresh, stored)
    assert out["engagement_score"].tolist() == [10.0, 99.0, 30.0, 40.0]
    assert out["lifecycle"].tolist() == ["active", "at_risk", "active", "active"]
    assert out["churn_risk"].isna().tolist() == [True, False, True, True]
    assert out["persona"].isna().all()


def test_preview_change_for_an_empty_previous_segment() -> None:
    assert SegmentPreview("x", 3, 0, 0, True, []).change == "+3 (+300.0%)"


# --- end to end --------------------------------------------------------------------------

CONFIG = """
[store]
url = "sqlite:///{db}"

[[accounts]]
id = "acme"

[accounts.connectors.toy]
audience_id = "aud-1"
api_key_env = "TOY_KEY"

[[accounts.segments]]
name = "engaged"
rule = "opens_30d >= 2"
push.toy = {{ tags = ["syncd-engaged"] }}

[[accounts.segments]]
name = "fr-engaged"
rule = 'segment("engaged") and country = "FR"'
"""


@pytest.fixture
def store_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("syncd.engine.features")
    pytest.importorskip("syncd.engine.scores")
    from sqlmodel import SQLModel

    from syncd.store.engine import open_store
    from tests.unit.test_config import ToyConnector

    monkeypatch.setattr(connector_module, "registry", lambda: {"toy": ToyConnector})
    monkeypatch.setenv("TOY_KEY", "k")
    db = tmp_path / "s.db"
    (tmp_path / "syncd.toml").write_text(CONFIG.format(db=db))
    engine = open_store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    tables = SQLModel.metadata.tables
    people = {1: ("a@x.io", "FR", 3), 2: ("b@x.io", "FR", 0), 3: ("c@x.io", "DE", 2)}
    with engine.begin() as conn:
        conn.execute(tables["account"].insert(), [{"id": "acme", "name": "", "created_at": now}])
        conn.execute(
            tables["contact"].insert(),
            [
                {
                    "id": cid,
                    "account_id": "acme",
                    "email": email,
                    "attributes": {"country": country},
                    "provenance": {},
                    "created_at": now - timedelta(days=100),
                    "updated_at": now,
                    "changed_at": now,
                }
                for cid, (email, country, _) in people.items()
            ],
        )
        events = [
            {
                "account_id": "acme",
                "contact_id": cid,
                "tool": "toy",
                "event_id": f"{cid}-{k}",
                "type": "open",
                "occurred_at": now - timedelta(days=k + 1),
                "occurred_ts": int((now - timedelta(days=k + 1)).timestamp()),
            }
            for cid, (_, _, opens) in people.items()
            for k in range(opens)
        ]
        conn.execute(tables["activity_event"].insert(), events)
    engine.dispose()
    return tmp_path / "syncd.toml"


def _cli() -> typer.Typer:
    return app


def test_preview_and_explain_commands(store_config: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_cli(), ["preview", "--config", str(store_config), "--account", "acme"])
    assert result.exit_code == 0, result.output
    assert "engaged" in result.output and "a@x.io" in result.output and "new" in result.output
    result = runner.invoke(
        _cli(),
        ["explain", "--config", str(store_config), "--account", "acme", "--email", "B@x.io"],
    )
    assert result.exit_code == 0, result.output
    assert "✗ engaged: not a member" in result.output
    assert "opens_30d = 0" in result.output
    missing = runner.invoke(
        _cli(), ["explain", "-c", str(store_config), "-a", "acme", "-e", "zz@x.io"]
    )
    assert missing.exit_code == 1 and "no contact zz@x.io" in missing.output
    invalid = runner.invoke(_cli(), ["explain", "-c", str(store_config), "-a", "acme", "-e", "x@"])
    assert invalid.exit_code == 2 and "not an email address: x@" in invalid.output
    unknown = runner.invoke(_cli(), ["preview", "-c", str(store_config), "-a", "nope"])
    assert unknown.exit_code == 2 and "no account 'nope'" in unknown.output
