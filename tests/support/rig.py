"""A rig: one vendor sandbox and the connector wired to it in-process, on one virtual clock.

Each vendor has ``tests/support/rig_<vendor>.py`` with ``make_rig(population, clock, faults=None)``;
the contract suite (tests/contract) runs every registered connector through the same cases.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from syncd.clock import VirtualClock
from syncd.connector import Connector
from syncd.sandbox.harness import FaultPlan, VendorSandbox
from syncd.sandbox.population import Population


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
