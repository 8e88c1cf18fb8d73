"""GDPR over the sandbox: export holds everything, erase leaves only the tombstone, a later
full pull does not bring the person back, ``--remote`` deletes them in every tool."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from syncd.cli.main import app
from syncd.gdpr.erase import delete_remotely, erase_person, withdraw_memberships
from syncd.gdpr.export import export_person, json_ready, person_tables
from syncd.gdpr.retention import drop_old_activity
from syncd.sandbox.generate import generate
from syncd.sandbox.world import ACCOUNT_ID
from syncd.store.models import ActivityEvent, AuditLog, Contact, ErasureTombstone
from tests.support.e2e import CONNECTOR_OPTIONS, Account
from tests.support.hooked import WEBHOOKS_TOML, hooked_account

pytestmark = pytest.mark.anyio


@pytest.fixture
async def synced(tmp_path: Path) -> tuple[Account, dict[str, str]]:
    account, env = hooked_account(generate(60, seed=21), tmp_path)
    report = await account.run(full=True)
    assert report.status == "ok", report.errors
    return account, env


def _rich_person(account: Account) -> str:
    """Someone with identities in every tool, activity, segments and pushes."""
    in_lists = {e for emails in account.ledger().values() for e in emails}
    with account.engine.connect() as conn:
        rows = conn.execute(
            select(Contact.email, func.count(ActivityEvent.id))
            .join(ActivityEvent, ActivityEvent.contact_id == Contact.id)
            .group_by(Contact.email)
            .order_by(func.count(ActivityEvent.id).desc())
        ).all()
    return next(email for email, _ in rows if email in in_lists)


def _held_directly(account: Account, email: str) -> dict[str, list[dict[str, object]]]:
    """The person's rows, read table by table by ``contact_id`` (not through the exporter)."""
    with account.engine.connect() as conn:
        contact_id = conn.scalar(select(Contact.id).where(Contact.email == email))
        out = {"contact": [json_ready(dict(r._mapping)) for r in conn.execute(
            select(Contact.__table__).where(Contact.id == contact_id))]}  # type: ignore[attr-defined]  # fmt: skip
        for table in person_tables():
            out[table.name] = sorted(
                (json_ready(dict(r._mapping))
                 for r in conn.execute(select(table).where(table.c.contact_id == contact_id))),
                key=lambda r: json.dumps(r, sort_keys=True),
            )  # fmt: skip
    return out


async def test_export_holds_every_row_about_the_person(synced: tuple[Account, dict]) -> None:
    account, _ = synced
    email = _rich_person(account)
    document = json.loads(json.dumps(export_person(account.engine, ACCOUNT_ID, email,
                                                   account.clock.now())))  # fmt: skip
    assert document["found"] and document["email"] == email
    tables = document["tables"]
    held = _held_directly(account, email)
    for name, rows in held.items():
        exported = sorted(tables[name], key=lambda r: json.dumps(r, sort_keys=True))
        assert exported == rows, name
    # the person's data is all there: identities in tools, consent history with its sources,
    # activity, scores, segments, ledger and the push audit
    assert len({i["tool"] for i in tables["identity"]}) >= 2
    assert tables["consent_event"] and all(e["source"] for e in tables["consent_event"])
    assert tables["activity_event"] and tables["contact_score"]
    assert tables["segment_membership"] and tables["ledger_entry"] and tables["outbox_item"]
    assert tables["audit_log"] and all(
        a["detail"]["contact_id"] == tables["contact"][0]["id"] for a in tables["audit_log"]
    )


async def test_erase_leaves_only_the_tombstone_and_a_full_pull_skips_them(
    synced: tuple[Account, dict],
) -> None:
    account, _ = synced
    email = _rich_person(account)
    report = erase_person(account.engine, ACCOUNT_ID, email, account.clock.now())
    assert report.deleted["contact"] == 1 and report.deleted["activity_event"] > 0
    after = export_person(account.engine, ACCOUNT_ID, email, account.clock.now())
    assert not after["found"] and all(rows == [] for rows in after["tables"].values())
    with account.engine.connect() as conn:
        tombstones = conn.scalars(select(ErasureTombstone.email_hash)).all()
        audit = conn.execute(select(AuditLog.detail).where(AuditLog.action == "gdpr.erase")).all()
    assert tombstones == [report.email_hash]
    assert len(audit) == 1 and email not in json.dumps(audit[0].detail).lower()
    assert email.split("@")[0] not in json.dumps(audit[0].detail).lower()

    full = await account.run(full=True)
    assert full.status == "ok", full.errors
    with account.engine.connect() as conn:
        assert conn.scalar(select(Contact.id).where(Contact.email == email)) is None
    skipped = sum(
        stream.get("erased_skipped", 0) for tool in full.pulled.values() for stream in tool.values()
    )
    assert skipped > 0  # reported in the run, not dropped silently
    again = export_person(account.engine, ACCOUNT_ID, email, account.clock.now())
    assert not again["found"]


