"""The compose example's config passes `config check` with the environment compose gives it."""

from __future__ import annotations

from pathlib import Path

import yaml

from syncd.config import check_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_config_is_valid_with_the_compose_environment() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env = compose["x-syncd"]["environment"]
    result = check_config(ROOT / "deploy/compose/syncd.toml", env=env)
    assert result.ok, result.problems
    config = result.config
    assert config is not None and config.store_url.startswith("postgresql")
    # two daemons on one store, the admin API reachable from outside the container
    daemons = [name for name, svc in compose["services"].items() if name.startswith("syncd-")]
    assert len(daemons) == 2
    assert config.admin.bind == "0.0.0.0" and config.admin_token == "change-me"
