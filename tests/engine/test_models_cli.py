"""``syncd models train|show``: rendering on hand-built reports, then both commands on a store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from syncd import connector as connector_module
from syncd.cli.models_cmd import app, outcome_lines, render_train
from syncd.engine.models import ModelOutcome, TrainReport

CUTOFF = datetime(2026, 11, 1, tzinfo=UTC)
TRAINED = ModelOutcome(
    "churn",
    True,
    "churn model: gradient_boosting (AUC 0.812; logistic_regression 0.790, gradient_boosting 0.812;"
    " 900 examples, 300 positive)",
    {
        "auc": {"logistic_regression": 0.79, "gradient_boosting": 0.812},
        "chosen": "gradient_boosting",
        "cv_folds": 5,
        "n_cv": 900,
        "n_fit": 900,
        "n": 900,
        "positives": 300,
        "features": ["opens_30d", "clicks_30d"],
        "sklearn": "1.9.1",
    },
    version=3,
)
REFUSED = ModelOutcome(
    "propensity", False, "propensity model not trained: only 3 positive examples (need 20)"
)


def test_train_output_names_the_kept_model_and_why_another_was_not_trained() -> None:
    assert outcome_lines(REFUSED) == [REFUSED.message]
    lines = outcome_lines(TRAINED)
    assert lines[0].endswith("stored as version 3")
    assert "logistic_regression 0.790, gradient_boosting 0.812" in lines[0]
    assert lines[1] == (
        "  5-fold cross-validation on 900 rows, final fit on 900; 2 features; scikit-learn 1.9.1"
    )
    console = Console(record=True, width=200)
    report = TrainReport("acme", CUTOFF, {"churn": TRAINED, "propensity": REFUSED}, {"churn": 1.5})
    render_train(console, report)
    text = console.export_text()
    assert "acme: features as of 2026-11-01 00:00 UTC" in text
    assert "only 3 positive examples (need 20)" in text and "churn 1.5s" in text


CONFIG = """
[store]
url = "sqlite:///{db}"

[[accounts]]
id = "acme"

[accounts.connectors.toy]
audience_id = "aud-1"
api_key_env = "TOY_KEY"
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.unit.test_config import ToyConnector

    monkeypatch.setattr(connector_module, "registry", lambda: {"toy": ToyConnector})
    monkeypatch.setenv("TOY_KEY", "k")
    path = tmp_path / "syncd.toml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db"))
    return path


@pytest.fixture
def store_config(config_file: Path) -> tuple[Path, datetime]:
    from syncd.sandbox.generate import generate
    from syncd.store.engine import open_store
    from tests.support.store_loader import load_population

    engine = open_store(f"sqlite:///{config_file.parent / 's.db'}")
    people = generate(1500, seed=11)
    load_population(engine, "acme", people)
    engine.dispose()
    return config_file, people.now


def test_train_then_show(store_config: tuple[Path, datetime]) -> None:
    path, now = store_config
    runner = CliRunner()
    args = ["--config", str(path), "--account", "acme"]
    result = runner.invoke(app, ["show", *args])
    assert result.exit_code == 0, result.output
    assert "no stored models for account 'acme'" in result.output

    result = runner.invoke(app, ["train", *args, "--now", now.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {kind: m["trained"] for kind, m in report["models"].items()} == {
        "churn": True,
        "propensity": True,
        "clusters": True,
    }
    assert report["models"]["churn"]["metrics"]["chosen"] in (
        "logistic_regression",
        "gradient_boosting",
    )

    result = runner.invoke(app, ["train", *args, "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    assert "stored as version 2" in result.output and "cross-validation" in result.output

    result = runner.invoke(app, ["show", *args, "--kind", "churn", "--json"])
    listed = json.loads(result.output)
    assert [(m["kind"], m["version"]) for m in listed] == [("churn", 2), ("churn", 1)]
    result = runner.invoke(app, ["show", *args])
    assert result.exit_code == 0 and "clusters" in result.output and "AUC" in result.output


def test_an_unknown_account_or_bad_time_is_refused(config_file: Path) -> None:
    path = config_file
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(path), "--account", "nope"])
    assert result.exit_code == 2 and "no account 'nope'" in result.output
    result = runner.invoke(
        app, ["train", "--config", str(path), "--account", "acme", "--now", "yesterday"]
    )
    assert result.exit_code == 2 and "not an ISO date-time" in result.output
