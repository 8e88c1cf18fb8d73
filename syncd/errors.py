"""One exception tree for syncd: callers catch families, never bare ``Exception``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SyncdError(Exception):
    """Root of every error syncd raises on purpose."""


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, located by its key path (``accounts[1].connectors.x``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(SyncdError):
    """A config file is invalid; carries every problem found, each with its key path."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class RuleError(SyncdError):
    """A segment rule does not parse or does not type-check; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int, rule: str = "") -> None:
        self.message = message
        self.position = position
        self.rule = rule
        super().__init__(f"{message} at position {position}")


# --- store ---------------------------------------------------------------------------------


class StoreError(SyncdError):
    """The local store cannot do what was asked (schema too old, lock held, ...)."""


class LockHeld(StoreError):
    """Another process holds the lock this one needs."""


# --- vendors -------------------------------------------------------------------------------


class VendorError(SyncdError):
    """A vendor call failed; names the vendor, the operation and, where known, the record."""

    def __init__(
        self,
        vendor: str,
        operation: str,
        message: str,
        *,
        record: str | None = None,
        status: int | None = None,
    ) -> None:
        self.vendor = vendor
        self.operation = operation
        self.record = record
        self.status = status
        where = f"{vendor} {operation}" + (f" (record {record})" if record else "")
        super().__init__(f"{where}: {message}")


class RateLimited(VendorError):
    """The vendor answered 429 (or its equivalent) and retries ran out."""

    def __init__(
        self, vendor: str, operation: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(vendor, operation, message, status=429)
        self.retry_after = retry_after


class TransientVendorError(VendorError):
    """5xx, timeout or dropped connection that outlasted the retries."""


class RequestRejected(VendorError):
    """A 4xx other than 429: the request itself is wrong and is never retried."""


class MalformedResponse(VendorError):
    """The vendor's body is not what its contract promises (bad JSON, missing fields)."""


class RecordRejected(VendorError):
    """The vendor refused one record of a batch; the rest of the batch stands."""


# --- consent -------------------------------------------------------------------------------


class ConsentRefused(SyncdError):
    """A planned change would break the consent rules; it is never sent."""

    def __init__(self, email: str, tool: str, target: str, reason: str) -> None:
        self.email = email
        self.tool = tool
        self.target = target
        self.reason = reason
        super().__init__(f"{tool}:{target} refused for {email}: {reason}")
