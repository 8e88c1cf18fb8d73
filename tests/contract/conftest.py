"""The contract suite runs every case once per connector in the ``syncd.connectors`` registry.

A new connector is covered by registering its entry point and adding
``tests/support/rig_<name>.py`` (``make_rig``, and ``CONTRACT_HOOKS`` unless it is built in).

Known gaps are listed here, each case x connector marked ``xfail(strict=True)`` with its
reason: the case stays as strict as for everyone else and turns red as soon as the gap closes,
so the entry is removed with the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.connector import registry

NAMES = sorted(registry())
HERE = Path(__file__).parent

#: (test function name, connector name) -> why it fails today
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "name" in metafunc.fixturenames:
        metafunc.parametrize("name", NAMES, ids=NAMES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if HERE not in item.path.parents or callspec is None or "name" not in callspec.params:
            continue
        base = getattr(item, "originalname", item.name)
        reason = KNOWN_GAPS.get((base, callspec.params["name"]))
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
