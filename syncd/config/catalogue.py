"""The connectors a config may name, and the config model that checks each one's section."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from pydantic import ConfigDict, Field, create_model

from syncd import connector as connector_module
from syncd.config.models import AccountConfig, SyncdConfig
from syncd.connector import ENTRY_POINT_GROUP, Connector
from syncd.errors import SyncdError


@dataclass(frozen=True)
class ConnectorCatalogue:
    """The connectors a config may name: those that load, and those registered but broken."""

    classes: dict[str, type[Connector]]
    #: entry points that failed to load, with the reason (a broken plugin is a config problem
    #: only for the accounts that name it)
    broken: dict[str, str] = field(default_factory=dict)

    def unknown_message(self, name: str) -> str:
        if name in self.broken:
            return f"connector '{name}' is registered but could not be loaded: {self.broken[name]}"
        known = ", ".join(sorted(self.classes)) or "none installed"
        return f"unknown connector '{name}' (known: {known})"


def discover_connectors() -> ConnectorCatalogue:
    """Every connector of the ``syncd.connectors`` entry-point group, loading each on its own."""
    try:
        return ConnectorCatalogue(dict(connector_module.registry()))
    except (ImportError, AttributeError, SyncdError):
        pass  # one plugin failed: load them one by one to keep the others
    classes: dict[str, type[Connector]] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except (ImportError, AttributeError) as exc:
            broken[ep.name] = str(exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Connector):
            classes[ep.name] = cls
        else:
            broken[ep.name] = f"{ep.value} is not a Connector subclass"
    return ConnectorCatalogue(classes, broken)


def checked_model(catalogue: ConnectorCatalogue) -> type[SyncdConfig]:
    """``SyncdConfig`` with a connectors table that has one field per registered connector."""
    fields: dict[str, Any] = {
        f"c{i}": (cls.settings_model | None, Field(default=None, alias=name))
        for i, (name, cls) in enumerate(sorted(catalogue.classes.items()))
    }
    connectors = create_model("ConnectorsTable", __config__=ConfigDict(extra="forbid"), **fields)
    account = create_model(
        "CheckedAccount",
        __base__=AccountConfig,
        connectors=(connectors, Field(default_factory=connectors)),
    )
    checked: type[SyncdConfig] = create_model(
        "CheckedConfig", __base__=SyncdConfig, accounts=(list[account], Field(min_length=1))
    )
    return checked
