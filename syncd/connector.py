"""The plugin interface every connector implements, and the registry that finds them.

A connector is found through the ``syncd.connectors`` entry-point group (the built-ins register
the same way), so a third party adds one by publishing a package; the core never imports one.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from syncd.errors import RequestRejected, SyncdError
from syncd.http import RateLimit, VendorHttp
from syncd.records import (
    ActivityRecord,
    Change,
    ChangeOp,
    ChangeResult,
    ConsentRecord,
    ContactRecord,
    Page,
    Target,
    TargetKind,
)

ENTRY_POINT_GROUP = "syncd.connectors"


class RateLimitOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class ConnectorSettings(BaseModel):
    """Settings every connector takes; a connector subclasses it for its own keys."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    #: overrides of the documented limits, by window name (see the connector's settings module)
    rate_limits: dict[str, RateLimitOverride] = Field(default_factory=dict)
    max_connections: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=30.0, gt=0)
    #: create missing lists / tags / properties / merge fields when pushing
    create_missing: bool = True


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do: the targets it supports, its batch maxima, its rate limits."""

    targets: frozenset[TargetKind]
    #: largest batch per write operation, by target kind
    batch_max: dict[TargetKind, int]
    rate_limits: dict[str, RateLimit]
    max_connections: int
    #: whether pulled contacts carry the tags / lists they hold (drift detection needs it)
    reports_memberships: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(abc.ABC):
    """One vendor account. Streams yield pages; nothing loads a whole account into memory."""

    #: registry name, as used in the config (``[accounts.connectors.<name>]``)
    name: ClassVar[str]
    #: the pydantic model of this connector's config section
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init__(self, settings: ConnectorSettings, http: VendorHttp) -> None:
        self.settings = settings
        self.http = http

    @classmethod
    @abc.abstractmethod
    def build(cls, settings: ConnectorSettings, api_key: str, **http_options: Any) -> Connector:
        """Make a connector with its HTTP client (``http_options`` go to :class:`VendorHttp`)."""

    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def pull_contacts(self, cursor: str | None) -> AsyncIterator[Page[ContactRecord]]:
        """All contacts (``cursor`` None) or those changed since ``cursor``."""

    @abc.abstractmethod
    def pull_consent(self, cursor: str | None) -> AsyncIterator[Page[ConsentRecord]]: ...

    @abc.abstractmethod
    def pull_activity(self, cursor: str | None) -> AsyncIterator[Page[ActivityRecord]]: ...

    @abc.abstractmethod
    async def ensure_targets(self, targets: Sequence[Target]) -> dict[Target, str]:
        """Map syncd targets to the vendor's ids, creating missing ones if allowed."""

    @abc.abstractmethod
    async def apply(self, changes: Sequence[Change]) -> list[ChangeResult]:
        """Apply changes in the largest batches the API allows; one result per change."""

    async def delete_contact(self, email: str) -> ChangeResult:
        """Permanently delete one person from the tool (GDPR erasure), through the vendor's own
        deletion endpoint. A connector that cannot answers ``ok=False``; an address the tool
        does not hold counts as deleted."""
        return ChangeResult(erasure_change(email), ok=False, reason="not supported")

    async def aclose(self) -> None:
        await self.http.aclose()


def erasure_change(email: str) -> Change:
    """The :class:`Change` a :meth:`Connector.delete_contact` result is about."""
    return Change(Target(TargetKind.PROPERTY, "gdpr:delete"), ChangeOp.REMOVE, email)


async def erase_remotely(email: str, vendor: str, deletion: Awaitable[Any]) -> ChangeResult:
    """Await a vendor's deletion call: done, or "not in <vendor>" when it answers 404."""
    try:
        await deletion
    except RequestRejected as exc:
        if exc.status != 404:
            raise
        return ChangeResult(erasure_change(email), ok=True, reason=f"not in {vendor}")
    return ChangeResult(erasure_change(email), ok=True)


class UnknownConnector(SyncdError):
    pass


def registry() -> dict[str, type[Connector]]:
    """Every connector class registered under the entry-point group, by name."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise UnknownConnector(f"entry point {ep.name!r} is not a Connector subclass")
        found[ep.name] = cls
    return found


def get_connector(name: str) -> type[Connector]:
    known = registry()
    try:
        return known[name]
    except KeyError:
        raise UnknownConnector(
            f"unknown connector {name!r} (known: {', '.join(sorted(known))})"
        ) from None
