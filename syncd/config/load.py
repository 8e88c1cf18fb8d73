"""Reading a config file: TOML syntax, then the shape, then the cross-references, with every
problem collected; the validated config carries the secrets it resolved."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from syncd.config.catalogue import ConnectorCatalogue, checked_model, discover_connectors
from syncd.config.checks import RuleChecker, cross_check, default_rule_checker
from syncd.config.models import StoreSettings, SyncdConfig
from syncd.config.paths import in_file_order, problem_from_error
from syncd.errors import ConfigError, ConfigProblem


@dataclass
class CheckResult:
    problems: list[ConfigProblem]
    config: SyncdConfig | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
            "summary": self.summary,
        }


def check_config(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> CheckResult:
    """Validate a config file; never raises for a bad file, never touches the store."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return CheckResult([ConfigProblem("", f"cannot read {path}: {exc.strerror or exc}")])
    return check_config_text(
        text, base_dir=path.parent, env=env, connectors=connectors, rule_checker=rule_checker
    )


def check_config_text(
    text: str,
    *,
    base_dir: Path = Path("."),
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> CheckResult:
    env = os.environ if env is None else env
    catalogue = connectors if connectors is not None else discover_connectors()
    checker = default_rule_checker() if rule_checker == "auto" else rule_checker
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return CheckResult([ConfigProblem("", f"TOML syntax error: {exc}")])

    problems: list[ConfigProblem] = []
    config: SyncdConfig | None = None
    try:
        config = checked_model(catalogue).model_validate(data)
    except ValidationError as exc:
        problems.extend(problem_from_error(err, catalogue) for err in exc.errors())
    secrets = cross_check(
        data, env=env, base_dir=base_dir, catalogue=catalogue, rule_checker=checker
    )
    problems.extend(secrets.problems)
    if problems or config is None:
        return CheckResult(in_file_order(problems))
    for i, account in enumerate(config.accounts):
        account._api_keys = secrets.api_keys.get(i, {})
        account._webhook_secrets = secrets.webhook_secrets.get(i, {})
    config._store_url = secrets.store_url or config.store.url
    config._admin_token = secrets.admin_token
    return CheckResult([], config, summarise(config))


def load_config(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> SyncdConfig:
    """The validated config, or :class:`ConfigError` carrying every problem."""
    result = check_config(path, env=env, connectors=connectors, rule_checker=rule_checker)
    if result.config is None:
        raise ConfigError(result.problems)
    return result.config


def read_store_url(path: Path | str, *, env: Mapping[str, str] | None = None) -> str:
    """Only the store URL of a config file: what ``syncd db`` needs (no connector secrets)."""
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None
    try:
        store = StoreSettings.model_validate(data.get("store", {}))
    except ValidationError as exc:
        raise ConfigError(
            [problem_from_error({**e, "loc": ("store", *e["loc"])}, None) for e in exc.errors()]
        ) from None
    if store.url_env is None:
        return store.url
    if not env.get(store.url_env):
        raise ConfigError(
            [ConfigProblem("store.url_env", f"environment variable {store.url_env} is not set")]
        )
    return env[store.url_env]


def summarise(config: SyncdConfig) -> dict[str, Any]:
    from syncd.store.engine import describe_store_url

    accounts = [
        {
            "id": a.id,
            "name": a.name,
            "connectors": sorted(a.connectors),
            "segments": [s.name for s in a.segments],
        }
        for a in config.accounts
    ]
    return {
        "accounts": accounts,
        "connectors": sum(len(a.connectors) for a in config.accounts),
        "segments": sum(len(a.segments) for a in config.accounts),
        "store": describe_store_url(config.store_url),
    }
