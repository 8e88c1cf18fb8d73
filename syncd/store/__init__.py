"""The local store: tables (``models``), engines and sessions (``engine``), and the Alembic
migrations that create and upgrade the schema (``migrations``)."""

from syncd.store.engine import init_store, make_engine, open_store, session

__all__ = ["init_store", "make_engine", "open_store", "session"]
