"""Whole runs over the three in-process sandboxes: pull -> merge -> recompute -> plan -> push."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.generate import generate
from tests.support.e2e import Account, write_calls

pytestmark = pytest.mark.anyio

N_PEOPLE = 120


@pytest.fixture
def account(tmp_path: Path) -> Account:
    return Account.create(generate(N_PEOPLE, seed=5), tmp_path)


async def test_full_then_incremental_then_nothing_to_do(account: Account) -> None:
    first = await account.run(full=True)
    assert first.status == "ok", first.errors
    assert first.plan["changes"] > 0
    assert write_calls(first) > 0
    # each tool holds exactly what the ledger says it holds
    assert await account.holdings() == _with_empty(account, account.ledger())
    # writes went out in the largest batches: no more calls than the minimum per target
    for tool, minimum in first.plan["min_write_calls"].items():
        assert first.api[tool]["write_calls"] >= minimum
    second = await account.run()
    assert second.status == "ok", second.errors
    # our own pushes come back in the pulls: that must not make anyone "changed"
    assert second.recompute["contacts"] == 0
    assert second.plan["changes"] == 0
    assert write_calls(second) == 0
    full_again = await account.run(full=True)
    assert full_again.plan["changes"] == 0 and write_calls(full_again) == 0
    assert full_again.drift == {"missing": [], "extra": []}


async def test_dry_run_plans_but_sends_nothing(account: Account) -> None:
    report = await account.run(full=True, dry_run=True)
    assert report.status == "ok"
    assert report.plan["changes"] > 0
    assert "push" not in report.timings
    assert write_calls(report) == 0
    assert account.ledger() == {} and account.outbox() == []
    real = await account.run(full=True)
    assert real.plan["changes"] == report.plan["changes"]


async def test_an_unsubscribe_in_one_tool_leaves_every_marketing_target(account: Account) -> None:
    await account.run(full=True)
    ledger = account.ledger()
    in_mailchimp = _mailchimp_subscribed(account)
    candidates = sorted(
        email
        for (tool, _), emails in ledger.items()
        if tool in ("hubspot", "brevo")
        for email in emails
        if email in in_mailchimp
    )
    assert candidates, "the population should put someone in a list and in Mailchimp"
    email = candidates[0]
    await _mailchimp_unsubscribe(account, email)

    report = await account.run()
    assert report.status == "ok", report.errors
    held = await account.holdings()
    assert all(email not in emails for emails in held.values())
    # never resubscribed, never re-added, also after a full run
    again = await account.run(full=True)
    assert again.status == "ok"
    assert all(email not in emails for emails in (await account.holdings()).values())
    for sandbox in account.world.sandboxes.values():
        for exchange in sandbox.log.exchanges:
            body = exchange.request_body
            if exchange.method != "GET" and isinstance(body, dict | list):
                assert '"status": "subscribed"' not in str(body).replace("'", '"')


@pytest.mark.parametrize("fault", ["429", "503", "timeout", "drop", "malformed"])
async def test_faults_do_not_change_the_outcome(account: Account, fault: str) -> None:
    for sandbox in account.world.sandboxes.values():
        sandbox.faults.rates = {fault: 0.08}
    report = await account.run(full=True)
    assert report.status == "ok", report.errors
    retried = sum(sum(api["retries"].values()) for api in report.api.values())
    assert retried > 0
    for sandbox in account.world.sandboxes.values():
        sandbox.faults.rates = {}
    assert await account.holdings() == _with_empty(account, account.ledger())
    rerun = await account.run()
    assert write_calls(rerun) == 0


def _with_empty(
    account: Account, ledger: dict[tuple[str, str], set[str]]
) -> dict[tuple[str, str], set[str]]:
    out = {(tool, name): set() for (tool, _kind, name) in account.managed_targets()}
    out.update(ledger)
    return out


def _mailchimp_subscribed(account: Account) -> set[str]:
    return {
        person.email
        for person in account.world.population.people
        if person.email
        and "mailchimp" in person.tools
        and person.tools["mailchimp"].status == "subscribed"
    }


async def _mailchimp_unsubscribe(account: Account, email: str) -> None:
    sandbox = account.world.sandboxes["mailchimp"]
    list_id = sandbox.list_id  # type: ignore[attr-defined]
    digest = hashlib.md5(email.encode()).hexdigest()
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        auth=("syncd", sandbox.api_key),  # type: ignore[attr-defined]
    ) as client:
        response = await client.patch(
            f"/lists/{list_id}/members/{digest}", json={"status": "unsubscribed"}
        )
        assert response.status_code == 200, response.text
