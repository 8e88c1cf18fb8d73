"""Pydantic errors -> config problems located by key path (``accounts[1].connectors.x``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from syncd.config.models import LITERAL_SECRET_KEYS
from syncd.errors import ConfigProblem

if TYPE_CHECKING:
    from syncd.config.catalogue import ConnectorCatalogue

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def key_path(loc: Sequence[str | int]) -> str:
    """``("accounts", 1, "connectors", "x")`` -> ``accounts[1].connectors.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def problem_from_error(
    err: Mapping[str, Any], catalogue: ConnectorCatalogue | None
) -> ConfigProblem:
    loc = tuple(err["loc"])
    kind = err["type"]
    last = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        is_connector = len(loc) == 4 and loc[0] == "accounts" and loc[2] == "connectors"
        if is_connector and catalogue is not None:
            message = catalogue.unknown_message(str(last))
        elif last in LITERAL_SECRET_KEYS:
            message = (
                f"'{last}' would put a secret in the file: name an environment variable "
                "with api_key_env, or a file with api_key_file"
            )
        else:
            message = f"unknown key '{last}'"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    elif kind == "too_short" and last in ("accounts", "connectors"):
        message = (
            "at least one [[accounts]] is required"
            if last == "accounts"
            else ("at least one connector is required")
        )
    else:
        given = err.get("input")
        shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:37] + "..."
        message = f"{err['msg']} (got {type(given).__name__} {shown})"
    return ConfigProblem(key_path(loc), message)


def in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Problems in the order of the file's keys (accounts[2] before accounts[10]), once each."""
    seen: dict[tuple[str, str], ConfigProblem] = {}
    for p in problems:
        seen.setdefault((p.path, p.message), p)

    def natural(p: ConfigProblem) -> list[tuple[int, str]]:
        return [(int(t), "") if t.isdigit() else (-1, t) for t in re.split(r"\[(\d+)\]", p.path)]

    return sorted(seen.values(), key=natural)