async def test_an_erasure_without_remote_first_takes_them_off_every_syncd_target(
    synced: tuple[Account, dict],
) -> None:
    account, _ = synced
    email = _rich_person(account)
    held_before = [key for key, emails in (await account.holdings()).items() if email in emails]
    assert held_before
    outcome = await withdraw_memberships(
        account.engine, account.config.account(ACCOUNT_ID), email, account.http_options()
    )
    assert outcome and all(v.startswith("removed from") for v in outcome.values()), outcome
    erase_person(account.engine, ACCOUNT_ID, email, account.clock.now(), remote=outcome)
    assert all(email not in emails for emails in (await account.holdings()).values())
    # the next runs never put them back (the tombstone keeps them out of every segment)
    await account.run(full=True)
    assert all(email not in emails for emails in (await account.holdings()).values())


async def test_remote_erasure_deletes_them_in_every_sandbox(synced: tuple[Account, dict]) -> None:
    account, _ = synced
    email = _rich_person(account)
    outcome = await delete_remotely(account.config.account(ACCOUNT_ID), email,
                                    account.http_options())  # fmt: skip
    assert set(outcome.values()) <= {"deleted", "not held"} and "deleted" in outcome.values()
    erase_person(account.engine, ACCOUNT_ID, email, account.clock.now(), remote=outcome)
    sandboxes = account.world.sandboxes
    assert all(
        (m.email_address or "").lower() != email
        for m in sandboxes["mailchimp"].audience.members.values()  # type: ignore[attr-defined]
    )
    assert all((c.email or "").lower() != email
               for c in sandboxes["brevo"].state.contacts.values())  # type: ignore[attr-defined]  # fmt: skip
    assert all(
        (c.properties.get("email") or "").lower() != email
        for c in sandboxes["hubspot"].state.contacts.values()  # type: ignore[attr-defined]
    )
    full = await account.run(full=True)
    assert full.status == "ok", full.errors
    with account.engine.connect() as conn:
        assert conn.scalar(select(Contact.id).where(Contact.email == email)) is None


async def test_retention_drops_old_activity_only(synced: tuple[Account, dict]) -> None:
    account, _ = synced
    now = account.clock.now()
    with account.engine.connect() as conn:
        stamps = conn.scalars(select(ActivityEvent.occurred_ts)).all()
    cut = int((now - timedelta(days=90)).timestamp())
    old = sum(1 for s in stamps if s < cut)
    assert 0 < old < len(stamps)
    dropped = drop_old_activity(account.engine, ACCOUNT_ID, 90, now)
    assert dropped["activity_dropped"] == old
    with account.engine.connect() as conn:
        assert conn.scalar(select(func.min(ActivityEvent.occurred_ts))) >= cut


async def test_cli_export_and_erase(
    synced: tuple[Account, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, env = synced
    email = _rich_person(account)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "syncd.toml"
    store = f"sqlite:///{tmp_path / 'store.db'}"
    config.write_text(account.world.config_toml(
        store, connector_options=CONNECTOR_OPTIONS, extra_account=WEBHOOKS_TOML))  # fmt: skip
    runner = CliRunner()
    out = tmp_path / "person.json"
    base = ["--config", str(config), "--account", ACCOUNT_ID, "--email", email.upper()]
    exported = runner.invoke(app, ["gdpr", "export", *base, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["tables"]["contact"][0]["email"] == email
    refused = runner.invoke(app, ["gdpr", "erase", *base], input="n\n")
    assert refused.exit_code == 1
    # no sandbox is served to this CLI: erase from the store only
    erased = runner.invoke(app, ["gdpr", "erase", *base, "--local-only", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert email not in erased.stdout and json.loads(erased.stdout)["deleted"]["contact"] == 1
    with account.engine.connect() as conn:
        assert conn.scalar(select(Contact.id).where(Contact.email == email)) is None
