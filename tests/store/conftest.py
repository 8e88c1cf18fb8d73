"""Store fixtures: every store test runs on SQLite, and on PostgreSQL too when
SYNCD_TEST_DATABASE_URL is set. Each PostgreSQL test gets a fresh schema (dropped afterwards),
so parallel runs and xdist workers never collide."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from syncd.store.engine import make_engine

PG_ENV = "SYNCD_TEST_DATABASE_URL"


def _postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty store (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = _postgres_url()
    if base is None:
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"syncd_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """An engine on a store migrated to head."""
    from syncd.store.engine import init_store

    created = init_store(store_url)
    try:
        yield created
    finally:
        created.dispose()
