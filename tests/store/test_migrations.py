"""The migrations: they build exactly the tables of store/models.py, an upgrade keeps data,
and a store opens itself the first time and refuses a schema it does not know."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

import syncd.store.models  # noqa: F401  (the tables)
from syncd.errors import StoreError
from syncd.store.engine import init_store, make_engine, open_store, session
from syncd.store.migrations import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from syncd.store.models import Account, Contact

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_migrations_build_exactly_the_models(store_url: str) -> None:
    engine = init_store(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert not differences, (
        "syncd/store/models.py and the migrations disagree. Write a migration for your change:\n"
        '  .venv/bin/python -m syncd.store.migrations revision "what changed"\n'
        "then review the new file in syncd/store/migrations/versions/. Differences:\n"
        + "\n".join(f"  {d}" for d in differences)
    )


def test_an_upgrade_keeps_the_data(store_url: str) -> None:
    """Create the store at the first revision, fill it, upgrade to head: the rows survive."""
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    first = revisions[-1].revision
    engine = make_engine(store_url)
    try:
        upgrade(engine, first)
        assert current_revision(engine) == first
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO account (id, name, created_at) VALUES ('acme', 'Acme', :at)"),
                {"at": NOW},
            )
            connection.execute(
                text(
                    "INSERT INTO contact (account_id, email, attributes, provenance, created_at,"
                    " updated_at, changed_at) VALUES ('acme', 'ada@example.com', '{\"c\": 1}',"
                    " '{}', :at, :at, :at)"
                ),
                {"at": NOW},
            )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with session(engine) as db:
            assert db.get(Account, "acme") is not None
            contact = db.exec(select(Contact)).one()
            assert contact.email == "ada@example.com" and contact.attributes == {"c": 1}
    finally:
        engine.dispose()


def test_migrations_go_down_and_up_again(store_url: str) -> None:
    engine = init_store(store_url)
    try:
        downgrade(engine, "base")
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_revisions_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "two migrations share a parent: merge or re-parent one"


def test_first_open_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'syncd.db'}"
    engine = open_store(url)
    try:
        assert current_revision(engine) == head_revision()
        with session(engine) as db:
            db.add(Account(id="acme", created_at=NOW))
        assert (tmp_path / "nested" / "dir" / "syncd.db").exists()
    finally:
        engine.dispose()
    reopened = open_store(url)  # already at head: opens as is
    reopened.dispose()


def test_open_refuses_a_schema_at_another_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    init_store(url).dispose()
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(StoreError, match="syncd db upgrade"):
        open_store(url)


def test_db_upgrade_and_current_commands(tmp_path: Path) -> None:
    from syncd.cli.main import app

    url = f"sqlite:///{tmp_path / 'syncd.db'}"
    runner = CliRunner()
    before = runner.invoke(app, ["db", "current", "--url", url])
    assert before.exit_code == 0 and "(empty)" in before.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"-> {head_revision()}" in upgraded.output
    after = runner.invoke(app, ["db", "current", "--url", url])
    assert "up to date" in after.output


def test_db_upgrade_reads_the_store_from_a_config(tmp_path: Path) -> None:
    from syncd.cli.main import app

    config = tmp_path / "syncd.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "from-config.db"}"\n')
    result = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-config.db").exists()
    config.write_text('[store]\nurl = "mysql://h/db"\n')
    refused = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert refused.exit_code == 2 and "store.url" in refused.output
