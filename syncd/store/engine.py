"""Engines and sessions for the store: SQLite by default (WAL, foreign keys, a busy timeout),
PostgreSQL through a URL (psycopg 3). Opening a store for the first time creates its schema
through the migrations; an older schema is only upgraded on request (``syncd db upgrade``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from syncd.errors import StoreError

#: how long a SQLite writer waits for another's lock before failing (milliseconds)
SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS = ("postgresql", "postgresql+psycopg", "postgres")


def normalise_url(url: str | URL) -> URL:
    """Parse a store URL; plain ``postgresql://`` means psycopg 3 (the driver we ship)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"not a database URL: {str(url)!r}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def check_store_url(url: str) -> None:
    """Raise ``ValueError`` for a URL syncd cannot use, or one that holds a password."""
    parsed = normalise_url(url)
    if parsed.drivername not in (*_SQLITE_DRIVERS, *_POSTGRES_DRIVERS):
        raise ValueError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
        )
    if parsed.password:
        raise ValueError(
            "the URL holds a password: put the whole URL in an environment variable "
            "and name it with store.url_env"
        )


def describe_store_url(url: str) -> str:
    """The URL with any password hidden, for logs and summaries."""
    return normalise_url(url).render_as_string(hide_password=True)


def is_sqlite(url: str | URL) -> bool:
    return normalise_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for a store URL, with the connection settings syncd relies on."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    raise StoreError(f"unsupported database {parsed.drivername!r}")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    in_memory = _sqlite_file(url) is None
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # one shared connection, or every checkout would see its own empty database
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (the "begin" hook below): pysqlite's own
        # implicit transactions would swallow the PRAGMAs and break transactional DDL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # safe with WAL: a crash loses at most the last commits, never the database
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


def ensure_sqlite_directory(url: str | URL) -> None:
    """Create the directory of a SQLite file (only ever called when opening the store)."""
    path = _sqlite_file(normalise_url(url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def init_store(url: str | URL) -> Engine:
    """Open a store and bring its schema to the newest migration (``syncd db upgrade``)."""
    from syncd.store.migrations import upgrade

    ensure_sqlite_directory(url)
    engine = make_engine(url)
    upgrade(engine)
    return engine


def open_store(url: str | URL) -> Engine:
    """Open a store for use: a new, empty one gets its schema; an older one must be upgraded
    on purpose (``syncd db upgrade``), so a daemon never migrates a database by surprise."""
    from syncd.store.migrations import current_revision, head_revision, upgrade

    ensure_sqlite_directory(url)
    engine = make_engine(url)
    current, head = current_revision(engine), head_revision()
    if current is None:
        upgrade(engine)
    elif current != head:
        engine.dispose()
        raise StoreError(
            f"the store's schema is at revision {current}, this syncd needs {head}: "
            "run `syncd db upgrade` (back up the database first)"
        )
    return engine
