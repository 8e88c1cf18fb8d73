"""A vendor webhook withdrawing consent removes the contact from every marketing target in the
other tools, through the outbox, without a scheduled run."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from syncd.sandbox.generate import generate
from syncd.store.models import AuditLog, Consent, ConsentEvent, Contact, Run
from tests.support.e2e import Account
from tests.support.hooked import Hooked, hooked_account, start_hooked

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Hooked]:
    account, env = hooked_account(generate(120, seed=5), tmp_path)
    first = await account.run(full=True)
    assert first.status == "ok", first.errors
    started = await start_hooked(account, env)
    yield started
    await started.close()


def _listed_elsewhere(account: Account, tool: str) -> list[str]:
    """Emails syncd put in a Brevo or HubSpot list that are subscribed in ``tool``."""
    subscribed = {
        p.email
        for p in account.world.population.people
        if p.email and tool in p.tools and p.tools[tool].status == "subscribed"
    }
    return sorted(
        email
        for (t, _), emails in account.ledger().items()
        if t in ("hubspot", "brevo") and t != tool
        for email in emails
        if email in subscribed
    )


async def _mailchimp_unsubscribe(account: Account, email: str) -> None:
    sandbox = account.world.sandboxes["mailchimp"]
    digest = hashlib.md5(email.encode()).hexdigest()
    async with httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        auth=("syncd", sandbox.api_key),  # type: ignore[attr-defined]
    ) as client:
        answer = await client.patch(
            f"/lists/{sandbox.list_id}/members/{digest}",  # type: ignore[attr-defined]
            json={"status": "unsubscribed"},
        )
        assert answer.status_code == 200, answer.text


async def test_a_mailchimp_unsubscribe_webhook_empties_brevo_and_hubspot_lists(
    hooked: Hooked,
) -> None:
    account = hooked.account
    candidates = _listed_elsewhere(account, "mailchimp")
    assert candidates, "the population should put a Mailchimp subscriber in a list elsewhere"
    email = candidates[0]
    before = {key for key, emails in (await account.holdings()).items() if email in emails}
    assert any(tool in ("hubspot", "brevo") for tool, _ in before)

    await _mailchimp_unsubscribe(account, email)
    await hooked.settle()

    delivered = hooked.emitters["mailchimp"].delivered
    assert [(d.kind, (d.email or "").lower(), d.status) for d in delivered] == [
        ("unsubscribe", email, 200)
    ]
    held = await account.holdings()
    assert all(email not in emails for emails in held.values())
    with account.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(Run.kind).order_by(Run.id))]
        contact_id = conn.scalar(select(Contact.id).where(Contact.email == email))
        consent = conn.execute(
            select(Consent.status, Consent.source).where(
                Consent.contact_id == contact_id, Consent.tool == "mailchimp"
            )
        ).one()
        history = [
            r.source for r in conn.execute(select(ConsentEvent.source).where(
                ConsentEvent.contact_id == contact_id))
        ]  # fmt: skip
        removals = [
            r.detail
            for r in conn.execute(select(AuditLog.detail).where(AuditLog.action == "push.remove"))
        ]
    # the removals were pushed by a consent propagation, not by a scheduled sync
    assert kinds[0] == "full" and [k for k in kinds[1:] if k != "recompute"] == ["consent"]
    assert tuple(consent) == ("unsubscribed", "mailchimp:webhook")
    assert "mailchimp:webhook" in history
    # every target the contact was in, in every tool (the unsubscribing one too)
    assert {(d["tool"], d["target"]) for d in removals if d["contact_id"] == contact_id} == before
    report = hooked.service.reports[-1]
    assert report["status"] == "ok" and report["removals"] == len(before)

    # the next runs agree: nothing to undo, the contact is never re-added
    again = await account.run()
    assert again.status == "ok", again.errors
    assert all(email not in emails for emails in (await account.holdings()).values())


async def test_a_hubspot_opt_out_and_a_brevo_hard_bounce_propagate_too(hooked: Hooked) -> None:
    account = hooked.account
    hubspot = account.world.sandboxes["hubspot"]
    brevo = account.world.sandboxes["brevo"]
    in_brevo_lists = {e for (t, _), es in account.ledger().items() if t == "brevo" for e in es}
    target = next(
        c
        for c in hubspot.state.contacts.values()  # type: ignore[attr-defined]
        if c.properties.get("email") in in_brevo_lists
    )
    email = target.properties["email"]
    with hooked.emitters["hubspot"].watching():
        target.properties["hs_email_optout"] = "true"
    await hooked.settle()
    assert [d.status for d in hooked.emitters["hubspot"].delivered] == [200]
    held = await account.holdings()
    assert all(email not in emails for (tool, _), emails in held.items() if tool == "brevo")

    in_hubspot_lists = {e for (t, _), es in account.ledger().items() if t == "hubspot" for e in es}
    contact = next(
        c
        for c in brevo.state.contacts.values()  # type: ignore[attr-defined]
        if c.email in in_hubspot_lists
    )
    with hooked.emitters["brevo"].watching():
        contact.email_blacklisted = True
    await hooked.settle()
    assert [d.status for d in hooked.emitters["brevo"].delivered] == [200]
    held = await account.holdings()
    assert all(contact.email not in emails for (t, _), emails in held.items() if t == "hubspot")
    with account.engine.connect() as conn:
        sources = set(conn.scalars(select(Consent.source).where(Consent.status != "subscribed")))
    assert {"hubspot:webhook", "brevo:webhook"} <= sources
