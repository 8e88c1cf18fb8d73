"""Secrets named by the config, resolved from the environment or from files, never from the file
itself; each one that cannot be resolved is a problem at the key that names it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.config.models import LITERAL_SECRET_KEYS
from syncd.config.paths import key_path
from syncd.errors import ConfigProblem


@dataclass
class Resolved:
    """What the checks on the raw data found: problems, and the secrets they resolved."""

    problems: list[ConfigProblem] = field(default_factory=list)
    #: account index -> connector name -> secret
    api_keys: dict[int, dict[str, str]] = field(default_factory=dict)
    #: account index -> vendor -> webhook secret
    webhook_secrets: dict[int, dict[str, str]] = field(default_factory=dict)
    store_url: str | None = None
    admin_token: str | None = None

    def add(self, loc: Sequence[str | int], message: str) -> None:
        self.problems.append(ConfigProblem(key_path(loc), message))


def bind_is_loopback(bind: str) -> bool:
    try:
        return bind == "localhost" or ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return True  # not an address at all: reported by the shape check


def env_secret(
    out: Resolved, env: Mapping[str, str], name: str, loc: Sequence[str | int]
) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        out.add(
            loc,
            f"environment variable {name} is not set"
            if name not in env
            else (f"environment variable {name} is empty"),
        )
        return None
    return value


def connector_secret(
    out: Resolved,
    env: Mapping[str, str],
    base_dir: Path,
    section: dict[str, Any],
    loc: tuple[str | int, ...],
) -> str | None:
    env_name, file_name = section.get("api_key_env"), section.get("api_key_file")
    if env_name is not None and file_name is not None:
        out.add(loc, "set api_key_env or api_key_file, not both")
        return None
    if isinstance(env_name, str):
        return env_secret(out, env, env_name, (*loc, "api_key_env"))
    if isinstance(file_name, str):
        path = Path(file_name).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            out.add((*loc, "api_key_file"), f"cannot read {path}: {exc.strerror or exc}")
            return None
        if not secret:
            out.add((*loc, "api_key_file"), f"{path} is empty")
            return None
        return secret
    if env_name is None and file_name is None and not LITERAL_SECRET_KEYS & set(section):
        out.add(loc, "no API key: set api_key_env (an environment variable) or api_key_file")
    return None
