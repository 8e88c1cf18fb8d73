"""A rig: one vendor sandbox and the connector wired to it in-process, on one virtual clock.

Each vendor has ``tests/support/rig_<vendor>.py`` with ``make_rig(population, clock, faults=None)``;
the contract suite (tests/contract) runs every registered connector through the same cases.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from syncd.clock import VirtualClock
from syncd.connector import Connector
from syncd.records import InvalidRecord, Page
from syncd.sandbox.harness import FaultPlan, VendorSandbox
from syncd.sandbox.population import Population

R = TypeVar("R")


@dataclass
class Rig:
    name: str
    sandbox: VendorSandbox
    connector: Connector
    clock: VirtualClock


def make_rig(
    name: str, population: Population, clock: VirtualClock, faults: FaultPlan | None = None
) -> Rig:
    module = importlib.import_module(f"tests.support.rig_{name}")
    rig: Rig = module.make_rig(population, clock=clock, faults=faults)
    return rig


async def drain_pages(
    pages: AsyncIterator[Page[R]],
) -> tuple[list[R], list[InvalidRecord], list[str | None]]:
    """Every page of one pull: its records, its invalid records, and the cursor after each page."""
    records: list[R] = []
    invalid: list[InvalidRecord] = []
    cursors: list[str | None] = []
    async for page in pages:
        records += page.records
        invalid += page.invalid
        cursors.append(page.cursor)
    return records, invalid, cursors
