"""Drift: someone removes a syncd tag by hand in Mailchimp. A full sync notices; with
``drift = "correct"`` it puts the tag back, with ``"report"`` it only reports it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.generate import generate
from tests.support.e2e import Account, write_calls

pytestmark = pytest.mark.anyio


async def _untag_by_hand(account: Account) -> tuple[str, str]:
    """Remove one syncd-managed tag from one member through Mailchimp's own API."""
    (_tool, tag), emails = next(
        (key, emails) for key, emails in sorted(account.ledger().items()) if key[0] == "mailchimp"
    )
    email = sorted(emails)[0]
    sandbox = account.world.sandboxes["mailchimp"]
    digest = hashlib.md5(email.encode()).hexdigest()
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        auth=("ops", sandbox.api_key),  # type: ignore[attr-defined]
    ) as client:
        answer = await client.post(
            f"/lists/{sandbox.list_id}/members/{digest}/tags",  # type: ignore[attr-defined]
            json={"tags": [{"name": tag, "status": "inactive"}]},
        )
        assert answer.status_code == 204, answer.text
    return tag, email


@pytest.mark.parametrize("mode", ["correct", "report"])
async def test_a_tag_removed_by_hand_is_found_on_a_full_sync(tmp_path: Path, mode: str) -> None:
    account = Account.create(
        generate(120, seed=5), tmp_path, extra_account=f'merge = {{ drift = "{mode}" }}'
    )
    await account.run(full=True)
    tag, email = await _untag_by_hand(account)
    assert email not in (await account.holdings())[("mailchimp", tag)]

    incremental = await account.run()
    assert incremental.drift == {}  # drift is looked for on full syncs only

    full = await account.run(full=True)
    assert full.status == "ok", full.errors
    missing = {(d["tool"], d["target"]): d["contacts"] for d in full.drift["missing"]}
    assert missing == {("mailchimp", tag): 1}
    held = (await account.holdings())[("mailchimp", tag)]
    if mode == "correct":
        assert email in held
        assert full.api["mailchimp"]["write_calls"] == 1
    else:
        assert email not in held
        assert write_calls(full) == 0
