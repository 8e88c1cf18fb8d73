"""Cross-references pydantic cannot see (duplicate ids, names that must exist, segment rules),
checked on the raw data so they run even when the shape check fails."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from syncd.config.catalogue import ConnectorCatalogue
from syncd.config.secrets import Resolved, bind_is_loopback, connector_secret, env_secret
from syncd.errors import RuleError

#: ``(segment name, rule, every segment name of the account) -> [(message, position)]``
RuleChecker = Callable[[str, str, Sequence[str]], list[tuple[str, int]]]


def default_rule_checker() -> RuleChecker | None:
    """The engine's rule parser, when it is installed; ``None`` skips rule checks."""
    try:
        from syncd.engine.rules import check_rule
    except ImportError:
        return None

    def checker(name: str, rule: str, known: Sequence[str]) -> list[tuple[str, int]]:
        return [(err.message, err.position) for err in check_rule(rule, known)]

    return checker


def cross_check(
    data: dict[str, Any],
    *,
    env: Mapping[str, str],
    base_dir: Path,
    catalogue: ConnectorCatalogue,
    rule_checker: RuleChecker | None,
) -> Resolved:
    out = Resolved()
    url_env = _table(data.get("store")).get("url_env")
    if isinstance(url_env, str):
        out.store_url = env_secret(out, env, url_env, ("store", "url_env"))
    admin = _table(data.get("admin"))
    token_env, bind = admin.get("token_env"), admin.get("bind")
    if isinstance(token_env, str):
        out.admin_token = env_secret(out, env, token_env, ("admin", "token_env"))
    elif token_env is None and isinstance(bind, str) and not bind_is_loopback(bind):
        out.add(("admin", "token_env"), "required when admin.bind is not a loopback address")
    accounts = data.get("accounts")
    if not isinstance(accounts, list):
        return out
    first_seen: dict[str, int] = {}
    for i, account in enumerate(accounts):
        if not isinstance(account, dict):
            continue
        account_id = account.get("id")
        if isinstance(account_id, str):
            if account_id in first_seen:
                out.add(
                    ("accounts", i, "id"),
                    f"duplicate account id '{account_id}' "
                    f"(first at accounts[{first_seen[account_id]}])",
                )
            first_seen.setdefault(account_id, i)
        connectors = _table(account.get("connectors"))
        if not connectors and not isinstance(account.get("connectors"), list | str | int):
            out.add(("accounts", i, "connectors"), "at least one connector is required")
        keys: dict[str, str] = {}
        for name, section in connectors.items():
            if name in catalogue.classes and isinstance(section, dict):
                loc = ("accounts", i, "connectors", name)
                key = connector_secret(out, env, base_dir, section, loc)
                if key is not None:
                    keys[name] = key
        out.api_keys[i] = keys
        hooks: dict[str, str] = {}
        for vendor, hook in _table(account.get("webhooks")).items():
            secret_name = _table(hook).get("secret_env")
            if isinstance(secret_name, str):
                where = ("accounts", i, "webhooks", vendor, "secret_env")
                secret = env_secret(out, env, secret_name, where)
                if secret is not None:
                    hooks[vendor] = secret
        out.webhook_secrets[i] = hooks
        _check_segments(out, account, i, set(connectors), rule_checker)
        for tool in _table(account.get("properties")):
            if tool not in connectors:
                out.add(
                    ("accounts", i, "properties", tool),
                    f"connector '{tool}' is not configured here",
                )
        _check_merge(out, _table(account.get("merge")), i, set(connectors))
    return out


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check_segments(
    out: Resolved,
    account: dict[str, Any],
    i: int,
    configured: set[str],
    rule_checker: RuleChecker | None,
) -> None:
    segments = account.get("segments")
    if not isinstance(segments, list):
        return
    tables = [(j, s) for j, s in enumerate(segments) if isinstance(s, dict)]
    names = [s["name"] for _, s in tables if isinstance(s.get("name"), str)]
    before = len(out.problems)
    first_seen: dict[str, int] = {}
    for j, segment in tables:
        loc = ("accounts", i, "segments", j)
        name = segment.get("name")
        if isinstance(name, str):
            if name in first_seen:
                out.add(
                    (*loc, "name"),
                    f"duplicate segment name '{name}' (first at segments[{first_seen[name]}])",
                )
            first_seen.setdefault(name, j)
        for tool in _table(segment.get("push")):
            if tool not in configured:
                out.add((*loc, "push", tool), f"connector '{tool}' is not configured here")
        rule = segment.get("rule")
        if rule_checker is None or not isinstance(rule, str) or not isinstance(name, str):
            continue
        try:
            found = rule_checker(name, rule, names)
        except RuleError as exc:
            found = [(exc.message, exc.position)]
        for message, position in found:
            out.add((*loc, "rule"), f"{message} at position {position} (segment '{name}')")
    if rule_checker is not None and len(out.problems) == before:
        _check_segment_cycles(out, tables, i)


def _check_segment_cycles(
    out: Resolved, tables: Sequence[tuple[int, dict[str, Any]]], i: int
) -> None:
    """Segments that refer to each other in a circle (each rule alone is fine)."""
    try:
        from syncd.engine.segments import SegmentDef, check_segments
    except ImportError:
        return
    defs = [
        (j, SegmentDef(name=s["name"], rule=s["rule"]))
        for j, s in tables
        if isinstance(s.get("name"), str) and isinstance(s.get("rule"), str)
    ]
    index = {d.name: j for j, d in defs}
    for name, errors in check_segments([d for _, d in defs]).items():
        for err in errors:
            out.add(
                ("accounts", i, "segments", index[name], "rule"),
                f"{err.message} at position {err.position} (segment '{name}')",
            )


def _check_merge(out: Resolved, merge: dict[str, Any], i: int, configured: set[str]) -> None:
    entries: list[tuple[tuple[str | int, ...], Any]] = [
        (("default_precedence",), merge.get("default_precedence"))
    ]
    entries += [(("precedence", k), v) for k, v in _table(merge.get("precedence")).items()]
    for sub, value in entries:
        if not isinstance(value, list):
            continue
        for k, tool in enumerate(value):
            if isinstance(tool, str) and tool not in configured:
                out.add(
                    ("accounts", i, "merge", *sub, k),
                    f"connector '{tool}' is not configured here",
                )
