"""A contact deleted in one tool by hand: the next full sync forgets that tool's identity and
ledger rows for them (nothing is pushed at a contact the tool no longer has), and keeps the rest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.generate import generate
from tests.support.e2e import Account, write_calls

pytestmark = pytest.mark.anyio


async def test_a_contact_deleted_in_mailchimp_is_forgotten_there_only(tmp_path: Path) -> None:
    account = Account.create(generate(120, seed=5), tmp_path)
    await account.run(full=True)
    tagged = {
        e for (tool, _), emails in account.ledger().items() if tool == "mailchimp" for e in emails
    }
    elsewhere = {r.email for r in account.identities("hubspot")} | {
        r.email for r in account.identities("brevo")
    }
    email = sorted(tagged & elsewhere)[0]
    sandbox = account.world.sandboxes["mailchimp"]
    digest = hashlib.md5(email.encode()).hexdigest()
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        auth=("ops", sandbox.api_key),  # type: ignore[attr-defined]
    ) as client:
        answer = await client.post(
            f"/lists/{sandbox.list_id}/members/{digest}/actions/delete-permanent"  # type: ignore[attr-defined]
        )
        assert answer.status_code == 204, answer.text

    incremental = await account.run()
    assert "gone" not in incremental.pulled["mailchimp"]["contacts"]  # only a full pull can tell

    full = await account.run(full=True)
    assert full.status == "ok", full.errors
    assert full.pulled["mailchimp"]["contacts"]["gone"] == 1
    assert email not in {r.email for r in account.identities("mailchimp")}
    assert all(
        email not in emails for (tool, _), emails in account.ledger().items() if tool == "mailchimp"
    )
    # the person is still syncd's contact through the other tools
    assert email in {r.email for r in account.identities("hubspot")} | {
        r.email for r in account.identities("brevo")
    }
    again = await account.run(full=True)
    assert again.pulled["mailchimp"]["contacts"]["gone"] == 0
    assert again.plan["changes"] == 0 and write_calls(again) == 0
