"""Who may run an account right now.

PostgreSQL is the coordinator when several daemons share a store: a run holds a session-level
advisory lock on a hash of its account id, on a connection of its own, for as long as it runs.
A daemon that dies loses its connection and with it the lock, so another daemon can take the
account over and resume from the outbox. No heartbeats, no home-made consensus.

SQLite has no such thing and is meant for one daemon: :class:`SingleDaemonGuard` holds an
exclusive ``flock`` on a file beside the database for the daemon's lifetime (the kernel drops it
when the process dies), and a second daemon refuses to start. Inside one daemon, a set of busy
accounts keeps one run per account at a time on either backend.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

from syncd.errors import SyncdError
from syncd.store.engine import normalise_url

log = logging.getLogger("syncd.daemon")


class DaemonAlreadyRunning(SyncdError):
    """Another daemon holds the single-daemon guard of this SQLite store."""


def advisory_key(account_id: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` (the same in every daemon)."""
    digest = hashlib.blake2b(f"syncd:account:{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class AccountLease:
    """The right to run one account, until :meth:`AccountLocks.release`."""

    account_id: str
    connection: Connection | None = None


@dataclass
class AccountLocks:
    """Per-account locks: in-process always, plus PostgreSQL advisory locks when shared."""

    engine: Engine
    busy: set[str] = field(default_factory=set)

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self, account_id: str) -> AccountLease | None:
        """The account's lease, or ``None`` when a run of it is in flight here or elsewhere."""
        if account_id in self.busy:
            return None
        lease = AccountLease(account_id)
        if self.shared:
            # a dedicated connection: the lock lives exactly as long as this session
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": advisory_key(account_id)}
                ).scalar()
            except BaseException:
                connection.close()
                raise
            if not got:
                connection.close()
                return None
            lease.connection = connection
        self.busy.add(account_id)
        return lease

    def release(self, lease: AccountLease) -> None:
        self.busy.discard(lease.account_id)
        connection, lease.connection = lease.connection, None
        if connection is None:
            return
        try:
            connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(lease.account_id)}
            )
        except Exception as exc:
            log.warning("could not unlock account %s cleanly: %s", lease.account_id, exc)
            connection.invalidate()
        finally:
            connection.close()

    def is_free_everywhere(self, account_id: str) -> bool:
        """True when no daemon holds the account (a probe: takes and drops the lock)."""
        lease = self.try_acquire(account_id)
        if lease is None:
            return False
        self.release(lease)
        return True


def guard_path(url: str | URL) -> Path | None:
    """The guard file of a SQLite store (``None`` for an in-memory one or PostgreSQL)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".daemon.lock")


class SingleDaemonGuard:
    """One daemon per SQLite store: an exclusive lock on ``<database>.daemon.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DaemonAlreadyRunning(
                f"another syncd daemon (pid {holder}) is already running on the SQLite store "
                f"next to {self.path.name.removesuffix('.daemon.lock')}: SQLite supports one "
                "daemon per store; stop the other one, or use PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._file.close()
            self._file = None
