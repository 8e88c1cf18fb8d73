"""A whole syncd account over the three in-process sandboxes, on one virtual clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from syncd.clock import VirtualClock
from syncd.config import SyncdConfig, check_config_text
from syncd.records import Target, TargetKind
from syncd.sandbox.population import Population
from syncd.sandbox.world import ACCOUNT_ID, SandboxWorld
from syncd.store.engine import init_store, make_engine
from syncd.store.models import LedgerEntry, OutboxItem
from syncd.sync.run import RunReport
from syncd.sync.service import build_connectors, run_account

#: small activity windows keep Brevo's per-contact statistics calls few in tests
CONNECTOR_OPTIONS: dict[str, dict[str, int | str | bool]] = {"brevo": {"activity_days": 90}}

Wrap = Callable[[str, httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]


@dataclass
class Account:
    world: SandboxWorld
    clock: VirtualClock
    engine: Engine
    config: SyncdConfig
    reports: list[RunReport] = field(default_factory=list)

    @classmethod
    def create(cls, population: Population, tmp: Path, extra_account: str = "") -> Account:
        clock = VirtualClock(start=population.now)
        world = SandboxWorld.build(population, clock=clock)
        url = f"sqlite:///{tmp / 'store.db'}"
        text = world.config_toml(
            url, connector_options=CONNECTOR_OPTIONS, extra_account=extra_account
        )
        result = check_config_text(text, env=world.env())
        assert result.config is not None, result.problems
        init_store(url)
        return cls(world, clock, make_engine(url), result.config)

    def http_options(self, wrap: Wrap | None = None) -> dict[str, dict[str, Any]]:
        options = self.world.http_options(self.clock)
        if wrap is not None:
            for tool, opts in options.items():
                opts["transport"] = wrap(tool, opts["transport"])
        return options

    async def run(
        self, *, full: bool = False, dry_run: bool = False, wrap: Wrap | None = None
    ) -> RunReport:
        self.clock.advance(60)
        report = await run_account(
            self.config,
            ACCOUNT_ID,
            self.engine,
            full=full,
            dry_run=dry_run,
            http_options=self.http_options(wrap),
            clock=self.clock,
        )
        self.reports.append(report)
        return report

    async def holdings(self) -> dict[tuple[str, str], set[str]]:
        """What each vendor holds, read through its own API: (tool, target) -> emails, for
        every tag / list syncd manages."""
        ledger_keys = self.managed_targets()
        connectors = build_connectors(self.config.account(ACCOUNT_ID), self.http_options())
        held: dict[tuple[str, str], set[str]] = {(t, n): set() for (t, _k, n) in ledger_keys}
        try:
            for tool, connector in connectors.items():
                mine = [(k, n) for (t, k, n) in ledger_keys if t == tool]
                if not mine:
                    continue
                ids = await connector.ensure_targets([Target(k, n) for k, n in mine])
                label = {rid: (tool, t.name) for t, rid in ids.items()}
                label.update({t.name: (tool, t.name) for t in ids})
                async for page in connector.pull_contacts(None):
                    for record in page.records:
                        for m in record.memberships:
                            if m in label:
                                held[label[m]].add(record.email)
        finally:
            for connector in connectors.values():
                await connector.aclose()
        return held

    def managed_targets(self) -> set[tuple[str, TargetKind, str]]:
        keys: set[tuple[str, TargetKind, str]] = set()
        for segment in self.config.account(ACCOUNT_ID).segments:
            for tool, push in segment.push.items():
                suffixes = ["", "-holdout"] if segment.holdout else [""]
                for suffix in suffixes:
                    keys |= {(tool, TargetKind.TAG, t + suffix) for t in push.tags}
                    keys |= {(tool, TargetKind.LIST, n + suffix) for n in push.lists}
        return keys

    def ledger(self) -> dict[tuple[str, str], set[str]]:
        from syncd.store.models import Contact

        ledger = LedgerEntry.__table__  # type: ignore[attr-defined]
        contact = Contact.__table__  # type: ignore[attr-defined]
        out: dict[tuple[str, str], set[str]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(ledger.c.tool, ledger.c.target, ledger.c.target_kind, contact.c.email)
                .join(contact, contact.c.id == ledger.c.contact_id)
                .where(ledger.c.target_kind != "property")
            ):
                out.setdefault((row.tool, row.target), set()).add(row.email)
        return out

    def identities(self, tool: str) -> list[Any]:
        """(email, remote_id) of every contact syncd knows in ``tool``."""
        from syncd.store.models import Contact, Identity

        identity = Identity.__table__  # type: ignore[attr-defined]
        contact = Contact.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(contact.c.email, identity.c.remote_id)
                    .join(contact, contact.c.id == identity.c.contact_id)
                    .where(identity.c.tool == tool)
                )
            )

    def outbox(self) -> list[Any]:
        table = OutboxItem.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return list(conn.execute(select(table).order_by(table.c.id)))


def write_calls(report: RunReport) -> int:
    return sum(api.get("write_calls", 0) for api in report.api.values())
