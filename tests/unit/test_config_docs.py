"""The README and .ci/run agree: CI runs exactly the test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    commands = [line for b in blocks for line in b.splitlines() if "pytest" in line]
    assert len(commands) == 1, f"expected one test command in the README, found {commands}"
    return commands[0].strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_test_command() in [line.strip() for line in ci]


def test_the_readme_demo_command_runs_the_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^python3 -m venv .venv && .* && .venv/bin/syncd demo$", readme, flags=re.M)


def test_ci_is_strict_bash() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci
    assert "ruff check" in ci and "ruff format --check" in ci and "mypy" in ci
