"""The one entry point the CLI, the demo and the daemon use to run a sync for an account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from syncd.clock import Clock, SystemClock
from syncd.config import AccountConfig, SyncdConfig
from syncd.connector import Connector, get_connector
from syncd.sync.desired import PropertyPush, SegmentPush
from syncd.sync.merge import MergePolicy
from syncd.sync.run import Observer, RunOptions, RunReport, RunSpec, SyncRun


def build_connectors(
    account: AccountConfig,
    http_options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    read_only: bool = False,
) -> dict[str, Connector]:
    """One connector per configured tool; ``http_options`` (per tool) reach ``VendorHttp``
    (tests and the demo pass a sandbox ``transport`` and a shared ``clock``). ``read_only``
    connectors create no missing list, tag or property (a dry run)."""
    built: dict[str, Connector] = {}
    for name, settings in account.connectors.items():
        cls = get_connector(name)
        if read_only:
            settings = settings.model_copy(update={"create_missing": False})
        built[name] = cls.build(
            settings, account.api_key(name), **dict((http_options or {}).get(name, {}))
        )
    return built


def run_spec(account: AccountConfig, connectors: Mapping[str, Connector]) -> RunSpec:
    pushes = [
        SegmentPush(
            segment=segment.name,
            tool=tool,
            tags=tuple(target.tags),
            lists=tuple(target.lists),
            properties={k: _text(v) for k, v in target.properties.items()},
            holdout=segment.holdout > 0,
        )
        for segment in account.segments
        for tool, target in segment.push.items()
    ]
    properties = [
        PropertyPush(tool, prop, source)
        for tool, mapping in account.properties.items()
        for prop, source in mapping.items()
    ]
    precedence = {
        attr: list(order)
        for attr, order in account.merge.precedence.items()
        if isinstance(order, list)
    }
    default = account.merge.default_precedence
    return RunSpec(
        account_id=account.id,
        connectors=connectors,
        pushes=pushes,
        properties=properties,
        policy=MergePolicy(
            precedence=precedence, default=list(default) if isinstance(default, list) else None
        ),
        suppression=account.merge.suppression,
        drift=account.merge.drift,
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def engine_recompute(account: AccountConfig) -> Any:
    """The recompute step of a run: the scoring engine over the account's settings."""
    from syncd.engine.configure import scoring_settings, segment_defs
    from syncd.engine.recompute import recompute

    settings = scoring_settings(account)
    segments = segment_defs(account)

    def step(engine: Engine, now: Any, full: bool) -> dict[str, Any]:
        report = recompute(engine, account.id, settings, segments, now, full=full)
        return {
            "full": report.full,
            "contacts": report.contacts,
            "segments": report.segments,
            "drifted": report.drifted,
            "timings": report.timings,
        }

    return step


async def run_account(
    config: SyncdConfig,
    account_id: str,
    engine: Engine,
    *,
    full: bool = False,
    dry_run: bool = False,
    http_options: Mapping[str, Mapping[str, Any]] | None = None,
    clock: Clock | None = None,
    observer: Observer | None = None,
) -> RunReport:
    account = config.account(account_id)
    connectors = build_connectors(account, http_options, read_only=dry_run)
    try:
        run = SyncRun(
            engine,
            run_spec(account, connectors),
            RunOptions(full=full, dry_run=dry_run),
            recompute=engine_recompute(account),
            clock=clock or SystemClock(),
            observer=observer,
        )
        return await run.execute()
    finally:
        for connector in connectors.values():
            await connector.aclose()
